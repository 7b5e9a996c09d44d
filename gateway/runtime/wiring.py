"""Optional parts of a running gateway: the northbound outputs and the SMS notifier.

Kept apart from the runtime so that a gateway without outputs (the embedded default) imports
nothing of MQTT, InfluxDB or the modem.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable
from typing import Any

from gateway.actions.service import ActionRequest, ActionService
from gateway.runtime.gateway import Gateway, wait_writable

log = logging.getLogger("firegate")


def outputs_and_notifier(gw: Gateway) -> list[Awaitable[Any]]:
    """Coroutines to run beside the pollers; also hooks them into the gateway's data path."""
    cfg = gw.cfg
    coros: list[Awaitable[Any]] = []
    gw.actions = ActionService(gw)
    gw.listeners.append(gw.actions.on_transition)
    coros.append(gw.actions.run())
    if gw.sink_names():
        from gateway.outputs.service import Outputs

        pending: set[asyncio.Task[None]] = set()

        def audit(row: dict[str, Any]) -> None:
            gw.ledger.record_command(**row)

        def accepted(cmd: dict[str, Any]) -> dict[str, Any]:
            return {"ts": time.time(), "channel": "mqtt", "kind": str(cmd["command"]),
                    "cmd_id": cmd.get("id"), "operator": cmd.get("operator"),
                    "outcome": "accepted", "detail": ""}

        async def ack(cmd: dict[str, Any], wait_s: float = 10.0) -> None:
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

        def on_command(cmd: dict[str, Any]) -> None:
            # The sink's guard checked form, freshness, replay and that the operator is listed;
            # the ledger checks the alarm and its occurrence, the action service every rule of
            # an action (and the operator again). The command is audited before it is applied,
            # and not applied if that audit cannot be written.
            if cmd.get("command") != "action":
                task = asyncio.get_running_loop().create_task(ack(cmd))
                pending.add(task)
                task.add_done_callback(pending.discard)
                return
            try:
                audit(accepted(cmd))
            except Exception as exc:  # no audit, no action: the operator is told in the log
                log.error("action command %s not applied: its audit cannot be written (%s)",
                          cmd.get("id"), exc)
                return
            gw.actions.submit(ActionRequest(
                str(cmd["device"]), str(cmd["action"]), who=str(cmd["operator"]),
                via="mqtt", reason=str(cmd.get("reason") or "")))

        mq = cfg.outputs.mqtt
        horizon = time.time() - (mq.command_max_age_s + mq.command_max_future_s if mq else 0)
        gw.outputs = Outputs(cfg.outputs, gw.outbox, cfg.gateway, on_command=on_command,
                             audit=audit, seen_commands=gw.ledger.seen_command_ids(horizon))
        gw.outputs.extra_health = gw.gateway_health
        coros.append(gw.outputs.run())
    if cfg.notify.enabled:
        from gateway.notify.notifier import Notifier

        gw.notifier = Notifier(cfg.notify, gw.acknowledge, cfg.gateway,
                               data_dir=cfg.gateway.data_dir)
        notifier = gw.notifier

        def page(tr: dict[str, Any]) -> None:
            # Maintenance mode and shelving suppress an alarm: it is on the ledger, nobody paged.
            if not tr.get("suppressed"):
                notifier.on_transition(tr)

        gw.listeners.append(page)
        # Escalation timers live in memory: after a restart, alarms still open and not yet
        # acknowledged are paged again, so a restart never silently ends an escalation.
        for a in gw.ledger.open_alarms():
            d = a.as_dict()
            if not d.get("acked_by") and d.get("state") == "raised":
                page({**d, "event": "raise", "ts": d["raised_at"]})
        coros.append(gw.notifier.run())
    return coros
