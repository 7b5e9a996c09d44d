"""Plain configuration objects for the running gateway: the model classes without pydantic.

Why: pydantic validates the configuration once, at start, and is then dead weight in a process
that runs for months on a gateway with little memory: pydantic, pydantic-core's library and
the validators they build for ~60 models hold ~12 MB of a ~55 MB process (issue 17, measured
with /proc/PID/smaps and tracemalloc). So ``firegate run`` validates in a short-lived child
(:mod:`gateway.config.snapshot`) and receives the validated objects pickled; before unpickling,
it registers this module as ``pydantic``, so the model modules (``gateway/config/models.py``,
``rules/settings.py``, ``drivers/profiles.py``, …) define the same classes, with the same names,
fields, methods and ``isinstance`` relations, on the plain :class:`BaseModel` below.

What a plain model does: holds the validated values (set by unpickling, from pydantic's own
pickled state), fills defaults when runtime code builds one (``Backoff()``), and offers the few
pydantic methods runtime code uses: ``model_copy(update=...)``, ``model_fields``,
``model_fields_set``, ``model_dump``; frozen models refuse assignment and hash by value, as
pydantic's do. What it does not do is validate: ``model_validate`` raises, because nothing in
the running gateway may build a model from untrusted input (MQTT commands are checked by
``gateway/inbound/guard.py``, which has its own checks). Only ``run`` uses this; ``check``, the
demo, the other commands and the tests run on real pydantic.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Callable
from typing import Any, ClassVar

NAME = "pydantic"  # the module this one stands in for


class ValidationError(ValueError):
    """Never raised here (nothing is validated); named so ``except ValidationError`` resolves."""

    def errors(self) -> list[dict[str, Any]]:
        return []


class ValidationInfo:
    """Only ever a type hint in the model modules."""


class FieldInfo:
    """What ``Field(...)`` gives: the default (or its factory); constraints are pydantic's job,
    already done in the child that validated the configuration."""

    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any = ..., *, default_factory: Callable[[], Any] | None = None,
                 **_: Any) -> None:
        self.default = default
        self.default_factory = default_factory

    def make_default(self, owner: str, name: str) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        if self.default is ...:
            raise TypeError(f"{owner}: field {name!r} is required")
        return copy.copy(self.default)


def Field(default: Any = ..., **kwargs: Any) -> Any:  # pydantic's name
    return FieldInfo(default, **kwargs)


def ConfigDict(**kwargs: Any) -> dict[str, Any]:  # pydantic's name
    return dict(kwargs)


def _keep(*_: Any, **__: Any) -> Callable[[Any], Any]:
    """``field_validator(...)`` / ``model_validator(...)``: the validator stays a plain method."""
    return lambda fn: fn


field_validator = _keep
model_validator = _keep


class SecretStr:
    """A secret that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._secret_value == self._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)

    def __len__(self) -> int:
        return len(self._secret_value)

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr('{self}')"


def _is_field(name: str, annotation: object) -> bool:
    return (not name.startswith("_") and name != "model_config"
            and not str(annotation).startswith(("ClassVar", "typing.ClassVar")))


class BaseModel:
    """A model's values and methods, without validation (see the module's docstring)."""

    model_config: ClassVar[dict[str, Any]] = {}
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__",
                 "__pydantic_private__")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldInfo] = {}
        config: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            config.update(klass.__dict__.get("model_config", {}))
            for name, annotation in inspect.get_annotations(klass).items():
                if not _is_field(name, annotation):
                    continue
                value = klass.__dict__.get(name, ...)
                if isinstance(value, FieldInfo):
                    fields[name] = value
                elif name in klass.__dict__ or name not in fields:
                    fields[name] = FieldInfo(value)
        cls.model_fields = fields
        cls.model_config = config

    def __init__(self, **data: Any) -> None:
        owner = type(self).__name__
        given = set(data)
        values = {}
        for name, info in self.model_fields.items():
            values[name] = data.pop(name) if name in data else info.make_default(owner, name)
        if data:
            raise TypeError(f"{owner}: unknown field(s) {', '.join(sorted(data))}")
        object.__setattr__(self, "__dict__", values)
        object.__setattr__(self, "__pydantic_fields_set__", given)
        object.__setattr__(self, "__pydantic_extra__", None)
        object.__setattr__(self, "__pydantic_private__", None)

    @classmethod
    def model_validate(cls, obj: Any) -> BaseModel:
        raise RuntimeError(f"{cls.__name__}.model_validate in the running gateway: its "
                           "configuration is validated once, by `firegate check` or at start, "
                           "and nothing else may build a model from outside input")

    def __getstate__(self) -> dict[str, Any]:
        return {"__dict__": self.__dict__, "__pydantic_fields_set__": self.model_fields_set,
                "__pydantic_extra__": None, "__pydantic_private__": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """pydantic's pickled state (``BaseModel.__getstate__``), as the child wrote it."""
        object.__setattr__(self, "__dict__", state["__dict__"])
        object.__setattr__(self, "__pydantic_fields_set__", set(state["__pydantic_fields_set__"]))
        object.__setattr__(self, "__pydantic_extra__", state.get("__pydantic_extra__"))
        object.__setattr__(self, "__pydantic_private__", state.get("__pydantic_private__"))

    @property
    def model_fields_set(self) -> set[str]:
        fields_set: set[str] = self.__pydantic_fields_set__  # type: ignore[attr-defined]
        return fields_set

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> BaseModel:
        clone = copy.deepcopy(self) if deep else copy.copy(self)
        if update:
            clone.__dict__.update(update)
            object.__setattr__(clone, "__pydantic_fields_set__",
                               set(self.model_fields_set) | set(update))
        return clone

    def __copy__(self) -> BaseModel:
        clone = type(self).__new__(type(self))
        object.__setattr__(clone, "__dict__", dict(self.__dict__))
        object.__setattr__(clone, "__pydantic_fields_set__", set(self.model_fields_set))
        object.__setattr__(clone, "__pydantic_extra__", None)
        object.__setattr__(clone, "__pydantic_private__", None)
        return clone

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {name: _dump(getattr(self, name)) for name in self.model_fields}

    def __setattr__(self, name: str, value: Any) -> None:
        if self.model_config.get("frozen"):
            raise TypeError(f"{type(self).__name__} is frozen; {name} cannot be assigned")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.model_fields)

    def __hash__(self) -> int:
        if not self.model_config.get("frozen"):
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash((type(self), tuple(getattr(self, n) for n in self.model_fields)))

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n, None)!r}" for n in self.model_fields)
        return f"{type(self).__name__}({body})"


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return type(value)(_dump(v) for v in value)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def install() -> None:
    """Make ``from pydantic import …`` give this module's names, for the rest of this process.

    Refused once real pydantic is loaded: classes built on it cannot mix with plain ones.
    """
    here = sys.modules[__name__]
    if sys.modules.get(NAME) is here:
        return
    if NAME in sys.modules:
        raise RuntimeError("pydantic is already loaded in this process; the plain models can "
                           "only be installed before any configuration module is imported")
    sys.modules[NAME] = here
