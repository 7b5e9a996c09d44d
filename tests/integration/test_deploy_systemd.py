"""The gateway on a device: the systemd unit, the install script, journald limits, and
``gateway.runtime.systemd.notify`` talking to a real datagram socket as systemd's would."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.runtime import systemd

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / "deploy" / "gateway"
UNIT = GATEWAY / "firegate.service"


def _unit() -> dict[str, dict[str, list[str]]]:
    """systemd unit files repeat keys (DeviceAllow=...): keep every value."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key, []).append(value)
    return out


def test_unit_is_notify_with_watchdog_restart_and_hardening() -> None:
    service = _unit()["Service"]
    expect = {"Type": "notify", "Restart": "always", "User": "firegate",
              "SupplementaryGroups": "dialout", "NoNewPrivileges": "yes",
              "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/firegate",
              "PrivateTmp": "yes"}
    for key, value in expect.items():
        assert service[key] == [value], key
    assert int(service["WatchdogSec"][0]) > 0
    assert any("ttyS" in v for v in service["DeviceAllow"])


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """Verified as installed, except that the firegate command is this venv's (the unit's
    /opt/firegate/venv does not exist on a build machine)."""
    firegate = Path(sys.executable).with_name("firegate")
    assert firegate.exists(), "install the package: .venv/bin/pip install -e . --no-deps"
    unit = tmp_path / "firegate.service"
    unit.write_text(UNIT.read_text().replace("/opt/firegate/venv/bin/firegate", str(firegate)))
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "firegate.service" not in run.stdout + run.stderr, run.stdout + run.stderr


def test_journald_limits_parse_and_bound_the_journal() -> None:
    conf = configparser.ConfigParser()
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read(GATEWAY / "journald-firegate.conf")
    journal = conf["Journal"]
    assert journal["Storage"] == "persistent"
    assert journal["SystemMaxUse"].endswith("M") and int(journal["SystemMaxUse"][:-1]) <= 500
    assert journal["MaxRetentionSec"]


def test_install_script_lays_out_the_files(tmp_path: Path) -> None:
    example = REPO / "deploy" / "examples" / "campus-dorm-building.yaml"
    run = subprocess.run([str(GATEWAY / "install.sh"), "--config", str(example)],
                         env={**os.environ, "DESTDIR": str(tmp_path)}, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "etc/systemd/system/firegate.service").read_text() == UNIT.read_text()
    assert (tmp_path / "etc/firegate/firegate.yaml").read_text() == example.read_text()
    assert (tmp_path / "etc/systemd/journald.conf.d/firegate.conf").exists()
    assert oct((tmp_path / "etc/firegate/firegate.env").stat().st_mode & 0o777) == "0o640"


def test_install_script_refuses_a_missing_config(tmp_path: Path) -> None:
    run = subprocess.run([str(GATEWAY / "install.sh"), "--config", str(tmp_path / "nope.yaml")],
                         env={**os.environ, "DESTDIR": str(tmp_path)}, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "nope.yaml not found" in run.stderr


# --------------------------------------------------------------------------- notify


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        name = str(tmp_path / "notify.sock")
        sock.bind(name)
    else:
        name = f"@firegate-test-{os.getpid()}-{id(sock)}"
        sock.bind(b"\0" + name[1:].encode())
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    yield sock
    sock.close()


def test_notify_reaches_the_service_manager(notify_socket: socket.socket) -> None:
    assert systemd.ready("polling 161 devices")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=polling 161 devices"
    assert systemd.watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    assert systemd.notify("STOPPING=1")
    assert notify_socket.recv(4096) == b"STOPPING=1"


def test_notify_without_systemd_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False


def test_notify_to_a_vanished_socket_does_not_raise(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert systemd.watchdog() is False


def test_watchdog_interval_is_half_of_watchdogsec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert systemd.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert systemd.watchdog_interval() is None


def test_systemd_analyze_verify_accepts_the_desk_unit(tmp_path: Path) -> None:
    """The central desk's unit (deploy/central/desk), verified as installed."""
    firegate = Path(sys.executable).with_name("firegate")
    src = GATEWAY.parent / "central" / "desk" / "firegate-desk.service"
    unit = tmp_path / "firegate-desk.service"
    unit.write_text(src.read_text().replace("/opt/firegate/venv/bin/firegate", str(firegate)))
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "firegate-desk.service" not in run.stdout + run.stderr, run.stdout + run.stderr
