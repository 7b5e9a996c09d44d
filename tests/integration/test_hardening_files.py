"""Issue 15, the careless admin and the log reader: substitutions where they publish a secret,
secret files that are not files, a data directory that is a symlink or read-only, a profile
that is not UTF-8, terminal escapes in ``alarms history``, and MQTT errors in the right words."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
import yaml
from aiomqtt.exceptions import MqttConnectError

from gateway.alarms.ledger import Ledger, LedgerError
from gateway.cli.main import main as firegate
from gateway.outputs.mqtt_sink import explain
from rules.events import Event

BASE = {
    "gateway": {"id": "gw-f", "site": "vc", "campus": "north", "building": "dorm-9",
                "data_dir": "data"},
    "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": 1502}],
    "devices": [{"id": "panel-1", "profile": "fire_panel", "bus": "bus", "unit": 1,
                 "location": "ground floor"}],
}


def _write(tmp_path: Path, edit: dict[str, object] | None = None) -> Path:
    data: dict[str, object] = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in (edit or {}).items():
        node: object = data
        *path, last = dotted.split(".")
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})  # type: ignore[index,attr-defined]
        node[int(last) if isinstance(node, list) else last] = value  # type: ignore[index]
    f = tmp_path / "gw.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return f


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = firegate(["check", "-c", str(path)])
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.mark.parametrize(("field", "value", "words"), [
    ("devices.0.location", "${file:/etc/shadow}", "devices[1] (panel-1).location"),
    ("devices.0.name", "${FIREGATE_MQTT_PASSWORD}", "devices[1] (panel-1).name"),
    ("gateway.name", "${HOME}", "gateway.name"),
])
def test_substitution_outside_secret_fields_is_refused_with_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        field: str, value: str, words: str) -> None:
    monkeypatch.setenv("FIREGATE_MQTT_PASSWORD", "s3cret-mqtt-pass")
    rc, out = _check(_write(tmp_path, {field: value}), capsys)
    assert rc == 2, out
    assert "gw.yaml:" in out and words in out and "only in secret fields" in out, out
    assert "s3cret-mqtt-pass" not in out and "root:" not in out


def test_a_secret_typed_into_a_published_field_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"outputs": {"mqtt": {"url": "mqtt://127.0.0.1:1883",
                                                  "username": "gw",
                                                  "password": "hunter2-mqtt"}},
                             "devices.0.location": "hall (wifi: hunter2-mqtt)"})
    rc, out = _check(path, capsys)
    assert rc == 2 and "devices[1] (panel-1).location" in out and "text of a secret" in out
    assert "hunter2-mqtt" not in out, out


def test_secret_files_only_regular_small_and_from_allowed_directories(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    big = tmp_path / "big.pass"
    big.write_bytes(b"x" * 100_000)
    ok = tmp_path / "mqtt.pass"
    ok.write_text("file-secret-123\n")
    ok.chmod(0o600)
    cases = {"${file:/dev/zero}": "not in a directory secrets may come from",
             f"${{file:{tmp_path / 'zero'}}}": "not in a directory secrets may come from",
             f"${{file:{big}}}": "a secret file holds at most 65536",
             "${file:/proc/self/environ}": "not in a directory secrets may come from"}
    for ref, words in cases.items():
        path = _write(tmp_path, {"outputs": {"mqtt": {"url": "mqtt://127.0.0.1:1883",
                                                      "username": "gw", "password": ref}}})
        rc, out = _check(path, capsys)
        assert rc == 2 and words in out and "outputs.mqtt.password" in out, (ref, out)
    path = _write(tmp_path, {"outputs": {"mqtt": {"url": "mqtt://127.0.0.1:1883",
                                                  "username": "gw",
                                                  "password": "${file:mqtt.pass}"}}})
    rc, out = _check(path, capsys)
    assert rc == 0 and "file-secret-123" not in out, out


def test_data_dir_that_is_a_symlink_is_refused_and_its_target_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    target.chmod(0o755)
    (tmp_path / "data").symlink_to(target)
    path = _write(tmp_path)
    rc, out = _check(path, capsys)
    assert rc == 2 and "is a symbolic link" in out and "gateway.data_dir" in out, out
    rc = firegate(["run", "-c", str(path), "--for", "1", "--no-view"])
    out = capsys.readouterr().err
    assert rc == 2 and "is a symbolic link" in out, out
    assert stat.S_IMODE(target.stat().st_mode) == 0o755, "the target was not chmodded"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a read-only mount needs root (as root a chmod does not stop writes)")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_data_dir_fails_check_and_run_with_words_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], read_only_dir: Path) -> None:
    path = _write(tmp_path, {"gateway.data_dir": str(read_only_dir)})
    rc, out = _check(path, capsys)
    assert rc == 2 and "not writable" in out and "Traceback" not in out, out
    rc = firegate(["run", "-c", str(path), "--for", "1", "--no-view"])
    out = capsys.readouterr().err
    assert rc == 2 and "not writable" in out, out


def test_profile_that_is_not_utf8_names_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "site_meter.yaml").write_bytes(
        "profile: site_meter\nfamily: electrical\n# 电表\n".encode("gb18030"))
    rc, out = _check(_write(tmp_path, {"profile_dirs": ["profiles"]}), capsys)
    assert rc == 2 and "site_meter.yaml:3: not UTF-8" in out and "Traceback" not in out, out


def test_alarms_history_escapes_terminal_codes_and_notes_are_bounded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        ev = Event(kind="raise", rule="door_held_open", device="door-1", channel="",
                   severity="minor", ts=1_700_000_000.0, value=1, threshold=1,
                   message_zh="防火门常开", message_en="fire door held open", site="vc",
                   campus="north", building="dorm-9", floor=1, room=None)
        [tr] = led.apply(ev)
        led.apply(dataclasses.replace(ev, kind="clear", ts=1_700_000_060.0))
        with pytest.raises(LedgerError, match="at most 2000"):
            led.close(tr.id, who="warden", note="x" * 5000)
        led.close(tr.id, who="warden\x1b[31m", note="fixed\x1b]0;pwned\x07\nINFO forged")
    rc = firegate(["alarms", "history", tr.id, "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "\x1b" not in out and "\x07" not in out, repr(out)
    assert "\\x1b]0;pwned\\x07\\x0aINFO forged" in out
    assert len(out.strip().splitlines()) == 3, "one line per transition, none forged"


def test_not_connected_is_not_reported_as_a_refused_login() -> None:
    lost = explain(aiomqtt.MqttCodeError(paho.MQTT_ERR_NO_CONN, "Could not publish"),
                   "broker:1883")
    assert "refused the login" not in lost and "connection" in lost, lost
    refused = explain(MqttConnectError(5), "broker:1883")
    assert "refused the login" in refused, refused


async def test_a_locked_page_store_delays_pages_never_the_loop(tmp_path: Path) -> None:
    """Another process holds notify.sqlite: the page waits in memory, the event loop goes on
    (a ticker keeps ticking), and the page goes out once the lock is free."""
    import asyncio
    import contextlib
    import sqlite3
    import time
    from dataclasses import dataclass

    from gateway.notify.config import NotifyConfig
    from gateway.notify.notifier import Notifier
    from gateway.records import AlarmTransition
    from simulators.modem import ModemSimulator

    wang = "+8613800000001"

    @dataclass
    class Identity:
        data_dir: Path
        id: str = "gw-dorm1"
        campus: str = "东校区"
        building: str = "1号楼"

    sim = ModemSimulator()
    async with sim as port:
        cfg = NotifyConfig.model_validate({
            "enabled": True,
            "modem": {"port": port, "command_wait_s": 0.3, "send_wait_s": 2,
                      "health_every_s": 0.2, "reopen_after_s": 0.1},
            "rota": {"people": {"wang": {"phone": wang}}, "levels": [["wang"]],
                     "waits_s": [0]},
            "storm": {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 5},
            "retry_s": 0.2})
        n = Notifier(cfg, lambda *_: True, Identity(tmp_path))
        task = asyncio.create_task(n.run())
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        other = sqlite3.connect(tmp_path / "notify.sqlite", isolation_level=None)
        try:
            await asyncio.sleep(0.5)  # the modem is up
            other.execute("BEGIN IMMEDIATE")
            n.on_transition(AlarmTransition(
                id="A1", seq=1, device="rcm-305", rule="over_temperature", severity="major",
                state="raised", event="raise", ts=time.time(), value=68.2, threshold=55.0,
                message_zh="线缆温度过高", message_en="cable over temperature",
                campus="东校区", building="1号楼", floor=3, room="305", repeat_count=0))
            before = ticks
            await asyncio.sleep(2.0)
            assert ticks - before >= 10, "the event loop stalled on the locked store"
            other.execute("ROLLBACK")
            [msg] = await sim.wait_for_messages(1, number=wang)
            assert "305" in msg.text
        finally:
            other.close()
            tick_task.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            n.close()
