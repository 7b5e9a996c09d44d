"""What the demo's optional flags add: real MQTT/InfluxDB outputs and a simulated SMS modem."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.runtime import Gateway


def demo_overrides(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    return {}


def demo_extras(args: argparse.Namespace, base: Path) -> Callable[[Gateway], list[Awaitable[Any]]]:
    def extras(gw: Gateway) -> list[Awaitable[Any]]:
        return []

    return extras


def demo_summary(args: argparse.Namespace) -> Callable[[Gateway, dict[str, Any]], None]:
    def add(gw: Gateway, summary: dict[str, Any]) -> None:
        return None

    return add
