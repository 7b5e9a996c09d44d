"""The control room's wall screen at one moment, written by firegate's own line-protocol
builder (gateway/outputs/lineproto.py), for the dashboard tests that check what each panel
paints.

Three buildings on two campuses, the last 20 minutes up to ``now``:
- north/dorm-1 (gw-n1) reports; a 严重 (major) residual-current alarm on floor 3, from a monitor
  with no room, raised 20 minutes ago and not acknowledged;
- north/dorm-2 (gw-n2) stopped reporting 3 minutes ago, with nothing open: it must be 失联;
- south/dorm-7 (gw-s7) reports; its fire panel (floor 1, no room) is in fire in zone 5 since
  90 s ago, a 特急 (critical) alarm with the zone's label; the meter of room 101 died 10 minutes
  ago (its last reading 1800 W; health says offline since), the meter of room 102 is alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.outputs.lineproto import LineBuilder
from gateway.records import AlarmTransition, TelemetryRecord

SITE = "vc"
SILENT_FOR_S = 180.0
DEAD_METER = "dorm-7-m-101"
FIRE_MESSAGE = "7号宿舍楼 1F 消防主机：火灾报警（5号防区），请立即核实"
FIRE_LOCATION = "5号防区 一层东侧走廊"
MAJOR_MESSAGE = "1号宿舍楼 3F 剩余电流监测器：剩余电流 520 mA，超过 500 mA"


@dataclass(frozen=True)
class Identity:
    id: str
    site: str
    campus: str
    building: str


GATEWAYS = {"gw-n1": Identity("gw-n1", SITE, "north", "dorm-1"),
            "gw-n2": Identity("gw-n2", SITE, "north", "dorm-2"),
            "gw-s7": Identity("gw-s7", SITE, "south", "dorm-7")}
DEVICES: dict[str, tuple[str, str, str, dict[str, str]]] = {
    # device: (gateway, measurement, kind, tags)
    "dorm-1-m-101": ("gw-n1", "electrical", "meter", {"floor": "1", "room": "101"}),
    "dorm-1-rc-3": ("gw-n1", "residual_current", "rcm", {"floor": "3"}),
    "dorm-2-m-101": ("gw-n2", "electrical", "meter", {"floor": "1", "room": "101"}),
    "dorm-7-fap": ("gw-s7", "fire_panel", "panel", {"floor": "1"}),
    "dorm-7-m-101": ("gw-s7", "electrical", "meter", {"floor": "1", "room": "101"}),
    "dorm-7-m-102": ("gw-s7", "electrical", "meter", {"floor": "1", "room": "102"}),
}


def _alarm(gw: Identity, device: str, tags: dict[str, str], alarm_id: str, rule: str,
           severity: str, state: str, seq: int, ts: float, raised: float, message: str,
           channel: str = "", location: str = "", value: float = 0.0) -> AlarmTransition:
    """An alarm transition as the ledger hands it to the outbox."""
    return AlarmTransition.from_json({
            "id": alarm_id, "device": device, "rule": rule, "channel": channel,
            "severity": severity, "state": state, "event": "raise", "seq": seq, "ts": ts,
            "raised_at": raised, "first_raised_at": raised, "acked_by": None,
            "value": value, "threshold": 500.0, "message_zh": message, "message_en": "",
            "site": gw.site, "campus": gw.campus, "building": gw.building,
            "floor": int(tags["floor"]) if "floor" in tags else None,
            "room": tags.get("room"), "location": location})


def generate(now: float) -> list[str]:
    """Line protocol (ms precision) for the 20 minutes up to ``now``."""
    out: list[str] = []
    builders = {gid: LineBuilder(gw) for gid, gw in GATEWAYS.items()}
    start = now - 1200
    for k in range(121):  # every 10 s
        t = start + 10 * k
        for device, (gid, meas, kind, tags) in DEVICES.items():
            if gid == "gw-n2" and t > now - SILENT_FOR_S:
                continue
            b = builders[gid]
            dead = device == DEAD_METER and t > now - 600
            fields: dict[str, Any] = {}
            if kind == "meter" and not dead:
                power = 1800.0 if device == DEAD_METER else 420.0 + k % 7
                fields = {"power_w": power, "current_a": power / 229, "voltage_v": 229.0}
            elif kind == "rcm":
                fields = {"residual_current_ma@3": 520.0 if t > now - 1200 else 120.0,
                          "residual_current_ma@1": 80.0}
            elif kind == "panel":
                fire = t > now - 90
                fields = {"fire_alarm": fire, "fault": False, "running": True,
                          "fire_alarm@5": fire, "fire_alarm@4": False}
            if fields:
                b.telemetry(TelemetryRecord(device, t, meas, tags, fields), out)
            b.telemetry(TelemetryRecord(device, t, "device_health", tags, {
                "online": not dead, "response_ms": 40.0, "errors": 0, "requests": k}), out)
        if k % 3 == 0:  # gateway heartbeat every 30 s
            for gid, b in builders.items():
                if gid == "gw-n2" and t > now - SILENT_FOR_S:
                    continue
                out.append(b.gateway_health({"outbox_pending": 3, "devices": 2}, t))
    n1, s7 = GATEWAYS["gw-n1"], GATEWAYS["gw-s7"]
    builders["gw-n1"].alarm(_alarm(n1, "dorm-1-rc-3", {"floor": "3"}, "A261203001",
                                   "residual_current", "major", "raised", 1, now - 1190,
                                   now - 1190, MAJOR_MESSAGE, channel="3", value=520.0), out)
    builders["gw-s7"].alarm(_alarm(s7, "dorm-7-fap", {"floor": "1"}, "A261203002",
                                   "fire_alarm", "critical", "raised", 1, now - 88, now - 88,
                                   FIRE_MESSAGE, channel="5", location=FIRE_LOCATION,
                                   value=1.0), out)
    # The dead meter's comm_loss alarm, raised and then closed by the operator (not open).
    builders["gw-s7"].alarm(_alarm(s7, DEAD_METER, {"floor": "1", "room": "101"}, "A261203003",
                                   "comm_loss", "warning", "raised", 1, now - 570, now - 570,
                                   "7号宿舍楼 1F 101 电表：通信中断"), out)
    builders["gw-s7"].alarm(_alarm(s7, DEAD_METER, {"floor": "1", "room": "101"}, "A261203003",
                                   "comm_loss", "warning", "closed", 2, now - 500, now - 570,
                                   "7号宿舍楼 1F 101 电表：通信中断"), out)
    return out
