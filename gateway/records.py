"""The core contract: the records the runtime hands from the ledger and the pollers to
listeners, the outbox, the notifier and the sinks.

They are frozen dataclasses, so a listener cannot change what the next one sees, and a typo in a
field name is a type error rather than a silent ``None`` from ``.get()``. JSON exists only at the
edges: ``to_json`` where a record is written to a store (the outbox, the ledger's history) or the
wire (MQTT payloads), ``from_json`` where it is read back. The JSON keys are the published
contract (docs/internals.md, gateway/schemas/): renaming a field here renames it on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TypeAlias

from drivers.model import PollResult, Value

Scalar: TypeAlias = float | int | str | bool | None
"""A measured value or threshold as an alarm carries it (a number, a trip reason, a state)."""


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One step in an alarm's life (raise | update | ack | clear | close | assign | overdue) with
    the alarm's state after it: what MQTT ``events``/``alarms/{id}``, InfluxDB ``alarm``, the
    notifier and the automatic actions receive."""

    event: str
    ts: float
    id: str
    device: str
    rule: str
    severity: str
    state: str
    seq: int = 1
    channel: str = ""
    hazard: str = ""
    base_severity: str = ""
    active: bool = True
    raised_at: float = 0.0
    first_raised_at: float = 0.0
    updated_at: float = 0.0
    cleared_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    ack_via: str | None = None
    closed_by: str | None = None
    closed_at: float | None = None
    note: str | None = None
    value: Scalar = None
    threshold: Scalar = None
    message_zh: str = ""
    message_en: str = ""
    site: str = ""
    campus: str = ""
    building: str = ""
    floor: int | None = None
    room: str | None = None
    location: str = ""
    repeat_count: int = 0
    latched: bool = False
    suppressed: str | None = None  # "maintenance" | "shelved" | ...: on the ledger, nobody paged
    flapping: bool = False
    # The review (挂账销号): how it was closed, who must fix it by when, who was told it is late.
    category: str | None = None
    assignee: str | None = None
    assigned_by: str | None = None
    assigned_at: float | None = None
    due_at: float | None = None
    overdue_level: int = 0
    escalated_to: str | None = None
    occurrence: int = 1  # counted up each time the open alarm is raised again
    occurrence_id: str = ""  # ``<id>#<occurrence>``: what an acknowledgement names

    def __post_init__(self) -> None:
        # Always derived from id and occurrence (whatever was passed), so ``replace`` cannot
        # leave it stale and a record from a store written before occurrences still names one.
        object.__setattr__(self, "occurrence_id", f"{self.id}#{self.occurrence}")

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _ALARM_FIELDS}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> AlarmTransition:
        """Read back what :meth:`to_json` wrote; keys it does not know (a newer writer) are
        ignored, so an old store stays readable."""
        return cls(**{k: v for k, v in d.items() if k in _ALARM_FIELDS})  # type: ignore[arg-type]


_ALARM_FIELDS = tuple(f.name for f in fields(AlarmTransition))


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A remote action's outcome on the alarm lane (MQTT ``events``, InfluxDB ``alarm``). Born
    closed: it never stays retained and nobody is paged for it."""

    id: str
    ts: float
    device: str
    action: str
    who: str
    via: str
    outcome: str
    detail: str
    reason: str = ""
    kind: str | None = None
    alarm_id: str | None = None
    campus: str = ""
    building: str = ""
    floor: str | None = None
    room: str | None = None
    event: str = "action"
    state: str = "closed"
    severity: str = "info"
    seq: int = 1

    @property
    def rule(self) -> str:
        return f"action:{self.action}"

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {name: getattr(self, name) for name in _ACTION_FIELDS}
        d["rule"] = self.rule
        d["value"] = self.outcome
        d["message_en"] = f"{self.action} on {self.device} by {self.who}: {self.outcome}"
        d["message_zh"] = f"{self.device} 远程操作 {self.action}（{self.who}）：{self.outcome}"
        for k in ("floor", "room"):
            if d[k] is None:
                del d[k]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> ActionRecord:
        return cls(**{k: v for k, v in d.items() if k in _ACTION_FIELDS})  # type: ignore[arg-type]


_ACTION_FIELDS = tuple(f.name for f in fields(ActionRecord))

AlarmLaneRecord: TypeAlias = AlarmTransition | ActionRecord
"""What the outbox's alarm lane holds: alarm transitions and the audit of remote actions."""


def alarm_lane_from_json(d: Mapping[str, object]) -> AlarmLaneRecord:
    """Decode an alarm-lane body: an ``action`` event is an :class:`ActionRecord`."""
    if d.get("event") == "action":
        return ActionRecord.from_json(d)
    return AlarmTransition.from_json(d)


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """One device poll (or one ``device_health`` sample) as the outbox stores it.

    ``fields`` keeps point keys as read (``temperature_c@2``); the InfluxDB sink turns a channel
    into a ``channel`` tag and the MQTT sink keeps the keys.
    """

    device: str
    ts: float
    measurement: str
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Value] = field(default_factory=dict)
    quality: str = "good"
    poll_class: str = ""

    def to_json(self) -> dict[str, object]:
        return {"device": self.device, "ts": self.ts, "measurement": self.measurement,
                "tags": self.tags, "fields": self.fields, "quality": self.quality,
                "poll_class": self.poll_class}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> TelemetryRecord:
        tags, values = d.get("tags"), d.get("fields")
        return cls(device=str(d["device"]), ts=float(d["ts"]),  # type: ignore[arg-type]
                   measurement=str(d.get("measurement") or "telemetry"),
                   tags=tags if isinstance(tags, dict) else {},
                   fields=values if isinstance(values, dict) else {},
                   quality=str(d.get("quality") or "good"),
                   poll_class=str(d.get("poll_class") or ""))

    @classmethod
    def of_poll(cls, result: PollResult, measurement: str,
                tags: Mapping[str, str]) -> TelemetryRecord:
        return cls(device=result.device_id, ts=result.ts, measurement=measurement, tags=tags,
                   fields=result.values, quality=result.quality.value,
                   poll_class=result.poll_class)


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """A device's link health at one instant (InfluxDB ``device_health``, MQTT telemetry)."""

    device: str
    ts: float
    tags: Mapping[str, str]
    online: bool
    response_ms: float
    errors: int
    requests: int
    unreadable_points: int = 0  # points the device refuses, retried with backoff

    def as_telemetry(self) -> TelemetryRecord:
        """The outbox's telemetry lane carries health like a poll of measurement
        ``device_health``: the sinks need no second path."""
        return TelemetryRecord(
            device=self.device, ts=self.ts, measurement="device_health", tags=self.tags,
            fields={"online": self.online, "response_ms": round(self.response_ms, 2),
                    "errors": self.errors, "requests": self.requests,
                    "unreadable_points": self.unreadable_points},
            quality="good", poll_class="health")


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    """The gateway's own health (InfluxDB ``gateway_health``, MQTT ``health``): polling, and
    paging when it is on."""

    devices: int
    devices_online: int
    poll_cycle_ms: float
    polls_late: int
    requests: int
    sms_sent: int | None = None
    sms_failed: int | None = None
    modem_signal_csq: int | None = None
    ledger_held: int = 0  # alarm events waiting in memory for the ledger (locked, disk full)
    ledger_blocked_s: float = 0.0  # for how long the ledger has not taken writes
    outbox_held: int = 0  # records waiting in memory for the outbox

    def as_fields(self) -> dict[str, float | int]:
        """Flat fields for the wire; paging fields only when paging is on."""
        out: dict[str, float | int] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v
        return out


@dataclass(frozen=True, slots=True)
class OutputsHealth:
    """What the sinks publish about themselves (MQTT ``health``, InfluxDB ``gateway_health``):
    the runtime's :class:`GatewayHealth` fields, the outbox's stats, each sink's state."""

    runtime: Mapping[str, object]
    outbox: Mapping[str, object]
    sinks: Mapping[str, Mapping[str, object]]

    def to_json(self) -> dict[str, object]:
        return {"runtime": self.runtime, "outbox": self.outbox, "sinks": self.sinks}


__all__ = ["ActionRecord", "AlarmLaneRecord", "AlarmTransition", "GatewayHealth",
           "HealthRecord", "OutputsHealth", "Scalar", "TelemetryRecord",
           "alarm_lane_from_json"]
