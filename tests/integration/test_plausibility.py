"""Plausibility before rules and the read function per device, against real simulators."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.model import Table
from tests.support.gateway_kit import config, running
from tests.support.polling_kit import wait_for

ROOT = Path(__file__).resolve().parents[2]


async def test_a_meter_read_with_function_3_when_configured(tmp_path: Path) -> None:
    cfg = config(tmp_path, [{"id": "m1", "profile": "ddsu666", "unit": 1, "read_function": 3},
                            {"id": "m2", "profile": "ddsu666", "unit": 2}], period_s=0.3)
    async with running(cfg) as rig:
        await wait_for(lambda: all(any("voltage_v" in r.values for r in rig.results
                                       if r.device_id == d) for d in ("m1", "m2")), timeout=5)
        tables_1 = {r.table for r in rig.sim.device("m1").requests()}
        tables_2 = {r.table for r in rig.sim.device("m2").requests()}
    assert tables_1 == {Table.HOLDING} and tables_2 == {Table.INPUT}
    volts = [r.values["voltage_v"] for r in rig.results if "voltage_v" in r.values]
    assert all(200 < float(v) < 260 for v in volts)


async def test_a_frozen_reading_becomes_a_sensor_fault_warning(tmp_path: Path) -> None:
    prof = (ROOT / "drivers/profiles/ddsu666.yaml").read_text(encoding="utf-8")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles/ddsu666.yaml").write_text(prof.replace("stuck_s: 600", "stuck_s: 2"),
                                                    encoding="utf-8")
    cfg = config(tmp_path / "data", [{"id": "m1", "profile": "ddsu666", "unit": 1}],
                 period_s=0.3, rules={"defaults": {"sensor_fault": {"on_delay_s": 0}}},
                 profile_dirs=[str(tmp_path / "profiles")])
    async with running(cfg) as rig:
        await asyncio.sleep(3.0)
        assert not rig.raised("sensor_fault"), "a live voltage moves"
        rig.sim.device("m1").set({"voltage_v": 231.5})
        await wait_for(lambda: bool(rig.raised("sensor_fault", "m1")), timeout=8)
    fault = rig.raised("sensor_fault", "m1")[0]
    assert fault["severity"] == "warning" and "voltage_v" in fault["message_en"]
    assert "231.5" in str(fault["value"])
