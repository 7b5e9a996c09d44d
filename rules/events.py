"""What the rules conclude. An event is the whole story of one transition, so the ledger, the
notifier and the outputs never need to look back at the device or the settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EventKind = Literal["raise", "update", "clear"]


@dataclass(frozen=True, slots=True)
class Event:
    """One alarm transition for (device, rule, channel); ``channel`` is "" for a whole device.

    ``suppressed`` is "maintenance" or "shelved" when the alarm is recorded but must not page
    anyone; ``flapping`` says the condition came and went too often lately; ``latched`` says the
    alarm stays until the device itself is reset (fire, arc); ``test`` says the device was in
    test mode when it reported this (a fire panel being tested): recorded under the category
    ``test``, never paged.
    """

    kind: EventKind
    rule: str
    device: str
    channel: str
    severity: str
    ts: float
    value: float | str | None
    threshold: float | str | None
    message_zh: str
    message_en: str
    site: str = ""
    campus: str = ""
    building: str = ""
    floor: int | None = None
    room: str | None = None
    location: str = ""
    latched: bool = False
    suppressed: str | None = None
    flapping: bool = False
    test: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
