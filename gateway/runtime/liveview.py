"""The live terminal view of ``firegate demo`` and ``firegate run``.

On a terminal it is a rich live table (devices, latest values, health, active alarms, outbox);
elsewhere (CI, journald) it prints one status line every few seconds, so logs stay readable.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from drivers.model import Value
from gateway.alarms.ledger import Alarm, Suppression, by_severity
from gateway.config.models import Device, GatewayIdentity
from gateway.config.places import Places
from gateway.runtime.poller import DeviceHealth
from rules.kinds import KINDS
from rules.model import DeviceInfo
from rules.severity import BY_NAME, label_zh

if TYPE_CHECKING:
    from rich.console import Group, RenderableType
    from rich.table import Table


class RuntimeView(Protocol):
    """What the live view reads of the running gateway (``Gateway`` is one), and nothing more:
    it cannot acknowledge, write or reconfigure."""

    @property
    def identity(self) -> GatewayIdentity: ...
    @property
    def started(self) -> float: ...
    @property
    def requests(self) -> int: ...
    @property
    def points(self) -> int: ...
    @property
    def devices(self) -> Mapping[str, Device]: ...
    @property
    def info(self) -> Mapping[str, DeviceInfo]: ...
    @property
    def health(self) -> Mapping[str, DeviceHealth]: ...
    @property
    def latest(self) -> Mapping[str, Mapping[str, Value]]: ...

    def open_alarms(self) -> list[Alarm]: ...

    def active_suppressions(self) -> list[Suppression]: ...

    def local_time(self, ts: float | None) -> str: ...

    @property
    def places(self) -> Places: ...

    def outbox_stats(self) -> Mapping[str, object]: ...

    def sink_names(self) -> list[str]: ...



# The control room's colours (rules/severity.py) as terminal styles.
_STYLE_OF_COLOUR = {"red": "bold white on red", "orange": "bold dark_orange", "yellow": "yellow",
                    "blue": "cyan", "text": "dim"}


def severity_style(severity: str) -> str:
    level = BY_NAME.get(severity)
    return _STYLE_OF_COLOUR.get(level.colour, "") if level is not None else ""


def _headline(kind: str) -> tuple[str, ...]:
    """The values worth a glance for a kind (rules/kinds.py), in order."""
    entry = KINDS.get(kind)
    return entry.headline if entry is not None else ()


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


def render(gw: RuntimeView, extra: Mapping[str, object] | None = None,
           height: int = 50) -> Group:
    """The screen: header, devices (the troubled ones first), active alarms, outbox.

    A building has more devices than a terminal has lines, so devices that are offline or have
    an open alarm come first and healthy ones fill what room is left.
    """
    # rich is imported here, not with the module: a gateway under systemd (``--no-view``)
    # never draws a table and need not hold rich's ~2 MB.
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    online = sum(1 for h in gw.health.values() if h.online)
    head = Text.assemble(
        (f"firegate {gw.identity.id}", "bold"),
        f"  {gw.places.campus} {gw.places.building}",
        f"  up {now - gw.started:.0f} s  devices {online}/{len(gw.devices)} online"
        f"  requests {gw.requests}  points {gw.points}",
    )
    open_alarms = by_severity(gw.open_alarms())  # the worst first, then the newest: a fire on top
    alarm_rows = open_alarms[:12]
    alarmed = {a.device for a in alarm_rows}
    order = sorted(gw.devices, key=lambda i: (gw.health[i].online, i not in alarmed))
    room_for = max(5, height - len(alarm_rows) - 10)
    shown = order[:room_for]
    devices = _device_table(gw, order, shown)
    alarms = Table(expand=True, show_edge=False, header_style="bold")
    for col in ("alarm", "severity", "where", "rule", "state", "message"):
        alarms.add_column(col, no_wrap=True)
    for row in alarm_rows:
        sev = row.severity
        st_text = row.state + (f" ({row.suppressed})" if row.suppressed else "")
        alarms.add_row(row.id, Text(label_zh(sev), severity_style(sev)),
                       row.location or row.device, row.rule, st_text,
                       (row.message_zh or "")[:60])
    st = gw.outbox_stats()
    if gw.sink_names():
        store = (f"outbox pending {st.get('pending', 0)}  delivered {st.get('delivered', 0)}  "
                 f"shed {st.get('shed', 0)}")
    else:
        store = f"local store {st.get('pending', 0)} records (no outputs configured)"
    extra = dict(extra or {})
    waiting = extra.pop("pages waiting", None)
    foot = Text(store + "".join(f"  {k} {v}" for k, v in extra.items()))
    quiet = [f"{r.device} {'maintenance' if r.kind == 'maintenance' else r.rule} "
             f"until {gw.local_time(r.until_ts)[11:16]} ({r.who}: {r.why})"
             for r in gw.active_suppressions()]
    parts: list[RenderableType] = [
        head, devices, Text(f"active alarms ({len(open_alarms)})", style="bold"), alarms]
    if quiet:  # nobody is paged for these: say so where the duty officer looks
        parts.append(Text("not paging: " + "; ".join(quiet[:4]), style="yellow"))
    if waiting:  # every channel failed: the pages wait and are retried, nobody has them yet
        parts.append(Text(f"pages waiting: {waiting}", style="bold red"))
    return Group(*parts, foot)


def _device_table(gw: RuntimeView, order: list[str], shown: list[str]) -> Table:
    """One row per shown device: kind, place, state, headline values, response time, errors."""
    from rich.table import Table
    from rich.text import Text

    devices = Table(expand=True, show_edge=False, pad_edge=False, header_style="bold")
    for col in ("device", "kind", "room", "state", "values", "ms", "errors"):
        devices.add_column(col, no_wrap=True)
    for i in shown:
        h = gw.health[i]
        info = gw.info[i]
        latest = gw.latest[i]
        vals = "  ".join(f"{k.replace('@', '#')}={_fmt(latest[k])}"
                         for k in _headline(info.kind) if k in latest)
        state = Text("online", "green") if h.online else Text(
            "offline" if h.ever_seen or h.polls else "waiting", "red" if h.polls else "dim")
        where = gw.places.location(i, "", "") or i
        devices.add_row(i, info.kind, where, state, vals, f"{h.response_ms:.0f}",
                        str(sum(h.errors.values())))
    if len(order) > len(shown):
        devices.add_row(f"… {len(order) - len(shown)} more", "", "", Text("online", "green"),
                        "", "", "")
    return devices


def status_line(gw: RuntimeView, extra: Mapping[str, object] | None = None) -> str:
    online = sum(1 for h in gw.health.values() if h.online)
    open_alarms = len(gw.open_alarms())
    st = gw.outbox_stats()
    # Without outputs nothing is ever delivered: a growing "pending" would read as a fault.
    store = (f"outbox pending {st.get('pending', 0)}" if gw.sink_names()
             else f"local store {st.get('pending', 0)} records")
    return (f"[{time.strftime('%H:%M:%S')}] devices {online}/{len(gw.devices)} online, "
            f"requests {gw.requests}, points {gw.points}, open alarms {open_alarms}, {store}"
            + "".join(f", {k} {v}" for k, v in (extra or {}).items()))


async def live_view(gw: RuntimeView, stop: asyncio.Event, *, interactive: bool | None = None,
                    extra: Callable[[], Mapping[str, object]] | None = None) -> None:
    """Show the view until ``stop`` is set. ``extra`` is a callable returning more counters."""
    interactive = sys.stdout.isatty() if interactive is None else interactive
    if not interactive:
        while not stop.is_set():
            print(status_line(gw, extra() if extra else None), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 5.0)
            except TimeoutError:
                pass
        return
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with Live(render(gw, height=console.height), console=console, refresh_per_second=2,
              screen=False) as live:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
            live.update(render(gw, extra() if extra else None, height=console.height))
