"""Optional parts of a running gateway: the northbound outputs and the SMS notifier.

Kept apart from the runtime so that a gateway without outputs (the embedded default) imports
nothing of MQTT or InfluxDB.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from gateway.runtime import Gateway


def outputs_and_notifier(gw: Gateway) -> list[Awaitable[Any]]:
    return []
