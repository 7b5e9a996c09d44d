"""Paging end to end through the whole gateway: a fire in the simulated panel, polled over
Modbus, judged by the rules, put on the ledger, paged through the simulated 4G modem on a pty;
the duty electrician's reply acknowledges it; an unanswered alarm escalates."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from smspdudecoder.easy import read_outgoing_sms

from gateway.notify.notifier import Notifier
from gateway.runtime.wiring import start_services
from simulators.modem import ModemSimulator
from tests.support.gateway_kit import Rig, config, running
from tests.support.polling_kit import wait_for

ELECTRICIAN, DUTY, HEAD, STRANGER = ("+8613800000001", "+8613800000002", "+8613800000003",
                                     "+8613999999999")
DEVICES = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 3, "room": "305"},
           {"id": "rcm", "profile": "aim_r100", "unit": 2, "floor": 2, "room": "配电间"}]


def notify(port: str) -> dict[str, Any]:
    return {"enabled": True,
            "modem": {"port": port, "command_wait_s": 1, "send_wait_s": 5,
                      "health_every_s": 1, "reopen_after_s": 0.2},
            "rota": {"people": {"electrician": {"phone": ELECTRICIAN},
                                "duty": {"phone": DUTY}, "head": {"phone": HEAD}},
                     "levels": [["electrician"], ["duty"], ["head"]],
                     "waits_s": [0, 3, 3]},
            "storm": {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 10},
            "retry_s": 1}


async def start_with_paging(rig: Rig) -> tuple[asyncio.Future[Any], Notifier]:
    services = start_services(rig.gw)
    assert services.notifier is not None
    return asyncio.gather(*services.coroutines), services.notifier


async def test_fire_page_names_the_place_and_a_reply_acknowledges_it(tmp_path: Path) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, DEVICES, period_s=0.5,
                     rules={"defaults": {"residual_current": {"on_delay_s": 1}}},
                     notify=notify(port))
        async with running(cfg) as rig:
            task, notifier = await start_with_paging(rig)
            try:
                await asyncio.sleep(1.5)
                # the panel bit with the zone that says where (one fire, one alarm: the zone's)
                rig.sim.device("panel").set({"fire_alarm": True, "fire_alarm@3": True})
                await wait_for(lambda: bool(rig.raised("fire_alarm", "panel")))
                fire = rig.raised("fire_alarm", "panel")[0]
                seen = rig.first_sample("panel", lambda r: r.values.get("fire_alarm"))
                assert seen is not None
                msgs = await modem.wait_for_messages(1, wait_s=5, number=ELECTRICIAN)
                assert msgs, "no page reached the modem"
                first_part = next(r for r in modem.received if r.number == ELECTRICIAN)
                # within 2 s of the poll that saw the fire
                assert first_part.ts - seen <= 2.0, first_part.ts - seen
                # a valid PDU, decoded by an independent decoder
                decoded = read_outgoing_sms(first_part.pdu_hex)
                assert decoded["recipient"].endswith(ELECTRICIAN[-11:])
                text = msgs[0].text
                assert "dorm-9" in text and "305" in text and "火" in text, text
                # critical: the first two levels are paged at once
                await modem.wait_for_messages(1, wait_s=5, number=DUTY)
                code = re.search(r"回复\"1 (\w+)\"|\((\w{3,8})\)", text)
                assert code, text
                # a stranger's reply changes nothing
                modem.deliver(STRANGER, f"1 {code.group(1) or code.group(2)}")
                await asyncio.sleep(1.5)
                assert rig.gw.ledger.get(fire["id"]).acked_by is None
                modem.deliver(ELECTRICIAN, f"确认 {code.group(1) or code.group(2)}")
                await wait_for(lambda: rig.gw.ledger.get(fire["id"]).acked_by is not None,
                               timeout=10)
                assert notifier.counters()["acknowledged"] == 1
                # an unanswered major alarm goes to the next level after its wait (3 s)
                rig.sim.device("rcm").set({"residual_current_ma@4": 600})
                await wait_for(lambda: bool(rig.raised("residual_current", "rcm")), timeout=10)
                before = len(modem.messages_to(DUTY))
                await wait_for(lambda: len(modem.messages_to(DUTY)) > before, timeout=10)
                assert notifier.counters()["escalations"] >= 1
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
