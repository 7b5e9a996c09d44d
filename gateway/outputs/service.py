"""``Outputs``: the sinks the configuration names, each with its delivery loop, as one task.

The runtime starts it inside its TaskGroup (``tg.create_task(outputs.run())``); cancelling the
task stops every connection. ``health()`` is what the live view, the summary and the sinks' own
health messages show.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from gateway.aio.tasks import run_all
from gateway.inbound.guard import Audit
from gateway.outputs.config import SINK_TYPES, OutputsConfig, SinkConfig
from gateway.outputs.delivery import Delivery, OnCommand, Sink, SinkContext
from gateway.outputs.lineproto import Identity
from gateway.outputs.outbox import Outbox
from gateway.records import OutputsHealth


class Outputs:
    """``Outputs(cfg.outputs, outbox, cfg.gateway, on_command)``; then ``await run()``.

    The outbox must have been opened with ``sinks=cfg.outputs.sinks()``. ``runtime_health``
    gives the runtime's own health fields (devices online, poll lag, SMS counters, modem
    signal) for the sinks' health messages.
    """

    def __init__(self, cfg: OutputsConfig, outbox: Outbox, identity: Identity,
                 on_command: OnCommand | None = None, *,
                 runtime_health: Callable[[], Mapping[str, object]] | None = None,
                 audit: Audit | None = None,
                 seen_commands: list[tuple[str, float]] | None = None) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.sinks: dict[str, Sink] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.runtime_health = runtime_health
        ctx = SinkContext(identity, outbox, on_command, self.health, audit, seen_commands)
        for sub in cfg.configured():
            sink = build_sink(sub, ctx)
            self.sinks[sink.name] = sink
            self.deliveries[sink.name] = Delivery(
                outbox, sink, batch_size=sub.batch_size or cfg.batch_size,
                max_age_s=sub.max_age_s or cfg.max_age_s, backoff_max_s=sub.reconnect_cap_s)
        missing = set(self.sinks) - set(outbox.sinks)
        if missing:
            raise ValueError(f"the outbox was opened without sink(s) {sorted(missing)}; open it "
                             "with sinks=cfg.outputs.sinks()")

    async def run(self) -> None:
        """Run every sink and its delivery loop until cancelled."""
        await run_all(*(c for name, sink in self.sinks.items()
                        for c in (sink.run(), self.deliveries[name].run())))

    def health(self) -> OutputsHealth:
        """The outbox's stats, each sink's health with its delivery counters, and what
        ``runtime_health`` gives."""
        return OutputsHealth(
            runtime=dict(self.runtime_health()) if self.runtime_health else {},
            outbox=self.outbox.stats(),
            sinks={name: {**sink.health(), **self.deliveries[name].health()}
                   for name, sink in self.sinks.items()})


def build_sink(cfg: SinkConfig, ctx: SinkContext) -> Sink:
    """The sink ``cfg.type`` names in SINK_TYPES, its module imported now (only configured
    outputs cost memory), named after ``cfg.key``."""
    module, _, func = SINK_TYPES[cfg.type].factory.partition(":")
    make: Callable[[SinkConfig, SinkContext], Sink] = getattr(importlib.import_module(module),
                                                              func)
    sink = make(cfg, ctx)
    sink.name = cfg.key
    return sink


async def run_outputs(cfg: OutputsConfig, outbox: Outbox, identity: Identity,
                      on_command: OnCommand | None = None) -> None:
    """Function form of :class:`Outputs` for callers that need no health."""
    await Outputs(cfg, outbox, identity, on_command).run()
