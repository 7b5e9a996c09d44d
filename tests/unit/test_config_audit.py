"""Configurations that pass a quick look but would silently miss a hazard or a page.

Each case is what an installer could write: ``firegate check`` must refuse it (exit 2) where it
can only be wrong, or print a warning naming the file, the line and the field (exit 0) where a
site may mean it. The sources (GB 50116, GB 14287, GB/T 26875.3) are in ../shared/domain.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.main import main

VALID = (Path(__file__).parents[1] / "data" / "config" / "valid.yaml").read_text()
PANEL = ("  - id: panel\n    profile: fire_panel\n    bus: line-1\n    unit: 9\n")
NOTIFY = """notify:
  enabled: true
  modem: {port: /dev/ttyUSB2}
  rota:
    people:
      wang: {phone: "+8613800000001"}
      li: {phone: "13800000002"}
    levels: [[wang], [li]]
"""
WITH_PANEL = VALID.replace("devices:\n", "devices:\n" + PANEL) + NOTIFY


def write(tmp_path: Path, text: str, name: str = "gw.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    return [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln][-1]


def test_panel_with_paging_passes_without_warning(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(write(tmp_path, WITH_PANEL))]) == 0
    out = capsys.readouterr()
    assert "valid" in out.out and "warning:" not in out.err, out.err


REFUSED = {
    # an SMS goes to a mobile: 11 digits starting with 1 in China, +86 before them
    "phone_too_short": (WITH_PANEL.replace('"13800000002"', '"1380000"'), '"1380000"',
                        "not a mobile number"),
    "phone_landline": (WITH_PANEL.replace('"13800000002"', '"057188000000"'), '"057188000000"',
                       "not a mobile number"),
    "phone_plus86_landline": (WITH_PANEL.replace('"+8613800000001"', '"+86057188000000"'),
                              '"+86057188000000"', "not a mobile number"),
    # two buses that are one serial line: two arbiters, two requests in flight, garbled reads
    "same_serial_port": (VALID.replace("buses:\n", "buses:\n  - {id: line-2, type: rtu, port: "
                                       "/dev/ttyS1}\n"), "port: /dev/ttyS1",
                         "same serial line as bus 'line-2'"),
    # the same TCP endpoint and unit under two bus names: two devices read the same registers
    "same_tcp_endpoint_and_unit": (
        VALID.replace("buses:\n", "buses:\n  - {id: gw-a, type: tcp, host: 10.0.0.5}\n"
                      "  - {id: gw-b, type: tcp, host: 10.0.0.5, port: 502}\n")
        .replace("devices:\n", "devices:\n  - {id: m1, profile: ddsu666, bus: gw-a, unit: 3}\n"
                 "  - {id: m2, profile: ddsu666, bus: gw-b, unit: 3}\n"),
        "id: m2", "unit 3 at 10.0.0.5:502 is already used by device 'm1'"),
    # a per-device rule block for a device that does not exist is silently never applied
    "rules_for_unknown_device": (WITH_PANEL + "rules:\n  devices:\n    panel-1:\n"
                                 "      fire_alarm: {panel_wait_s: 1}\n", "panel-1:",
                                 "no device 'panel-1'"),
    "rules_for_unknown_kind": (WITH_PANEL + "rules:\n  kinds:\n    fire_pannel:\n"
                               "      fire_alarm: {panel_wait_s: 1}\n", "fire_pannel:",
                               "no device kind 'fire_pannel'"),
    # skipping critical pages silences fires
    "skip_critical": (WITH_PANEL + "  skip_severities: [info, critical]\n", "skip_severities",
                      "a fire would page nobody"),
    # a fire (or a lost panel) paged like any other alarm: level 1 alone, level 2 minutes later
    "critical_severities_without_critical": (WITH_PANEL + "  critical_severities: [major]\n",
                                             "critical_severities", "must list critical"),
    "critical_rules_without_fire": (WITH_PANEL + "  critical_rules: [arc_*]\n",
                                    "critical_rules", "must match fire_alarm"),
    # a rating no rule reads (a typo) leaves the overload rule without it: never raised
    "rating_misspelt": (VALID.replace("power_limit_w: 1200", "power_limt_w: 1200"),
                        "power_limt_w", "'power_limt_w' is not a rating"),
    "rating_zero": (VALID.replace("rated_current_a: 32", "rated_current_a: 0"),
                    "rated_current_a: 0", "must be above 0"),
    # unit 0 on RS-485 is the broadcast address: no device answers it
    "rtu_unit_0": (VALID.replace("unit: 2", "unit: 0"), "unit: 0", "broadcast"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_line_and_field(case: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    text, needle, message = REFUSED[case]
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line_of(text, needle)}:" in err, err
    assert message in err, err


WARNED = {
    "panel_without_paging": (VALID.replace("devices:\n", "devices:\n" + PANEL), "id: panel",
                             "paging is off"),
    "panel_paging_disabled": (WITH_PANEL.replace("enabled: true", "enabled: false"),
                              "enabled: false", "paging is off"),
    "panel_device_disabled": (WITH_PANEL.replace("unit: 9\n", "unit: 9\n    enabled: false\n"),
                              "enabled: false", "device 'panel' is disabled"),
    "fire_alarm_rule_disabled": (WITH_PANEL + "rules:\n  kinds:\n    fire_panel:\n"
                                 "      fire_alarm: {enabled: false}\n", "fire_alarm:",
                                 "rule fire_alarm is off for panel"),
    "comm_loss_disabled_for_panel": (WITH_PANEL + "rules:\n  devices:\n    panel:\n"
                                     "      comm_loss: {enabled: false}\n", "comm_loss:",
                                     "rule comm_loss is off for panel"),
    "residual_disabled_by_default": (VALID.replace("devices:\n", "devices:\n  - {id: rcm, "
                                                   "profile: aim_r100, bus: line-1, unit: 5}\n")
                                     + "rules:\n  defaults:\n"
                                     "    residual_current: {enabled: false}\n",
                                     "residual_current:", "rule residual_current is off for rcm"),
    # maintenance by configuration never ends: an exit sensor's alarms would page nobody
    "exit_sensor_in_maintenance": (WITH_PANEL.replace("devices:\n", "devices:\n  - {id: exit-1, "
                                                      "profile: exit_sensor, bus: line-1, unit: "
                                                      "7, maintenance: true}\n"),
                                   "id: exit-1", "in maintenance by configuration"),
    "fire_bits_polled_slowly": (WITH_PANEL.replace("unit: 9\n", "unit: 9\n    poll: {fire: 60}\n"),
                                "poll: {fire: 60}", "within 10 s"),
    "fire_class_slow": (WITH_PANEL + "poll_classes:\n  fire: {period_s: 30}\n", "fire: {period_s",
                        "within 10 s"),
    "panel_comm_loss_late": (WITH_PANEL + "rules:\n  kinds:\n    fire_panel:\n"
                             "      comm_loss: {on_delay_s: 3600}\n", "comm_loss:",
                             "within 100 s"),
    "rota_hour_uncovered": (WITH_PANEL.replace("levels: [[wang], [li]]\n",
                                               "levels: [[], [li]]\n    shifts:\n"
                                               "      - {days: [mon, tue, wed, thu, fri, sat, "
                                               "sun], start: \"08:00\", end: \"20:00\", level: 1,"
                                               " people: [wang]}\n"
                                               "      - {days: [mon, tue, wed, thu, fri, sat, "
                                               "sun], start: \"20:00\", end: \"07:00\", level: 1,"
                                               " people: [wang]}\n"),
                            "levels: [[], [li]]", "07:00-08:00"),
}


@pytest.mark.parametrize("case", sorted(WARNED))
def test_warned_with_line_and_field(case: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    text, needle, message = WARNED[case]
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert any(f"{path}:{line_of(text, needle)}:" in w and message in w for w in warnings), err


PROFILE = """profile: probe
family: electrical
kind: room_meter
max_registers: {max}
points:
  - {{name: voltage_v, table: input, address: 0x2000, type: f32}}
  - {{name: current_a, table: input, address: 0x2002, type: f32}}
  - {{name: power_w, table: input, address: 0x2004, type: f32, scale: {scale}}}
  - {{name: power_factor, table: input, address: 0x200A, type: f32}}
  - {{name: energy_kwh, table: input, address: 0x4000, type: f32}}
{extra}"""


@pytest.mark.parametrize("case,fields,message", [
    # a request can carry at most max_registers: a float32 needs two in one read
    ("f32_longer_than_a_request", {"max": 1, "scale": 1, "extra": ""},
     "needs 2 registers in one read but max_registers is 1"),
    # every reading would be 0: the overload and load rules would never see power
    ("scale_zero", {"max": 125, "scale": 0, "extra": ""}, "scale 0"),
    ("point_in_unreadable_range", {"max": 125, "scale": 1, "extra":
                                   "unreadable:\n  - {table: input, start: 0x2003, end: 0x2004}\n"},
     "lies in the unreadable range"),
])
def test_profile_that_cannot_read_a_value_is_refused(
        case: str, fields: dict[str, object], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "profiles").mkdir()
    write(tmp_path / "profiles", PROFILE.format(**fields), "probe.yaml")
    text = (VALID.replace("profile: ddsu666", "profile: probe")
            + "profile_dirs: [profiles]\n")
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "probe.yaml" in err and message in err, err


def test_run_says_the_warnings_once_at_start(tmp_path: Path) -> None:
    """``firegate run`` validates in a child (gateway/config/snapshot.py): the child prints what
    ``check`` warns about to stderr, which the journal keeps, and still hands the config over."""
    import os
    import subprocess
    import sys

    text = VALID.replace("devices:\n", "devices:\n" + PANEL)
    path = write(tmp_path, text)
    read, wr = os.pipe()
    child = subprocess.Popen([sys.executable, "-m", "gateway.config.snapshot", str(path),
                              str(wr)], pass_fds=(wr,), stderr=subprocess.PIPE, text=True)
    os.close(wr)
    with os.fdopen(read, "rb") as pipe:
        handed = pipe.read()
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0 and handed, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, err
    assert f"{path}:{line_of(text, 'id: panel')}:" in warnings[0]
    assert "paging is off" in warnings[0]


def test_plain_check_says_a_line_cannot_hold_its_fire_class(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not only ``check --plan``: an installer who runs ``check`` alone is told too that a
    9600-baud line with 2 panels and 10 meters polls its fire bits late."""
    devices = "".join(f"  - {{id: panel-{i}, profile: fire_panel, bus: line-1, unit: {i}}}\n"
                      for i in (10, 11))
    devices += "".join(f"  - {{id: m{i}, profile: ddsu666, bus: line-1, unit: {20 + i}}}\n"
                       for i in range(10))
    text = WITH_PANEL.replace("devices:\n", "devices:\n" + devices)
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}: line 'line-1' at 9600 baud" in err, err
    assert "cannot hold its poll classes" in err, err


def test_a_valid_range_below_the_alarm_setting_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reading outside a point's ``valid`` range is bad quality, never a value: a residual
    current point valid only to 200 mA can never reach the 300 mA alarm setting."""
    (tmp_path / "profiles").mkdir()
    builtin = Path(__file__).parents[2] / "drivers" / "profiles" / "aim_r100.yaml"
    write(tmp_path / "profiles", builtin.read_text().replace("profile: aim_r100",
                                                             "profile: rcm_probe")
          .replace("valid: [0, 5000]", "valid: [0, 200]"), "rcm_probe.yaml")
    text = (VALID.replace("devices:\n", "devices:\n  - {id: rcm, profile: rcm_probe, bus: "
                          "line-1, unit: 5}\n") + "profile_dirs: [profiles]\n")
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line_of(text, 'id: rcm')}:" in err, err
    assert "rcm_probe.yaml" in err and "valid up to 200" in err and "setting_ma 300" in err, err
