"""A gateway restart (the process killed with an alarm nobody acknowledged) resumes paging: the
ledger's open alarms are paged again by the new process, through the real wiring, the real
ledger and the modem simulator on a pty. No polling: the alarm is on the ledger already."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime.gateway import Gateway
from gateway.runtime.wiring import start_services
from rules.events import Event
from simulators.modem import ModemSimulator
from tests.support.gateway_kit import config

WANG, LI = "+8613800000001", "+8613800000002"
DEVICES = [{"id": "exit-w", "profile": "exit_sensor", "unit": 1, "location": "西侧安全出口"}]


def notify(port: str, **extra: Any) -> dict[str, Any]:
    return {"enabled": True,
            "modem": {"port": port, "command_wait_s": 0.3, "send_wait_s": 2,
                      "health_every_s": 0.3, "reopen_after_s": 0.2},
            "rota": {"people": {"wang": {"phone": WANG}, "li": {"phone": LI}},
                     "levels": [["wang"], ["li"]], "waits_s": [0, 600]},
            "storm": {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 10},
            "retry_s": 0.3, **extra}


def blocked(kind: str) -> Event:
    return Event(kind=kind, rule="blocked_exit", device="exit-w", channel="2", severity="major",
                 ts=time.time(), value=True, threshold=None, message_zh="安全出口被堵",
                 message_en="exit blocked", site="test-college", campus="north",
                 building="dorm-9", floor=1, room=None, location="西侧安全出口")


@pytest.mark.parametrize(("before_kill", "extra"), [
    (["raise"], {}),
    # paging goes on after a clear when so configured: a restart must not end it either
    (["raise", "clear"], {"stop_on_clear": False}),
])
async def test_an_unacknowledged_alarm_is_paged_again_after_a_restart(
        tmp_path: Path, before_kill: list[str], extra: dict[str, Any]) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, DEVICES, notify=notify(port, **extra))
        with Gateway(cfg) as gw:  # the process that was killed: its alarm is on the ledger
            for kind in before_kill:
                gw.ledger.apply(blocked(kind))
        with Gateway(cfg) as gw:  # the restarted process
            services = start_services(gw)
            assert services.notifier is not None
            task = asyncio.gather(*services.coroutines)
            try:
                [msg] = await modem.wait_for_messages(1, number=WANG, wait_s=10)
                assert "西侧安全出口" in msg.text, msg.text
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                services.notifier.close()
