"""What every configuration model shares: the strict base (an unknown key is an error naming
it, never silently ignored: a misspelt ``on_delay_s`` must not leave the default in force) and
the building's local time zone."""

from __future__ import annotations

from datetime import timedelta, timezone

from pydantic import BaseModel, ConfigDict

from rules.settings import DEFAULT_UTC_OFFSET_H


class Strict(BaseModel):
    """The base of every configuration model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class LocatedError(ValueError):
    """A semantic error that knows which field it is about (so it can be given a line)."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def local_tz(offset_h: float = DEFAULT_UTC_OFFSET_H) -> timezone:
    """The building's local time as a fixed offset (``rules.utc_offset_h``; China has no DST)."""
    return timezone(timedelta(hours=offset_h))
