"""``outputs:`` in the configuration: where telemetry and alarms go (MQTT, InfluxDB) and how.

Secrets are ``SecretStr`` so that a printed or logged configuration never shows them. Credentials
sent in clear text across a network are refused unless the operator says ``insecure: true``:
a dormitory LAN is not a trusted network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gateway.config.base import LocatedError, Strict, validate_typed
from gateway.config.netaddr import is_loopback


def _check_file(path: Path | None, what: str) -> None:
    if path is not None and not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist or is not a file")


class Batching(Strict):
    batch_size: int | None = Field(default=None, ge=1, le=100_000,
                                   description="records per batch (default: outputs.batch_size)")
    max_age_s: float | None = Field(default=None, gt=0, le=3600,
                                    description="send a partial batch once its oldest record is "
                                    "this old (default: outputs.max_age_s)")


class SinkConfig(Batching):
    """What every output's settings have: its ``type`` (a key of :data:`SINK_TYPES`) and an
    optional ``name`` (default: the type) that keys its cursor in the outbox, so two sinks of
    one type can be configured side by side."""

    type: str
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_\-]{0,31}$")

    @property
    def key(self) -> str:
        return self.name or self.type

    @property
    def reconnect_cap_s(self) -> float:
        """Longest wait between failed deliveries (the sink's own reconnect cap when it has
        one)."""
        return 60.0


class MqttConfig(SinkConfig):
    type: Literal["mqtt"] = "mqtt"
    url: str = Field(description="mqtt://host:1883 or mqtts://host:8883")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    client_id: str | None = Field(default=None, description="default: firegate-<gateway id>")
    qos: Literal[0, 1, 2] = 1
    keepalive: int = Field(default=30, ge=5, le=3600)
    insecure: bool = Field(default=False,
                           description="allow a password in clear text to a non-loopback host")
    operators: list[str] = Field(default_factory=list,
                                 description="operator names whose cmd/ack is applied")
    logins: dict[str, str] = Field(
        default_factory=dict,
        description="MQTT login -> operator name, for commands on cmd/{login}/ack and "
        "cmd/{login}/action (the deploy kit's ACL lets a login write only its own topic); a "
        "login not listed here is its own operator name")
    command_max_bytes: int = Field(default=64 * 1024, ge=256, le=1024 * 1024,
                                   description="larger cmd/ payloads are refused unread")
    command_max_age_s: float = Field(default=60.0, gt=0, le=3600,
                                     description="older commands (by their ts) are refused")
    command_max_future_s: float = Field(default=10.0, ge=0, le=600,
                                        description="allowed clock skew of a command's ts")
    topic_prefix: str = "firegate"
    telemetry: bool = True
    telemetry_bundle: bool = Field(
        default=False,
        description="publish each delivery batch as one message on telemetry (a list of device "
        "records) instead of one message per device on telemetry/{device}: far fewer messages "
        "for a large building; consumers read the list")
    health_interval_s: float = Field(default=30, gt=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{v!r} is not an MQTT address; write mqtt://HOST:1883 or "
                             "mqtts://HOST:8883")
        return v

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

    @property
    def reconnect_cap_s(self) -> float:
        return self.reconnect_max_s

    @model_validator(mode="after")
    def _safe(self) -> MqttConfig:
        if self.password is not None and self.username is None:
            raise ValueError("a password is set but no username; set username too")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set but cert_file is not; a client key needs its "
                             "certificate")
        _check_file(self.ca_file, "ca_file")
        _check_file(self.cert_file, "cert_file")
        _check_file(self.key_file, "key_file")
        if (self.username is not None and not self.tls and not self.insecure
                and not is_loopback(self.host)):
            raise ValueError(
                f"the MQTT password would cross the network to {self.host} in clear text; use "
                "mqtts:// with ca_file, or set insecure: true if this network is trusted")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be smaller than reconnect_min_s")
        return self


class InfluxConfig(SinkConfig):
    type: Literal["influx"] = "influx"
    url: str | None = Field(default=None, description="http(s)://host:8086; leave out to only "
                            "write line_protocol_file")
    org: str = ""
    bucket: str = ""
    token: SecretStr | None = None
    gzip: bool = True
    timeout_s: float = Field(default=10, gt=0, le=300)
    flush_interval_s: float | None = Field(default=None, gt=0, le=3600,
                                           description="alias of max_age_s")
    line_protocol_file: Path | None = Field(default=None,
                                            description="also append every line sent here")
    insecure: bool = Field(default=False,
                           description="allow the token in clear text to a non-loopback host")
    auth_retry_s: float = Field(default=60, gt=0,
                                description="wait between tries while token/org/bucket is wrong")
    health_interval_s: float = Field(default=30, gt=0)
    poll_health: bool = Field(default=False,
                              description="also write device_health ok/quality/points per poll")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an InfluxDB address; write http://HOST:8086")
        return v

    @model_validator(mode="after")
    def _complete(self) -> InfluxConfig:
        if self.url is None:
            if self.line_protocol_file is None:
                raise ValueError("set url (the InfluxDB server) or line_protocol_file, or both")
            return self
        missing = [n for n in ("org", "bucket") if not getattr(self, n)]
        if missing:
            raise ValueError(f"{' and '.join(missing)} must be set to write to {self.url}")
        parts = urlsplit(self.url)
        if (self.token is not None and parts.scheme == "http" and not self.insecure
                and not is_loopback(parts.hostname or "")):
            raise ValueError(f"the InfluxDB token would cross the network to {parts.hostname} in "
                             "clear text; use https://, or set insecure: true if this network "
                             "is trusted")
        if self.flush_interval_s is not None and self.max_age_s is None:
            self.max_age_s = self.flush_interval_s
        return self


class OutputsConfig(Strict):
    """Northbound outputs. With neither ``mqtt`` nor ``influx`` the outbox only stores."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_age_s: float = Field(default=1.0, gt=0, le=3600)
    stop_grace_s: float = Field(
        default=10.0, ge=0, le=120,
        description="at a stop, how long the outputs may go on delivering what is pending "
                    "(alarms first) before the process ends; what is left stays in the outbox "
                    "for the next start. Keep it below systemd's TimeoutStopSec.")
    mqtt: MqttConfig | None = None
    influx: InfluxConfig | None = None
    listed: list[SinkConfig] = Field(
        default_factory=list, alias="sinks",
        description="outputs as a list, each with type: (mqtt, influx, or any registered in "
        "SINK_TYPES); mqtt: and influx: above are the short form of one of each")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("listed", mode="before")
    @classmethod
    def _typed(cls, items: Any) -> Any:
        """Each entry validated by the model its ``type`` names in :data:`SINK_TYPES`."""
        return validate_typed(items, SINK_TYPES, SinkConfig, ("outputs", "sinks"), "output type")

    @model_validator(mode="after")
    def _unique(self) -> OutputsConfig:
        seen: set[str] = set()
        for where, sink in self.located():
            if sink.key in seen:
                raise LocatedError(("outputs", *where), f"two outputs are named {sink.key!r}; "
                                   "give one a name: (the outbox keeps a cursor per name)")
            seen.add(sink.key)
        return self

    def located(self) -> list[tuple[tuple[str | int, ...], SinkConfig]]:
        """Every configured output with where it is written (``mqtt``, or ``sinks, 2``)."""
        out: list[tuple[tuple[str | int, ...], SinkConfig]] = []
        if self.mqtt is not None:
            out.append((("mqtt",), self.mqtt))
        if self.influx is not None:
            out.append((("influx",), self.influx))
        out.extend((("sinks", i), s) for i, s in enumerate(self.listed))
        return out

    def configured(self) -> list[SinkConfig]:
        """Every configured output, the short forms first."""
        return [s for _, s in self.located()]

    def sinks(self) -> list[str]:
        """Names of the configured sinks: the outbox keeps one cursor for each."""
        return [s.key for s in self.configured()]


@dataclass(frozen=True, slots=True)
class SinkType:
    """One kind of output: its settings model, and where its factory is, as
    ``"module:function"`` (imported only when such an output is configured: influxdb-client
    costs ~35 MB of RSS that an MQTT-only gateway should not pay). The factory is
    ``make(cfg, ctx: gateway.outputs.delivery.SinkContext) -> Sink``."""

    config: type[SinkConfig]
    factory: str


SINK_TYPES: dict[str, SinkType] = {
    "mqtt": SinkType(MqttConfig, "gateway.outputs.mqtt_sink:make_sink"),
    "influx": SinkType(InfluxConfig, "gateway.outputs.influx_sink:make_sink"),
}
"""The output registry: a new sink is one module with a ``make_sink`` and one entry here."""
