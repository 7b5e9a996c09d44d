"""``firegate check``: every kind of bad file exits 2 and names the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli.main import main

VALID = (Path(__file__).parents[1] / "data" / "config" / "valid.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gw.yaml"
    p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    """The last line holding ``needle`` (a duplicate is reported where it repeats)."""
    return [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln][-1]


def test_valid_file_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(write(tmp_path, VALID))]) == 0
    assert "valid" in capsys.readouterr().out


BAD = {
    "yaml_syntax": (VALID.replace("  - id: line-1\n", "  - id: [line-1\n"), "id: [line-1",
                    "YAML syntax error"),
    "unknown_profile": (VALID.replace("profile: lx47le", "profile: lx47"), "profile: lx47",
                        "unknown profile 'lx47'"),
    "duplicate_device": (VALID.replace("id: breaker-f1", "id: room-101"), "id: room-101",
                         "device id 'room-101' is used twice"),
    "unit_range": (VALID.replace("unit: 2", "unit: 300"), "unit: 300",
                   "less than or equal to 247"),
    "missing_bus": (VALID.replace("bus: line-1", "bus: line-9"), "bus: line-9",
                    "bus 'line-9' does not exist"),
    "env_in_plain_field": (VALID.replace("host: 127.0.0.1", "host: ${FIREGATE_TEST_HOST}"),
                           "FIREGATE_TEST_HOST", "substituted only in secret fields"),
    "unknown_setting": (VALID.replace("baudrate: 9600", "baudrat: 9600"), "baudrat:",
                        "not a known setting"),
    "fire_panel_in_maintenance": (
        VALID.replace("devices:\n", "devices:\n  - id: panel\n    profile: fire_panel\n"
                      "    bus: line-1\n    unit: 9\n    maintenance: true\n"),
        "maintenance: true", "cannot be in maintenance by configuration"),
    # a breaker keeps its state in input registers and its settings in holding ones: one
    # read function cannot serve both
    "read_function_mixed": (VALID.replace("    profile: lx47le\n",
                                          "    profile: lx47le\n    read_function: 3\n"),
                            "read_function: 3", "uses both holding and input registers"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_exits_2_with_line_and_field(case: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    text, needle, message = BAD[case]
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    want = line_of(text, needle)
    assert f"{path}:{want}:" in err, err
    assert message in err, err
    if case not in ("yaml_syntax",):
        # the field path is spelled out, e.g. devices[2] (breaker-f1).bus
        assert any(s in err for s in ("devices[", "buses[")), err


def test_unclosed_bracket_on_the_last_line_names_that_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The parser only notices at the end of the file; the error still names the line where the
    bracket was opened, never a line past the end of the file."""
    text = ("gateway: {id: gw, site: s, campus: c, building: b}\n"
            "buses:\n"
            "  - id: line-1\n"
            "    host: 127.0.0.1\n"
            "    port: 502\n"
            "    type: [tcp\n")
    path = write(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:6:" in err and f"{path}:7:" not in err, err
    assert "flow sequence" in err, err


def test_plan_prints_requests_per_device(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(write(tmp_path, VALID)), "--plan"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["room-101"] == [{"table": "input", "address": 0x2000, "count": 16},
                                {"table": "input", "address": 0x4000, "count": 2}]
    assert {"table": "coil", "address": 1, "count": 2} in plan["breaker-f1"]
