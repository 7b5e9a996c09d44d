"""What every configuration model shares: the strict base (an unknown key is an error naming
it, never silently ignored: a misspelt ``on_delay_s`` must not leave the default in force) and
the building's local time zone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, timezone
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

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


class _Typed(Protocol):
    @property
    def config(self) -> type[BaseModel]: ...


def validate_typed(items: Any, registry: Mapping[str, _Typed], base: type[BaseModel],
                   where: tuple[str, ...], what: str) -> Any:
    """A list discriminated by ``type:``: each entry validated by the model its ``type`` names
    in ``registry`` (outputs' sinks, SMS providers), errors located at ``where[i]``."""
    if not isinstance(items, list):
        return items
    out: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, base) or not isinstance(item, dict):
            out.append(item)
            continue
        kind = item.get("type")
        entry = registry.get(str(kind))
        if entry is None:
            raise LocatedError((*where, i, "type"), f"unknown {what} {kind!r}; use one of: "
                               f"{', '.join(sorted(registry))}")
        try:
            out.append(entry.config.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise LocatedError((*where, i, *err["loc"]),
                               str(err["msg"]).removeprefix("Value error, ")) from None
    return out
