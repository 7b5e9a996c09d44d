"""The live terminal view of ``firegate demo`` and ``firegate run``.

On a terminal it is a rich live table (devices, latest values, health, active alarms, outbox);
elsewhere (CI, journald) it prints one status line every few seconds, so logs stay readable.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.runtime.gateway import Gateway

# The values worth a glance per device kind, in order.
HEADLINE = {
    "room_meter": ("power_w", "power_factor", "current_a"),
    "breaker": ("breaker_closed", "current_a", "residual_current_ma", "trip_reason"),
    "residual_monitor": ("residual_current_ma@1", "residual_current_ma@2", "residual_current_ma@3"),
    "fire_detector": ("residual_current_ma", "temperature_c@1", "arc_count"),
    "fire_panel": ("fire_alarm", "fault", "supervisory"),
    "door_monitor": ("door_open@1", "door_open@2", "fault@1"),
    "exit_sensor": ("obstructed@1", "obstructed@2"),
}

SEVERITY_STYLE = {"critical": "bold white on red", "major": "bold red", "minor": "yellow",
                  "warning": "cyan"}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


def render(gw: Gateway, extra: dict[str, Any] | None = None, height: int = 50) -> Group:
    """The screen: header, devices (the troubled ones first), active alarms, outbox.

    A building has more devices than a terminal has lines, so devices that are offline or have
    an open alarm come first and healthy ones fill what room is left.
    """
    now = time.time()
    online = sum(1 for h in gw.health.values() if h.online)
    head = Text.assemble(
        (f"firegate {gw.cfg.gateway.id}", "bold"),
        f"  {gw.cfg.gateway.campus}/{gw.cfg.gateway.building}",
        f"  up {now - gw.started:.0f} s  devices {online}/{len(gw.devices)} online"
        f"  requests {gw.requests}  points {gw.points}",
    )
    open_alarms = gw.ledger.open_alarms()
    alarm_rows = [a.as_dict() for a in open_alarms][:12]
    alarmed = {str(a["device"]) for a in alarm_rows}
    order = sorted(gw.devices, key=lambda i: (gw.health[i].online, i not in alarmed))
    room_for = max(5, height - len(alarm_rows) - 10)
    shown = order[:room_for]
    devices = Table(expand=True, show_edge=False, pad_edge=False, header_style="bold")
    for col in ("device", "kind", "room", "state", "values", "ms", "errors"):
        devices.add_column(col, no_wrap=True)
    for i in shown:
        d = gw.devices[i]
        h = gw.health[i]
        info = gw.info[i]
        latest = gw.latest[i]
        vals = "  ".join(f"{k.replace('@', '#')}={_fmt(latest[k])}"
                         for k in HEADLINE.get(info.kind, ()) if k in latest)
        state = Text("online", "green") if h.online else Text(
            "offline" if h.ever_seen or h.polls else "waiting", "red" if h.polls else "dim")
        where = f"F{d.floor} {d.room}" if d.floor is not None else (d.room or d.location)
        devices.add_row(i, info.kind, where, state, vals, f"{h.response_ms:.0f}",
                        str(sum(h.errors.values())))
    if len(order) > len(shown):
        devices.add_row(f"… {len(order) - len(shown)} more", "", "", Text("online", "green"),
                        "", "", "")
    alarms = Table(expand=True, show_edge=False, header_style="bold")
    for col in ("alarm", "severity", "rule", "device", "state", "message"):
        alarms.add_column(col, no_wrap=True)
    for row in alarm_rows:
        sev = str(row["severity"])
        alarms.add_row(str(row["id"]), Text(sev, SEVERITY_STYLE.get(sev, "")), str(row["rule"]),
                       str(row["device"]), str(row["state"]),
                       str(row.get("message_zh") or "")[:60])
    st = gw.outbox.stats()
    if gw.sink_names():
        store = (f"outbox pending {st.get('pending', 0)}  delivered {st.get('delivered', 0)}  "
                 f"shed {st.get('shed', 0)}")
    else:
        store = f"local store {st.get('pending', 0)} records (no outputs configured)"
    foot = Text(store + "".join(f"  {k} {v}" for k, v in (extra or {}).items()))
    return Group(head, devices, Text(f"active alarms ({len(open_alarms)})", style="bold"),
                 alarms, foot)


def status_line(gw: Gateway) -> str:
    online = sum(1 for h in gw.health.values() if h.online)
    open_alarms = len(gw.ledger.open_alarms())
    st = gw.outbox.stats()
    # Without outputs nothing is ever delivered: a growing "pending" would read as a fault.
    store = (f"outbox pending {st.get('pending', 0)}" if gw.sink_names()
             else f"local store {st.get('pending', 0)} records")
    return (f"[{time.strftime('%H:%M:%S')}] devices {online}/{len(gw.devices)} online, "
            f"requests {gw.requests}, points {gw.points}, open alarms {open_alarms}, {store}")


async def live_view(gw: Gateway, stop: asyncio.Event, *, interactive: bool | None = None,
                    extra: Any = None) -> None:
    """Show the view until ``stop`` is set. ``extra`` is a callable returning more counters."""
    interactive = sys.stdout.isatty() if interactive is None else interactive
    if not interactive:
        while not stop.is_set():
            print(status_line(gw), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 5.0)
            except TimeoutError:
                pass
        return
    console = Console()
    with Live(render(gw, height=console.height), console=console, refresh_per_second=2,
              screen=False) as live:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
            live.update(render(gw, extra() if extra else None, height=console.height))
