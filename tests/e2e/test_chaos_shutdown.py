"""A gateway asked to stop (SIGTERM) stops, even when a record arrives in the same instant.

Found by the chaos test on a busy machine: ``firegate run`` ignored SIGTERM for more than 15 s and
had to be SIGKILLed. On Python 3.11 ``asyncio.wait_for`` returns normally, swallowing the
cancellation, when the awaited thing completes in the same loop turn as the cancel; the delivery
loop waited for "a record was put" with ``wait_for``, so a put landing just before the stop made
its loop carry on for ever and the task group never finished. This test makes that turn happen
on purpose: the outbox's wake-up and the cancel are queued back to back, as the runtime's flusher
and its stop do.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.outputs.config import InfluxConfig, OutputsConfig
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from tests.support.outputs_helpers import Ident, tele


async def stop_as_a_record_arrives(tmp: Path) -> bool:
    """One delivery loop, idle on an empty outbox; True if it obeyed the stop."""
    cfg = OutputsConfig(batch_size=1000, max_age_s=30,  # a real sink that needs no server
                        influx=InfluxConfig(line_protocol_file=tmp / "sent.lp"))
    loop = asyncio.get_running_loop()
    with Outbox(tmp / "o.sqlite", budget_bytes=10 << 20, sinks=cfg.sinks()) as ob:
        outputs = Outputs(cfg, ob, Ident())
        sink = asyncio.create_task(outputs.sinks["influx"].run())
        task = asyncio.create_task(outputs.deliveries["influx"].run())
        await asyncio.sleep(0.05)  # idle: waiting for records
        ob.put_telemetry([tele("room-301", time.time())])  # queues the delivery's wake-up
        loop.call_soon(task.cancel)  # the stop, in the same turn
        done, _ = await asyncio.wait({task}, timeout=2)
        for t in (task, sink):
            t.cancel()
        await asyncio.gather(task, sink, return_exceptions=True)
    return bool(done)


async def test_delivery_loop_stops_when_cancelled_as_a_record_arrives(tmp_path: Path) -> None:
    stuck = 0
    for i in range(5):
        d = tmp_path / str(i)
        d.mkdir()
        stuck += not await stop_as_a_record_arrives(d)
    assert stuck == 0, f"the delivery loop ignored {stuck} of 5 stops"
