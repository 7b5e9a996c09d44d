"""A configuration as plain JSON, field by field, the same for pydantic and plain models.

``python -m tests.support.configwalk CONFIG`` loads CONFIG the way ``firegate run`` does
(validated in a child, unpickled onto gateway/config/plain.py) and prints the walk; the test
compares it with the walk of the configuration validated in the test's own process.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path, PurePath
from typing import Any


def walk(value: Any) -> Any:
    """Every field of every model (with which fields the file set: rule overrides depend on
    it), secrets revealed: what the runtime sees, nothing left out."""
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):
        out = {name: walk(getattr(value, name)) for name in fields}
        out["__class__"] = f"{type(value).__module__}.{type(value).__qualname__}"
        out["__set__"] = sorted(value.model_fields_set)
        return out
    if hasattr(value, "get_secret_value"):
        return {"secret": value.get_secret_value()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, PurePath):
        return {"path": str(value)}
    if isinstance(value, dict):
        return {"dict": [[walk(k), walk(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [walk(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"set": sorted(json.dumps(walk(v), sort_keys=True) for v in value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, type):
        return {"type": f"{value.__module__}.{value.__qualname__}"}
    return {"repr": f"{type(value).__module__}.{type(value).__qualname__}", "v": repr(value)}


if __name__ == "__main__":
    from gateway.config.snapshot import load_for_runtime

    loaded = load_for_runtime(Path(sys.argv[1]))
    assert loaded is not None, "the configuration did not load"
    assert sys.modules["pydantic"].__name__ == "gateway.config.plain"
    print(json.dumps({"config": walk(loaded[0]), "profiles": walk(loaded[1]),
                      "pydantic_core": "pydantic_core" in sys.modules}, sort_keys=True))
