"""``firegate rules replay``: a building's recorded meter trace through a device's rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gateway.cli.main import main
from simulators.appliances import make_appliance

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "examples" / "demo-building.yaml"


def write_trace(path: Path, seconds: int, loads: list[tuple[str, float, float, dict[str, object]]],
                pf_column: str = "power_factor") -> Path:
    """A 1 s CSV of a 100 W room plus (appliance, on, off, params) from the library."""
    apps = [(make_appliance(n, p, on), on, off) for n, on, off, p in loads]
    rows = [f"t_s,power_w,{pf_column},voltage_v"]
    for t in range(seconds):
        p, n = 100.0, 48.0
        for a, on, off in apps:
            if on <= t < off:
                ap, an = a.pq(float(t))
                p, n = p + ap, n + an
        second = p / math.hypot(p, n) if pf_column == "power_factor" else n
        rows.append(f"{t},{p:.1f},{second:.4f},230.0")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def replay(capsys: pytest.CaptureFixture[str], trace: Path, *extra: str
           ) -> tuple[int, list[dict[str, object]], str]:
    rc = main(["rules", "replay", "-c", str(CONFIG), "--device", "room-101", "--trace",
               str(trace), *extra])
    out = capsys.readouterr()
    return rc, [json.loads(x) for x in out.out.splitlines()], out.err


def test_kettle_in_a_recording_is_raised_then_cleared(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path / "room.csv", 200, [("kettle", 60, 120, {})])
    rc, lines, err = replay(capsys, trace, "--start", "2026-03-02T10:00:00")
    assert rc == 0, err
    mal = [x for x in lines if x["rule"] == "malicious_load"]
    assert [x["state"] for x in mal] == ["raised", "cleared"]
    assert 60 < float(mal[0]["t_s"]) <= 65 and mal[0]["severity"] == "major"  # type: ignore
    assert {"rule", "state", "severity", "t_s"} <= set(mal[0])
    # the room's 1200 W limit too (the demo building's rating)
    assert any(x["rule"] == "overload" and x["state"] == "raised" for x in lines)
    assert "200 rows" in err


def test_night_start_makes_an_ebike_major(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path / "night.csv", 600,
                        [("ebike_charger", 30, 600, {"volts": 60, "chemistry": "lithium"})],
                        pf_column="reactive_power_var")
    for start, want in (("2026-03-02T23:30:00", "major"), ("2026-03-02T10:00:00", "minor")):
        rc, lines, err = replay(capsys, trace, "--start", start)
        assert rc == 0, err
        ups = [x for x in lines if x["rule"] == "ebike_charging" and x["state"] == "raised"]
        assert [x["severity"] for x in ups] == [want]


@pytest.mark.parametrize("text,line,what", [
    ("t_s,power_w\n0,100\n", 1, "missing column power_factor or reactive_power_var"),
    ("t_s,power_factor\n0,1\n", 1, "missing column power_w"),
    ("t_s,power_w,power_factor\n0,100,1\n1,100,1\n2,12O,1\n", 4, "power_w: '12O' is not a number"),
    ("t_s,power_w,power_factor\n0,100,1\n5,100,1\n# a note\n4,100,1\n", 5, "t_s goes backwards"),
    ("t_s,power_w,power_factor\n0,100,1\n1,100\n", 3, "2 values for 3 columns"),
    ("t_s,power_w,power_factor,watts\n", 1, "unknown column 'watts'"),
])
def test_bad_csv_exits_2_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         text: str, line: int, what: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    rc, lines, err = replay(capsys, path)
    assert rc == 2 and not lines
    assert f"{path}:{line}: " in err and what in err, err


def test_unknown_device_and_bad_start_exit_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path / "room.csv", 5, [])
    rc = main(["rules", "replay", "-c", str(CONFIG), "--device", "room-999", "--trace",
               str(trace)])
    assert rc == 2 and "no device 'room-999'" in capsys.readouterr().err
    rc, _, err = replay(capsys, trace, "--start", "yesterday")
    assert rc == 2 and "not an ISO-8601 time" in err
