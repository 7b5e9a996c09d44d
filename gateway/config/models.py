"""The gateway's configuration: YAML validated by pydantic, with errors a site electrician can act
on (file, line, field path, what is wrong).

Secrets are written as ``${ENV_VAR}`` and substituted from the environment at load time, so the
file can be shared and committed without them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    import yaml

from drivers.profiles import Profile, ProfileError, load_profiles, scan_profiles
from gateway.actions.config import ActionsConfig, DeviceAction
from gateway.config.base import LocatedError, Strict
from gateway.config.netaddr import is_loopback
from gateway.config.places import PlacesError, load_point_map
from gateway.notify.config import NotifyConfig
from gateway.outputs.config import MqttConfig, OutputsConfig
from rules.kinds import KINDS, check_profile
from rules.settings import RulesSettings

LabelKind = Literal["zone", "door", "exit", "loop", "sensor"]
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


class GatewayIdentity(Strict):
    id: Ident
    site: Ident
    campus: Ident
    building: Ident
    name: str = ""
    campus_name: str = Field(default="", max_length=16,
                             description="the campus as people say it (北校区); pages, screens")
    building_name: str = Field(default="", max_length=16,
                               description="the building as people say it (3号宿舍楼)")
    data_dir: Path = Path("data")
    store_budget_mb: float = Field(default=256, gt=0)


class PollClass(Strict):
    period_s: float = Field(gt=0, le=3600)
    priority: int = Field(default=5, ge=0, le=9, description="0 is served first on a shared line")


FIRE_PERIOD_S = 0.25
"""The ``fire`` class: a panel's alarm bits. A fire alarm must reach the monitoring centre
within 10 s (GB/T 26875.3, ../shared/domain.md); polling them every 0.25 s keeps the panel bit →
``events`` time under 400 ms on a TCP link, so most of the 10 s is left for the paths beyond the
gateway (SMS, the centre). On an RS-485 line the class is bounded by what the line can carry:
``firegate check --plan`` says when a line cannot hold its classes."""


def default_poll_classes() -> dict[str, PollClass]:
    return {
        "fire": PollClass(period_s=FIRE_PERIOD_S, priority=0),
        "fast": PollClass(period_s=1, priority=0),
        "normal": PollClass(period_s=5, priority=1),
        "slow": PollClass(period_s=60, priority=2),
    }


class Backoff(Strict):
    initial_s: float = Field(default=2.0, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    factor: float = Field(default=2.0, ge=1)


class BusBase(Strict):
    id: Ident
    timeout_s: float = Field(default=0.5, gt=0, le=30)
    retries: int = Field(default=0, ge=0, le=5)
    pause_s: float = Field(default=0.0, ge=0, le=5, description="pause between requests")


class TcpBus(BusBase):
    """Modbus TCP to a device or a gateway; devices behind it are told apart by unit id."""

    type: Literal["tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    max_concurrency: int = Field(default=1, ge=1, le=16, description="connections in parallel")


class RtuOverTcpBus(BusBase):
    """A serial device server (transparent mode): RTU frames carried over a TCP connection."""

    type: Literal["rtu_over_tcp"]
    host: str
    port: int = Field(ge=1, le=65535)
    baudrate: int = Field(default=9600, ge=1200, le=115200, description="of the serial side")


class RtuBus(BusBase):
    """Modbus RTU on an RS-485 serial port: one request in flight on the line."""

    type: Literal["rtu"]
    port: str
    baudrate: int = Field(default=9600, ge=1200, le=115200)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    # Some USB/RS-485 adapters (2-wire, no echo suppression) hand back every byte they sent:
    # without this each reply starts with our own request and every read times out.
    local_echo: bool = False


class Gbt26875Bus(Strict):
    """Fire panels behind user information transmission devices that speak GB/T 26875.3: the
    gateway listens as the monitoring centre, and the devices dial in. With ``relay_to`` it
    forwards every byte unchanged to the real monitoring centre (and its answers back), reading
    along, so the building keeps its link to the 119 centre."""

    type: Literal["gbt26875"]
    id: Ident
    host: str = "0.0.0.0"
    port: int = Field(default=9001, ge=1, le=65535)
    address: str = Field(default="000000000000", pattern=r"^[0-9A-Fa-f]{12}$",
                         description="this centre's address, 12 hex digits, MSB first")
    silent_s: float = Field(default=120.0, gt=0, le=3600,
                            description="no frame or heartbeat for this long: the device counts "
                            "as silent, one failed poll a second, so comm_loss raises after "
                            "silent_s + comm_loss.polls seconds")
    relay_to: str | None = Field(default=None, pattern=r"^[^:\s]+:[0-9]{1,5}$",
                                 description="host:port of the real monitoring centre")
    max_connections: int = Field(default=64, ge=1, le=1024)
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="relay connect timeout")
    allow_from: list[str] = Field(default_factory=list, description=(
        "addresses or networks (CIDR) a transmission device may connect from; empty: any. "
        "A source address in a frame is no authentication: list the devices' IPs"))

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"allow_from {net!r} is not an address or a network "
                                 "(10.20.3.7, 10.20.3.0/24)") from exc
        return v

    @field_validator("relay_to")
    @classmethod
    def _relay_port(cls, v: str | None) -> str | None:
        if v is not None and not 1 <= int(v.rpartition(":")[2]) <= 65535:
            raise ValueError(f"relay_to {v!r}: the port must be 1-65535")
        return v


Bus = Annotated[TcpBus | RtuOverTcpBus | RtuBus | Gbt26875Bus, Field(discriminator="type")]


RATINGS = {"rated_current_a": "the circuit's rated current, A: overload by current",
           "power_limit_w": "the room's power limit, W: overload by power"}
"""Device ratings the rules read (rules/electrical.py)."""


class Device(Strict):
    id: Ident
    profile: str
    bus: str
    # Required on Modbus buses (checked in Config, which knows the bus); unused on gbt26875.
    unit: int = Field(default=0, ge=0, le=247, description="Modbus unit (slave) id")
    address: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{12}$",
                                description="GB/T 26875.3 source address, 12 hex digits, MSB "
                                "first (devices on a gbt26875 bus)")
    name: str = ""
    floor: int | None = Field(default=None, ge=-5, le=200)
    room: str | None = None
    location: str = ""
    labels: dict[LabelKind, dict[str, str]] = Field(
        default_factory=dict, description="names of channels per kind: zone, door, exit, loop, "
        "sensor (e.g. {door: {1: 东楼梯间防火门}})")
    points_csv: Path | None = Field(default=None, description="a fire panel's point table from "
                                    "the installer: 控制器号,回路号,部位号,部件类型,位置")
    ratings: dict[str, float] = Field(default_factory=dict)
    poll: dict[str, float] = Field(default_factory=dict, description="period override per class")
    gap_fill: int | None = Field(default=None, ge=0, le=124)
    read_function: Literal[3, 4] | None = Field(
        default=None, description="read this device's registers with function 3 (holding) or "
        "4 (input) whatever its profile says: meters such as the DDSU666 answer both and "
        "integrations differ")
    maintenance: bool = False
    enabled: bool = True
    actions: dict[str, DeviceAction] = Field(default_factory=dict,
                                             description="named actions allowed on this device")

    @field_validator("ratings")
    @classmethod
    def _ratings(cls, v: dict[str, float]) -> dict[str, float]:
        """Only the ratings the rules read: a misspelt one (``power_limt_w``) or a zero would
        leave the overload rule without its limit, so it would never raise."""
        for name, value in v.items():
            if name not in RATINGS:
                raise ValueError(f"{name!r} is not a rating firegate uses; ratings are "
                                 f"{', '.join(f'{k} ({w})' for k, w in RATINGS.items())}")
            if not value > 0:
                raise ValueError(f"{name}: {value:g} must be above 0 (leave it out if the "
                                 "device has none)")
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys(cls, v: Any) -> Any:
        """YAML reads ``{3: 3层东侧走廊}`` with an integer key; a channel is text."""
        if not isinstance(v, dict):
            return v
        out: dict[Any, Any] = {}
        for kind, names in v.items():
            if isinstance(names, dict):
                for ch, label in names.items():
                    if not isinstance(label, str) or not label.strip():
                        raise ValueError(f"labels.{kind}.{ch}: a label must be a non-empty "
                                         f"text (got {label!r})")
                names = {str(ch).strip(): str(label).strip() for ch, label in names.items()}
            out[kind] = names
        return out


class Config(Strict):
    gateway: GatewayIdentity
    poll_classes: dict[str, PollClass] = Field(default_factory=default_poll_classes)
    backoff: Backoff = Backoff()
    profile_dirs: list[Path] = Field(default_factory=list)
    buses: list[Bus] = Field(min_length=1)
    devices: list[Device] = Field(min_length=1)
    rules: RulesSettings = RulesSettings()
    outputs: OutputsConfig = OutputsConfig()
    notify: NotifyConfig = NotifyConfig()
    actions: ActionsConfig = ActionsConfig()

    @field_validator("poll_classes")
    @classmethod
    def _with_defaults(cls, v: dict[str, PollClass]) -> dict[str, PollClass]:
        """A configuration that names some classes keeps the built-in others (``fire`` among
        them), so a profile's ``poll: fire`` works under an older configuration."""
        return {**default_poll_classes(), **v}

    @model_validator(mode="after")
    def _references(self) -> Config:
        bus_ids = [b.id for b in self.buses]
        _no_duplicates(bus_ids, "buses", "bus id")
        _no_duplicates([d.id for d in self.devices], "devices", "device id")
        known = set(bus_ids)
        gbt = {b.id for b in self.buses if isinstance(b, Gbt26875Bus)}
        seen_units: dict[tuple[str, int], str] = {}
        seen_addr: dict[str, str] = {}
        self._one_bus_per_line()
        endpoint = {b.id: f"{b.host.lower()}:{b.port}" for b in self.buses
                    if isinstance(b, TcpBus)}
        at_endpoint: dict[tuple[str, int], str] = {}
        for i, d in enumerate(self.devices):
            if d.bus not in known:
                raise _located(
                    ("devices", i, "bus"),
                    f"bus {d.bus!r} does not exist; the buses are: {', '.join(bus_ids)}",
                )
            if d.bus in gbt:
                if d.address is None:
                    raise _located(("devices", i, "address"), "is required on a gbt26875 bus: "
                                   "the transmission device's source address, 12 hex digits, "
                                   "most significant first")
                key = d.address.upper()
                if key in seen_addr:
                    raise _located(("devices", i, "address"), f"address {d.address} is already "
                                   f"used by device {seen_addr[key]!r}")
                seen_addr[key] = d.id
                continue
            if "unit" not in d.model_fields_set:
                raise _located(("devices", i, "unit"), "is required")
            if d.unit == 0 and not isinstance(self.bus(d.bus), TcpBus):
                raise _located(("devices", i, "unit"), "0 is the Modbus broadcast address on "
                               "a serial line: no device answers it; write the device's own "
                               "address (1-247, set on the device or its DIP switches)")
            if d.bus in endpoint:
                # Two bus names for one TCP endpoint: the same unit under both would be two
                # "devices" reading the same registers, each seeing the other's values.
                first = at_endpoint.setdefault((endpoint[d.bus], d.unit), d.id)
                if first != d.id:
                    raise _located(("devices", i, "unit"), f"unit {d.unit} at "
                                   f"{endpoint[d.bus]} is already used by device {first!r} "
                                   "(another bus with the same host and port): one device "
                                   "would be read twice under two names; correct the unit")
            other = seen_units.get((d.bus, d.unit))
            if other is not None:
                raise _located(
                    ("devices", i, "unit"),
                    f"unit {d.unit} on bus {d.bus!r} is already used by device {other!r}",
                )
            seen_units[(d.bus, d.unit)] = d.id
            for cls in d.poll:
                if cls not in self.poll_classes:
                    raise _located(("devices", i, "poll", cls), f"no poll class {cls!r}")
        self._rule_blocks_apply()
        _mqtt_is_private(self.outputs)
        self._one_local_time()
        return self

    def _one_bus_per_line(self) -> None:
        """One serial line is one bus: two buses on one port (or one serial device server)
        would each send a request while the other waits for its answer, and each would take
        the other's reply for its own (wrong values, silently)."""
        lines: dict[str, str] = {}
        for i, b in enumerate(self.buses):
            if isinstance(b, RtuBus):
                key, field, what = f"serial:{b.port}", "port", f"port {b.port}"
            elif isinstance(b, RtuOverTcpBus):
                key, field, what = f"tcp:{b.host.lower()}:{b.port}", "port", \
                    f"{b.host}:{b.port}"
            else:
                continue
            first = lines.setdefault(key, b.id)
            if first != b.id:
                raise _located(("buses", i, field), f"{what} is the same serial line as bus "
                               f"{first!r}: one RS-485 line carries one request at a time, so "
                               f"put all its devices under bus {first!r} and remove this one")

    def _rule_blocks_apply(self) -> None:
        """A ``rules.devices`` or ``rules.kinds`` block that names no device or kind (a typo,
        a renamed room) is never applied: the setting the installer wrote is not in force."""
        ids = [d.id for d in self.devices]
        for dev in self.rules.devices:
            if dev not in ids:
                raise _located(("rules", "devices", dev), f"no device {dev!r}: these settings "
                               f"would never apply; the devices are: {', '.join(ids)}")
        for kind in self.rules.kinds:
            if kind not in KINDS:
                raise _located(("rules", "kinds", kind), f"no device kind {kind!r}: these "
                               "settings would never apply; the kinds are: "
                               f"{', '.join(sorted(KINDS))}")

    def _one_local_time(self) -> None:
        """The building has one local time, ``rules.utc_offset_h``; the rota takes it."""
        rota = self.notify.rota
        if rota is None:
            return
        if rota.utc_offset_h is None:
            rota.utc_offset_h = self.rules.utc_offset_h
        elif rota.utc_offset_h != self.rules.utc_offset_h:
            raise _located(("notify", "rota", "utc_offset_h"),
                           f"{rota.utc_offset_h:g} differs from rules.utc_offset_h "
                           f"({self.rules.utc_offset_h:g}): the building has one local time; "
                           "remove notify.rota.utc_offset_h")

    def bus(self, bus_id: str) -> TcpBus | RtuOverTcpBus | RtuBus | Gbt26875Bus:
        return next(b for b in self.buses if b.id == bus_id)

    def period(self, device: Device, poll_class: str) -> float:
        if poll_class in device.poll:
            return device.poll[poll_class]
        cls = self.poll_classes.get(poll_class)
        return cls.period_s if cls else self.poll_classes["normal"].period_s


def _mqtt_is_private(outputs: OutputsConfig) -> None:
    """A broker beyond this box takes operator commands (cmd/ack, cmd/action) and carries
    alarms: it needs TLS and a login, unless the site says ``insecure: true``."""
    for where, m in outputs.located():
        if isinstance(m, MqttConfig):
            _mqtt_sink_is_private(m, ("outputs", *where))


def _mqtt_sink_is_private(m: MqttConfig, loc: tuple[str | int, ...]) -> None:
    if m.insecure or is_loopback(m.host):
        return
    if not m.tls:
        raise _located((*loc, "url"),
                       f"MQTT to {m.host} would cross the network without TLS: anyone on the "
                       "way could read alarms and forge operator commands; use mqtts:// with "
                       "ca_file, or set insecure: true if this network is trusted")
    if m.username is None or m.password is None:
        raise _located((*loc, "username"),
                       f"the broker at {m.host} needs a login (username and password) so that "
                       "its ACL can tell this gateway and the operators apart; or set "
                       "insecure: true")


def _located(loc: tuple[str | int, ...], msg: str) -> LocatedError:
    return LocatedError(loc, msg)


def _no_duplicates(ids: list[str], section: str, what: str) -> None:
    seen: dict[str, int] = {}
    for i, x in enumerate(ids):
        if x in seen:
            raise _located((section, i, "id"), f"{what} {x!r} is used twice (first at entry "
                           f"{seen[x] + 1})")
        seen[x] = i


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every error with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{file:([^}]+)\}")


MAX_NODES = 200_000


def _alias_problem(root: yaml.Node | None) -> tuple[int, str, str] | None:
    """YAML aliases can make a collection contain itself, or expand exponentially (a "billion
    laughs" file); either would hang the loader. Found by fuzzing. Returns (line, field, why)."""
    import yaml

    if root is None:
        return None
    count = 0
    stack: list[tuple[yaml.Node, tuple[int, ...]]] = [(root, ())]
    while stack:
        node, ancestors = stack.pop()
        count += 1
        if count > MAX_NODES:
            return (1, "", f"the file expands to more than {MAX_NODES} values through YAML "
                    "aliases (*name); write the values out")
        if id(node) in ancestors:
            return (node.start_mark.line + 1, "", "a YAML alias (*name) refers to a list or "
                    "mapping that contains it; remove the alias")
        inner = (*ancestors, id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, inner) for kv in node.value for n in kv)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, inner) for n in node.value)
    return None


def _bad_date_line(root: yaml.Node | None) -> int:
    """The line of the first scalar YAML takes for a date that is not a valid one."""
    import yaml

    stack = [root] if root is not None else []
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":timestamp"):
            try:
                yaml.SafeLoader("").construct_yaml_timestamp(node)
            except ValueError:
                return int(node.start_mark.line) + 1
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for kv in node.value for n in kv)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return 1


def _lines(node: yaml.Node, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int,
                                                                                     ...], int]]:
    """Every field path in a composed YAML tree with its 1-based line."""
    import yaml

    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            yield (*path, k), key.start_mark.line + 1
            for sub, line in _lines(value, (*path, k)):
                if sub != (*path, k):
                    yield sub, line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _lines(item, (*path, i))


_SECRET_NAME = re.compile(r"pass|token|secret|key|pwd|pin|credential", re.IGNORECASE)
# Where ``${file:…}`` may read from, besides the configuration's own directory.
SECRET_DIRS = (Path("/etc/firegate"), Path("/run/secrets"))
MAX_SECRET_BYTES = 64 * 1024


def _field_kind(path: tuple[str | int, ...]) -> str:
    """``secret`` (a password, token or key: ``${ENV}`` and ``${file:…}``), ``path`` (a
    ``*_file`` setting: ``${ENV}`` only, e.g. systemd's $CREDENTIALS_DIRECTORY) or ``plain``
    (neither: a name or a location is published, so nothing is substituted into it)."""
    name = str(path[-1]) if path and isinstance(path[-1], str) else ""
    if name.endswith(("_file", "_dir")):
        return "path"
    return "secret" if _SECRET_NAME.search(name) else "plain"


def _substitute(data: Any, path: tuple[str | int, ...], missing: list[tuple[tuple[str | int, ...],
                                                                           str]],
                secrets: list[str] | None = None, base: Path | None = None) -> Any:
    if isinstance(data, dict):
        return {k: _substitute(v, (*path, k), missing, secrets, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, (*path, i), missing, secrets, base) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        kind = _field_kind(path)
        refs = list(_ENV.finditer(data))
        if refs and (kind == "plain" or (kind == "path" and any(m.group(3) for m in refs))):
            # ``${HOME}`` in gateway.name, ``${file:/etc/shadow}`` in a device's location: the
            # text would be published on MQTT. Refused, naming the field and its line.
            ref = refs[0].group(0)[:60]
            where = ("secret fields (passwords, tokens, keys)" if kind == "plain" else
                     "secret fields; a *_file setting takes ${ENV} only")
            missing.append((path, f"plain:{ref} is substituted only in {where}; write the "
                            "value here itself"))
            return data

        def repl(m: re.Match[str]) -> str:
            # One pass for both forms: a secret's own text is never substituted again.
            if m.group(3) is not None:
                text = _read_secret_file(m.group(3).strip(), path, missing, base)
                if secrets is not None and text:
                    secrets.append(text)
                return text
            value = os.environ.get(m.group(1))
            if (value and secrets is not None and (_SECRET_NAME.search(m.group(1)) or (
                    path and _SECRET_NAME.search(str(path[-1]))))):
                secrets.append(value)
            if value is None:
                if m.group(2) is not None:
                    return m.group(2)
                missing.append((path, m.group(1)))
                return ""
            return value

        return _ENV.sub(repl, data)
    return data


log = logging.getLogger("firegate.config")


def _read_secret_file(name: str, path: tuple[str | int, ...],
                      missing: list[tuple[tuple[str | int, ...], str]],
                      base: Path | None = None) -> str:
    """``${file:/etc/firegate/mqtt.pass}``: a secret kept in a file only the service can read.
    Only a regular file, of at most 64 KB, under /etc/firegate, /run/secrets or the
    configuration's own directory (``${file:/dev/zero}`` once read until MemoryError)."""
    p = Path(name)
    if base is not None and not p.is_absolute():
        p = base / p
    allowed = [d for d in (*SECRET_DIRS, base) if d is not None]
    try:
        real = p.resolve()
        if not any(real.is_relative_to(d.resolve()) for d in allowed):
            dirs = ", ".join(str(d) for d in allowed)
            raise OSError(0, f"not in a directory secrets may come from ({dirs})")
        st = real.stat()
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        if st.st_size > MAX_SECRET_BYTES:
            raise OSError(0, f"{st.st_size} bytes; a secret file holds at most "
                          f"{MAX_SECRET_BYTES}")
        mode = st.st_mode
        with open(real, "rb") as f:
            raw = f.read(MAX_SECRET_BYTES + 1)
        if len(raw) > MAX_SECRET_BYTES:
            raise OSError(0, f"more than {MAX_SECRET_BYTES} bytes")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        missing.append((path, f"file:{name}:not UTF-8 text"))
        return ""
    except OSError as exc:
        missing.append((path, f"file:{name}:{exc.strerror or exc}"))
        return ""
    if mode & 0o077:
        log.warning("secret file %s can be read by %s (mode %o): chmod 600 %s and give it to the "
                    "firegate user", p, "everyone" if mode & 0o004 else "its group",
                    mode & 0o777, p)
    return text.rstrip("\r\n")


def _field_name(loc: tuple[str | int, ...], data: Any) -> str:
    """``devices[3] (room-101).unit`` reads better than ``devices.3.unit``."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            ident = node[part].get("id") if isinstance(node, list) and part < len(node) and \
                isinstance(node[part], dict) else None
            out += f"[{part + 1}]" + (f" ({ident})" if ident else "")
        else:
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union tags (``tcp``, ``rtu``) and function names from a location."""
    out: list[str | int] = []
    for part in loc:
        tags = ("tcp", "rtu", "rtu_over_tcp", "gbt26875")
        if isinstance(part, str) and ((part in tags and out and
                                      isinstance(out[-1], int)) or part.startswith("function-")
                                     or part == "[key]"):
            continue
        out.append(part)
    return tuple(out)


# What inspects a valid configuration for hazards it would see late (gateway/config/advice.py):
# (field path, message) pairs.
Advise = Callable[["Config", Mapping[str, Profile]], Iterable[tuple[tuple[str | int, ...], str]]]

_MESSAGES = {
    "extra_forbidden": "is not a known setting here (check the spelling)",
    "missing": "is required",
}


def _parse_yaml(text: str, fname: str) -> tuple[Any, yaml.Node | None]:
    """The file's data and its node tree (for lines), or :class:`ConfigError` with the line."""
    import yaml  # here, not at the top: the running gateway never reads YAML

    node: yaml.Node | None = None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # An unclosed bracket or quote is found only at the end of the file: its problem mark
        # then points past the last line. The context mark is where the construct started,
        # which is the line to fix.
        mark = exc.context_mark or exc.problem_mark
        line = min(mark.line + 1, max(1, len(text.splitlines()))) if mark else 1
        what = f"{exc.context}: {exc.problem}" if exc.context else str(exc.problem)
        raise ConfigError([Problem(fname, line, "", f"YAML syntax error: {what}")]) from exc
    except yaml.reader.ReaderError as exc:
        # A control character (a paste from a PDF, a binary file): found by fuzzing.
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise ConfigError([Problem(fname, line, "", f"character {exc.character!r} cannot be in "
                                   "a YAML file (delete it, or retype the line)")]) from exc
    except ValueError as exc:  # found by fuzzing: a date-looking scalar that is not a date
        raise ConfigError([Problem(fname, _bad_date_line(node), "", f"a value looks like a date "
                                   f"but is not one ({exc}); put it in quotes")]) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError([Problem(fname, 1, "", f"not a usable YAML file: {exc}")]) from exc
    return data, node


def load_config(path: str | Path, *, check_profiles: bool = True,
                warnings: list[Problem] | None = None, advise: Advise | None = None) -> Config:
    """Read, substitute, validate. Raises :class:`ConfigError` listing every problem found.

    ``warnings``, when given with ``advise`` (``gateway.config.advice.advice``, passed in so the
    models never import what inspects them), receives what is valid but would see a hazard late
    or page nobody, each with its file and line, for ``check`` and ``run`` to say."""
    path = Path(path)
    fname = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(fname, None, "", f"cannot read the file: {exc.strerror}")]) \
            from exc
    data, node = _parse_yaml(text, fname)
    shape = _alias_problem(node)
    if shape is not None:
        raise ConfigError([Problem(fname, *shape)])
    if not isinstance(data, dict) or node is None:
        raise ConfigError([Problem(fname, 1, "", "the file must be a mapping of sections "
                                   "(gateway, buses, devices, ...)")])
    lines = dict(_lines(node))
    missing: list[tuple[tuple[str | int, ...], str]] = []
    secrets: list[str] = []
    data = _substitute(data, (), missing, secrets, path.parent.resolve())
    # A secret's text typed into a field that is published (a name, a location) would go out on
    # MQTT, InfluxDB, SMS and into the ledger: refused here, so no output has to mask it.
    known = [s for s in secrets if len(s) >= 4] + [
        v for p, v in _strings(data) if _field_kind(p) == "secret" and len(v) >= 6
        and "${" not in v]
    for loc, value in _strings(data):
        if _field_kind(loc) == "plain" and any(s in value for s in known):
            missing.append((loc, "plain:this field holds the text of a secret (a password, "
                            "token or key), and it would be published; remove it"))
    try:
        cfg = _validate(data, fname, lines, missing, path, check_profiles)
    except ConfigError as exc:
        if not secrets:
            raise
        # A secret put in the wrong field must not come back in the error that names it.
        raise ConfigError([Problem(p.file, p.line, p.field, _redact(p.message, secrets))
                           for p in exc.problems]) from None
    if warnings is not None and advise is not None and check_profiles:
        for loc, msg in advise(cfg, load_profiles_for(cfg)):
            warnings.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                                    _redact(msg, secrets)))
    return cfg


def _strings(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int,
                                                                                ...], str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings(v, (*path, i))
    elif isinstance(data, str):
        yield path, data


def _redact(text: str, secrets: list[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, "***")
    return text


def _validate(data: Any, fname: str, lines: dict[tuple[str | int, ...], int],
              missing: list[tuple[tuple[str | int, ...], str]], path: Path,
              check_profiles: bool) -> Config:
    problems = [
        Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                f"cannot read secret file {var.split(':')[1]}: {var.split(':', 2)[2]}"
                if var.startswith("file:") else var.removeprefix("plain:")
                if var.startswith("plain:") else
                f"environment variable {var} is not set (export it, or write ${{{var}:-default}})")
        for loc, var in missing
    ]
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(err["loc"])
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, LocatedError):
                loc, msg = ctx_err.loc, ctx_err.msg
            else:
                msg = _MESSAGES.get(err["type"], err["msg"])
                if msg.startswith("Value error, "):
                    msg = msg[len("Value error, "):]
            problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data), msg))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    base = path.parent
    if not cfg.gateway.data_dir.is_absolute():
        cfg.gateway.data_dir = base / cfg.gateway.data_dir
    cfg.profile_dirs = [p if p.is_absolute() else base / p for p in cfg.profile_dirs]
    problems = []
    for i, d in enumerate(cfg.devices):
        if d.points_csv is None:
            continue
        if not d.points_csv.is_absolute():
            d.points_csv = base / d.points_csv
        try:
            load_point_map(d.points_csv)
        except PlacesError as exc:
            loc = ("devices", i, "points_csv")
            problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                                    str(exc)))
    if problems:
        raise ConfigError(problems)
    if check_profiles:
        problems = _profile_problems(cfg, data, fname, lines)
        if problems:
            raise ConfigError(problems)
    return cfg


def _profile_problems(cfg: Config, data: Any, fname: str,
                      lines: dict[tuple[str | int, ...], int]) -> list[Problem]:
    """What is wrong with the profiles the devices use: unknown, of an unknown kind or lacking
    points its rules need, offering no such action, using an undefined poll class."""
    try:
        found = scan_profiles(*cfg.profile_dirs)
    except ProfileError as exc:
        raise ConfigError([Problem(fname, _line_for(("profile_dirs",), lines),
                                   "profile_dirs", str(exc))]) from exc
    profiles = {name: prof for name, (prof, _) in found.items()}
    problems = _kind_problems(found, {d.profile for d in cfg.devices})
    for i, d in enumerate(cfg.devices):
        if d.profile not in profiles:
            loc = ("devices", i, "profile")
            problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                                    f"unknown profile {d.profile!r}; known profiles: "
                                    f"{', '.join(sorted(profiles))}"))
            continue
        problems.extend(_action_problems(fname, lines, data, i, d, profiles[d.profile]))
        for msg in _range_problems(cfg, d, *found[d.profile]):
            loc = ("devices", i, "profile")
            problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data), msg))
        if d.maintenance and _raises_fire(profiles[d.profile]):
            loc = ("devices", i, "maintenance")
            problems.append(Problem(
                fname, _line_for(loc, lines), _field_name(loc, data),
                "a device that raises fire alarms cannot be in maintenance by "
                "configuration (it would never end, and a fire must always page): put "
                "the panel in test and use 'firegate alarms maintenance', which "
                "expires"))
        if d.read_function is not None:
            try:
                profiles[d.profile].read_with(d.read_function)
            except ValueError as exc:
                loc = ("devices", i, "read_function")
                problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                                        str(exc)))
        for cls in profiles[d.profile].poll_classes:
            if cls not in cfg.poll_classes:
                loc = ("devices", i, "profile")
                problems.append(Problem(fname, _line_for(loc, lines), _field_name(loc, data),
                                        f"profile {d.profile!r} uses poll class {cls!r}, "
                                        "which poll_classes does not define"))
    return problems


# point -> (rule, its setting, unit): the setting the point's reading must be able to reach
_REACH = {"residual_current_ma": ("residual_current", "setting_ma", "mA"),
          "temperature_c": ("over_temperature", "setting_c", "°C")}


def _range_problems(cfg: Config, d: Device, prof: Profile, path: Path) -> list[str]:
    """A reading outside a point's ``valid`` range is bad quality, never a value: a range that
    ends below the rule's alarm setting means the alarm can never be raised."""
    kind = KINDS.get(prof.kind)
    rs = cfg.rules.for_device(d.id, prof.kind)
    out = []
    for point, (rule, field, unit) in _REACH.items():
        block = getattr(rs, rule)
        tops = [p.valid[1] for p in prof.expanded if p.name == point and p.valid is not None]
        if kind is None or rule not in kind.rule_ids or not block.enabled or not tops:
            continue
        setting = float(getattr(block, field))
        if min(tops) < setting:
            out.append(f"profile {prof.profile!r} ({path}) has {point} valid up to "
                       f"{min(tops):g} {unit}, below rules {rule}.{field} {setting:g}: a "
                       f"reading above {min(tops):g} is taken as no reading, so the alarm "
                       "could never be raised; widen valid: in the profile to what the "
                       "device can measure")
    return out


def _kind_problems(found: dict[str, tuple[Profile, Path]], used: set[str]) -> list[Problem]:
    """Each profile the devices use must be of a known kind and have the points its kind's
    rules need (rules/kinds.py); the problem names the profile file, where the fix is."""
    out = []
    for name in sorted(used & set(found)):
        prof, path = found[name]
        for msg in check_profile(prof.kind, prof.by_key):
            out.append(Problem(str(path), _profile_line(path, "kind"), "kind", msg))
    return out


def _profile_line(path: Path, key: str) -> int | None:
    """The line of a top-level key in a profile file, for the error message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return n
    return None


def _action_problems(fname: str, lines: dict[tuple[str | int, ...], int], data: Any, i: int,
                     d: Device, prof: Profile) -> list[Problem]:
    """A device's ``actions:`` must name actions its profile offers; no automatic restore."""
    out = []
    kind = KINDS.get(prof.kind)
    rule_ids = sorted({*(kind.rule_ids if kind is not None else ()), "comm_loss"})
    for name, act in d.actions.items():
        loc: tuple[str | int, ...] = ("devices", i, "actions", name)
        where = (_line_for(loc, lines), _field_name(loc, data))
        offered = prof.actions.get(name)
        if offered is None:
            have = ", ".join(sorted(prof.actions)) or "none (it is read-only)"
            out.append(Problem(fname, *where, f"profile {prof.profile!r} has no action "
                               f"{name!r}; its actions: {have}"))
            continue
        if act.auto and offered.kind == "restore":
            out.append(Problem(fname, *where, f"{name!r} re-energises a circuit: only a person "
                               "may ask for it, so it cannot have auto:"))
        for r in act.auto:
            if r not in rule_ids:
                out.append(Problem(fname, *where, f"auto: {r!r} is not a rule that watches a "
                                   f"{prof.kind}; use one of: {', '.join(rule_ids)}"))
    return out


def _raises_fire(prof: Profile) -> bool:
    kind = KINDS.get(prof.kind)
    return kind is not None and "fire_alarm" in kind.rule_ids


def load_profiles_for(cfg: Config) -> dict[str, Profile]:
    return load_profiles(*cfg.profile_dirs)


def device_profile(d: Device, profiles: dict[str, Profile]) -> Profile:
    """The profile a device is read with: its ``read_function`` applied."""
    prof = profiles[d.profile]
    return prof if d.read_function is None else prof.read_with(d.read_function)

