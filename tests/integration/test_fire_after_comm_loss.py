"""A fire panel that comes back after a comm outage: its latched fire bit reaches the ledger
within the 10 s a fire alarm has to reach the monitoring centre (GB/T 26875.3, domain.md),
however long the gateway's backoff for silent devices is."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.gateway_kit import config, running
from tests.support.waiting import until

PANEL = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消防控制室"}]


async def test_a_fire_panel_back_from_an_outage_is_read_again_within_seconds(
        tmp_path: Path) -> None:
    cfg = config(tmp_path, PANEL, period_s=0.3)
    # a building that backs silent devices off long (meters on a busy serial line)
    cfg.backoff.initial_s = cfg.backoff.max_s = 30.0
    async with running(cfg) as rig:
        await until(lambda: rig.gw.health["panel"].online, what="panel online")
        panel = rig.sim.device("panel")
        panel.fault("offline")
        await until(lambda: rig.gw.health["panel"].backoff_s > 0, what="panel backed off")
        await asyncio.sleep(0.5)
        panel.heal()
        panel.set({"fire_alarm": True, "fire_alarm@3": True})  # latched until reset
        await until(lambda: bool(rig.raised("fire_alarm")), timeout=6.0,
                    what="the fire recorded within 6 s of the panel answering again")
