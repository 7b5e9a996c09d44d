"""What the rules take in. The gateway builds these from driver poll results; rules never see
drivers' types (``rules/`` imports nothing from ``drivers/`` or ``gateway/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Value = float | int | bool | str

CHANNEL_SEP = "@"


def split_key(key: str) -> tuple[str, str]:
    """``residual_current_ma@3`` → (``residual_current_ma``, ``3``); ``power_w`` → (``power_w``,
    ``""``): the one place a point key is taken apart (drivers build keys with
    ``drivers.model.point_key``, the same convention)."""
    name, sep, channel = key.rpartition(CHANNEL_SEP)
    return (name, channel) if sep else (key, "")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the rules see it: what it is, where it is, what it is rated for."""

    id: str
    kind: str  # profile kind: room_meter, breaker, residual_monitor, fire_detector, fire_panel,
    #            door_monitor, exit_sensor, ...
    family: str
    profile: str
    site: str = ""
    campus: str = ""
    building: str = ""
    floor: int | None = None
    room: str | None = None
    location: str = ""
    name: str = ""
    ratings: Mapping[str, float] = field(default_factory=dict)
    maintenance: bool = False
    points: tuple[str, ...] = ()  # the profile's point keys; empty: the kind's usual keys
    open_channels: bool = False
    """The device reports its channels as they come (a fire panel over GB/T 26875.3 names each
    component in its first status frame): keys of a known point name with a new channel start
    their own alarm channel when first seen, instead of only the keys listed in ``points``."""


@dataclass(slots=True)
class Snapshot:
    """One poll of one device at time ``ts`` (seconds since the epoch, from the poller).

    ``ok`` is False when nothing could be read (the device is silent or backing off): a failed
    read is a snapshot too, so rules can see silence. ``values`` holds what was read, by point
    key; ``failed`` names points whose request failed in an otherwise good poll. ``bad`` names
    points that answered with something that is not a reading (a sentinel code, a value outside
    the sensor's range), with the raw value in words: they are never in ``values``. ``stuck``
    names points frozen for longer than they should be (their value is still in ``values``).
    """

    device: str
    ts: float
    ok: bool
    values: Mapping[str, Value]
    failed: Sequence[str] = ()
    poll_class: str = ""
    bad: Mapping[str, str] = field(default_factory=dict)
    stuck: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    """Channel → place the device names for it (a component's description); it becomes the
    location of that channel's alarms and is remembered until the device names it again."""
    error: str | None = None
    """What went wrong with the poll, in words (what the device or its gateway answered)."""
    error_kind: str | None = None
    """How it went wrong: ``timeout`` and ``connection`` are silence; ``exception`` (the device
    refuses or failed), ``busy``, ``unreachable`` (a serial gateway cannot reach it),
    ``bad_reply``, ``decode`` mean something answered."""
    error_code: int | None = None
    """The Modbus exception code the device (or its gateway) answered, if any."""
