"""An alarm past its deadline (整改期限) and not closed goes up the administrative chain by SMS
(through the simulated modem on a pty), one level at the deadline and one more per period; each
step is on the ledger with who was told and when, and is published like any transition."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from gateway.runtime.wiring import escalate_overdue, start_services
from simulators.modem import ModemSimulator
from tests.support.gateway_kit import config, running
from tests.support.polling_kit import wait_for

ELECTRICIAN, OFFICER, HEAD = "+8613800000001", "+8613800000002", "+8613800000003"
DEVICES = [{"id": "exit-w", "profile": "exit_sensor", "unit": 1, "location": "西侧安全出口",
            "labels": {"exit": {"2": "西楼梯间1层通道"}}}]


def notify(port: str) -> dict[str, Any]:
    return {"enabled": True,
            "modem": {"port": port, "command_wait_s": 1, "send_wait_s": 5,
                      "health_every_s": 1, "reopen_after_s": 0.2},
            "rota": {"people": {"wang": {"phone": ELECTRICIAN}, "li": {"phone": OFFICER},
                                "zhao": {"phone": HEAD}},
                     "levels": [["wang"], ["li"], ["zhao"]], "waits_s": [0, 600, 600]},
            "storm": {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 10},
            "overdue_every_h": 24, "retry_s": 1}


async def test_overdue_alarm_is_escalated_and_recorded(tmp_path: Path) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, DEVICES, period_s=0.5, notify=notify(port),
                     rules={"defaults": {"blocked_exit": {"hold_s": 1, "night_hold_s": 1}}})
        cfg.gateway.building_name = "3号宿舍楼"
        async with running(cfg) as rig:
            services = start_services(rig.gw)
            notifier = services.notifier
            assert notifier is not None
            task = asyncio.gather(*services.coroutines)
            try:
                await asyncio.sleep(1.0)
                rig.sim.device("exit-w").set({"obstructed@2": True})
                await wait_for(lambda: bool(rig.raised("blocked_exit", "exit-w")), timeout=10)
                alarm = rig.raised("blocked_exit", "exit-w")[0]
                assert alarm["location"] == "西楼梯间1层通道"
                now = time.time()
                rig.gw.ledger.assign(alarm["id"], "宿管陈老师", due=now + 3600, who="李科长",
                                     ts=now)
                assert escalate_overdue(rig.gw, notifier, now + 1800, 86400) == 0  # not due yet
                assert escalate_overdue(rig.gw, notifier, now + 7200, 86400) == 1
                assert escalate_overdue(rig.gw, notifier, now + 7300, 86400) == 0  # once per level
                [msg] = await modem.wait_for_messages(1, wait_s=10, number=HEAD)
                assert msg.text.startswith("【超期未整改】3号宿舍楼 西楼梯间1层通道 疏散通道被占用")
                assert "责任人宿管陈老师" in msg.text and alarm["id"] in msg.text
                a = rig.gw.ledger.get(alarm["id"])
                assert a is not None and a.overdue_level == 1
                step = rig.gw.ledger.history(alarm["id"])[-1]
                assert (step.event, step.escalated_to, step.ts) == \
                    ("overdue", "zhao", now + 7200)
                assert any(t["event"] == "overdue" for t in rig.transitions)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
