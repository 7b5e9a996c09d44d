"""Life safety first, end to end: the real runtime polls the simulated devices over Modbus, the
rules judge, the ledger records, the notifier pages through the simulated 4G modem on a pty.

- a fire that comes back in the same zone after the panel was reset pages again, as does a fire
  in another zone; the ledger keeps both occurrences (issue 12, must-show a);
- a second kettle in the same room within the repeat window is not critical and does not page
  the fire path; the dorm supervisor hears of the repeat (must-show d);
- maintenance cannot cover a live fire panel; maintenance that runs out with the hazard still
  present raises it at once and pages (must-show e).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from gateway.cli.alarms import main as alarms_main
from gateway.notify.notifier import Notifier
from gateway.runtime.wiring import start_services
from simulators.modem import ModemSimulator
from tests.support.gateway_kit import Rig, config, running
from tests.support.waiting import until

ELECTRICIAN, DUTY, HEAD = "+8613800000001", "+8613800000002", "+8613800000003"
SUPERVISOR, STUDENT_AFFAIRS = "+8613800000004", "+8613800000005"


def notify(port: str, waits: list[float]) -> dict[str, Any]:
    return {"enabled": True,
            "modem": {"port": port, "command_wait_s": 1, "send_wait_s": 5,
                      "health_every_s": 1, "reopen_after_s": 0.2},
            "rota": {"people": {"electrician": {"phone": ELECTRICIAN},
                                "duty": {"phone": DUTY}, "head": {"phone": HEAD},
                                "supervisor": {"phone": SUPERVISOR},
                                "student_affairs": {"phone": STUDENT_AFFAIRS}},
                     "levels": [["electrician"], ["duty"], ["head"]],
                     "admin_levels": [["supervisor"], ["student_affairs"]],
                     "waits_s": waits},
            "storm": {"group_window_s": 0, "rate_window_s": 60, "max_per_window": 10},
            # each zone pages on its own here: grouping further zones of one fire into a
            # follow-up is scenario (h) in test_safety_scenarios.py
            "fire_zone_window_s": 0,
            "retry_s": 1}


def code_of(text: str) -> str:
    m = re.search(r"回复\"1 (\w+)\"", text)
    assert m, text
    return m.group(1)


def texts(modem: ModemSimulator, number: str) -> list[str]:
    return [m.text for m in modem.messages_to(number)]


async def cli(*argv: str) -> int:
    """``firegate alarms ...`` as the duty officer types it, beside the running gateway."""
    return await asyncio.to_thread(alarms_main, list(argv))


def start_with_paging(rig: Rig) -> tuple[asyncio.Future[list[object]], Notifier]:
    """The runtime's services as ``firegate run`` builds them, paging on."""
    services = start_services(rig.gw)
    assert services.notifier is not None
    return asyncio.gather(*services.coroutines), services.notifier


def zone_reset(rig: Rig, zone: str) -> dict[str, Any]:
    """What a panel reports when it is reset: the zone's fire bit drops, and the reset bit
    pulses where the profile reads it."""
    values: dict[str, Any] = {f"fire_alarm@{zone}": False}
    if "reset" in rig.gw.profiles["fire_panel"].by_key:
        values["reset"] = True
    return values


async def test_fire_again_in_the_same_zone_after_reset_and_another_zone_each_page(
        tmp_path: Path) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 3,
                                 "room": "305"}],
                     period_s=0.3, notify=notify(port, [0, 30, 30]))
        async with running(cfg) as rig:
            task, notifier = start_with_paging(rig)
            try:
                await asyncio.sleep(1.0)
                panel = rig.sim.device("panel")
                panel.set({"fire_alarm@3": True})
                await until(lambda: bool(rig.raised("fire_alarm", "panel")))
                fire = rig.raised("fire_alarm", "panel")[0]
                aid = fire["id"]
                assert (fire["channel"], fire["occurrence_id"]) == ("3", f"{aid}#1")
                # critical: levels 1 and 2 at once
                first = await modem.wait_for_messages(1, wait_s=5, number=ELECTRICIAN)
                assert first and "3号防区" in first[0].text, texts(modem, ELECTRICIAN)
                assert await modem.wait_for_messages(1, wait_s=5, number=DUTY)
                code1 = code_of(first[0].text)
                modem.deliver(ELECTRICIAN, f"1 {code1}")
                await until(lambda: rig.gw.ledger.get(aid).acked_by == "electrician")

                # reset at the panel: the alarm clears but stays open (nobody closed it)
                panel.set(zone_reset(rig, "3"))
                await until(lambda: rig.gw.ledger.get(aid).state == "cleared")
                if "reset" in zone_reset(rig, "3"):
                    panel.set({"reset": False})
                n_el, n_duty = len(texts(modem, ELECTRICIAN)), len(texts(modem, DUTY))

                # the same zone again, before anyone closed the alarm: a new occurrence
                panel.set({"fire_alarm@3": True})
                await until(lambda: len(rig.raised("fire_alarm", "panel")) == 2)
                again = rig.raised("fire_alarm", "panel")[1]
                assert (again["id"], again["occurrence"], again["acked_by"]) == (aid, 2, None)
                msgs = await modem.wait_for_messages(n_el + 1, wait_s=5, number=ELECTRICIAN)
                assert len(msgs) == n_el + 1, texts(modem, ELECTRICIAN)
                second = msgs[-1].text
                assert "3号防区" in second and "第2次" in second, second
                assert await modem.wait_for_messages(n_duty + 1, wait_s=5, number=DUTY)
                code2 = code_of(second)
                assert code2 != code1
                # the first page's code no longer acknowledges anything
                outcome = notifier.handle_reply(ELECTRICIAN, f"1 {code1}")
                assert outcome.startswith("ignored") and f"{aid}#1" in outcome, outcome
                assert rig.gw.ledger.get(aid).acked_by is None

                # another zone: its own alarm, its own page
                panel.set({"fire_alarm@5": True})
                await until(lambda: any(t["channel"] == "5"
                                           for t in rig.raised("fire_alarm", "panel")))
                msgs = await modem.wait_for_messages(n_el + 2, wait_s=5, number=ELECTRICIAN)
                assert any("5号防区" in m.text for m in msgs), texts(modem, ELECTRICIAN)

                # the ledger shows both occurrences of zone 3
                occ = rig.gw.ledger.occurrences(aid)
                assert [(o.occurrence_id, o.acked_by) for o in occ] == \
                    [(f"{aid}#1", "electrician"), (f"{aid}#2", None)]
                assert occ[0].cleared_at is not None and occ[1].cleared_at is None
                assert [(h.event, h.occurrence) for h in rig.gw.ledger.history(aid)
                        if h.event == "raise"] == [("raise", 1), ("raise", 2)]
                fire_pages = [p for p in notifier.store.pages() if p["kind"] != "confirm"]
                assert len(fire_pages) >= 6 and all(p["critical"] for p in fire_pages)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_a_second_kettle_is_no_fire_and_goes_to_the_dorm_supervisor(
        tmp_path: Path) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, [{"id": "room-101", "profile": "ddsu666", "unit": 1, "floor": 1,
                                 "room": "101", "ratings": {"rated_current_a": 32}}],
                     period_s=0.3, rules={"defaults": {"malicious_load": {"on_delay_s": 1,
                                                                           "off_delay_s": 1}}},
                     notify=notify(port, [0, 30, 30]))
        async with running(cfg) as rig:
            task, notifier = start_with_paging(rig)
            try:
                await asyncio.sleep(1.5)
                room = rig.sim.device("room-101")
                room.set({"load": "kettle"})
                await until(lambda: bool(rig.raised("malicious_load", "room-101")))
                first = rig.raised("malicious_load", "room-101")[0]
                assert (first["severity"], first["repeat_count"]) == ("major", 0)
                assert await modem.wait_for_messages(1, wait_s=5, number=ELECTRICIAN)
                room.set({"unload": "kettle"})
                await until(lambda: rig.gw.ledger.get(first["id"]).state == "cleared")
                assert rig.gw.close_alarm(first["id"], "supervisor", "kettle confiscated")

                # the same room, a second kettle (within the week's repeat window)
                room.set({"load": "kettle"})
                await until(lambda: len(rig.raised("malicious_load", "room-101")) == 2)
                second = rig.raised("malicious_load", "room-101")[1]
                assert second["id"] != first["id"]
                assert (second["severity"], second["repeat_count"]) == ("major", 1)
                msgs = await modem.wait_for_messages(1, wait_s=5, number=SUPERVISOR)
                assert msgs and "重复告警" in msgs[0].text and "101" in msgs[0].text, msgs
                assert await modem.wait_for_messages(2, wait_s=5, number=ELECTRICIAN)
                await asyncio.sleep(1.0)  # a fire-path page would have gone at once
                assert texts(modem, DUTY) == [] and texts(modem, HEAD) == []
                assert texts(modem, STUDENT_AFFAIRS) == []  # only from the second repeat
                pages = notifier.store.pages()
                assert pages and not any(p["critical"] for p in pages)
                assert not any(t["severity"] == "critical" for t in rig.transitions)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_maintenance_refused_for_a_live_fire_panel_and_expiry_reraises(
        tmp_path: Path) -> None:
    modem = ModemSimulator()
    async with modem as port:
        cfg = config(tmp_path, [
            {"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消控室"},
            {"id": "rcm", "profile": "aim_r100", "unit": 2, "floor": 2, "room": "配电间"}],
            period_s=0.3, rules={"defaults": {"residual_current": {"on_delay_s": 0}}},
            notify=notify(port, [0, 30, 30]))
        d = ["--data-dir", str(tmp_path)]
        async with running(cfg) as rig:
            task, _ = start_with_paging(rig)
            try:
                await asyncio.sleep(1.0)
                # a live panel: neither maintenance nor shelving of its fire alarm
                assert await cli("alarms", "maintenance", "panel", *d, "--by", "li", "--why",
                                 "detector cleaning", "--for", "1h") == 2
                assert await cli("alarms", "shelve", "panel", "fire_alarm", *d, "--by", "li",
                                 "--why", "false alarms") == 2
                refused = rig.gw.ledger.suppressions("refused")
                assert [(r.kind, r.who) for r in refused] == [("maintenance", "li"),
                                                                    ("shelve", "li")]
                assert all("fire" in (r.outcome or "") and "test" in (r.outcome or "")
                           for r in refused)
                # the panel in test (its running bit off): maintenance is allowed, and ends
                # by itself as soon as the panel runs again
                rig.sim.device("panel").set({"running": False})
                await until(lambda: rig.gw.latest["panel"].get("running") is False)
                assert await cli("alarms", "maintenance", "panel", *d, "--by", "li", "--why",
                                 "annual panel test", "--for", "1h") == 0
                rig.sim.device("panel").set({"running": True})
                await until(lambda: bool(rig.gw.ledger.suppressions("ended")))
                assert "left test" in (rig.gw.ledger.suppressions("ended")[0].end_reason or "")
                # no longer than the limit (24 h by default)
                assert await cli("alarms", "maintenance", "rcm", *d, "--by", "li", "--why",
                                 "x", "--for", "2d") == 2

                # maintenance of the residual current monitor for 3 s, a leak during it
                assert await cli("alarms", "maintenance", "rcm", *d, "--by", "li", "--why",
                                 "rewiring loop 4", "--for", "3s") == 0
                rig.sim.device("rcm").set({"residual_current_ma@4": 600})
                await until(lambda: bool(rig.raised("residual_current", "rcm")))
                leak = rig.raised("residual_current", "rcm")[0]
                assert leak["suppressed"] == "maintenance"
                assert texts(modem, ELECTRICIAN) == []  # recorded, nobody paged

                # at expiry the leak, still there, is raised again and pages
                await until(lambda: len(rig.raised("residual_current", "rcm")) == 2,
                               timeout=8)
                back = rig.raised("residual_current", "rcm")[1]
                assert (back["id"], back["suppressed"], back["occurrence"]) == \
                    (leak["id"], None, 2)
                assert "维护到期" in back["message_zh"]
                msgs = await modem.wait_for_messages(1, wait_s=5, number=ELECTRICIAN)
                assert msgs and "配电间" in msgs[0].text, texts(modem, ELECTRICIAN)
                await until(lambda: len(rig.gw.ledger.suppressions("ended")) == 2)
                row = rig.gw.ledger.suppressions("ended")[1]
                assert (row.device, row.who, row.why, row.end_reason) == \
                    ("rcm", "li", "rewiring loop 4", "expired")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
