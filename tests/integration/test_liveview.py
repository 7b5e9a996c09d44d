"""The live view as the control room reads it: alarms sorted by severity then time (a fire on
top even when it came last), places in the names people use, severity in Chinese."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console

from gateway.runtime.liveview import render
from tests.support.gateway_kit import config, running
from tests.support.waiting import until

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
        await until(lambda: rig.gw.health["panel"].online, timeout=10)
        rig.sim.device("exit-e").set({"obstructed@1": True})
        await until(lambda: bool(rig.raised("blocked_exit")), timeout=10)
        rig.sim.device("panel").set({"fire_alarm@3": True})
        await until(lambda: bool(rig.raised("fire_alarm")), timeout=10)
        console = Console(record=True, width=200)
        console.print(render(rig.gw))
        text = console.export_text()
    rows = [line for line in text.splitlines() if line.lstrip().startswith("A")]
    assert len(rows) >= 2, text
    assert "特急" in rows[0] and "3层东侧走廊" in rows[0] and "fire_alarm" in rows[0], text
    assert any("东侧1层安全出口" in r and "blocked_exit" in r for r in rows[1:]), text
    assert "3号宿舍楼" in text


async def test_pages_that_no_channel_could_send_are_shown_until_they_go_out(
        tmp_path: Path) -> None:
    """The modem is dead and there is no provider: a fire's pages wait and are retried (never
    given up), and the live view says so in both its forms; once the modem answers they go
    out and the line goes away."""
    import asyncio

    from gateway.runtime.liveview import status_line
    from gateway.runtime.wiring import start_services
    from simulators.modem import ModemSimulator

    modem = ModemSimulator()
    modem.set_silent(True)
    async with modem as port:
        notify = {"enabled": True,
                  "modem": {"port": port, "command_wait_s": 0.3, "send_wait_s": 2,
                            "health_every_s": 0.3, "reopen_after_s": 0.2},
                  "rota": {"people": {"wang": {"phone": "+8613800000001"}},
                           "levels": [["wang"]]},
                  "retry_s": 0.3}
        cfg = config(tmp_path, DEVICES[2:], period_s=0.5, notify=notify)
        async with running(cfg) as rig:
            services = start_services(rig.gw)
            notifier = services.notifier
            assert notifier is not None
            task = asyncio.gather(*services.coroutines)
            try:
                await until(lambda: rig.gw.health["panel"].online, timeout=10)
                rig.sim.device("panel").set({"fire_alarm@3": True})
                await until(lambda: notifier.counters()["failed"] >= 3, timeout=15)
                console = Console(record=True, width=200)
                console.print(render(rig.gw, services.view_extra()))
                text = console.export_text()
                assert "pages waiting: 1 not sent" in text and "is not ready" in text, text
                assert "pages waiting 1 not sent" in status_line(rig.gw, services.view_extra())
                modem.set_silent(False)
                await modem.wait_for_messages(1, number="+8613800000001", wait_s=15)
                await until(lambda: services.view_extra() == {}, timeout=5)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                notifier.close()
