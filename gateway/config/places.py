"""Names people use: the campus and building as the school calls them, a label per channel
(zone, door, exit, loop, sensor) and a fire panel's point map, so that a page, the live view,
MQTT and InfluxDB say 3层东侧走廊 rather than ``doors-east`` channel 1.

The configuration keeps identifiers (``campus: north``, ``building: dorm-3``) for topics and
tags, and adds display names beside them::

    gateway: {campus: north, campus_name: 北校区, building: dorm-3, building_name: 3号宿舍楼}
    devices:
      - {id: doors-east, ..., labels: {door: {1: 东楼梯间防火门, 2: 东楼梯间二层防火门}}}
      - {id: fire-panel, ..., labels: {zone: {3: 3层东侧走廊}}, points_csv: panel-points.csv}

The point map is the table the fire-system installer already keeps for the panel (one row per
detector or call point): ``控制器号, 回路号, 部位号, 部件类型, 位置`` (controller, loop,
address, component type, location). A panel channel written ``LOOP-ADDRESS`` (``3-12``) is
looked up there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from rules.events import Event

LABEL_KINDS = ("zone", "door", "exit", "loop", "sensor")
"""What a channel of a device is, as the people on site name it."""

RULE_LABEL = {
    "fire_alarm": "zone", "panel_fault": "zone", "fire_door_open": "door",
    "blocked_exit": "exit", "residual_current": "loop", "over_temperature": "sensor",
    "temperature_rise": "sensor",
}
"""Which label kind a rule's channel is; other rules look a channel up in every kind."""

_NUMBERED = {"zone": "{}号防区", "door": "{}号门", "exit": "{}号出口", "loop": "回路{}",
             "sensor": "{}号探头"}
"""How a channel without a label is still named, so a page says which zone is on fire even
before the installer's names are configured (issue 14: never only the panel's room)."""


def numbered(rule: str, channel: str) -> str:
    """``3号防区`` for zone 3 of a fire alarm; "" for a rule whose channels are not places."""
    ch = channel.rpartition("@")[2]
    kind = RULE_LABEL.get(rule)
    return _NUMBERED[kind].format(ch) if kind is not None and ch.isdigit() else ""

CSV_COLUMNS = ("控制器号", "回路号", "部位号", "部件类型", "位置")
_CSV_ALIASES = {"controller": "控制器号", "loop": "回路号", "address": "部位号",
                "type": "部件类型", "location": "位置"}


class PlacesError(ValueError):
    """A names file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class PanelPoint:
    """One row of the installer's point table."""

    controller: int
    loop: int
    address: int
    kind: str
    location: str


def load_point_map(path: str | Path) -> dict[tuple[int, int], PanelPoint]:
    """The installer's CSV (UTF-8 with or without BOM, or GB18030 as Excel saves it in China)
    as {(loop, address): point}. Errors name the file, the line and the column."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PlacesError(f"{p}: cannot read the point table: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise PlacesError(f"{p}: neither UTF-8 nor GB18030; save it as CSV UTF-8") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise PlacesError(f"{p}: the point table is empty; its first line must be the header "
                          f"{','.join(CSV_COLUMNS)}")
    cols = [_CSV_ALIASES.get(h.strip().lower(), h.strip()) for h in header]
    missing = [c for c in CSV_COLUMNS if c not in cols]
    if missing:
        raise PlacesError(f"{p}:1: the header lacks {', '.join(missing)}; it must name "
                          f"{','.join(CSV_COLUMNS)}")
    at = {c: cols.index(c) for c in CSV_COLUMNS}
    out: dict[tuple[int, int], PanelPoint] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(cols):
            raise PlacesError(f"{p}:{line}: {len(row)} columns, the header has {len(cols)}")
        nums = []
        for c in ("控制器号", "回路号", "部位号"):
            cell = row[at[c]].strip()
            if not cell.isdigit():
                raise PlacesError(f"{p}:{line}: {c} {cell!r} is not a whole number")
            nums.append(int(cell))
        where = row[at["位置"]].strip()
        if not where:
            raise PlacesError(f"{p}:{line}: 位置 is empty; write where the point is "
                              "(e.g. 3层东侧走廊)")
        key = (nums[1], nums[2])
        if key in out:
            raise PlacesError(f"{p}:{line}: loop {key[0]} address {key[1]} is listed twice")
        out[key] = PanelPoint(nums[0], nums[1], nums[2], row[at["部件类型"]].strip(), where)
    return out


class _Identity(Protocol):
    campus: str
    building: str
    campus_name: str
    building_name: str


class _Device(Protocol):
    id: str
    name: str
    floor: int | None
    room: str | None
    location: str

    @property
    def labels(self) -> Mapping[str, Mapping[str, str]]: ...


@dataclass(slots=True)
class DevicePlace:
    """Where one device is, in words, and the names of its channels."""

    floor: int | None
    room: str | None
    location: str
    name: str
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    points: Mapping[tuple[int, int], PanelPoint] = field(default_factory=dict)

    def channel_label(self, rule: str, channel: str) -> str:
        """The name of a channel, or "" when the configuration gives none."""
        if not channel:
            return ""
        ch = channel.rpartition("@")[2]  # panel faults carry the point key (``fault@3``)
        # GB/T 26875.3 components: ``2-17`` (loop 2, address 17), ``3.2-17`` on system 3.
        loop, sep, addr = ch.rpartition(".")[2].partition("-")
        if sep and loop.isdigit() and addr.isdigit():
            point = self.points.get((int(loop), int(addr)))
            if point is not None:
                return point.location
        kind = RULE_LABEL.get(rule)
        if kind is not None and ch in self.labels.get(kind, {}):
            return self.labels[kind][ch]
        for names in self.labels.values():
            if ch in names:
                return names[ch]
        return ""


class Places:
    """Display names for one gateway: built once from the configuration, asked per event."""

    def __init__(self, identity: _Identity, devices: Sequence[_Device],
                 points: Mapping[str, Mapping[tuple[int, int], PanelPoint]] | None = None) -> None:
        self.campus = identity.campus_name or identity.campus
        self.building = identity.building_name or identity.building
        self.devices = {d.id: DevicePlace(d.floor, d.room, d.location, d.name, d.labels,
                                          (points or {}).get(d.id, {})) for d in devices}

    @classmethod
    def from_config(cls, cfg: Any) -> Places:
        """From a loaded :class:`~gateway.config.models.Config` (point tables read here)."""
        points = {d.id: load_point_map(d.points_csv) for d in cfg.devices
                  if d.points_csv is not None}
        return cls(cfg.gateway, list(cfg.devices), points)

    def location(self, device: str, rule: str, channel: str) -> str:
        """Where in the building, in words: the channel's label (3层东侧走廊), else the
        device's floor and room or location (1层配电间); "" for an unknown device."""
        d = self.devices.get(device)
        if d is None:
            return ""
        label = d.channel_label(rule, channel)
        if label:
            return label
        return " ".join(x for x in (spot(d.floor, d.room, d.location), numbered(rule, channel))
                        if x)

    def where(self, device: str, rule: str, channel: str, *, campus: bool = True) -> str:
        """Where, once: [campus] building, then :meth:`location`. Never a device id."""
        head = (self.campus if campus else "") + self.building
        loc = self.location(device, rule, channel)
        return f"{head} {loc}" if loc else head

    def enrich(self, ev: Event) -> Event:
        """The event with its ``location`` set to the channel's label (or the device's) and its
        Chinese message led by where in words instead of the device id."""
        d = self.devices.get(ev.device)
        if d is None:
            return ev
        loc = d.channel_label(ev.rule, ev.channel)
        if not loc:
            # A panel over GB/T 26875.3 names its components itself (the description it sends):
            # that is the place, unless the installer's table or the configuration says better.
            own = ev.location if ev.channel and ev.location != d.location else ""
            loc = own or " ".join(x for x in (spot(d.floor, d.room, d.location),
                                              numbered(ev.rule, ev.channel)) if x)
        _, sep, rest = ev.message_zh.partition("：")
        msg = f"{self.building} {loc}：{rest}" if sep and loc else \
            f"{self.building}：{rest}" if sep else ev.message_zh
        if loc == ev.location and msg == ev.message_zh:
            return ev
        return replace(ev, location=loc, message_zh=msg)


def spot(floor: int | None, room: str | None, location: str = "") -> str:
    """Floor and room (or the device's location) as one short phrase: ``3层305室``."""
    parts = []
    place = room or location
    if floor is not None and not _names_floor(place, floor):
        parts.append(f"{floor}层")
    if room:
        parts.append(f"{room}室" if room.isdigit() else room)
    elif location:
        parts.append(location)
    return "".join(parts)


def _names_floor(text: str, floor: int) -> bool:
    """``3层东侧走廊`` already says the floor; do not write it twice."""
    return text.startswith((f"{floor}层", f"{floor}楼", f"{floor}F"))


__all__ = ["CSV_COLUMNS", "LABEL_KINDS", "PanelPoint", "Places", "PlacesError", "load_point_map",
           "spot"]
