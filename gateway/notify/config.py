"""``notify:`` in the configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotifyConfig(BaseModel):
    """Placeholder grown by the SMS work (modem, providers, rota, escalation)."""

    model_config = ConfigDict(extra="forbid")
