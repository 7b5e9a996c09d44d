"""The notifier end to end: real GsmModem on the modem simulator's pty, stand-in HTTP provider,
short waits. The ledger is represented by the callable the notifier is given."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from smspdudecoder.easy import read_outgoing_sms

from gateway.notify.config import NotifyConfig, Shift
from gateway.notify.notifier import Notifier
from gateway.records import AlarmTransition
from simulators.modem import ModemSimulator
from tests.support.sms_stand_in import StandIn
from tests.support.waiting import until

WANG, LI, ZHAO = "+8613800000001", "+8613800000002", "+8613800000003"
STRANGER = "+8613999999999"


@dataclass
class Identity:
    data_dir: Path
    id: str = "gw-dorm1"
    campus: str = "东校区"
    building: str = "1号楼"


class Ledger:
    """Stands for ``gateway.alarms.ledger``'s acknowledgement entry point."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, str, str]] = []

    def __call__(self, alarm_id: str, who: str, via: str) -> bool:
        self.acks.append((alarm_id, who, via))
        return True


def config(port: str, *, waits: list[float] | None = None, storm: dict[str, Any] | None = None,
           providers: list[dict[str, Any]] | None = None, **extra: Any) -> NotifyConfig:
    return NotifyConfig.model_validate({
        "enabled": True,
        "modem": {"port": port, "command_wait_s": 0.3, "send_wait_s": 2,
                  "health_every_s": 0.2, "reopen_after_s": 0.1},
        "providers": providers or [],
        "rota": {"people": {"wang": {"phone": WANG}, "li": {"phone": LI},
                            "zhao": {"phone": ZHAO}},
                 "levels": [["wang"], ["li"], ["zhao"]],
                 "waits_s": waits or [0, 0.4, 0.4]},
        "storm": storm or {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 5},
        "retry_s": 0.2,
        **extra,
    })


def aliyun(base: str) -> dict[str, Any]:
    return {"type": "aliyun", "endpoint": f"{base}/aliyun/", "access_key_id": "id1",
            "access_key_secret": "aliyun-secret", "sign_name": "某学院",
            "template_code": "SMS_1", "timeout_s": 1}


def alarm(alarm_id: str, *, rule: str = "over_temperature", severity: str = "major",
          room: str = "305", event: str = "raise") -> AlarmTransition:
    return AlarmTransition(
        id=alarm_id, seq=1, device=f"rcm-{room}", rule=rule, severity=severity, state="raised",
        event=event, ts=time.time(), value=68.2, threshold=55.0, message_zh="线缆温度过高",
        message_en="cable over temperature", campus="东校区", building="1号楼", floor=3,
        room=room, repeat_count=0)


@contextlib.asynccontextmanager
async def running(n: Notifier) -> AsyncIterator[Notifier]:
    task = asyncio.create_task(n.run())
    try:
        yield n
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        n.close()


def code_of(text: str) -> str:
    m = re.search(r'回复"1 (\d+)"确认', text)
    assert m, text
    return m.group(1)


async def test_page_names_building_and_room_and_a_reply_acknowledges(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[0, 0.5, 0.5]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("A1"))
            [msg] = await sim.wait_for_messages(1, number=WANG)
            assert "1号楼" in msg.text and "305室" in msg.text and "3层" in msg.text
            for pdu in msg.pdus:  # a valid PDU by an independent decoder
                assert read_outgoing_sms(pdu)["recipient"] == WANG
            sim.deliver(WANG, f"1 {code_of(msg.text)}")
            await until(lambda: ledger.acks)
            assert ledger.acks == [("A1", "wang", "sms")]
            assert {c.split("=")[0] for c in sim.commands} >= {"AT+CMGR", "AT+CMGD"}
            assert sim.storage == {}  # read replies are deleted from the SIM
            confirm = await sim.wait_for_messages(2, number=WANG)
            assert "已确认" in confirm[1].text
            await asyncio.sleep(0.8)  # past level 2's wait: nobody else is paged
            assert [m for m in sim.messages() if m.number != WANG] == []
            assert n.counters() == {"sent": 1, "failed": 0, "acknowledged": 1,
                                    "escalations": 0}


async def test_without_a_reply_the_next_level_is_paged_after_its_wait(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[0, 0.5, 0.5]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("A2"))
            await sim.wait_for_messages(1, number=WANG)
            assert sim.messages_to(LI) == []  # not before its wait
            [li] = await sim.wait_for_messages(1, number=LI)
            [zhao] = await sim.wait_for_messages(1, number=ZHAO)
            assert "305室" in li.text and "305室" in zhao.text
            assert n.counters()["escalations"] == 2
            assert ledger.acks == []


async def test_reply_from_a_stranger_or_with_an_unknown_code_acknowledges_nothing(
        tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[0, 0.6, 0.6]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("A3"))
            [msg] = await sim.wait_for_messages(1, number=WANG)
            code = code_of(msg.text)
            sim.deliver(STRANGER, f"1 {code}")
            wrong = "0000" if code != "0000" else "1111"
            sim.deliver(WANG, f"确认 {wrong}")
            await until(lambda: len(n.replies) == 2)
            outcomes = sorted(r["outcome"] for r in n.replies)
            assert outcomes[0].startswith("ignored: no open alarm has code")
            assert "not on the rota" in outcomes[1]
            await sim.wait_for_messages(1, number=LI)  # escalation went on
            assert ledger.acks == [] and n.counters()["acknowledged"] == 0


async def test_acknowledged_elsewhere_stops_escalation(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[0, 0.4, 0.4]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("A4"))
            await sim.wait_for_messages(1, number=WANG)
            n.on_transition(alarm("A4", event="ack"))  # e.g. an MQTT command via the ledger
            await asyncio.sleep(0.7)
            assert sim.messages_to(LI) == []
            assert n.counters()["acknowledged"] == 1


async def test_fire_pages_first_and_second_level_at_once(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[30, 30, 30]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("F1", rule="fire_alarm", severity="critical"))
            [w] = await sim.wait_for_messages(1, number=WANG)
            [li] = await sim.wait_for_messages(1, number=LI)
            assert w.text.startswith("【特急】") and li.text.startswith("【特急】")
            assert "火" in w.text
            assert sim.messages_to(ZHAO) == []


async def test_storm_of_50_alarms_keeps_the_limit_and_does_not_delay_fire(
        tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    limit = 4
    async with sim as port:
        n = Notifier(config(port, waits=[0, 60, 60],
                            storm={"group_window_s": 0.1, "rate_window_s": 60,
                                   "max_per_window": limit}), ledger, Identity(tmp_path))
        async with running(n):
            fire_raised_before: float | None = None
            for i in range(50):
                if i == 25:
                    n.on_transition(alarm("FIRE", rule="fire_alarm", severity="critical",
                                          room="512"))
                    fire_sent = sim.wait_for_messages(1, number=LI)
                    await fire_sent
                    fire_raised_before = time.time()
                else:
                    n.on_transition(alarm(f"S{i}", room=str(300 + i)))
                await asyncio.sleep(0.03)
            await asyncio.sleep(0.5)
            to_wang = sim.messages_to(WANG)
            assert 1 <= len(to_wang) <= limit
            fire_msgs = [m for m in to_wang if "512室" in m.text and "火警" in m.text]
            assert len(fire_msgs) == 1
            fire_pdu = next(r for r in sim.accepted if r.number == WANG and "512室" in r.text)
            assert fire_raised_before is not None and fire_pdu.ts <= fire_raised_before
            assert n.health()["held_by_storm_control"] > 0


async def test_no_network_falls_back_to_the_provider_stand_in(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(registered=False), Ledger()
    async with sim as port, StandIn() as srv:
        cfg = config(port, providers=[aliyun(srv.base_url)], fallback=["modem", "aliyun"])
        n = Notifier(cfg, ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("N1"))
            await until(lambda: srv.accepted)
            assert srv.accepted[0]["phone"] == "13800000001"
            assert srv.accepted[0]["params"]["where"] == "东校区1号楼 3层305室"
            h = n.health()["channels"]["modem"]
            assert not h["ready"] and "not registered" in h["error"]
            assert sim.accepted == []
            assert n.counters()["sent"] == 1


async def test_retryable_cms_error_is_retried_on_the_modem(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port, StandIn() as srv:
        cfg = config(port, providers=[aliyun(srv.base_url)], modem_attempts=2)
        n = Notifier(cfg, ledger, Identity(tmp_path))
        async with running(n):
            await until(lambda: n.health()["channels"]["modem"]["ready"])
            sim.inject_cms_error(500)
            n.on_transition(alarm("R1"))
            await sim.wait_for_messages(1, number=WANG)
            assert [r.error for r in sim.received][:1] == ["injected +CMS ERROR: 500"]
            assert srv.accepted == []


async def test_non_retryable_cms_error_goes_to_the_fallback_at_once(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port, StandIn() as srv:
        cfg = config(port, providers=[aliyun(srv.base_url)], modem_attempts=3)
        n = Notifier(cfg, ledger, Identity(tmp_path))
        async with running(n):
            await until(lambda: n.health()["channels"]["modem"]["ready"])
            sim.inject_cms_error(330, count=5)
            n.on_transition(alarm("R2"))
            await until(lambda: srv.accepted)
            assert len([r for r in sim.received if not r.accepted]) == 1  # not retried
            assert "SMS centre address unknown" in (n.channel_errors["modem"] or "")


async def test_silent_modem_is_reset_and_the_page_goes_out_when_it_recovers(
        tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port), ledger, Identity(tmp_path))
        async with running(n):
            await until(lambda: n.health()["channels"]["modem"]["ready"])
            sim.set_silent(True)
            n.on_transition(alarm("S1"))
            await until(lambda: n.counters()["failed"] >= 1)
            h = n.health()
            assert h["pending_pages"] == 1
            assert "did not answer" in h["channels"]["modem"]["error"]
            sim.set_silent(False)
            [msg] = await sim.wait_for_messages(1, number=WANG)
            assert "305室" in msg.text
            await until(lambda: n.health()["pending_pages"] == 0)
            assert n.health()["channels"]["modem"]["resets"] >= 1


async def test_a_pending_page_survives_a_restart(tmp_path: Path) -> None:
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        sim.set_silent(True)
        n = Notifier(config(port), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("P1", room="402"))
            await until(lambda: n.counters()["failed"] >= 1)
        assert sim.accepted == []
        sim.set_silent(False)
        n2 = Notifier(config(port), ledger, Identity(tmp_path))
        async with running(n2):
            [msg] = await sim.wait_for_messages(1, number=WANG)
            assert "402室" in msg.text


async def test_reply_acknowledges_in_the_real_ledger(tmp_path: Path) -> None:
    from gateway.alarms.ledger import Ledger as RealLedger
    from rules.events import Event

    sim = ModemSimulator()
    with RealLedger(tmp_path / "ledger.sqlite") as led:
        holder: dict[str, Notifier] = {}

        def ledger_ack(alarm_id: str, who: str, via: str) -> bool:
            for tr in led.ack(alarm_id, who=who, via=via):  # as the runtime wires it
                holder["n"].on_transition(tr)
            return True

        async with sim as port:
            n = Notifier(config(port, waits=[0, 0.6, 0.6]), ledger_ack, Identity(tmp_path))
            holder["n"] = n
            async with running(n):
                [tr] = led.apply(Event(
                    kind="raise", rule="residual_current", device="rcm-2", channel="3",
                    severity="major", ts=time.time(), value=420.0, threshold=300.0,
                    message_zh="剩余电流超限", message_en="residual current high", site="s1",
                    campus="东校区", building="2号楼", floor=5, room="512"))
                n.on_transition(tr)
                [msg] = await sim.wait_for_messages(1, number=WANG)
                assert "2号楼 5层512室 漏电420mA" in msg.text
                sim.deliver(WANG, f"确认{code_of(msg.text)}")
                sim.deliver(LI, f"1 {code_of(msg.text)}")  # a second ack: already done
                await until(lambda: len(n.replies) == 2)
                assert [r["outcome"] for r in n.replies] == ["acknowledged",
                                                             "already acknowledged"]
                await asyncio.sleep(0.8)
                assert sim.messages_to(LI) == []  # escalation stopped
        row = led.get(tr.id)
        assert row is not None
        assert (row.state, row.acked_by, row.ack_via) == ("acknowledged", "wang", "sms")


async def test_stand_in_lost_aliyun_answer_is_not_repeated_through_aliyun(
        tmp_path: Path) -> None:
    ledger = Ledger()
    async with StandIn(hang_s=1.5) as srv:
        tencent = {"type": "tencent", "endpoint": f"{srv.base_url}/tencent/",
                   "secret_id": "AKID1", "secret_key": "tencent-secret",
                   "sdk_app_id": "1400000000", "sign_name": "某学院", "template_id": "1",
                   "timeout_s": 1}
        cfg = config("/dev/null", providers=[aliyun(srv.base_url), tencent],
                     waits=[0, 60, 60])
        cfg.modem = None  # no modem fitted: providers only
        cfg.fallback = ["aliyun", "tencent"]
        n = Notifier(cfg, ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("D1"))
            await until(lambda: any(a["provider"] == "tencent" for a in srv.accepted))
            await asyncio.sleep(0.3)
        assert [a["provider"] for a in srv.accepted] == ["aliyun", "tencent"]
        assert srv.accepted[0]["out_id"] == "gw-dorm1-1"
        assert n.counters()["sent"] == 1


async def test_repeats_reach_the_admin_chain_and_a_critical_alarm_pages_each_occurrence(
        tmp_path: Path) -> None:
    sup, affairs = "+8613800000004", "+8613800000005"
    d = config("PORT", waits=[0, 30, 30]).model_dump()
    d["rota"]["people"] |= {"sup": {"phone": sup}, "affairs": {"phone": affairs}}
    d["rota"]["admin_levels"] = [["sup"], ["affairs"]]
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        d["modem"]["port"] = port
        n = Notifier(NotifyConfig.model_validate(d), ledger, Identity(tmp_path))
        async with running(n):
            # a second kettle in a week: level 1 as usual, and the dorm supervisor
            n.on_transition(replace(alarm("A5", rule="malicious_load"), repeat_count=1))
            [first] = await sim.wait_for_messages(1, number=sup)
            assert "重复告警" in first.text and "近期第2次" in first.text, first.text
            await sim.wait_for_messages(1, number=WANG)
            # a third before anyone closed it: student affairs too, the electrician not again
            n.on_transition(replace(alarm("A5", rule="malicious_load"), repeat_count=2,
                                    occurrence=2))
            await sim.wait_for_messages(2, number=sup)
            [aff] = await sim.wait_for_messages(1, number=affairs)
            assert "近期第3次" in aff.text
            await asyncio.sleep(0.3)
            assert len(sim.messages_to(WANG)) == 1 and sim.messages_to(LI) == []
            # a fire panel lost (critical comm_loss), acknowledged, back, lost again: paged again
            lost = alarm("A6", rule="comm_loss", severity="critical")
            n.on_transition(lost)
            await sim.wait_for_messages(2, number=WANG)
            await sim.wait_for_messages(1, number=LI)
            n.on_transition(replace(lost, event="ack"))
            n.on_transition(replace(lost, event="clear"))
            n.on_transition(replace(lost, occurrence=2))
            msgs = await sim.wait_for_messages(3, number=WANG)
            assert len(msgs) == 3 and "第2次" in msgs[2].text, [m.text for m in msgs]
            assert len(await sim.wait_for_messages(2, number=LI)) == 2


async def test_a_further_fire_zone_pages_even_when_the_first_was_acknowledged_before_its_page(
        tmp_path: Path) -> None:
    """Zone 3 is acknowledged at the control room before its page goes out; the fire then
    reaches zone 5. Zone 5 would have been a follow-up to whoever zone 3's page reached, which
    is nobody: it must page on its own (before, it reached no one and never escalated)."""
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[30, 30, 30]), ledger, Identity(tmp_path))
        async with running(n):
            zone3 = replace(alarm("P3", rule="fire_alarm", severity="critical"),
                            device="panel", channel="3")
            n.on_transition(zone3)
            n.on_transition(replace(zone3, event="ack"))  # no await between: before its page
            n.on_transition(replace(alarm("P5", rule="fire_alarm", severity="critical"),
                                    device="panel", channel="5"))
            [w] = await sim.wait_for_messages(1, number=WANG, wait_s=15)
            [li] = await sim.wait_for_messages(1, number=LI, wait_s=5)
            assert w.text.startswith("【特急】") and li.text.startswith("【特急】")
            assert n.codes[code_of(w.text)] == n.codes[code_of(li.text)] == "P5", w.text
            assert len(sim.messages_to(WANG)) == 1  # zone 3, acknowledged, was never paged


async def test_a_level_nobody_is_on_duty_for_is_skipped_at_once(tmp_path: Path) -> None:
    """Level 1 is staffed only on holidays (none listed): today nobody is on it. The alarm must
    go to level 2 now, not after level 2's wait of 30 s with nobody paged meanwhile."""
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        cfg = config(port, waits=[0, 30, 30])
        assert cfg.rota is not None
        cfg.rota.levels[0] = []
        cfg.rota.shifts = [Shift.model_validate({"days": ["holiday"], "level": 1,
                                                 "people": ["wang"]})]
        n = Notifier(cfg, ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("E1", room="207"))
            [li] = await sim.wait_for_messages(1, number=LI, wait_s=5)
            assert "207室" in li.text
            assert sim.messages_to(WANG) == [] and sim.messages_to(ZHAO) == []


async def test_a_non_fire_alarm_present_when_its_maintenance_ends_pages_again(
        tmp_path: Path) -> None:
    """An overload paged and acknowledged, then its device under maintenance while the overload
    stays: when the maintenance ends the ledger raises it again, unacknowledged ("nobody was
    told"). That is not a repeat of the hazard (no admin chain here): it must page the rota."""
    from gateway.alarms.ledger import Ledger as RealLedger
    from rules.events import Event

    def overload(**kw: Any) -> Event:
        return Event(kind="raise", rule="overload", device="meter-3", channel="1",
                     severity="major", ts=time.time(), value=32.0, threshold=25.0,
                     message_zh="电流过载", message_en="overload", site="s1", campus="东校区",
                     building="2号楼", floor=3, room="311", **kw)

    sim = ModemSimulator()
    with RealLedger(tmp_path / "ledger.sqlite") as led:
        async with sim as port:
            n = Notifier(config(port, waits=[0, 30, 30]), Ledger(), Identity(tmp_path))

            def feed(trs: list[AlarmTransition]) -> None:
                for tr in trs:  # as gateway/runtime/wiring.py: suppressed ones page nobody
                    if not tr.suppressed:
                        n.on_transition(tr)

            async with running(n):
                feed(led.apply(overload()))
                [first] = await sim.wait_for_messages(1, number=WANG)
                alarm_id = led.open_alarms()[0].id
                feed(led.ack(alarm_id, who="wang", via="cli"))
                feed(led.apply(overload(suppressed="maintenance")))
                await asyncio.sleep(0.3)
                assert len(sim.messages_to(WANG)) == 1  # acknowledged: nothing more yet
                feed(led.apply(overload()))  # maintenance over, the overload still there
                row = led.get(alarm_id)
                assert row is not None and row.state == "raised" and row.acked_by is None
                msgs = await sim.wait_for_messages(2, number=WANG)
                assert "311室" in msgs[1].text and code_of(msgs[1].text) != code_of(first.text)


@pytest.mark.parametrize("held_by", ["level 1's wait", "storm grouping"])
async def test_a_repeat_of_an_alarm_that_never_reached_anyone_pages_the_rota(
        tmp_path: Path, held_by: str) -> None:
    """An overload clears before its page went out (within level 1's wait, or while storm
    control gathered it into a group: nobody paged, right), then comes back and stays. The
    ledger counts that as a repeat, which goes to the administrative chain; with none
    configured, and nobody on the rota ever told of it, it must page the rota."""
    from gateway.alarms.ledger import Ledger as RealLedger
    from rules.events import Event

    def overload(kind: str = "raise") -> Event:
        return Event(kind=kind, rule="overload", device="meter-4", channel="1",
                     severity="major", ts=time.time(), value=32.0, threshold=25.0,
                     message_zh="电流过载", message_en="overload", site="s1", campus="东校区",
                     building="2号楼", floor=4, room="412")

    if held_by == "storm grouping":
        cfg = config("", waits=[0, 30, 30],
                     storm={"group_window_s": 2, "rate_window_s": 60, "max_per_window": 5})
    else:
        cfg = config("", waits=[2, 30, 30])
    sim = ModemSimulator()
    with RealLedger(tmp_path / "ledger.sqlite") as led:
        async with sim as port:
            assert cfg.modem is not None
            cfg.modem.port = port
            n = Notifier(cfg, Ledger(), Identity(tmp_path))
            async with running(n):
                for tr in led.apply(overload()):
                    n.on_transition(tr)
                await asyncio.sleep(0.3)
                for tr in led.apply(overload("clear")):
                    n.on_transition(tr)
                await asyncio.sleep(2.2)
                assert sim.messages() == []  # it cleared before its page left: nobody paged
                [again] = led.apply(overload())
                assert again.event == "raise" and again.repeat_count == 1
                n.on_transition(again)
                [msg] = await sim.wait_for_messages(1, number=WANG)
                assert "412室" in msg.text


async def test_an_old_code_never_acknowledges_a_later_alarm_that_drew_the_same_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code generator is stubbed to draw 0042 twice, then 0043: the second alarm must not
    be given the closed first alarm's code, or a late reply to the first page would stop the
    second alarm's escalation although nobody saw it."""
    import gateway.notify.notifier as notifier_module

    draws = iter([42, 42, 43, 44, 45])
    monkeypatch.setattr(notifier_module.secrets, "randbelow", lambda n: next(draws))
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        n = Notifier(config(port, waits=[0, 0.5, 0.5]), ledger, Identity(tmp_path))
        async with running(n):
            n.on_transition(alarm("C1", room="101"))
            [old] = await sim.wait_for_messages(1, number=WANG)
            n.on_transition(replace(alarm("C1", room="101"), event="ack"))
            n.on_transition(replace(alarm("C1", room="101"), event="close"))
            n.on_transition(alarm("C2", room="102"))
            [_, new] = await sim.wait_for_messages(2, number=WANG)
            assert "102室" in new.text and code_of(new.text) != code_of(old.text)
            sim.deliver(WANG, f"1 {code_of(old.text)}")  # a late reply to the first page
            await until(lambda: n.replies)
            assert "was for C1#1" in str(n.replies[0]["outcome"])
            [li] = await sim.wait_for_messages(1, number=LI)  # C2's escalation goes on
            assert "102室" in li.text and ledger.acks == []


async def test_stand_in_answer_of_the_wrong_shape_is_a_failed_try_not_the_end_of_paging(
        tmp_path: Path) -> None:
    """A provider (or a proxy in front of it) answers JSON that is not what its API says: an
    array, a string where an object belongs. That is one failed try of that page; it must not
    stop the notifier (and so the gateway, restarted by systemd into the same page, again)."""
    ledger = Ledger()
    async with StandIn() as srv:
        tencent = {"type": "tencent", "endpoint": f"{srv.base_url}/tencent/",
                   "secret_id": "AKID1", "secret_key": "tencent-secret",
                   "sdk_app_id": "1400000000", "sign_name": "某学院", "template_id": "1",
                   "timeout_s": 1}
        cfg = config("/dev/null", providers=[tencent], waits=[0, 60, 60])
        cfg.modem = None  # no modem fitted: the provider only
        cfg.fallback = ["tencent"]
        n = Notifier(cfg, ledger, Identity(tmp_path))
        task = asyncio.create_task(n.run())
        try:
            for answer in ([], {"Response": "busy"}, {"Response": {"SendStatusSet": ["x"]}}):
                srv.answer_with = answer
                failed = n.counters()["failed"]
                if not n.alarms:
                    n.on_transition(alarm("T1", room="118"))
                await until(lambda f=failed: task.done() or n.counters()["failed"] > f)  # type: ignore[misc]
                assert not task.done(), task
            srv.answer_with = None
            await until(lambda: n.counters()["sent"] == 1)
            assert [a["phone"] for a in srv.accepted] == [WANG]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            n.close()


async def test_a_wall_clock_set_back_delays_neither_escalation_nor_a_retry(
        tmp_path: Path) -> None:
    """An edge box's clock is stepped back an hour (NTP correcting a wrong RTC) while an alarm
    escalates and a page waits for its retry. The next level is paged after its wait, and the
    page is retried after retry_s, not an hour later."""
    offset = [0.0]
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port, StandIn() as srv:
        cfg = config(port, waits=[0, 2.0, 30], providers=[aliyun(srv.base_url)])
        cfg.fallback = ["aliyun"]
        n = Notifier(cfg, ledger, Identity(tmp_path), clock=lambda: time.time() - offset[0])
        async with running(n):
            n.on_transition(alarm("K1", room="119"))
            await until(lambda: n.counters()["sent"] == 1)  # level 1
            sim.set_silent(True)  # level 2's page will fail on the modem ...
            srv.fail_with = "isp.SYSTEM_ERROR"  # ... and on the provider: retried later
            offset[0] = 3600.0  # the clock goes back while level 2's wait runs
            await until(lambda: n.counters()["failed"] >= 1, timeout=10)
            offset[0] = 7200.0  # and again while its page waits for the retry
            srv.fail_with = None
            await until(lambda: any(a["phone"] == "13800000002" for a in srv.accepted),
                        timeout=10)


async def test_after_a_restart_a_new_alarm_never_draws_a_code_sent_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code generator is stubbed to draw 0042 in both processes. A page with code 0042 went
    out before the gateway restarted; the restarted gateway's first alarm must get another
    code, or a late reply to the old page would acknowledge an alarm nobody saw."""
    import gateway.notify.notifier as notifier_module

    draws = iter([42, 42, 43, 44, 45])
    monkeypatch.setattr(notifier_module.secrets, "randbelow", lambda n: next(draws))
    sim, ledger = ModemSimulator(), Ledger()
    async with sim as port:
        before = Notifier(config(port, waits=[0, 0.5, 0.5]), ledger, Identity(tmp_path))
        async with running(before):
            before.on_transition(alarm("R1", room="201"))
            [old] = await sim.wait_for_messages(1, number=WANG)
            await until(lambda: before.counters()["sent"] == 1)
        after = Notifier(config(port, waits=[0, 0.5, 0.5]), ledger, Identity(tmp_path))
        async with running(after):
            after.on_transition(alarm("R2", room="202"))
            [_, new] = await sim.wait_for_messages(2, number=WANG)
            assert "202室" in new.text and code_of(new.text) != code_of(old.text), new.text
            sim.deliver(WANG, f"1 {code_of(old.text)}")  # a late reply to the old page
            await until(lambda: after.replies)
            assert "R1" in str(after.replies[0]["outcome"]), after.replies
            [li] = await sim.wait_for_messages(1, number=LI)  # R2's escalation goes on
            assert "202室" in li.text and ledger.acks == []
