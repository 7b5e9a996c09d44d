"""What an action request and its result are: shared by the service that performs actions and
the queue through which the command line hands them in (neither imports the other's module)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from drivers.model import Value

Via = Literal["rule", "mqtt", "cli", "api"]
Outcome = Literal["done", "refused", "failed", "dry_run"]


@dataclass(slots=True)
class ActionRequest:
    device: str
    action: str
    who: str
    via: Via
    reason: str = ""
    alarm_id: str | None = None
    dry_run: bool = False


@dataclass(slots=True)
class ActionResult:
    request: ActionRequest
    outcome: Outcome
    detail: str
    audit_id: int = 0
    readback: Value | None = None
    ts: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.outcome in ("done", "dry_run")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.request), "outcome": self.outcome, "detail": self.detail,
                "audit_id": self.audit_id, "readback": self.readback, "ts": self.ts}


__all__ = ["ActionRequest", "ActionResult", "Outcome", "Via"]
