"""Security: MQTT beyond loopback needs TLS and a login (through ``firegate check``), secrets from
files, tight modes of the data directory, and the actions section checked against profiles."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import yaml

from gateway.cli.main import main as firegate
from gateway.config.models import ConfigError, load_config
from gateway.runtime.gateway import Gateway

BASE = {
    "gateway": {"id": "gw-s", "site": "vc", "campus": "north", "building": "dorm-9",
                "data_dir": "data"},
    "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": 1502}],
    "devices": [{"id": "room-1", "profile": "dorm_controller", "bus": "bus", "unit": 1},
                {"id": "brk-1", "profile": "lx47le", "bus": "bus", "unit": 2},
                {"id": "meter-1", "profile": "ddsu666", "bus": "bus", "unit": 3}],
}


def write(tmp_path: Path, extra: dict[str, object], text: str | None = None) -> Path:
    f = tmp_path / "gw.yaml"
    f.write_text(text if text is not None else yaml.safe_dump({**BASE, **extra},
                                                               sort_keys=False))
    return f


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = firegate(["check", "-c", str(path)])
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.mark.parametrize(("mqtt", "words"), [
    ({"url": "mqtt://10.20.0.5:1883", "username": "gw", "password": "pw"}, "clear text"),
    ({"url": "mqtt://10.20.0.5:1883"}, "without TLS"),
    ({"url": "mqtts://mqtt.campus.example:8883"}, "needs a login"),
])
def test_check_refuses_mqtt_beyond_loopback_without_tls_and_login(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], mqtt: dict[str, str],
        words: str) -> None:
    rc, out = check(write(tmp_path, {"outputs": {"mqtt": mqtt}}), capsys)
    assert rc == 2 and words in out, out
    assert "gw.yaml:" in out and "outputs.mqtt" in out and "insecure: true" in out


def test_check_accepts_tls_with_login_loopback_and_explicit_insecure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    for mqtt in ({"url": "mqtts://mqtt.campus.example:8883", "username": "gw",
                  "password": "pw", "ca_file": str(ca)},
                 {"url": "mqtt://127.0.0.1:1883"},
                 {"url": "mqtt://10.20.0.5:1883", "insecure": True}):
        rc, out = check(write(tmp_path, {"outputs": {"mqtt": mqtt}}), capsys)
        assert rc == 0, out


def test_secret_from_a_file_and_a_warning_when_others_can_read_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "mqtt.pass"
    secret.write_text("file-secret-123\n")
    secret.chmod(0o600)
    mqtt = {"url": "mqtt://127.0.0.1:1883", "username": "gw",
            "password": f"${{file:{secret}}}"}
    with caplog.at_level(logging.WARNING):
        cfg = load_config(write(tmp_path, {"outputs": {"mqtt": mqtt}}), check_profiles=False)
    assert cfg.outputs.mqtt is not None and cfg.outputs.mqtt.password is not None
    assert cfg.outputs.mqtt.password.get_secret_value() == "file-secret-123"
    assert not caplog.records
    secret.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_config(write(tmp_path, {"outputs": {"mqtt": mqtt}}), check_profiles=False)
    [rec] = caplog.records
    assert "can be read by everyone" in rec.getMessage() and "chmod 600" in rec.getMessage()
    assert "file-secret-123" not in rec.getMessage()


def test_missing_secret_file_is_an_error_with_line(tmp_path: Path) -> None:
    text = yaml.safe_dump({**BASE, "outputs": {"mqtt": {
        "url": "mqtt://127.0.0.1:1883", "username": "gw",
        "password": "${file:/nonexistent/firegate.pass}"}}}, sort_keys=False)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, {}, text), check_profiles=False)
    [p] = err.value.problems
    assert p.field == "outputs.mqtt.password" and p.line is not None
    assert "cannot read secret file /nonexistent/firegate.pass" in p.message


def test_data_dir_and_stores_are_tightened(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    (data / "ledger.sqlite").touch(mode=0o666)
    (data / "ledger.sqlite").chmod(0o666)
    cfg = load_config(write(tmp_path, {}))
    with caplog.at_level(logging.WARNING), Gateway(cfg, with_outputs=False) as gw:
        gw.ledger.record_action(who="t", via="cli", device="room-1", action="x", result="done")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
        assert stat.S_IMODE(data.stat().st_mode) == 0o750
    assert modes["ledger.sqlite"] == 0o640, modes
    assert all(m & 0o027 == 0 for m in modes.values()), modes
    assert {"outbox.sqlite", "actions.sqlite", "ledger.sqlite-wal"} <= set(modes)
    assert any("tightened" in m and "ledger.sqlite from 666 to 640" in m
               for m in caplog.messages)


@pytest.mark.parametrize(("dev", "actions", "words"), [
    (0, {"format_disk": {}}, "has no action 'format_disk'; its actions: cut_socket, "
                             "restore_socket, silence_buzzer"),
    (2, {"cut_socket": {}}, "its actions: none (it is read-only)"),
    (0, {"restore_socket": {"auto": ["malicious_load"]}}, "only a person"),
    (1, {"trip": {"auto": ["malicious_load"]}}, "'malicious_load' is not a rule that watches "
                                                 "a breaker"),
])
def test_device_actions_are_checked_against_the_profile(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dev: int,
        actions: dict[str, object], words: str) -> None:
    devices = [dict(d) for d in BASE["devices"]]  # type: ignore[attr-defined]
    devices[dev]["actions"] = actions
    rc, out = check(write(tmp_path, {"devices": devices}), capsys)
    assert rc == 2 and words in out, out
    assert f"devices[{dev + 1}] ({devices[dev]['id']}).actions." in out


def test_configured_actions_load(tmp_path: Path) -> None:
    devices = [dict(d) for d in BASE["devices"]]  # type: ignore[attr-defined]
    devices[0]["actions"] = {"cut_socket": {"auto": ["malicious_load"], "hold_s": 10},
                             "restore_socket": {}}
    cfg = load_config(write(tmp_path, {"devices": devices,
                                       "actions": {"dry_run": True, "operators": ["alice"]}}))
    assert cfg.devices[0].actions["cut_socket"].auto == ["malicious_load"]
    assert cfg.actions.dry_run and cfg.devices[1].actions == {}


def test_systemd_unit_runs_unprivileged_with_private_files() -> None:
    import configparser

    unit = Path(__file__).parents[2] / "deploy" / "gateway" / "firegate.service"
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(unit.read_text())
    svc = cp["Service"]
    assert svc["User"] not in ("root", "0") and svc["User"] == "firegate"
    assert svc["UMask"] == "0027", "new stores must not be readable by others"
    assert svc["StateDirectoryMode"] == "0750"
    assert svc["NoNewPrivileges"] == "yes" and svc["CapabilityBoundingSet"] == ""


def test_check_warns_about_a_loose_data_directory(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    rc, out = check(write(tmp_path, {}), capsys)
    assert rc == 0 and f"warning: {data} is mode 777" in out and "chmod 750" in out
