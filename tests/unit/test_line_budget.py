"""The ``fire`` poll class and what an RS-485 line can carry (``firegate check --plan``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drivers.model import Request, Table
from drivers.wiretime import line_load, request_s
from gateway.cli.main import main
from gateway.config.models import load_config, load_profiles_for


def test_a_ten_register_read_at_9600_baud_takes_what_the_domain_note_says() -> None:
    # ../shared/domain.md: 8-byte request + 25-byte reply ≈ 38 ms on the wire, 3.5-character
    # gaps of ≈ 4 ms, plus turnaround: 60–100 ms a transaction.
    t = request_s(Request(Table.HOLDING, 0, 10), 9600)
    assert 0.060 <= t <= 0.100
    wire_only = request_s(Request(Table.HOLDING, 0, 10), 9600, turnaround_s=0.0) - 2 * 0.0040
    assert wire_only == pytest.approx(33 * 11 / 9600, abs=1e-4)
    # Twice the baud rate: about half the time (gaps fixed at 1.75 ms above 19200).
    assert request_s(Request(Table.HOLDING, 0, 10), 38400) < t / 2


def test_line_share_and_the_fastest_fire_period() -> None:
    req = [Request(Table.HOLDING, 0, 9)]
    load = line_load("l", 9600, [("fire", 0.25, req)] * 4 + [("fast", 1.0, req)] * 10)
    per = request_s(req[0], 9600)
    assert load.share == pytest.approx(4 * per / 0.25 + 10 * per / 1.0)
    assert not load.holds
    # With the fast class as it is, the fire class fits in what is left of the line.
    assert load.fastest_period_s("fire") == pytest.approx(4 * per / (1 - 10 * per))


def _config(tmp_path: Path, panels: int, meters: int, baud: int) -> Path:
    devices = [{"id": f"panel-{i}", "profile": "fire_panel", "bus": "rs485", "unit": i}
               for i in range(1, panels + 1)]
    devices += [{"id": f"room-{i}", "profile": "ddsu666", "bus": "rs485", "unit": 100 + i}
                for i in range(1, meters + 1)]
    cfg = {"gateway": {"id": "gw", "site": "s", "campus": "c", "building": "b",
                       "data_dir": str(tmp_path / "data")},
           # An older configuration that names its classes without ``fire`` still works.
           "poll_classes": {"fast": {"period_s": 1, "priority": 0}},
           "buses": [{"id": "rs485", "type": "rtu", "port": "/dev/ttyS1", "baudrate": baud}],
           "devices": devices}
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_fire_panel_alarm_points_poll_in_the_fire_class_at_a_quarter_second(
        tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, 1, 0, 9600))
    profiles = load_profiles_for(cfg)
    fire = {p.key for p in profiles["fire_panel"].points_for("fire")}
    assert {"fire_alarm", "fire_alarm@8", "reset"} <= fire, "fire bits and the reset ending them"
    assert "fault" not in fire
    assert cfg.period(cfg.devices[0], "fire") == 0.25
    assert cfg.period(cfg.devices[0], "fast") == 1


def test_check_plan_warns_when_a_line_cannot_hold_its_classes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = _config(tmp_path, 1, 4, 9600)
    assert main(["check", "-c", str(ok), "--plan"]) == 0
    assert "cannot hold" not in capsys.readouterr().err  # (paging off is warned too)

    # 2 panels at 0.25 s and 10 meters at 1 s do not fit one 9600-baud line.
    full = _config(tmp_path, 2, 10, 9600)
    assert main(["check", "-c", str(full), "--plan"]) == 0
    err = capsys.readouterr().err
    assert "line 'rs485' at 9600 baud" in err
    assert "cannot hold its poll classes" in err
    assert "the fire class could run every" in err

    # The same devices at 38400 baud fit.
    fast = _config(tmp_path, 2, 10, 38400)
    assert main(["check", "-c", str(fast), "--plan"]) == 0
    assert "cannot hold" not in capsys.readouterr().err
