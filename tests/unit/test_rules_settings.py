"""Rule settings through ``load_config``: standards checks with their source, deliberate
deviations, overrides, and errors that name the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.models import ConfigError, load_config
from rules.settings import RulesSettings

BASE = """\
gateway: {id: gw-1, site: s1, campus: north, building: dorm-1}
buses:
  - {id: line-1, type: rtu, port: /dev/ttyS1}
devices:
  - {id: room-101, profile: ddsu666, bus: line-1, unit: 1, room: "101"}
  - {id: rcm-1, profile: aim_r100, bus: line-1, unit: 2}
rules:
"""


def write(tmp_path: Path, rules: str) -> Path:
    p = tmp_path / "gw.yaml"
    p.write_text(BASE + rules, encoding="utf-8")
    return p


def problems(tmp_path: Path, rules: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, rules))
    return [str(p) for p in exc.value.problems]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


@pytest.mark.parametrize(("rules", "needle", "field", "source"), [
    ("  defaults:\n    residual_current:\n      setting_ma: 1500\n", "setting_ma: 1500",
     "rules.defaults.residual_current.setting_ma", "GB 14287.2"),
    ("  defaults:\n    residual_current:\n      setting_ma: 10\n", "setting_ma: 10",
     "rules.defaults.residual_current.setting_ma", "GB 14287.2"),
    ("  defaults:\n    over_temperature: {setting_c: 150}\n", "setting_c: 150",
     "rules.defaults.over_temperature.setting_c", "GB 14287.3"),
    ("  defaults:\n    over_temperature: {setting_c: 50}\n", "setting_c: 50",
     "rules.defaults.over_temperature.setting_c", "GB 14287.3"),
    ("  kinds:\n    residual_monitor:\n      residual_current: {on_delay_s: 45}\n",
     "on_delay_s: 45", "rules.kinds.residual_monitor.residual_current.on_delay_s",
     "GB 14287.2"),
    ("  defaults:\n    over_temperature:\n      on_delay_s: 60\n", "on_delay_s: 60",
     "rules.defaults.over_temperature.on_delay_s", "GB 14287.3"),
    ("  defaults:\n    arc_fault:\n      on_delay_s: 31\n", "on_delay_s: 31",
     "rules.defaults.arc_fault.on_delay_s", "GB 14287.4"),
    ("  devices:\n    panel-1:\n      fire_alarm:\n        on_delay_s: 15\n", "on_delay_s: 15",
     "rules.devices.panel-1.fire_alarm.on_delay_s", "GB 50116"),
])
def test_settings_outside_the_standard_are_refused(tmp_path: Path, rules: str, needle: str,
                                                   field: str, source: str) -> None:
    found = problems(tmp_path, rules)
    assert len(found) == 1, found
    line = line_of(tmp_path / "gw.yaml", needle)
    assert found[0].startswith(f"{tmp_path / 'gw.yaml'}:{line}: {field}: ")
    assert source in found[0] and "deviation" in found[0]


def test_a_recorded_deviation_is_accepted(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, (
        "  devices:\n    rcm-1:\n      residual_current:\n"
        "        deviation: \"kitchen circuit, 1200 mA agreed with the fire brigade 2026-02\"\n"
        "        setting_ma: 1200\n")))
    rs = cfg.rules.for_device("rcm-1", "residual_monitor")
    assert rs.residual_current.setting_ma == 1200
    assert rs.residual_current.deviation is not None
    assert cfg.rules.for_device("other", "residual_monitor").residual_current.setting_ma == 300


def test_unknown_rule_and_setting_names_are_typos(tmp_path: Path) -> None:
    found = problems(tmp_path, "  defaults:\n    residual_curent: {setting_ma: 300}\n"
                               "    overload: {pickup: 1.1}\n")
    assert any("rules.defaults.residual_curent" in p and "not a known setting" in p
               for p in found)
    assert any("rules.defaults.overload.pickup" in p for p in found)


def test_bad_schedule_time_says_how_to_write_it(tmp_path: Path) -> None:
    found = problems(tmp_path, "  night: {start: \"25:00\", end: \"06:00\"}\n")
    assert len(found) == 1 and "rules.night.start" in found[0] and "HH:MM" in found[0]


def test_overrides_merge_only_what_they_write() -> None:
    rs = RulesSettings.model_validate({
        "defaults": {"residual_current": {"setting_ma": 500, "on_delay_s": 10}},
        "kinds": {"breaker": {"residual_current": {"on_delay_s": 2}}},
        "devices": {"brk-9": {"residual_current": {"setting_ma": 100}}},
    })
    r = rs.for_device("brk-9", "breaker").residual_current
    assert (r.setting_ma, r.on_delay_s, r.prealarm_ratio) == (100, 2, 0.8)
    r = rs.for_device("brk-1", "breaker").residual_current
    assert (r.setting_ma, r.on_delay_s) == (500, 2)
    r = rs.for_device("rcm-1", "residual_monitor").residual_current
    assert (r.setting_ma, r.on_delay_s) == (500, 10)


def test_demo_block_is_valid_and_shortens_durations() -> None:
    import yaml

    data = yaml.safe_load((Path(__file__).parents[1] / "data" / "rules_demo.yaml").read_text())
    rs = RulesSettings.model_validate(data)
    assert rs.defaults.ebike_charging.min_duration_s == 20
    assert rs.defaults.fire_door_open.hold_s == 5


def test_firegate_check_refuses_with_the_standard(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.main import main

    path = write(tmp_path, "  defaults:\n    over_temperature: {setting_c: 160}\n")
    assert main(["check", "-c", str(path)]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "rules.defaults.over_temperature.setting_c" in text and "GB 14287.3" in text


def test_firegate_alarms_is_wired_into_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.alarms.ledger import Ledger
    from gateway.cli.main import main

    Ledger(tmp_path / "ledger.sqlite").close_db()
    assert main(["alarms", "list", "--state", "all", "--data-dir", str(tmp_path)]) == 0
