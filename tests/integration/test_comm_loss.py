"""comm_loss through the real data path (simulator on a real socket → poller → rules → ledger):
every way a device can stop being monitored raises it within its documented ``polls`` silent
polls, and a restart with the device still dead keeps it up rather than losing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway_kit import config, running
from tests.support.waiting import until

PANEL = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消防控制室"}]


def _open_comm_loss(rig: Any) -> list[Any]:
    return [a for a in rig.gw.ledger.open_alarms()
            if a.device == "panel" and a.rule == "comm_loss" and a.active]


@pytest.mark.parametrize(("kind", "extra"), [
    ("offline", {}),  # a TCP server that accepts, reads and never answers (half-open)
    ("exception", {"code": 4}),  # answers every read with "device failure"
    ("exception", {"code": 2}),  # refuses every register ("illegal address")
    ("garbage", {"mode": "wrong_unit"}),  # answers for another unit, forever
])
async def test_a_device_not_monitored_from_the_first_poll_raises_comm_loss(
        tmp_path: Path, kind: str, extra: dict[str, Any]) -> None:
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        rig.sim.device("panel").fault(kind, **extra)  # before the first poll
        await until(lambda: bool(_open_comm_loss(rig)), timeout=10, what="comm_loss raised")
        assert not [r for r in rig.results if r.values], "a faulty reply was taken for data"


async def test_a_restart_with_the_device_still_dead_keeps_comm_loss_up(tmp_path: Path) -> None:
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        rig.sim.device("panel").fault("offline")
        await until(lambda: bool(_open_comm_loss(rig)), timeout=10, what="comm_loss raised")
        alarm_id = _open_comm_loss(rig)[0].id
    async with running(cfg) as rig2:
        rig2.sim.device("panel").fault("offline")  # still dead when the gateway comes back
        await until(lambda: sum(1 for r in rig2.results if r.device_id == "panel") >= 12,
                    timeout=10, what="a dozen silent polls after the restart")
        assert [a.id for a in _open_comm_loss(rig2)] == [alarm_id]
        assert not [t for t in rig2.transitions if t["id"] == alarm_id
                    and t["event"] == "clear"], "cleared while the device is still dead"
