"""Realistic line protocol in firegate's InfluxDB schema (design contract 6), for dashboard tests.

Two campuses, three dormitory buildings with a gateway each, a few floors of room meters, a
residual current monitor, an electrical fire detector and a smart breaker per floor, a fire panel,
fire doors and exit sensors. The history holds what the dashboards must show: rooms over their
power limit, a zone in fire, alarms raised, acknowledged, cleared and closed (and some still
open), repeat offenders, offline devices and a gateway that went silent.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

SITE = "vc"
BUILDINGS = {("north", "dorm-1"): "gw-n1", ("north", "dorm-2"): "gw-n2",
             ("south", "dorm-7"): "gw-s7"}
FLOORS = (1, 2, 3)
ROOMS_PER_FLOOR = 4
SILENT_GATEWAY = "gw-n2"
"""This gateway stops reporting ten minutes before the end of the history (its devices' health
goes on in this data set: only the heartbeat stops)."""
OFFLINE_DEVICES = ("dorm-1-rc-2", "dorm-7-m-304")
"""These devices' last health reports say offline."""


@dataclass(frozen=True)
class Place:
    campus: str
    building: str
    gateway: str
    floor: int | None
    room: str | None
    device: str

    def tags(self, **extra: str) -> str:
        tags = {"site": SITE, "campus": self.campus, "building": self.building,
                "device": self.device, "gateway": self.gateway}
        if self.floor is not None:
            tags["floor"] = str(self.floor)
        if self.room is not None:
            tags["room"] = self.room
        tags.update(extra)
        return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _field(value: float | int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(round(value, 3))
    return '"' + value.replace('"', '\\"') + '"'


def line(measurement: str, tags: str, fields: dict[str, float | int | bool | str],
         ts_s: float) -> str:
    body = ",".join(f"{k}={_field(v)}" for k, v in fields.items())
    return f"{measurement},{tags} {body} {int(ts_s * 1e9)}"


def _places() -> Iterator[tuple[str, Place]]:
    for (campus, building), gw in BUILDINGS.items():
        for floor in FLOORS:
            for r in range(1, ROOMS_PER_FLOOR + 1):
                room = f"{floor}{r:02d}"
                yield "room_meter", Place(campus, building, gw, floor, room,
                                          f"{building}-m-{room}")
            for kind, prefix in (("residual", "rc"), ("efd", "efd"), ("breaker", "br")):
                yield kind, Place(campus, building, gw, floor, None, f"{building}-{prefix}-{floor}")
        yield "panel", Place(campus, building, gw, 1, None, f"{building}-fap")
        yield "doors", Place(campus, building, gw, 1, None, f"{building}-doors")
        yield "exits", Place(campus, building, gw, 1, None, f"{building}-exits")
        # the roof's distribution board: a breaker with no floor and no room
        yield "breaker", Place(campus, building, gw, None, None, f"{building}-br-roof")


def _telemetry(kind: str, p: Place, t: float, i: int, rnd: random.Random,
               end: float) -> Iterator[str]:
    day = math.sin(i / 15.0)
    if kind == "room_meter":
        hot = p.room is not None and p.room.endswith("02") and p.floor == 2
        power = max(0.0, 300 + 200 * day + rnd.uniform(0, 120) + (1400 if hot else 0))
        yield line("electrical", p.tags(), {
            "voltage_v": 228 + rnd.uniform(-3, 3), "current_a": power / 229,
            "power_w": power, "power_factor": 0.9, "frequency_hz": 50.0,
            "energy_kwh": 1000 + i * power / 30000}, t)
    elif kind == "residual":
        for ch in range(1, 13):
            ma = 60 + 20 * ch + rnd.uniform(0, 30) + (250 if ch == 3 and p.floor == 3 else 0)
            yield line("residual_current", p.tags(channel=str(ch)),
                       {"residual_current_ma": float(round(ma)), "loop_fault": "normal"}, t)
    elif kind == "efd":
        yield line("electrical_fire", p.tags(), {
            "residual_current_ma": 120.0 + rnd.uniform(0, 40), "residual_alarm": False,
            "temperature_alarm": False, "arc_alarm": False, "fault": False,
            "arc_count": i // 40}, t)
        for ch in range(1, 5):
            yield line("electrical_fire", p.tags(channel=str(ch)),
                       {"temperature_c": 32 + 4 * ch + 5 * day + rnd.uniform(0, 2)}, t)
    elif kind == "breaker":
        yield line("breaker", p.tags(), {
            "breaker_closed": True, "residual_current_ma": 40.0 + rnd.uniform(0, 10),
            "current_a": 12 + 3 * day, "power_w": 2700 + 600 * day, "voltage_v": 229.0}, t)
        for ch in (1, 2):
            yield line("breaker", p.tags(channel=str(ch)),
                       {"temperature_c": 38.0 + ch + rnd.uniform(0, 3)}, t)
    elif kind == "panel":
        fire_now = p.building == "dorm-7" and t > end - 900
        yield line("fire_panel", p.tags(), {
            "running": True, "fire_alarm": fire_now, "fault": p.building == "dorm-1",
            "shielded": False, "supervisory": False, "started": False,
            "main_power_fault": False, "backup_power_fault": p.building == "dorm-2",
            "bus_fault": False, "manual_mode": False}, t)
        for zone in range(1, 9):
            yield line("fire_panel", p.tags(channel=str(zone)), {
                "fire_alarm": fire_now and zone == 4, "fault": False, "shielded": False,
                "supervisory": False, "power_fault": False}, t)
    elif kind == "doors":
        for ch in range(1, 9):
            held = ch == 2 and p.building == "dorm-1"
            yield line("door", p.tags(channel=str(ch)),
                       {"door_open": held, "door_closed": not held, "fault": False}, t)
    elif kind == "exits":
        yield line("exit", p.tags(), {"occupancy_pct": 10 + int(10 * abs(day))}, t)
        for ch in range(1, 5):
            yield line("exit", p.tags(channel=str(ch)), {"obstructed": False, "fault": False}, t)


def _alarm(p: Place, t: float, alarm_id: str, rule: str, severity: str, state: str,
           seq: int, value: float, threshold: float, raised: float) -> str:
    tags = p.tags(rule=rule, severity=severity, alarm_id=alarm_id)
    return line("alarm", tags, {
        "state": state, "event": state, "value": value, "threshold": threshold, "seq": seq,
        "acked": state in ("acknowledged", "closed"), "open": state != "closed",
        "message_zh": f"{p.building} {p.floor}F {p.room or ''} {p.device}：{rule}",
        "location": p.room or f"{p.floor}F", "raised_ms": float(int(raised * 1000))}, t)


def _alarms(places: dict[str, Place], start: float, end: float) -> Iterator[str]:
    """Lifecycles: (device, rule, severity, raised at an offset from the start (negative: from the
    end), then the gaps to ack, clear and close; None stops there, leaving the alarm open)."""
    plans: list[tuple[str, str, str, float, float | None, float | None, float | None]] = [
        ("dorm-1-m-202", "room_overload", "warning", 600, 120, 300, 900),
        ("dorm-1-m-202", "room_overload", "warning", 5400, 60, 400, 1200),
        ("dorm-1-m-202", "malicious_load", "major", 9000, 45, None, None),
        ("dorm-1-rc-3", "residual_current", "warning", 3000, 300, 600, 1800),
        ("dorm-1-doors", "fire_door_held_open", "warning", 14000, None, None, None),
        ("dorm-2-m-202", "room_overload", "warning", 7000, 90, 500, None),
        ("dorm-2-fap", "fire_panel_backup_power", "major", 12000, 200, None, None),
        ("dorm-7-fap", "fire_alarm", "critical", -900, None, None, None),
        ("dorm-7-m-101", "ebike_charging", "major", 2000, 600, 3000, 4000),
        ("dorm-7-m-304", "comm_loss", "warning", -1200, None, None, None),
    ]
    seq = 0
    for n, (dev, rule, sev, raised, to_ack, to_clear, to_close) in enumerate(plans):
        p = places[dev]
        aid = f"{p.gateway}-{n + 1:04d}"
        t = end + raised if raised < 0 else start + raised
        if t >= end:
            continue
        steps = [("raised", t)]
        for state, gap in (("acknowledged", to_ack), ("cleared", to_clear),
                           ("closed", to_close)):
            if gap is None:
                break
            t += gap
            if t >= end:
                break
            steps.append((state, t))
        for state, ts in steps:
            seq += 1
            yield _alarm(p, ts, aid, rule, sev, state, seq, 1800.0, 1500.0, steps[0][1])


def generate(end_s: float, hours: float = 6.0, step_s: float = 120.0, seed: int = 7) -> list[str]:
    """Line protocol for ``hours`` of history ending at ``end_s`` (seconds since the epoch)."""
    rnd = random.Random(seed)
    start = end_s - hours * 3600
    places = dict((p.device, (kind, p)) for kind, p in _places())
    out: list[str] = []
    n = int(hours * 3600 // step_s)
    # History every ``step_s``; the last ten minutes every 30 s, as often as a gateway's
    # heartbeat, so the "now" panels ($current, $stale) see what a live screen sees.
    times = [start + i * step_s for i in range(n + 1) if start + i * step_s < end_s - 600]
    times += [end_s - 600 + 30 * k for k in range(21)]
    for i, t in enumerate(times):
        for kind, p in places.values():
            out.extend(_telemetry(kind, p, t, i, rnd, end_s))
            online = not (p.device in OFFLINE_DEVICES and t > end_s - 1800)
            out.append(line("device_health", p.tags(), {
                "online": online, "response_ms": 40.0 + rnd.uniform(0, 60) if online else 0.0,
                "errors": i // 50 + (i if not online else 0), "requests": i * 3}, t))
        for (campus, building), gw in BUILDINGS.items():
            if gw == SILENT_GATEWAY and t > end_s - 600:
                continue
            tags = (f"building={building},campus={campus},gateway={gw},site={SITE}")
            out.append(line("gateway_health", tags, {
                "outbox_pending": 20 + rnd.randint(0, 200), "outbox_oldest_age_s": 2.0 + i % 30,
                "delivered": i * 500, "shed": 0, "poll_cycle_ms": 900.0 + rnd.uniform(0, 400),
                "sms_sent": i // 20, "sms_failed": i // 90, "modem_signal_csq": 18 + i % 7,
                "ts_ms": float(int(t * 1000))}, t))
    out.extend(_alarms({d: p for d, (_, p) in places.items()}, start, end_s))
    return out
