"""A building's recorded meter trace played into a simulated meter (a scenario step), polled
over Modbus by the real gateway runtime and judged by its rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.demo.simulate import spec_from_config, trace_steps
from simulators.scenario import ScenarioError, ScenarioPlayer, load_scenario
from tests.support.gateway_kit import config, running

DEVICES = [{"id": "room-101", "profile": "ddsu666", "unit": 1, "floor": 1, "room": "101",
            "ratings": {"power_limit_w": 3000}}]


def kettle_trace(path: Path) -> Path:
    """A room at 150 W (PF 0.9) until 3 s, then a kettle: 1950 W, 73 var, for 60 s."""
    rows = ["# exported from room 101's meter", "t_s,power_w,reactive_power_var,voltage_v"]
    for i in range(0, 126):
        t = i * 0.5
        p, q = (150.0, 72.6) if t < 3 else (1950.0, 72.6)
        rows.append(f"{t:.1f},{p},{q},229.5")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


async def test_a_recorded_kettle_raises_malicious_load_through_the_runtime(
        tmp_path: Path) -> None:
    kettle_trace(tmp_path / "room-101.csv")
    scenario = tmp_path / "replay.yaml"
    scenario.write_text("- {at: 0, device: room-101, set: {trace: room-101.csv}}\n")
    cfg = config(tmp_path / "data", DEVICES, period_s=0.5)
    sc = load_scenario(scenario, spec_from_config(cfg))  # the path is beside the scenario
    async with running(cfg) as rig:
        await asyncio.sleep(2.0)  # the runtime polls the simulated room first
        ScenarioPlayer(sc, rig.sim).apply(sc.steps[0])
        for _ in range(40):
            await asyncio.sleep(0.25)
            if rig.raised("malicious_load", "room-101"):
                break
    ev = rig.raised("malicious_load", "room-101")
    assert ev, [t["rule"] for t in rig.transitions]
    assert abs(float(ev[0]["value"]) - 1800) < 50  # the recorded step, as polled over Modbus
    polled = [r.values["power_w"] for r in rig.results if r.device_id == "room-101"
              and r.values.get("power_w") is not None]
    assert any(abs(float(p) - 1950) < 1 for p in polled)  # the recording's own values
    assert any(abs(float(p) - 150) < 1 for p in polled)


def test_a_bad_recording_is_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,power_w,power_factor\n0,100,0.9\n1,oops,0.9\n")
    cfg = config(tmp_path / "data", DEVICES)
    spec = spec_from_config(cfg)
    with pytest.raises(ScenarioError, match=r"set\.trace: .*bad\.csv:3: power_w: 'oops'"):
        load_scenario("s.yaml", spec, text=f"- {{at: 0, device: room-101, set: {{trace: {bad}}}}}")
    # firegate simulate --trace ID=FILE takes the same path
    with pytest.raises(ScenarioError, match=r"bad\.csv:3"):
        trace_steps(spec, [f"room-101={bad}"])
    with pytest.raises(ScenarioError, match=r"DEVICE_ID=FILE\.csv"):
        trace_steps(spec, [str(bad)])
