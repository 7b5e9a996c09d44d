"""``outputs:`` in the configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OutputsConfig(BaseModel):
    """Placeholder grown by the outbox work (MQTT and InfluxDB sinks)."""

    model_config = ConfigDict(extra="forbid")
