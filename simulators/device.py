"""Device models: engineering values by point key, turned into register words with the same
codecs the gateway decodes with.

A model holds three layers: *life* (what a healthy device in an occupied dormitory shows, drawn
from the device's own random stream), *state* (what the device itself remembers: energy and arc
counters, latched alarms, a breaker's position, settings written over Modbus) and *overrides*
(values a scenario or a test set; they win over life until cleared). Registers are recomputed
lazily when a read arrives and the last refresh is older than ``refresh_s``, never on a timer, so
a thousand idle devices cost nothing.

Pseudo-points (not registers) accepted by ``set``:

- ``clear``: a key, a list of keys, or ``all``: drop overrides so life shows again;
- ``load`` / ``unload`` (room meters and breakers): plug in or unplug appliances, see
  ``simulators/appliances.py``;
- ``trace`` (room meters and breakers): play a recorded CSV (``drivers/trace.py``) as the
  room's own load from now on, in place of the simulated base load (appliances still add);
  ``trace: none`` stops it; the recording ends by itself after its last row;
- ``arcs`` (devices with ``arc_count``): add that many arcing half-cycles at once; 14 or more
  latch ``arc_alarm`` (GB 14287.4), 9 or fewer never do (GB 31252 4.3.4);
- ``raw`` (every device): ``{KEY: CODE}`` puts a raw register code in a point, as a sensor
  that is not a reading does (0xFFFF of a disconnected probe, 0xE5E5 vendor fill); ``clear``
  of the key ends it;
- ``cut`` (dorm controllers): the controller cuts its socket by itself and records why
  (``cut: malicious_load``); ``cut: none`` restores the socket;
- ``reset`` (fire panels, a point): setting it true resets the panel: its fire bits drop and
  the reset bit stays up for ``RESET_HOLD_S`` so a poller sees it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from drivers.codecs import bytes_to_words, decode, encode, encode_raw
from drivers.model import DataType, Table, Value
from drivers.profiles import Point
from drivers.trace import Trace, TraceError, read_trace
from simulators.appliances import Appliance, parse_load, parse_unload
from simulators.spec import SimDevice

Clock = Callable[[], float]
U32 = 1 << 32
ARC_ALARM_HALF_CYCLES = 14  # GB 14287.4: 14 or more arcing half-cycles within 1 s must alarm
COUNTERS = frozenset({"energy_kwh", "arc_count"})


def local_hour() -> float:
    t = time.localtime()
    return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600


def _bump(h: float, centre: float, width: float) -> float:
    d = min(abs(h - centre), 24 - abs(h - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def daily_base_w(hour: float) -> float:
    """A dorm room's base load over the day: low at night, a morning bump, an evening peak."""
    return (
        35.0
        + 90.0 * _bump(hour, 7.5, 0.7)
        + 40.0 * _bump(hour, 13.0, 1.0)
        + 220.0 * _bump(hour, 21.0, 1.8)
    )


class DeviceModel:
    """Any profile: registers from values; subclasses add the behaviour of a device kind."""

    refresh_s: ClassVar[float] = 0.5
    PSEUDO: ClassVar[frozenset[str]] = frozenset({"clear", "raw"})
    # Keys whose ``set`` changes what the device itself remembers instead of masking life.
    STATE_KEYS: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        spec: SimDevice,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
        hour_of_day: Callable[[], float] = local_hour,
    ) -> None:
        self.spec = spec
        self.id = spec.id
        self.profile = spec.profile
        self.points: dict[str, Point] = dict(spec.profile.by_key)
        self.strict = spec.strict_addresses or bool(spec.undefined)
        self.rng = rng or random.Random(spec.id)
        self.clock = clock
        self.hour_of_day = hour_of_day
        self.overrides: dict[str, Value] = {}
        self.raw: dict[str, int] = {}  # raw register codes that win over any value
        self.state: dict[str, Value] = {}
        self.life: dict[str, Value] = {}
        self._values: dict[str, Value] = {}
        self._words: dict[Table, dict[int, int]] = {t: {} for t in Table}
        self.defined: dict[Table, frozenset[int]] = self._defined_addresses()
        # An FC 0x03 read of a device that has only input registers (the DDSU666) is answered
        # from the input table, as such meters do.
        self.holding_alias_input = (
            not self.defined[Table.HOLDING] and bool(self.defined[Table.INPUT])
        )
        self._last = clock()
        self._stamp = -math.inf
        self._dirty = True
        for key, pt in self.points.items():
            self.life[key] = _neutral(pt)
        self.init_life()

    # ------------------------------------------------------------------ behaviour hooks
    def init_life(self) -> None:
        """Set the device's starting life values and state (subclasses)."""
        for key, pt in self.points.items():
            default = NAME_DEFAULTS.get(pt.name)
            if default is not None:
                self.life[key] = default(self.rng)

    def step(self, now: float, dt: float) -> None:
        """Advance life by ``dt`` seconds (subclasses)."""

    def derive(self, values: dict[str, Value]) -> None:
        """Make dependent values consistent after overrides were applied (subclasses)."""

    def on_write(self, key: str, value: Value) -> None:
        """A master wrote ``value`` to point ``key``: by default the device keeps it."""
        self.state[key] = value
        self.overrides.pop(key, None)

    def apply_pseudo(self, key: str, value: Any) -> None:
        if key == "raw":
            self.raw.update({k: int(v) for k, v in value.items()})
        elif key == "clear":
            if value == "all":
                self.overrides.clear()
                self.raw.clear()
                return
            for k in [value] if isinstance(value, str) else list(value):
                self.overrides.pop(k, None)
                self.raw.pop(k, None)

    # ------------------------------------------------------------------ public API
    @property
    def unit(self) -> int:
        return self.spec.unit

    def set(self, values: Mapping[str, Any]) -> None:
        """Set points (engineering values by key) or pseudo-points; raises ValueError on a
        key or value the device cannot take, before changing anything."""
        checked = {k: self.check(k, v) for k, v in values.items()}
        for key, value in checked.items():
            if key in self.PSEUDO:
                self.apply_pseudo(key, value)
            elif self.points[key].name in self.STATE_KEYS or key in self.STATE_KEYS:
                self.set_state(key, value)
            else:
                self.overrides[key] = value
        self._dirty = True

    def set_state(self, key: str, value: Value) -> None:
        self.state[key] = value
        self.overrides.pop(key, None)

    def clear(self, *keys: str) -> None:
        """Drop overrides (all when no key is given) so life shows again."""
        if not keys:
            self.overrides.clear()
            self.raw.clear()
        for k in keys:
            self.overrides.pop(k, None)
            self.raw.pop(k, None)
        self._dirty = True

    def values(self) -> dict[str, Value]:
        """The engineering values the registers hold now."""
        self._refresh()
        return dict(self._values)

    def check(self, key: str, value: Any) -> Any:
        """``value`` normalised for ``key``, or ValueError saying what is wrong."""
        if key in self.PSEUDO:
            self.check_pseudo(key, value)
            return value
        pt = self.points.get(key)
        if pt is None:
            names = ", ".join(sorted(self.points)[:12])
            more = "" if len(self.points) <= 12 else f" … ({len(self.points)} in all)"
            pseudo = ", ".join(sorted(self.PSEUDO))
            raise ValueError(
                f"device {self.id!r} (profile {self.profile.profile}) has no point {key!r}; "
                f"its points are {names}{more}; pseudo-points: {pseudo}"
            )
        return check_value(pt, value)

    def check_pseudo(self, key: str, value: Any) -> None:
        if key == "raw":
            if not isinstance(value, Mapping):
                raise ValueError("raw takes {point key: raw code}, e.g. {temperature_c@1: 0xFFFF}")
            for k, v in value.items():
                pt = self.points.get(k)
                if pt is None or pt.table.is_bit or pt.type in (DataType.BIT, DataType.STRING):
                    raise ValueError(f"raw: device {self.id!r} has no numeric register point "
                                     f"{k!r}")
                top = (1 << (16 * pt.words)) - 1
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
                    raise ValueError(f"raw: {k}: a raw code is a whole number 0 to {top:#x}, "
                                     f"not {v!r}")
            return
        if key == "clear" and value != "all":
            keys = [value] if isinstance(value, str) else value
            if not isinstance(keys, list):
                raise ValueError("clear takes a point key, a list of keys or 'all'")
            for k in keys:
                if k not in self.points:
                    raise ValueError(f"clear: device {self.id!r} has no point {k!r}")

    # ------------------------------------------------------------------ Modbus side
    def read(self, table: Table, address: int, count: int) -> list[int] | None:
        """Words (or bits as 0/1) of ``table`` from ``address``; None means exception 2."""
        if table is Table.HOLDING and self.holding_alias_input:
            table = Table.INPUT
        if self.strict:
            defined = self.defined[table]
            if any(a not in defined for a in range(address, address + count)):
                return None
        elif address + count > 0x10000:
            return None
        self._refresh()
        words = self._words[table]
        return [words.get(a, 0) for a in range(address, address + count)]

    def write(self, table: Table, address: int, values: list[int]) -> bool:
        """Store words or bits written by a master; False means exception 2."""
        end = address + len(values)
        if self.strict and any(a not in self.defined[table] for a in range(address, end)):
            return False
        self._refresh()
        words = self._words[table]
        for i, v in enumerate(values):
            words[address + i] = int(v)
        for key, pt in self.points.items():
            if pt.table is table and address <= pt.address and pt.end <= end:
                try:
                    value = _decode_point(pt, [words.get(a, 0) for a in range(pt.address, pt.end)])
                except ValueError:
                    continue
                self.on_write(key, value)
        self._dirty = True
        return True

    # ------------------------------------------------------------------ internals
    def _defined_addresses(self) -> dict[Table, frozenset[int]]:
        out: dict[Table, set[int]] = {t: set() for t in Table}
        for pt in self.points.values():
            if pt.key not in self.spec.undefined:
                out[pt.table].update(range(pt.address, pt.end))
        return {t: frozenset(a) for t, a in out.items()}

    def _refresh(self, force: bool = False) -> None:
        now = self.clock()
        if not (force or self._dirty or now - self._stamp >= self.refresh_s):
            return
        dt = max(0.0, now - self._last)
        self._last = now
        self.step(now, dt)
        merged: dict[str, Value] = {**self.life, **self.state, **self.overrides}
        self.derive(merged)
        self._values = merged
        self._encode(merged)
        self._stamp = now
        self._dirty = False

    def _encode(self, values: Mapping[str, Value]) -> None:
        tables: dict[Table, dict[int, int]] = {t: {} for t in Table}
        for key, pt in self.points.items():
            words = tables[pt.table]
            value = values.get(key, _neutral(pt))
            if pt.table.is_bit:
                words[pt.address] = 1 if value else 0
                continue
            code = self.raw.get(key)
            try:
                enc = (bytes_to_words(code.to_bytes(2 * pt.words, "big"), pt.order)
                       if code is not None else _encode_point(pt, value))
            except (ValueError, OverflowError, TypeError):
                enc = [0] * pt.words
            if pt.type is DataType.BIT:
                assert pt.bit is not None
                field = ((1 << pt.width) - 1) << pt.bit
                words[pt.address] = (words.get(pt.address, 0) & ~field) | (enc[0] & field)
            elif pt.mask is not None:
                old = words.get(pt.address, 0)
                words[pt.address] = (old & ~pt.mask) | (enc[0] & pt.mask)
            else:
                for i, w in enumerate(enc):
                    words[pt.address + i] = w
        self._words = tables


def _neutral(pt: Point) -> Value:
    if pt.enum is not None:
        return next(iter(pt.enum.values()))
    if pt.type is DataType.BIT and pt.width == 1:
        return False
    if pt.type is DataType.STRING:
        return ""
    return 0


def _encode_point(pt: Point, value: Value) -> list[int]:
    if pt.name in COUNTERS and pt.type is DataType.U32 and not isinstance(value, str | bool):
        raw = round((float(value) - pt.offset) / pt.scale) % U32
        return encode_raw(pt, raw)
    return encode(pt, value)


def _decode_point(pt: Point, words: list[int]) -> Value:
    if pt.table.is_bit:
        return bool(words[0])
    return decode(pt, words)


def check_value(pt: Point, value: Any) -> Value:
    """Normalise a value for a point, or raise ValueError saying what the point accepts."""
    if pt.enum is not None:
        allowed = list(pt.enum.values())
        if value in allowed and type(value) is type(allowed[allowed.index(value)]):
            return value  # type: ignore[no-any-return,unused-ignore]
        if isinstance(value, int) and not isinstance(value, bool) and value in pt.enum:
            return pt.enum[value]
        raise ValueError(
            f"{pt.key}: {value!r} is not one of {', '.join(repr(v) for v in allowed)}"
        )
    if pt.table.is_bit or (pt.type is DataType.BIT and pt.width == 1):
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        raise ValueError(f"{pt.key}: expected true or false, not {value!r}")
    if pt.type is DataType.STRING:
        if not isinstance(value, str):
            raise ValueError(f"{pt.key}: expected text, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{pt.key}: expected a number, not {value!r}")
    if pt.type in (DataType.F32, DataType.F64):
        return float(value)
    raw = (float(value) - pt.offset) / pt.scale
    lo, hi = _RAW_RANGE.get(pt.type, (0, (1 << pt.width) - 1))
    if pt.name in COUNTERS and pt.type is DataType.U32:
        hi = 1 << 62  # counters wrap in the device (modulo 2**32)
    if not lo <= round(raw) <= hi:
        vlo, vhi = sorted((lo * pt.scale + pt.offset, hi * pt.scale + pt.offset))
        raise ValueError(
            f"{pt.key}: {value!r} is outside what the register holds ({vlo:g} to {vhi:g}"
            f"{' ' + pt.unit if pt.unit else ''})"
        )
    return value


_RAW_RANGE: dict[DataType, tuple[int, int]] = {
    DataType.U16: (0, 0xFFFF),
    DataType.I16: (-0x8000, 0x7FFF),
    DataType.U32: (0, 0xFFFFFFFF),
    DataType.I32: (-0x80000000, 0x7FFFFFFF),
}


def _around(centre: float, spread: float) -> Callable[[random.Random], Value]:
    return lambda rng: round(rng.uniform(centre - spread, centre + spread), 2)


NAME_DEFAULTS: dict[str, Callable[[random.Random], Value]] = {
    "voltage_v": _around(230.0, 2.0),
    "frequency_hz": _around(50.0, 0.02),
    "temperature_c": _around(29.0, 2.0),
    "power_factor": lambda rng: 1.0,
    "running": lambda rng: True,
    "residual_setting_ma": lambda rng: 300,
    "temperature_setting_c": lambda rng: 70,
    "trip_time_s": lambda rng: 5,
}


class Electrical(DeviceModel):
    """Shared by room meters and breakers: a base load over the day, appliances, and P, Q, I,
    PF and S kept consistent (I = S / V, PF = P / S) whatever was overridden."""

    PSEUDO = DeviceModel.PSEUDO | {"load", "unload", "trace"}
    STATE_KEYS = frozenset({"energy_kwh"})
    BASE_PF = 0.9

    def init_life(self) -> None:
        super().init_life()
        self.appliances: list[Appliance] = []
        self.trace: tuple[Trace, float] | None = None  # (recording, clock at its first row)
        self._scale = self.rng.uniform(0.6, 1.4)
        self._v0 = self.rng.uniform(226.0, 234.0)
        self._last_p = 0.0
        if "energy_kwh" in self.points:
            self.state["energy_kwh"] = round(self.rng.uniform(100.0, 3000.0), 3)

    def check_pseudo(self, key: str, value: Any) -> None:
        if key == "load":
            parse_load(value, 0.0)
        elif key == "unload":
            parse_unload(value)
        elif key == "trace":
            load_trace(value)
        else:
            super().check_pseudo(key, value)

    def apply_pseudo(self, key: str, value: Any) -> None:
        if key == "load":
            new = parse_load(value, self.clock())
            names = {a.name for a in new}
            self.appliances = [a for a in self.appliances if a.name not in names] + new
        elif key == "unload":
            gone = parse_unload(value)
            self.appliances = (
                [] if gone is None else [a for a in self.appliances if a.name not in gone]
            )
        elif key == "trace":
            tr = load_trace(value)
            self.trace = None if tr is None else (tr, self.clock())
        else:
            super().apply_pseudo(key, value)

    def energised(self, values: Mapping[str, Value]) -> bool:
        return True

    def step(self, now: float, dt: float) -> None:
        rng = self.rng
        if "energy_kwh" in self.points and dt > 0:
            e = float(self.state.get("energy_kwh", 0.0)) + self._last_p * dt / 3.6e6
            self.state["energy_kwh"] = e
        v = mains_v(self._v0, now) + rng.gauss(0.0, 0.6)
        recorded = self._trace_row(now)
        if recorded is not None:
            p, q = recorded.get("power_w", 0.0), trace_var(recorded)
            v = recorded.get("voltage_v", v)
        else:
            base = daily_base_w(self.hour_of_day()) * self._scale * rng.uniform(0.96, 1.04)
            p = base
            q = base * math.tan(math.acos(self.BASE_PF))
        for a in self.appliances:
            ap, aq = a.pq(now, v)
            p += ap
            q += aq
        self.life["power_w"] = p
        self.life["reactive_power_var"] = q
        self.life["voltage_v"] = v
        self.life["frequency_hz"] = 50.0 + rng.gauss(0.0, 0.01)

    def _trace_row(self, now: float) -> dict[str, float] | None:
        """The recorded row for ``now`` while a trace plays; None before or after it."""
        if self.trace is None:
            return None
        tr, t0 = self.trace
        if now - t0 > tr.duration_s + 1.0:
            self.trace = None  # the recording is over: the simulated room takes over again
            return None
        i = tr.index_at(now - t0)
        return tr.row(max(i, 0))

    def derive(self, values: dict[str, Value]) -> None:
        o = self.overrides
        if not self.energised(values):
            for k in ("power_w", "reactive_power_var", "current_a", "apparent_power_va"):
                if k not in o:
                    values[k] = 0.0
        elif "power_w" in o and "reactive_power_var" not in o:
            values["reactive_power_var"] = 0.0  # a set power alone is taken as resistive
        p = float(values.get("power_w", 0.0))
        q = float(values.get("reactive_power_var", 0.0))
        v = float(values.get("voltage_v", 230.0)) or 230.0
        s = math.hypot(p, q)
        if "apparent_power_va" not in o:
            values["apparent_power_va"] = s
        if "current_a" not in o:
            values["current_a"] = s / v
        if "power_factor" not in o:
            values["power_factor"] = p / s if s > 0 else 1.0
        self._last_p = p
        for k in ("apparent_power_va",):
            if k not in self.points:
                values.pop(k, None)


def mains_v(v0: float, now: float) -> float:
    """Mains voltage without the fast noise: slow swings of a few volts as the feeder's load
    changes (GB/T 12325 allows +7 %/-10 % at 220 V; a dormitory feeder wanders 1-2 %)."""
    return v0 + 2.5 * math.sin(now / 2400.0) + 1.2 * math.sin(now / 420.0 + 1.0)


def trace_var(row: Mapping[str, float]) -> float:
    """Non-active power of a recorded row: its reactive power, else from its power factor."""
    if "reactive_power_var" in row:
        return row["reactive_power_var"]
    p, pf = row.get("power_w", 0.0), abs(row.get("power_factor", 1.0))
    return abs(p) * math.sqrt(max(1.0 / (pf * pf) - 1.0, 0.0)) if 0 < pf < 1 else 0.0


def load_trace(value: Any) -> Trace | None:
    """The ``trace`` pseudo-point: a CSV path (``none`` stops a trace); ValueError naming the
    file and the line of the first bad row."""
    if value is None or value == "none":
        return None
    if not isinstance(value, str):
        raise ValueError(f"trace takes the path of a CSV recording or 'none', not {value!r}")
    try:
        return read_trace(value)
    except TraceError as exc:
        raise ValueError(str(exc)) from None


class RoomMeter(Electrical):
    """A room meter; a dorm controller's (``socket_on`` coil) relay de-energises the room and
    remembers why it was cut (``socket_cut_reason``: ``remote`` for a write over Modbus; the
    controller's own verdict for ``cut: REASON``)."""

    PSEUDO = Electrical.PSEUDO | {"cut"}

    def check_pseudo(self, key: str, value: Any) -> None:
        if key == "cut":
            pt = self.points.get("socket_cut_reason")
            if pt is None or "socket_on" not in self.points:
                raise ValueError(f"cut: device {self.id!r} has no socket relay of its own")
            check_value(pt, value)
        else:
            super().check_pseudo(key, value)

    def apply_pseudo(self, key: str, value: Any) -> None:
        if key == "cut":
            reason = check_value(self.points["socket_cut_reason"], value)
            self.set_state("socket_on", reason == "none")
            self.set_state("socket_cut_reason", reason)
        else:
            super().apply_pseudo(key, value)

    def init_life(self) -> None:
        super().init_life()
        if "socket_on" in self.points:
            self.state["socket_on"] = True

    def energised(self, values: Mapping[str, Value]) -> bool:
        return bool(values.get("socket_on", True))

    def on_write(self, key: str, value: Value) -> None:
        super().on_write(key, value)
        if key == "socket_on" and "socket_cut_reason" in self.points:
            self.set_state("socket_cut_reason", "none" if value else "remote")


class Breaker(Electrical):
    """A smart breaker: closed with a small leakage; coil 1 opens and closes it remotely
    (trip reason ``remote``), coil 2 locks it; it does not trip by itself: a scenario sets
    ``breaker_closed: false`` and ``trip_reason`` for that."""

    STATE_KEYS = frozenset({"breaker_closed", "locked", "trip_reason", "energy_kwh"})

    def init_life(self) -> None:
        super().init_life()
        self.state.update({"breaker_closed": True, "locked": False, "trip_reason": "none"})
        rated = self.spec.ratings.get("rated_current_a", 32.0)
        self.life.update(
            {
                "over_voltage_setting_v": 275,
                "under_voltage_setting_v": 170,
                "over_current_setting_a": rated,
                "residual_setting_ma": 30,
            }
        )
        self._leak0 = self.rng.uniform(3.0, 12.0)
        self._t0 = self.rng.uniform(26.0, 31.0)

    def energised(self, values: Mapping[str, Value]) -> bool:
        return bool(values.get("breaker_closed", True))

    def on_write(self, key: str, value: Value) -> None:
        if key == "remote_closed":
            if value and self.state.get("locked"):
                return
            self.set_state("breaker_closed", bool(value))
            self.set_state("trip_reason", "none" if value else "remote")
        elif key == "remote_locked":
            self.set_state("locked", bool(value))
        else:
            super().on_write(key, value)

    def step(self, now: float, dt: float) -> None:
        super().step(now, dt)
        self.life["residual_current_ma"] = max(0.0, self._leak0 + self.rng.gauss(0.0, 0.8))
        for ch in ("1", "2"):
            self.life[f"temperature_c@{ch}"] = self._t0 + self.rng.gauss(0.0, 0.3)

    def derive(self, values: dict[str, Value]) -> None:
        super().derive(values)
        closed = bool(values.get("breaker_closed", True))
        if not closed and "residual_current_ma" not in self.overrides:
            values["residual_current_ma"] = 0
        if "remote_closed" not in self.overrides:
            values["remote_closed"] = closed
        if "remote_locked" not in self.overrides:
            values["remote_locked"] = bool(values.get("locked", False))


class ResidualMonitor(DeviceModel):
    """A multi-loop residual current monitor: natural leakage 10-60 mA per loop with noise."""

    STATE_KEYS = frozenset({"residual_setting_ma", "trip_time_s"})

    def init_life(self) -> None:
        super().init_life()
        self._leak = {
            k: self.rng.uniform(10.0, 60.0)
            for k, p in self.points.items()
            if p.name == "residual_current_ma"
        }

    def step(self, now: float, dt: float) -> None:
        for k, base in self._leak.items():
            self.life[k] = min(60.0, max(10.0, base + self.rng.gauss(0.0, 1.5)))


class FireDetector(DeviceModel):
    """A combined electrical fire detector. Alarms latch until reset (``set`` the alarm false),
    as GB 14287 detectors do: residual over its setting, a temperature over its setting, or an
    arc burst of 14 or more half-cycles. While ``arc_alarm`` is set true by a scenario the arc
    counter grows by ``arc_rate`` half-cycles a second."""

    PSEUDO = DeviceModel.PSEUDO | {"arcs"}
    STATE_KEYS = frozenset(
        {"arc_count", "residual_alarm", "temperature_alarm", "arc_alarm", "fault",
         "residual_setting_ma", "temperature_setting_c"}
    )
    arc_rate: float = 20.0

    def init_life(self) -> None:
        super().init_life()
        self._leak = self.rng.uniform(10.0, 60.0)
        self._amb = self.rng.uniform(27.0, 32.0)
        self._arc_frac = 0.0
        self._arcing = False
        for k in ("residual_alarm", "temperature_alarm", "arc_alarm", "fault"):
            if k in self.points:
                self.state[k] = False
        if "arc_count" in self.points:
            self.state["arc_count"] = 0

    def check_pseudo(self, key: str, value: Any) -> None:
        if key == "arcs":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"arcs must be a whole number of half-cycles >= 0, not {value!r}")
        else:
            super().check_pseudo(key, value)

    def apply_pseudo(self, key: str, value: Any) -> None:
        if key == "arcs":
            self._add_arcs(int(value))
            if value >= ARC_ALARM_HALF_CYCLES:
                self.state["arc_alarm"] = True
        else:
            super().apply_pseudo(key, value)

    def set_state(self, key: str, value: Value) -> None:
        super().set_state(key, value)
        if key == "arc_alarm":
            self._arcing = bool(value)
        if key == "arc_count":
            self.state[key] = int(value) % U32

    def _add_arcs(self, n: int) -> None:
        if "arc_count" in self.points:
            self.state["arc_count"] = (int(self.state.get("arc_count", 0)) + n) % U32

    def step(self, now: float, dt: float) -> None:
        rng = self.rng
        self.life["residual_current_ma"] = max(0.0, self._leak + rng.gauss(0.0, 1.5))
        for k, p in self.points.items():
            if p.name == "temperature_c":
                self.life[k] = self._amb + rng.gauss(0.0, 0.2)
        if self._arcing and dt > 0:
            self._arc_frac += self.arc_rate * dt
            whole = int(self._arc_frac)
            self._arc_frac -= whole
            self._add_arcs(whole)

    def derive(self, values: dict[str, Value]) -> None:
        setting = float(values.get("residual_setting_ma", 300))
        if float(values.get("residual_current_ma", 0)) > setting:
            self.state["residual_alarm"] = values["residual_alarm"] = True
        t_set = float(values.get("temperature_setting_c", 70))
        if any(
            float(values.get(k, 0)) > t_set
            for k, p in self.points.items()
            if p.name == "temperature_c"
        ):
            self.state["temperature_alarm"] = values["temperature_alarm"] = True


class DoorMonitor(DeviceModel):
    """Fire doors: closed, no fault. Opening a door (``door_open@N: true``) clears its closed
    contact unless the scenario sets that too (a door that is neither is moving or broken)."""

    def init_life(self) -> None:
        super().init_life()
        for k, p in self.points.items():
            if p.name == "door_closed":
                self.life[k] = True

    def derive(self, values: dict[str, Value]) -> None:
        for k, p in self.points.items():
            if p.name == "door_closed" and k not in self.overrides:
                open_key = f"door_open@{p.channel}" if p.channel else "door_open"
                values[k] = not bool(values.get(open_key, False))


class ExitSensor(DeviceModel):
    """Exits clear, sensors healthy, a little corridor occupancy."""

    def step(self, now: float, dt: float) -> None:
        if "occupancy_pct" in self.points:
            h = self.hour_of_day()
            busy = 5 + 25 * _bump(h, 7.7, 0.4) + 15 * _bump(h, 21.5, 1.0)
            self.life["occupancy_pct"] = max(0, round(busy + self.rng.gauss(0, 2)))


RESET_HOLD_S = 3.0
"""How long a simulated panel shows its reset bit: longer than a fast poll, as real panels
hold the reset status for a few seconds."""


class FirePanel(DeviceModel):
    """Running, no alarm, no fault (life defaults already say so). ``running: false`` is test
    mode (GB/T 26875.3 bit 0). ``reset: true`` resets the panel: every fire bit set by a
    scenario drops, and the reset bit shows for ``RESET_HOLD_S``."""

    STATE_KEYS = frozenset({"reset"})

    def init_life(self) -> None:
        super().init_life()
        self._reset_at: float | None = None

    def set_state(self, key: str, value: Value) -> None:
        super().set_state(key, value)
        if key == "reset" and value:
            for k in [k for k in self.overrides if k.partition("@")[0] == "fire_alarm"]:
                del self.overrides[k]
            self._reset_at = self.clock()

    def step(self, now: float, dt: float) -> None:
        if self._reset_at is not None and now - self._reset_at >= RESET_HOLD_S:
            self.state["reset"] = False
            self._reset_at = None


KINDS: dict[str, type[DeviceModel]] = {
    "room_meter": RoomMeter,
    "breaker": Breaker,
    "residual_monitor": ResidualMonitor,
    "fire_detector": FireDetector,
    "fire_panel": FirePanel,
    "door_monitor": DoorMonitor,
    "exit_sensor": ExitSensor,
}


def make_model(
    spec: SimDevice,
    rng: random.Random | None = None,
    clock: Clock = time.monotonic,
    hour_of_day: Callable[[], float] = local_hour,
) -> DeviceModel:
    """The model for a device's kind; an unknown kind gets the plain model (neutral values)."""
    cls = KINDS.get(spec.kind, DeviceModel)
    return cls(spec, rng=rng, clock=clock, hour_of_day=hour_of_day)


def pseudo_points(kind: str) -> Iterable[str]:
    return sorted(KINDS.get(kind, DeviceModel).PSEUDO)
