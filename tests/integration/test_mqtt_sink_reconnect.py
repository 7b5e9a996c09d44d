"""The broker is SIGKILLed and restarted: the gateway reconnects, says online again, republishes
the retained state of every open alarm, and delivers everything polled meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from tests.integration.test_mqtt_sink import mqtt_cfg
from tests.support.mqtt_helpers import PREFIX, Watcher, check, retained
from tests.support.outputs_helpers import Ident, drained, tele, transition, until
from tests.support.servers import Mosquitto


async def test_broker_sigkill_and_restart_loses_nothing(
        tmp_path: Path, make_mosquitto: Callable[[str], Mosquitto]) -> None:
    broker = make_mosquitto("anonymous")
    cfg = mqtt_cfg(broker, client_id="fg-reconnect")
    t0 = time.time()
    with Outbox(tmp_path / "o.sqlite", budget_bytes=50_000_000, sinks=cfg.sinks()) as ob:
        outputs = Outputs(cfg, ob, Ident())
        outputs.deliveries["mqtt"].backoff_max_s = 0.5
        task = asyncio.create_task(outputs.run())
        # A consumer with a persistent session: the broker queues for it while it is away.
        async with Watcher(broker, identifier="control-room", persistent=True) as w:
            ob.put_alarm(transition("AL-R1", 1, "raised"))
            ob.put_telemetry([tele(f"dev-{d}", t0, seq=0.0) for d in range(5)])
            await drained(ob, "mqtt")
            await until(lambda: len(w.under("telemetry/")) == 5, what="first telemetry")
            broker.save()  # sessions and retained messages on disk, as autosave would
            broker.kill()
            for cycle in range(1, 31):
                ob.put_telemetry([tele(f"dev-{d}", t0 + cycle, seq=float(cycle))
                                  for d in range(5)])
                if cycle == 10:
                    ob.put_alarm(transition("AL-R2", 1, "raised"))
                    ob.put_alarm(transition("AL-R1", 2, "acknowledged"))
                await asyncio.sleep(0.03)
            assert ob.pending("mqtt") > 0
            health = outputs.health().sinks["mqtt"]
            assert health["state"] == "disconnected"
            assert "connection refused" in (health["last_error"] or "")
            broker.start()
            await drained(ob, "mqtt", limit_s=30)
            await until(lambda: len({p for _, p in w.under("telemetry/")}) == 5 * 31,
                        limit_s=20, what="every record polled during the outage")
            events = [check("event", p) for p in w.on("events")]
            assert {(e["id"], e["seq"]) for e in events} == {("AL-R1", 1), ("AL-R2", 1),
                                                            ("AL-R1", 2)}
        assert outputs.sinks["mqtt"].health()["connects"] >= 2
        # Killed again, this time without saving: the broker forgets every retained message.
        broker.kill()
        broker.start()
        await until(lambda: outputs.sinks["mqtt"].health()["connects"] >= 3,
                    what="the third connect")
        kept: dict[str, bytes] = {}

        async def republished() -> bool:
            kept.update(await retained(broker, f"{PREFIX}/#"))
            return {f"{PREFIX}/state", f"{PREFIX}/alarms/AL-R1",
                    f"{PREFIX}/alarms/AL-R2"} <= set(kept)

        for _ in range(100):
            if await republished():
                break
            await asyncio.sleep(0.1)
        assert kept[f"{PREFIX}/state"] == b"online"
        assert check("alarm", kept[f"{PREFIX}/alarms/AL-R1"])["state"] == "acknowledged"
        assert check("alarm", kept[f"{PREFIX}/alarms/AL-R2"])["state"] == "raised"
        task_health = outputs.health()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task_health.outbox["pending"] == 0
    seqs = sorted({(check("telemetry", p)["device"], check("telemetry", p)["fields"]["seq"])
                   for _, p in w.under("telemetry/")})
    assert seqs == sorted((f"dev-{d}", float(c)) for d in range(5) for c in range(31))
    broker.stop()
