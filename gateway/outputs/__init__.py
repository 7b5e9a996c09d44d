"""Northbound: the durable outbox and its sinks (MQTT, InfluxDB).

``gateway.config.models`` imports :mod:`gateway.outputs.config`, so this package imports the heavier
sink modules (aiomqtt, the InfluxDB poster) only when they are asked for.
"""

from __future__ import annotations

from typing import Any

from gateway.outputs.config import InfluxConfig, MqttConfig, OutputsConfig
from gateway.outputs.outbox import Batch, Outbox, OutboxError

__all__ = ["Batch", "InfluxConfig", "MqttConfig", "Outbox", "OutboxError", "Outputs",
           "OutputsConfig", "run_outputs"]


def __getattr__(name: str) -> Any:
    if name in ("Outputs", "run_outputs"):
        from gateway.outputs import service

        return getattr(service, name)
    raise AttributeError(name)
