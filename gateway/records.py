"""Records handed from the runtime to the outbox. Plain dicts travel through SQLite as JSON; these
helpers are the one place their shape is written down (see docs/internals.md)."""

from __future__ import annotations

from typing import Any

from drivers.model import PollResult


def telemetry_record(result: PollResult, measurement: str, tags: dict[str, str]) -> dict[str, Any]:
    """One device poll as the outbox stores it.

    ``fields`` keeps point keys as read (``temperature_c@2``); the InfluxDB sink turns a channel
    into a ``channel`` tag and the MQTT sink keeps the keys.
    """
    return {
        "device": result.device_id,
        "ts": result.ts,
        "measurement": measurement,
        "tags": tags,
        "fields": result.values,
        "quality": result.quality.value,
        "poll_class": result.poll_class,
    }
