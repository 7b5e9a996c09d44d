"""What to simulate: buses and the devices on them.

Plain dataclasses, so the gateway's configuration (``firegate simulate``), tests and benchmarks
can all build one without YAML. ``load_spec`` reads the same shape from a file, and also accepts
a gateway configuration file directly (its ``type:`` is taken as ``kind:``; other sections are
ignored), so a site can simulate exactly the building it configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from drivers.profiles import Profile, load_profiles

BusKind = Literal["tcp", "rtu", "rtu_over_tcp"]
BUS_KINDS: tuple[str, ...] = ("tcp", "rtu", "rtu_over_tcp")


class SpecError(ValueError):
    """A simulation spec that cannot be run; the message names the entry and the field."""


@dataclass
class SimBus:
    """One line or endpoint.

    ``port`` is a TCP port for ``tcp`` and ``rtu_over_tcp`` (0 picks a free one, see
    ``Simulation.ports()``) and a filesystem path for ``rtu``: the simulator makes a pty there
    (a symlink) for the gateway to open like a serial port.
    """

    id: str
    kind: BusKind = "tcp"
    host: str = "127.0.0.1"
    port: int | str = 0
    baudrate: int = 9600
    emulate_timing: bool = False
    turnaround_s: float = 0.0


@dataclass
class SimDevice:
    """One simulated field device: a profile served at a unit id on a bus."""

    id: str
    profile: Profile
    bus: str
    unit: int
    kind: str = ""  # defaults to the profile's kind
    ratings: dict[str, float] = field(default_factory=dict)
    floor: int | None = None
    room: str | None = None
    strict_addresses: bool = False
    # Point keys of the profile this model does not define (a DDSU666 variant without reactive
    # power): reads of them are refused with exception 2, as a strict meter refuses any
    # undefined register. Implies ``strict_addresses``.
    undefined: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = self.profile.kind


@dataclass
class SimSpec:
    buses: list[SimBus]
    devices: list[SimDevice]
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject references that cannot work, before any port is opened."""
        bus_ids: dict[str, SimBus] = {}
        for i, b in enumerate(self.buses, 1):
            if b.id in bus_ids:
                raise SpecError(f"bus {i}: id {b.id!r} is used twice")
            if b.kind not in BUS_KINDS:
                raise SpecError(f"bus {b.id!r}: kind {b.kind!r} is not one of {BUS_KINDS}")
            if b.kind == "rtu" and not isinstance(b.port, str):
                raise SpecError(f"bus {b.id!r}: an rtu bus needs port: a path for its pty link")
            if b.kind != "rtu" and not isinstance(b.port, int):
                raise SpecError(f"bus {b.id!r}: a {b.kind} bus needs a TCP port number")
            if b.baudrate <= 0:
                raise SpecError(f"bus {b.id!r}: baudrate must be positive")
            bus_ids[b.id] = b
        seen: dict[str, int] = {}
        units: dict[tuple[str, int], str] = {}
        for i, d in enumerate(self.devices, 1):
            if d.id in seen:
                raise SpecError(f"device {i}: id {d.id!r} is used twice (first at {seen[d.id]})")
            seen[d.id] = i
            if d.bus not in bus_ids:
                raise SpecError(
                    f"device {d.id!r}: bus {d.bus!r} does not exist; buses: "
                    f"{', '.join(bus_ids) or 'none'}"
                )
            if not 1 <= d.unit <= 247:
                raise SpecError(f"device {d.id!r}: unit {d.unit} is outside 1-247")
            other = units.get((d.bus, d.unit))
            if other is not None:
                raise SpecError(
                    f"device {d.id!r}: unit {d.unit} on bus {d.bus!r} is already {other!r}"
                )
            units[(d.bus, d.unit)] = d.id

    def bus(self, bus_id: str) -> SimBus:
        return next(b for b in self.buses if b.id == bus_id)

    def devices_on(self, bus_id: str) -> list[SimDevice]:
        return [d for d in self.devices if d.bus == bus_id]


def spec_from_dict(
    data: Mapping[str, Any], profiles: Mapping[str, Profile] | None = None, base: Path | None = None
) -> SimSpec:
    """Build a spec from plain data (a spec file or a gateway configuration)."""
    if profiles is None:
        dirs = [Path(p) if base is None else base / p for p in data.get("profile_dirs", [])]
        profiles = load_profiles(*dirs)
    buses = []
    framed: set[str] = set()  # GB/T 26875.3 buses: their devices dial in (simulators.gbt26875)
    for i, b in enumerate(data.get("buses") or [], 1):
        if not isinstance(b, Mapping) or "id" not in b:
            raise SpecError(f"buses entry {i}: needs at least id:")
        kind = b.get("kind", b.get("type", "tcp"))
        if kind == "gbt26875":
            framed.add(str(b["id"]))
            continue
        port: int | str = b.get("port", 0)
        if kind != "rtu":
            port = int(port)
        buses.append(
            SimBus(
                id=str(b["id"]),
                kind=kind,
                host=str(b.get("host", "127.0.0.1")),
                port=port,
                baudrate=int(b.get("baudrate", 9600)),
                emulate_timing=bool(b.get("emulate_timing", False)),
                turnaround_s=float(b.get("turnaround_s", 0.0)),
            )
        )
    devices = []
    for i, d in enumerate(data.get("devices") or [], 1):
        if isinstance(d, Mapping) and str(d.get("bus")) in framed:
            continue
        if not isinstance(d, Mapping) or not {"id", "profile", "bus", "unit"} <= set(d):
            raise SpecError(f"devices entry {i}: needs id, profile, bus and unit")
        prof = profiles.get(str(d["profile"]))
        if prof is None:
            raise SpecError(
                f"device {d['id']!r}: profile {d['profile']!r} is not known; profiles: "
                f"{', '.join(sorted(profiles))}"
            )
        devices.append(
            SimDevice(
                id=str(d["id"]),
                profile=prof,
                bus=str(d["bus"]),
                unit=int(d["unit"]),
                kind=str(d.get("kind", "")),
                ratings={str(k): float(v) for k, v in (d.get("ratings") or {}).items()},
                floor=d.get("floor"),
                room=None if d.get("room") is None else str(d.get("room")),
                strict_addresses=bool(d.get("strict_addresses", False)),
                undefined=tuple(str(k) for k in d.get("undefined") or ()),
            )
        )
    return SimSpec(buses=buses, devices=devices, seed=int(data.get("seed", 0)))


def load_spec(path: Path | str, profiles: Mapping[str, Profile] | None = None) -> SimSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a mapping with buses: and devices:")
    try:
        return spec_from_dict(data, profiles, base=path.parent)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from exc


__all__: Sequence[str] = (
    "BUS_KINDS",
    "BusKind",
    "SimBus",
    "SimDevice",
    "SimSpec",
    "SpecError",
    "load_spec",
    "spec_from_dict",
)
