"""The embedded demo and ``firegate run`` as a user runs them: separate processes, real ports."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.demo_kit import DemoRun

ROOT = Path(__file__).resolve().parents[2]
FIREGATE = [sys.executable, "-m", "gateway.cli.main"]
RULE_IDS = {"overload", "residual_current", "over_temperature", "temperature_rise", "arc_fault",
            "malicious_load", "ebike_charging", "blocked_exit", "fire_door_open", "fire_alarm",
            "panel_fault", "breaker_trip", "comm_loss", "sensor_fault"}
BENIGN_ROOMS = {"room-102", "room-103", "room-104", "room-203"}  # laptop, charger, fan, PC


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*FIREGATE, *args], cwd=ROOT, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_demo_45_every_device_online_with_requests_and_points(demo_45: DemoRun) -> None:
    s = demo_45.summary
    assert set(s) >= {"duration_s", "devices", "devices_online", "requests", "points", "alarms",
                      "outbox"}
    assert s["devices"] >= 30 and s["devices_online"] == s["devices"], s
    assert s["requests"] > 0 and s["points"] > 0
    assert set(s["outbox"]) == {"pending", "delivered", "shed"}
    assert "devices 38/38 online" in demo_45.log  # the live view's status lines
    # No noise about its own data directory, and no "pending" that grows for ever when nothing
    # is configured to deliver to: the records are a local store.
    assert "tightened" not in demo_45.log
    assert "outbox pending" not in demo_45.log and "local store" in demo_45.log


@pytest.mark.slow
def test_demo_120_raises_every_rule_and_spares_the_benign_rooms(demo_120: DemoRun) -> None:
    s = demo_120.summary
    rules = collections.Counter(a["rule"] for a in s["alarms"])
    assert RULE_IDS <= set(rules), f"missing: {RULE_IDS - set(rules)}"
    wrong = [a for a in s["alarms"] if a["device"] in BENIGN_ROOMS
             and a["rule"] in ("malicious_load", "ebike_charging")]
    assert not wrong, wrong
    for a in s["alarms"]:
        assert set(a) == {"id", "device", "rule", "severity", "state", "raised_at",
                          "cleared_at"}
        # info: recorded events that page nobody (linkage started, a breaker switched off)
        assert a["severity"] in ("critical", "major", "minor", "warning", "info")
    # the magnet-held west door 2 that did not close on the fire; the probe that fell off
    assert any(a["rule"] == "fire_door_open" and a["device"] == "doors-west"
               and a["severity"] == "critical" for a in s["alarms"]), s["alarms"]
    assert any(a["rule"] == "sensor_fault" and a["device"] == "breaker-f5" for a in s["alarms"])
    assert not any(a["rule"] in ("over_temperature", "temperature_rise")
                   and a["device"] == "breaker-f5" for a in s["alarms"])
    # the fire panel over GB/T 26875.3: a fire at a component, reset at the panel
    assert any(a["device"] == "fas-1" and a["rule"] == "fire_alarm" and a["cleared_at"]
               for a in s["alarms"]), s["alarms"]
    # the demo's supervisor closed the kettle alarm with a note once it had cleared
    assert any(a["rule"] == "malicious_load" and a["state"] == "closed" for a in s["alarms"])


@pytest.mark.slow
def test_demo_ledger_is_readable_from_the_shell(demo_120: DemoRun) -> None:
    data = demo_120.data_dir / "data"
    out = subprocess.run([*FIREGATE, "alarms", "list", "--state", "all", "--data-dir", str(data)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "fire_alarm" in out.stdout and "malicious_load" in out.stdout


def test_run_and_simulate_in_two_terminals_stop_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The README's try-before-the-hardware: simulate and run on the example configuration."""
    text = (ROOT / "deploy/examples/demo-building.yaml").read_text()
    cfg = yaml.safe_load(text)
    import socket

    for bus in cfg["buses"]:
        if bus["type"] == "rtu":
            bus["port"] = str(tmp_path / "rs485.pty")
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                bus["port"] = s.getsockname()[1]
    cfg["gateway"]["data_dir"] = str(tmp_path / "data")
    path = tmp_path / "building.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    # The fire panel's point table travels with the configuration (points_csv is relative).
    shutil.copy(ROOT / "deploy/examples/demo-panel-points.csv", tmp_path)
    sim = start(["simulate", "-c", str(path)], tmp_path / "sim.log")
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "rs485.pty").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        run = start(["run", "-c", str(path), "--no-view", "--summary",
                     str(tmp_path / "summary.json")], tmp_path / "run.log")
        time.sleep(8)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=20) == 0, (tmp_path / "run.log").read_text()[-2000:]
        s = json.loads((tmp_path / "summary.json").read_text())
        assert s["devices_online"] == s["devices"] == len(cfg["devices"]), s
        assert (tmp_path / "data" / "ledger.sqlite").exists()
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)


@pytest.mark.slow
def test_demo_with_modem_pages_and_the_reply_acknowledges(demo_120: DemoRun) -> None:
    sms = demo_120.summary["sms"]
    assert sms["sent"] > 0 and sms["acknowledged"] >= 1 and sms["escalations"] >= 1, sms
    lines = [json.loads(x) for x in
             (demo_120.line_protocol.parent / "sms.jsonl").read_text().splitlines()]
    assert lines and all({"pdu_hex", "number", "text"} <= set(x) for x in lines)
    assert any("1号宿舍楼" in x["text"] for x in lines)
