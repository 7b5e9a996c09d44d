"""Device profiles as data: a YAML file per device type maps registers onto canonical points.

A user adds a device type by dropping a file in a profile directory; no code changes. The
built-in profiles live in ``drivers/profiles/``. Points may be repeated over channels
(``channels: 12`` with an address ``stride``) so a 12-loop monitor is one entry, not twelve.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.model import WORDS, DataType, Request, Table, point_key

BUILTIN_DIR = Path(__file__).with_name("profiles")

ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB"]


class PointDef(BaseModel):
    """One register (or bit) mapped to a canonical point, as written in a profile file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    table: Table = Table.HOLDING
    address: int = Field(ge=0, le=0xFFFF)
    type: DataType = DataType.U16
    order: ByteOrder = "ABCD"
    bit: int | None = Field(default=None, ge=0, le=15)
    width: int = Field(default=1, ge=1, le=16, description="bits in a bit field")
    mask: int | None = Field(default=None, ge=1, le=0xFFFFFFFF)
    enum: dict[int, bool | int | str] | None = None
    length: int | None = Field(default=None, ge=1, le=64, description="string length in words")
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    poll: str = "normal"
    channels: int | None = Field(default=None, ge=1, le=256)
    stride: int = Field(default=1, ge=0)
    first_channel: int = 1
    bit_stride: int = Field(default=0, ge=0, le=15, description="bit step per channel")
    writable: bool = False
    valid: tuple[float, float] | None = Field(
        default=None, description="[min, max] the sensor can really report, in engineering "
        "units; a reading outside is bad quality, never a value")
    sentinels: tuple[int, ...] = Field(
        default=(), description="raw register codes that mean 'no reading' (0xFFFF for a "
        "disconnected probe, 0x7FFF/0x8000 over/under range, 0xE5E5/0xFAFA vendor codes)")
    stuck_s: float | None = Field(
        default=None, gt=0, le=7 * 86400, description="a point that normally varies and has "
        "not changed for this long is suspect (a frozen converter)")

    @model_validator(mode="after")
    def _plausible(self) -> PointDef:
        if self.valid is not None and self.valid[0] > self.valid[1]:
            raise ValueError(f"valid: [{self.valid[0]:g}, {self.valid[1]:g}]: the minimum is "
                             "above the maximum")
        if (self.valid is not None or self.sentinels or self.stuck_s) and (
                self.table.is_bit or self.type in (DataType.BIT, DataType.STRING)
                or self.enum is not None):
            raise ValueError("valid, sentinels and stuck_s are for numeric register points, "
                             "not bits, enums or strings")
        top = (1 << (16 * WORDS.get(self.type, 1))) - 1
        for code in self.sentinels:
            if not 0 <= code <= top:
                raise ValueError(f"sentinel {code:#x} does not fit a {self.type.value} point "
                                 f"(raw codes are 0 to {top:#x})")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> PointDef:
        if self.scale == 0:
            raise ValueError(f"point {self.name!r}: scale 0 makes every reading "
                             f"{self.offset:g} whatever the device says; a value is "
                             "raw × scale + offset (e.g. scale: 0.1 for tenths)")
        if self.table.is_bit and self.type is not DataType.BIT:
            raise ValueError(f"a {self.table.value} point must have type bit")
        if self.type is DataType.STRING and self.length is None:
            raise ValueError("a string point needs length (in words)")
        if self.bit is not None and self.type is not DataType.BIT:
            raise ValueError("bit: is only for type bit")
        if self.type is DataType.BIT and not self.table.is_bit and self.bit is None:
            raise ValueError("a bit point on a register table needs bit: (0-15)")
        if self.bit is not None and self.bit + self.width > 16 and not self.bit_stride:
            raise ValueError("bit + width must stay inside one 16-bit register")
        return self

    @property
    def words(self) -> int:
        if self.table.is_bit:
            return 1
        if self.type is DataType.STRING:
            assert self.length is not None
            return self.length
        return WORDS[self.type]


class Point(BaseModel):
    """A point after channel expansion: what the planner and the codecs work on."""

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    channel: str | None
    table: Table
    address: int
    words: int
    type: DataType
    order: ByteOrder
    bit: int | None
    width: int
    mask: int | None
    enum: dict[int, bool | int | str] | None
    scale: float
    offset: float
    unit: str
    poll: str
    writable: bool
    valid: tuple[float, float] | None = None
    sentinels: tuple[int, ...] = ()
    stuck_s: float | None = None

    @property
    def end(self) -> int:
        return self.address + self.words

    @property
    def checked(self) -> bool:
        """Whether a reading of this point is checked for plausibility."""
        return self.valid is not None or bool(self.sentinels)


class UnreadableRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Table
    start: int = Field(ge=0, le=0xFFFF)
    end: int = Field(ge=0, le=0x10000, description="exclusive")


ActionKind = Literal["cut", "restore", "other"]


class ActionDef(BaseModel):
    """A named write a profile offers (``cut_socket``): the only kind of write the gateway makes.

    The write is fixed here, in the profile, so nobody outside can choose an address or a value;
    ``readback``/``expect`` say how to confirm the device did it. ``kind`` tells the gateway which
    interlocks apply: a ``restore`` re-energises a circuit and is refused after a dangerous trip.
    Shorthand ``{coil: 1, value: false}`` is the same as ``{table: coil, address: 1, ...}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActionKind
    table: Literal["coil", "holding"]
    address: int = Field(ge=0, le=0xFFFF)
    value: bool | int
    readback: str | None = Field(default=None, description="point key read back after the write")
    expect: bool | int | float | str | None = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, dict) and "table" not in data:
            for table in ("coil", "holding"):
                if table in data:
                    out = {k: v for k, v in data.items() if k != table}
                    out.update(table=table, address=data[table])
                    return out
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ActionDef:
        if self.table == "coil" and not isinstance(self.value, bool):
            raise ValueError("a coil action writes true or false")
        if self.table == "holding" and (isinstance(self.value, bool)
                                        or not 0 <= self.value <= 0xFFFF):
            raise ValueError("a holding register action writes a whole number 0 to 65535")
        if (self.readback is None) != (self.expect is None):
            raise ValueError("readback and expect go together: name the point to read back "
                             "and the value that confirms the action")
        return self

    @property
    def table_enum(self) -> Table:
        return Table(self.table)


class Profile(BaseModel):
    """A device type: its family (the InfluxDB measurement), its kind (what rules expect) and its
    points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    description: str = ""
    family: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    max_registers: int = Field(default=125, ge=1, le=125)
    max_bits: int = Field(default=2000, ge=1, le=2000)
    gap_fill: int = Field(default=8, ge=0, le=124)
    unreadable: tuple[UnreadableRange, ...] = ()
    points: tuple[PointDef, ...] = Field(min_length=1)
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    open_channels: bool = Field(default=False, description=(
        "the device reports its channels as it goes (a panel over GB/T 26875.3 names each "
        "component in its status frames): the profile lists only its fixed points"))

    @field_validator("points")
    @classmethod
    def _unique_keys(cls, points: tuple[PointDef, ...]) -> tuple[PointDef, ...]:
        seen: set[str] = set()
        for p in points:
            for key in _keys(p):
                if key in seen:
                    raise ValueError(f"point {key!r} is defined twice")
                seen.add(key)
        return points

    @model_validator(mode="after")
    def _readable(self) -> Profile:
        """Every value can be read whole: a point (with the points overlapping it, which the
        planner reads together) fits one request, and none lies in an unreadable range, which
        no request may touch. Either way the planner would still plan the read, the device
        would refuse it on every poll, and the value would never be seen."""
        spans: dict[Table, list[tuple[int, int, str]]] = {}
        for pt in self.expanded:
            spans.setdefault(pt.table, []).append((pt.address, pt.end, pt.key))
            for r in self.unreadable:
                if r.table is pt.table and r.start < pt.end and pt.address < r.end:
                    raise ValueError(
                        f"point {pt.key!r} ({pt.table.value} {pt.address:#06x}, {pt.words} "
                        f"register(s)) lies in the unreadable range {r.start:#06x}-"
                        f"{r.end - 1:#06x}: it could never be read; correct its address or "
                        "the range")
        for table, items in spans.items():
            limit = self.max_bits if table.is_bit else self.max_registers
            start, end, key = -1, -1, ""
            for a, e, k in sorted(items):
                if a < end:
                    end = max(end, e)
                else:
                    start, end, key = a, e, k
                if end - start > limit:
                    what = "bits" if table.is_bit else "registers"
                    raise ValueError(
                        f"point {key!r} needs {end - start} {what} in one read but "
                        f"max_{what} is {limit}: the device would refuse the read and the "
                        f"value would never be seen; raise max_{what} to {end - start} if the "
                        "device allows it, or correct the point")
        return self

    @model_validator(mode="after")
    def _action_points(self) -> Profile:
        keys = {k for p in self.points for k in _keys(p)}
        for name, act in self.actions.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"action name {name!r}: use lower case letters, digits and _")
            if act.readback is not None and act.readback not in keys:
                raise ValueError(f"action {name!r} reads back {act.readback!r}, which is not a "
                                 "point of this profile")
        return self

    def read_with(self, function: int) -> Profile:
        """This profile read with Modbus function 3 (holding) or 4 (input) for all its
        registers. Meters such as the Chint DDSU666 answer both and integrations differ, so the
        function is chosen per device; a profile that uses both register tables cannot be
        switched (its two tables hold different things)."""
        want = {3: Table.HOLDING, 4: Table.INPUT}.get(function)
        if want is None:
            raise ValueError(f"read_function {function}: use 3 (holding registers) or 4 (input "
                             "registers)")
        tables = {p.table for p in self.points if not p.table.is_bit}
        if tables <= {want}:
            return self
        if len(tables) > 1:
            raise ValueError(f"profile {self.profile} uses both holding and input registers; "
                             f"read_function cannot move them all to function {function}")
        points = tuple(p if p.table.is_bit else p.model_copy(update={"table": want})
                       for p in self.points)
        unreadable = tuple(r if r.table.is_bit else r.model_copy(update={"table": want})
                           for r in self.unreadable)
        moved = self.model_copy(update={"points": points, "unreadable": unreadable})
        for cached in ("expanded", "by_key"):  # model_copy copies cached_property values too
            moved.__dict__.pop(cached, None)
        return moved

    @cached_property
    def expanded(self) -> tuple[Point, ...]:
        return tuple(pt for p in self.points for pt in _expand(p))

    @cached_property
    def by_key(self) -> dict[str, Point]:
        return {p.key: p for p in self.expanded}

    def points_for(self, poll_class: str | None = None) -> tuple[Point, ...]:
        if poll_class is None:
            return self.expanded
        return tuple(p for p in self.expanded if p.poll == poll_class)

    @property
    def poll_classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.poll for p in self.expanded))

    def is_unreadable(self, table: Table, address: int) -> bool:
        return any(r.table is table and r.start <= address < r.end for r in self.unreadable)

    def blocks_request(self, req: Request) -> bool:
        return any(
            r.table is req.table and r.start < req.end and req.address < r.end
            for r in self.unreadable
        )


def _keys(p: PointDef) -> list[str]:
    if p.channels is None:
        return [p.name]
    return [point_key(p.name, str(p.first_channel + i)) for i in range(p.channels)]


def _expand(p: PointDef) -> list[Point]:
    out = []
    n = p.channels or 1
    for i in range(n):
        channel = None if p.channels is None else str(p.first_channel + i)
        bit = p.bit
        address = p.address + i * p.stride
        if bit is not None and p.bit_stride:
            flat = bit + i * p.bit_stride
            address, bit = p.address + flat // 16, flat % 16
        out.append(
            Point(
                key=point_key(p.name, channel),
                name=p.name,
                channel=channel,
                table=p.table,
                address=address,
                words=p.words,
                type=p.type,
                order=p.order,
                bit=bit,
                width=p.width,
                mask=p.mask,
                enum=p.enum,
                scale=p.scale,
                offset=p.offset,
                unit=p.unit,
                poll=p.poll,
                writable=p.writable,
                valid=p.valid,
                sentinels=p.sentinels,
                stuck_s=p.stuck_s,
            )
        )
    return out


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


def load_profile(path: Path) -> Profile:
    import yaml  # here, not at the top: the running gateway never reads YAML

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ProfileError(f"{path}:{line}: not UTF-8 text (byte {exc.start}: "
                           f"0x{raw[exc.start]:02x}); save the profile as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ProfileError(f"{where}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Profile.model_validate(data)
    except ValueError as exc:
        raise ProfileError(f"{path}: {exc}") from exc


def scan_profiles(*dirs: Path) -> dict[str, tuple[Profile, Path]]:
    """Each profile with the file it came from: built-in profiles, then each directory in
    order; a later file of the same name wins."""
    found: dict[str, tuple[Profile, Path]] = {}
    for d in (BUILTIN_DIR, *dirs):
        for path in sorted(d.glob("*.yaml")):
            prof = load_profile(path)
            found[prof.profile] = (prof, path)
    return found


def load_profiles(*dirs: Path) -> dict[str, Profile]:
    """Built-in profiles, then each directory in order; a later file of the same name wins."""
    return {name: prof for name, (prof, _) in scan_profiles(*dirs).items()}
