"""Rule settings as they appear under ``rules:`` in the configuration (defaults and per-device
overrides). Validation here is what ``firegate check`` reports for rule settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RulesSettings(BaseModel):
    """Placeholder grown by the rules work: defaults plus ``devices: {id: {...}}`` overrides."""

    model_config = ConfigDict(extra="allow")

    defaults: dict[str, dict[str, Any]] = {}
    devices: dict[str, dict[str, dict[str, Any]]] = {}
