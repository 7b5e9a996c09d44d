"""Maintenance and shelving asked for by operators on MQTT (real Mosquitto): only listed
operators are heard, a live fire alarm is never shelved, every request is on the ledger with who
and why, and what is suppressed is still published."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from gateway.runtime.wiring import start_services
from tests.support.gateway_kit import config, running
from tests.support.mqtt_helpers import check, client_for
from tests.support.polling_kit import wait_for
from tests.support.servers import Mosquitto

PREFIX = "firegate/test-college/gw-test"


async def test_mqtt_shelve_and_maintenance_from_listed_operators(tmp_path: Path,
                                                                 mosquitto: Mosquitto) -> None:
    cfg = config(tmp_path, [
        {"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消控室"},
        {"id": "rcm", "profile": "aim_r100", "unit": 2, "floor": 2, "room": "配电间"}],
        period_s=0.3, rules={"defaults": {"residual_current": {"on_delay_s": 0}}},
        outputs={"stop_grace_s": 1,  # the test stops the outputs first: no drain to wait for
                 "mqtt": {"url": mosquitto.url, "client_id": "fg-suppress",
                          "operators": ["alice"], "telemetry": False,
                          "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}})
    async with running(cfg) as rig:
        services = start_services(rig.gw)
        assert services.outputs is not None
        task = asyncio.gather(*services.coroutines)
        try:
            sink = services.outputs.sinks["mqtt"]
            await wait_for(lambda: sink.health()["state"] == "connected")
            ledger = rig.gw.ledger
            events: list[dict[str, Any]] = []
            async with client_for(mosquitto) as watch, client_for(mosquitto) as op:
                await watch.subscribe(f"{PREFIX}/events", qos=1)

                async def collect() -> None:
                    async for m in watch.messages:
                        events.append(check("event", m.payload))

                collector = asyncio.create_task(collect())

                async def send(kind: str, body: dict[str, Any]) -> None:
                    # One-shot and fresh (issue 15): every command has a unique id and its ts.
                    body = {"id": uuid.uuid4().hex, "ts": time.time(), **body}
                    raw = json.dumps(body).encode()
                    check(f"cmd_{kind}", raw)
                    await op.publish(f"{PREFIX}/cmd/{kind}", raw, qos=1)

                # not on the list: ignored, nothing recorded
                await send("maintenance", {"operator": "mallory", "device": "rcm",
                                           "for_s": 60, "reason": "x"})
                await wait_for(lambda: sink.health()["commands_ignored"] == 1)
                assert ledger.suppressions() == []
                # a live panel's fire alarm is never shelved, even by a listed operator
                await send("shelve", {"operator": "alice", "device": "panel",
                                      "rule": "fire_alarm", "for_s": 600,
                                      "reason": "nuisance alarms"})
                await wait_for(lambda: bool(ledger.suppressions("refused")))
                [no] = ledger.suppressions("refused")
                assert (no.via, no.who, no.rule) == ("mqtt", "alice", "fire_alarm")
                assert "fire" in (no.outcome or "")
                # maintenance of the residual current monitor: taken, recorded with who and why
                await send("maintenance", {"operator": "alice", "device": "rcm", "for_s": 600,
                                           "reason": "rewiring loop 4"})
                await wait_for(lambda: bool(ledger.suppressions("active")))
                [on] = ledger.suppressions("active")
                assert (on.kind, on.device, on.who, on.via, on.why) == \
                    ("maintenance", "rcm", "alice", "mqtt", "rewiring loop 4")
                assert on.until_ts is not None and 590 < on.until_ts - on.requested_at <= 600
                # a leak during it is recorded and published, marked suppressed
                rig.sim.device("rcm").set({"residual_current_ma@4": 600})
                await wait_for(lambda: any(e.get("rule") == "residual_current"
                                           for e in events), timeout=10)
                leak = next(e for e in events if e.get("rule") == "residual_current")
                assert (leak["suppressed"], leak["occurrence_id"]) == \
                    ("maintenance", f"{leak['id']}#1")
                # ended early by the operator: the leak, still there, is raised again
                await send("maintenance", {"operator": "alice", "device": "rcm", "end": True,
                                           "reason": "done"})
                await wait_for(lambda: bool(ledger.suppressions("ended")))
                await wait_for(lambda: any(e.get("rule") == "residual_current"
                                           and e.get("occurrence") == 2 for e in events))
                back = next(e for e in events if e.get("occurrence") == 2)
                assert (back["event"], back["suppressed"]) == ("raise", None)
                assert ledger.suppressions("ended")[0].ended_by == "alice"
                collector.cancel()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_suppressions_survive_a_restart_and_those_that_ran_out_end(tmp_path: Path) -> None:
    from rich.console import Console

    from gateway.runtime.gateway import Gateway
    from gateway.runtime.liveview import render

    cfg = config(tmp_path, [{"id": "rcm", "profile": "aim_r100", "unit": 2, "room": "配电间"}])
    now = time.time()
    with Gateway(cfg) as gw:
        long = gw.suppressions.request("maintenance", "rcm", who="li", via="cli",
                                       why="rewiring", for_s=3600)
        short = gw.suppressions.request("shelve", "rcm", "residual_current", who="li",
                                        via="cli", why="loop 4", for_s=10, ts=now - 60)
        wrong = gw.suppressions.request("shelve", "rcm", "fire_alarm", who="li", via="cli",
                                        why="?", for_s=10)
        assert (long.state, short.state, wrong.state) == \
            ("active", "active", "refused")
        assert "raises no 'fire_alarm'" in (wrong.outcome or "")
    with Gateway(cfg) as gw:
        rows = {r.id: r for r in gw.ledger.suppressions()}
        assert rows[long.id].state == "active"
        assert (rows[short.id].state, rows[short.id].end_reason) == \
            ("ended", "expired")
        ctx = gw.engine._devs["rcm"].ctx
        assert ctx.suppression("residual_current", now) == "maintenance"
        assert ctx.maintenance_until == long.until_ts
        # the live view says who is not paged, and why
        console = Console(width=200, record=True)
        console.print(render(gw))
        screen = console.export_text()
        assert "not paging: rcm maintenance until" in screen and "li: rewiring" in screen
