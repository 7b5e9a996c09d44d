"""The parts beside a running gateway: remote actions, the northbound outputs and the SMS
notifier, each built here with what it needs passed to its constructor.

Kept apart from the runtime so that a gateway without outputs (the embedded default) imports
nothing of MQTT, InfluxDB or the modem. The runtime never holds these parts: they subscribe to
its alarm transitions (``Gateway.subscribe``) and see it only through the narrow views they
declare (``gateway.actions.service.ActionHost``), so nothing is filled in after construction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.actions.model import ActionRequest
from gateway.actions.service import ActionService
from gateway.aio.tasks import wait_writable
from gateway.inbound.guard import shown
from gateway.records import AlarmTransition, GatewayHealth
from gateway.runtime.gateway import Gateway

if TYPE_CHECKING:
    from gateway.notify.notifier import Notifier
    from gateway.outputs.delivery import Command
    from gateway.outputs.service import Outputs

log = logging.getLogger("firegate")

Task = Coroutine[Any, Any, object]


@dataclass(slots=True)
class Services:
    """What :func:`start_services` built for one gateway; ``coroutines`` run beside its
    pollers (``gw.run(stop, extra=services.coroutines)``)."""

    actions: ActionService
    outputs: Outputs | None = None
    notifier: Notifier | None = None
    coroutines: list[Task] = field(default_factory=list)

    def health(self, gw: Gateway) -> GatewayHealth:
        """The gateway's health with paging counters and the modem's signal when paging is
        on: ``gateway_health`` in InfluxDB, ``health`` on MQTT."""
        base = gw.gateway_health()
        if self.notifier is None:
            return base
        c = self.notifier.counters()
        csq = None
        channels = self.notifier.health().get("channels")
        for ch in channels.values() if isinstance(channels, dict) else ():
            if isinstance(ch, dict) and isinstance(ch.get("rssi"), int):
                csq = int(ch["rssi"])
        return dataclasses.replace(base, sms_sent=c["sent"], sms_failed=c["failed"],
                                   modem_signal_csq=csq)

    def view_extra(self) -> dict[str, object]:
        """What the live view adds: pages waiting for a channel, when any do."""
        unsent = self.notifier.unsent() if self.notifier is not None else None
        return {"pages waiting": unsent} if unsent else {}

    def summary(self) -> dict[str, object]:
        """What the services add to the run's summary JSON (``sms`` when paging is on)."""
        return {"sms": self.notifier.counters()} if self.notifier is not None else {}


def start_services(gw: Gateway) -> Services:
    """Build the actions, the outputs and the notifier for ``gw`` (an entered Gateway) and hook
    them to its alarm transitions."""
    cfg = gw.cfg
    actions = ActionService(gw)
    gw.subscribe(actions.on_transition)
    services = Services(actions)
    services.coroutines.append(actions.run())
    notifier = _notifier(gw) if cfg.notify.enabled else None
    services.notifier = notifier
    if gw.sink_names():
        from gateway.outputs.service import Outputs

        pending: set[asyncio.Task[None]] = set()

        def audit(row: dict[str, Any]) -> None:
            gw.ledger.record_command(**row)

        def accepted(cmd: Command) -> dict[str, Any]:
            return {"ts": time.time(), "channel": "mqtt", "kind": str(cmd["command"]),
                    "cmd_id": cmd.get("id"), "operator": cmd.get("operator"),
                    "outcome": "accepted", "detail": ""}

        async def ack(cmd: Command, wait_s: float = 10.0) -> None:
            # A shell holding the ledger for a moment must not lose an operator's ack: wait for
            # the lock in a thread (never on the loop), audit, then acknowledge.
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    audit(accepted(cmd))
                    break
                except sqlite3.OperationalError as exc:
                    if time.monotonic() >= deadline:
                        log.error("acknowledgement %s not applied: its audit cannot be written "
                                  "(%s)", cmd.get("id"), exc)
                        return
                    await asyncio.to_thread(wait_writable, gw.ledger.path, 1.0)
            await gw.acknowledge_soon(
                str(cmd["alarm_id"]), who=str(cmd["operator"]), via="mqtt",
                seq=int(cmd["seq"]) if cmd.get("seq") is not None else None,
                wait_s=max(0.0, deadline - time.monotonic()))

        def on_command(cmd: Command) -> None:
            # The sink's guard checked form, freshness, replay and that the operator is listed;
            # the ledger checks the alarm and its occurrence, the action service every rule of
            # an action (and the operator again). The command is audited before it is applied,
            # and not applied if that audit cannot be written.
            if cmd.get("command") == "ack":
                task = asyncio.get_running_loop().create_task(ack(cmd))
                pending.add(task)
                task.add_done_callback(pending.discard)
                return
            try:
                audit(accepted(cmd))
            except Exception as exc:  # no audit, no action: the operator is told in the log
                log.error("%s command %s not applied: its audit cannot be written (%s)",
                          cmd.get("command"), cmd.get("id"), exc)
                return
            if cmd.get("command") == "action":
                actions.submit(ActionRequest(
                    str(cmd["device"]), str(cmd["action"]), who=str(cmd["operator"]),
                    via="mqtt", reason=str(cmd.get("reason") or "")))
                return
            if cmd.get("command") == "close":  # the desk's cmd/{login}/close
                category = cmd.get("category")
                gw.close_alarm(str(cmd["alarm_id"]), who=str(cmd["operator"]),
                               note=str(cmd.get("note") or ""),
                               category=category if isinstance(category, str) else None)
                return
            if cmd.get("command") in ("shelve", "maintenance"):
                try:  # the outcome (refused or active) is logged and kept in the ledger
                    gw.suppressions.request(
                        str(cmd["command"]), str(cmd["device"]), str(cmd.get("rule") or "*"),
                        who=str(cmd["operator"]), via="mqtt", why=str(cmd.get("reason") or ""),
                        for_s=cmd.get("for_s"), op="end" if cmd.get("end") else "start")
                except ValueError as exc:  # no reason given: nothing to record
                    log.warning("%s of %s from operator %s refused: %s", cmd["command"],
                                shown(cmd["device"]), shown(cmd["operator"]), exc)

        mq = cfg.outputs.mqtt
        horizon = time.time() - (mq.command_max_age_s + mq.command_max_future_s if mq else 0)
        services.outputs = Outputs(cfg.outputs, gw.outbox, cfg.gateway, on_command=on_command,
                                   runtime_health=lambda: services.health(gw).as_fields(),
                                   audit=audit,
                                   seen_commands=gw.ledger.seen_command_ids(horizon))
        services.coroutines.append(services.outputs.run())
    if notifier is not None:
        services.coroutines.append(notifier.run())
        services.coroutines.append(overdue_rounds(gw, notifier,
                                                  cfg.notify.overdue_every_h * 3600.0))
    return services


async def overdue_rounds(gw: Gateway, notifier: Notifier, every_s: float,
                         check_s: float = 60.0) -> None:
    """Send alarms past their deadline up the administrative chain: level 1 at the deadline,
    one level higher every ``every_s``; each step goes on the ledger (who was told, when)."""
    while True:
        escalate_overdue(gw, notifier, time.time(), every_s)
        await asyncio.sleep(check_s)


def escalate_overdue(gw: Gateway, notifier: Notifier, now: float, every_s: float) -> int:
    """One round of :func:`overdue_rounds`; returns how many alarms went up a level."""
    depth = len(notifier.admin_chain())
    n = 0
    for a in gw.ledger.overdue(now):
        level = min(depth, 1 + int((now - (a.due_at or now)) // every_s))
        if level <= a.overdue_level:
            continue
        names = notifier.page_overdue(AlarmTransition(event="overdue", ts=now,
                                                      **dataclasses.asdict(a)), level, now)
        for tr in gw.ledger.escalated(a.id, level, names, ts=now):
            gw.publish_transition(tr)
        n += 1
    return n


def _notifier(gw: Gateway) -> Notifier:
    from gateway.notify.notifier import Notifier

    cfg = gw.cfg
    notifier = Notifier(cfg.notify, gw.acknowledge, cfg.gateway, data_dir=cfg.gateway.data_dir)

    def page(tr: AlarmTransition) -> None:
        # Maintenance mode and shelving suppress an alarm: it is on the ledger, nobody paged.
        if not tr.suppressed:
            notifier.on_transition(tr)

    gw.subscribe(page)
    # Escalation timers live in memory: after a restart, alarms still open and not yet
    # acknowledged are paged again, so a restart never silently ends an escalation. The
    # administrative chain already heard of their repeats: ``replayed`` does not tell it twice.
    # A cleared one too when paging goes on after a clear (``stop_on_clear: false``).
    paging = ("raised",) if cfg.notify.stop_on_clear else ("raised", "cleared")
    for a in gw.ledger.open_alarms():
        if not a.acked_by and a.state in paging and not a.suppressed:
            notifier.on_transition(AlarmTransition(event="raise", ts=a.raised_at,
                                                   **dataclasses.asdict(a)), replayed=True)
    return notifier
