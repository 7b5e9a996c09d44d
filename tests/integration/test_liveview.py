"""The live view as the control room reads it: alarms sorted by severity then time (a fire on
top even when it came last), places in the names people use, severity in Chinese."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gateway.runtime.liveview import render
from tests.support.gateway_kit import config, running
from tests.support.polling_kit import wait_for

DEVICES = [
    {"id": "room-305", "profile": "ddsu666", "unit": 1, "floor": 3, "room": "305",
     "ratings": {"power_limit_w": 1200, "rated_current_a": 10}},
    {"id": "exit-e", "profile": "exit_sensor", "unit": 2, "location": "东侧安全出口",
     "labels": {"exit": {"1": "东侧1层安全出口"}}},
    {"id": "panel", "profile": "fire_panel", "unit": 3, "floor": 1, "room": "消防控制室",
     "labels": {"zone": {"3": "3层东侧走廊"}}},
]


async def test_fire_is_on_top_and_places_are_named(tmp_path: Path) -> None:
    cfg = config(tmp_path, DEVICES, period_s=0.5,
                 rules={"defaults": {"blocked_exit": {"hold_s": 1, "night_hold_s": 1},
                                     "overload": {"power_on_delay_s": 1, "curve_k_s": 1}}})
    cfg.gateway.building_name = "3号宿舍楼"
    async with running(cfg) as rig:
        await wait_for(lambda: rig.gw.health["panel"].online, timeout=10)
        rig.sim.device("exit-e").set({"obstructed@1": True})
        await wait_for(lambda: bool(rig.raised("blocked_exit")), timeout=10)
        rig.sim.device("panel").set({"fire_alarm@3": True})
        await wait_for(lambda: bool(rig.raised("fire_alarm")), timeout=10)
        console = Console(record=True, width=200)
        console.print(render(rig.gw))
        text = console.export_text()
    rows = [line for line in text.splitlines() if line.lstrip().startswith("A")]
    assert len(rows) >= 2, text
    assert "特急" in rows[0] and "3层东侧走廊" in rows[0] and "fire_alarm" in rows[0], text
    assert any("东侧1层安全出口" in r and "blocked_exit" in r for r in rows[1:]), text
    assert "3号宿舍楼" in text
