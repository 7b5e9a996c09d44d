"""Optional parts of a running gateway: the northbound outputs and the SMS notifier.

Kept apart from the runtime so that a gateway without outputs (the embedded default) imports
nothing of MQTT, InfluxDB or the modem.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from gateway.actions.service import ActionRequest, ActionService
from gateway.runtime.gateway import Gateway


def outputs_and_notifier(gw: Gateway) -> list[Awaitable[Any]]:
    """Coroutines to run beside the pollers; also hooks them into the gateway's data path."""
    cfg = gw.cfg
    coros: list[Awaitable[Any]] = []
    gw.actions = ActionService(gw)
    gw.listeners.append(gw.actions.on_transition)
    coros.append(gw.actions.run())
    if gw.sink_names():
        from gateway.outputs.service import Outputs

        def on_command(cmd: dict[str, Any]) -> None:
            # The sink already checked that the operator is listed; the ledger checks the alarm,
            # the action service every rule of an action (and the operator again).
            if cmd.get("command") == "action":
                gw.actions.submit(ActionRequest(
                    str(cmd["device"]), str(cmd["action"]), who=str(cmd["operator"]),
                    via="mqtt", reason=str(cmd.get("reason") or "")))
                return
            gw.acknowledge(str(cmd["alarm_id"]), who=str(cmd["operator"]), via="mqtt")

        gw.outputs = Outputs(cfg.outputs, gw.outbox, cfg.gateway, on_command=on_command)
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
        coros.append(overdue_rounds(gw, cfg.notify.overdue_every_h * 3600.0))
    return coros


async def overdue_rounds(gw: Gateway, every_s: float, check_s: float = 60.0) -> None:
    """Send alarms past their deadline up the administrative chain: level 1 at the deadline,
    one level higher every ``every_s``; each step goes on the ledger (who was told, when)."""
    while True:
        escalate_overdue(gw, time.time(), every_s)
        await asyncio.sleep(check_s)


def escalate_overdue(gw: Gateway, now: float, every_s: float) -> int:
    """One round of :func:`overdue_rounds`; returns how many alarms went up a level."""
    if gw.notifier is None:
        return 0
    depth = len(gw.notifier.admin_chain())
    n = 0
    for a in gw.ledger.overdue(now):
        level = min(depth, 1 + int((now - (a.due_at or now)) // every_s))
        if level <= a.overdue_level:
            continue
        names = gw.notifier.page_overdue(a.as_dict(), level, now)
        for tr in gw.ledger.escalated(a.id, level, names, ts=now):
            gw.publish_transition(tr.as_dict())
        n += 1
    return n
