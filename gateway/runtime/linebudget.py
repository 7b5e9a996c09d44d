"""Whether each RS-485 line can carry the poll classes its devices ask of it.

``firegate check --plan`` prints a warning per line that cannot (stderr; the plan itself stays
clean JSON on stdout), and ``run`` logs the same at start: a line over its budget polls every
class late, the ``fire`` class included, which is exactly what the class is there to avoid.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.device import DeviceReader
from drivers.profiles import Profile
from drivers.wiretime import LineLoad, line_load
from gateway.config.models import Config, RtuBus, RtuOverTcpBus


def line_loads(cfg: Config, profiles: Mapping[str, Profile]) -> list[LineLoad]:
    """The load of every serial line (RTU, and RTU over TCP: its serial side) in ``cfg``."""
    out = []
    for bus in cfg.buses:
        if not isinstance(bus, RtuBus | RtuOverTcpBus):
            continue
        jobs = []
        for d in cfg.devices:
            if d.bus != bus.id:
                continue
            reader = DeviceReader(d.id, profiles[d.profile], d.unit, d.gap_fill)
            for cls, reads in reader.plans.items():
                jobs.append((cls, cfg.period(d, cls), [pr.request for pr in reads]))
        out.append(line_load(bus.id, bus.baudrate, jobs, pause_s=bus.pause_s))
    return out


def describe(load: LineLoad) -> str:
    """One line a user can act on: how much of the line each class needs, and what would fit."""
    parts = ", ".join(f"{c.poll_class} every {c.period_s:g} s: {c.requests} request(s), "
                      f"{100 * c.share:.0f} %" for c in
                      sorted(load.classes, key=lambda c: c.period_s))
    text = (f"line {load.line!r} at {load.baudrate} baud needs {100 * load.share:.0f} % of its "
            f"time ({parts})")
    if load.holds:
        return text
    text += "; it cannot hold its poll classes and every class will be polled late"
    fastest = load.fastest_period_s("fire")
    if any(c.poll_class == "fire" for c in load.classes):
        text += ("; the fire class could run every "
                 f"{fastest:.2f} s with the others as they are" if fastest is not None else
                 "; the other classes alone fill the line")
    return text + (": split the devices over more lines, raise the baud rate, or lengthen "
                   "the slower classes' periods")


def warnings(cfg: Config, profiles: Mapping[str, Profile]) -> list[str]:
    return [describe(ld) for ld in line_loads(cfg, profiles) if not ld.holds]
