"""No secret in logs, the summary, the stores, the live view or an error message, with every
secret set and every path that could leak one exercised: a refused MQTT login, an unreachable
InfluxDB with a token, an SMS provider that cannot be reached, devices that do not answer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from gateway.config.models import load_config
from gateway.runtime.gateway import Gateway
from gateway.runtime.liveview import render
from tests.support.servers import Mosquitto, free_port

ROOT = Path(__file__).parents[2]
SECRETS = {"FG_MQTT_PASSWORD": "Mq77-secret-Leak-1", "FG_ALIYUN_SECRET": "Aliyun-secret-Leak-3",
           "FG_SIM_PIN": "7391"}
TOKEN = "Infl-secret-Leak-2"


def building(tmp_path: Path, mosquitto: Mosquitto) -> Path:
    token_file = tmp_path / "influx.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    dead = free_port()
    cfg = {
        "gateway": {"id": "gw-leak", "site": "vc", "campus": "north", "building": "dorm-9",
                    "data_dir": "data"},
        "poll_classes": {"fast": {"period_s": 0.3, "priority": 0},
                         "normal": {"period_s": 0.5, "priority": 1},
                         "slow": {"period_s": 1, "priority": 2}},
        "backoff": {"initial_s": 0.3, "max_s": 0.6},
        "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": dead,
                   "timeout_s": 0.2}],
        "devices": [{"id": "room-1", "profile": "dorm_controller", "bus": "bus", "unit": 1,
                     "actions": {"cut_socket": {}}},
                    {"id": "brk-1", "profile": "lx47le", "bus": "bus", "unit": 2}],
        "rules": {"defaults": {"comm_loss": {"polls": 1}}},
        "outputs": {
            "mqtt": {"url": mosquitto.url, "username": mosquitto.username,
                     "password": "${FG_MQTT_PASSWORD}", "reconnect_min_s": 0.2,
                     "reconnect_max_s": 0.5, "client_id": "fg-leak"},
            "influx": {"url": f"http://127.0.0.1:{dead}", "org": "o", "bucket": "b",
                       "token": f"${{file:{token_file}}}", "timeout_s": 1,
                       "auth_retry_s": 0.5},
        },
        "notify": {
            "enabled": True,
            "providers": [{"type": "aliyun", "endpoint": f"http://127.0.0.1:{dead}/",
                           "access_key_id": "kid", "access_key_secret": "${FG_ALIYUN_SECRET}",
                           "sign_name": "学院", "template_code": "SMS_1", "timeout_s": 1}],
            "rota": {"people": {"wang": {"phone": "+8613800000001"}}, "levels": [["wang"]]},
            "retry_s": 0.5,
        },
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def leaks(text: str) -> list[str]:
    return [s for s in (*SECRETS.values(), TOKEN) if len(s) > 4 and s in text]


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)


def test_no_secret_in_logs_summary_or_stores_of_a_running_gateway(
        tmp_path: Path, mosquitto_auth: Mosquitto, secrets_set: None) -> None:
    cfg = building(tmp_path, mosquitto_auth)
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "-v", "run", "-c", str(cfg), "--for", "5",
         "--summary", str(summary), "--no-view"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    logs = proc.stdout + proc.stderr
    assert proc.returncode == 0, logs[-3000:]
    # The paths that could leak were taken: a refused login, failed deliveries, comm loss.
    assert "refused the login" in logs, logs[-3000:]
    assert "comm_loss" in summary.read_text()
    assert leaks(logs) == [], "secret in the log"
    assert leaks(summary.read_text()) == [], "secret in the summary"
    for f in (tmp_path / "data").iterdir():
        assert leaks(f.read_bytes().decode("utf-8", "replace")) == [], f"secret in {f.name}"


async def test_no_secret_in_the_live_view(tmp_path: Path, mosquitto_auth: Mosquitto,
                                          secrets_set: None) -> None:
    cfg = load_config(building(tmp_path, mosquitto_auth))
    with Gateway(cfg) as gw:
        from gateway.runtime.wiring import start_services

        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop, extra=start_services(gw).coroutines))
        await asyncio.sleep(2.0)
        console = Console(record=True, width=160)
        console.print(render(gw))
        text = console.export_text()
        stop.set()
        await asyncio.wait_for(task, 10)
    assert "room-1" in text
    assert leaks(text) == []


def test_no_secret_in_configuration_errors(tmp_path: Path, mosquitto_auth: Mosquitto,
                                           secrets_set: None) -> None:
    path = building(tmp_path, mosquitto_auth)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # A secret written into the wrong field, and another error beside it.
    data["outputs"]["influx"]["url"] = "${FG_MQTT_PASSWORD}"
    data["outputs"]["mqtt"]["qos"] = "${FG_ALIYUN_SECRET}"
    data["devices"][0]["unit"] = 999
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "gateway.cli.main", "check", "-c", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "outputs.influx.url" in out and "unit" in out, out
    assert leaks(out) == [], out
