"""Validate the configuration in a short-lived child; give the running gateway plain objects.

``firegate run`` calls :func:`load_for_runtime`. It starts ``python -m gateway.config.snapshot
CONFIG FD``, which loads and validates the configuration and the device profiles with pydantic
exactly as ``firegate check`` does, prints every problem with its file and line as ``check``
does, and writes the validated objects, pickled, to the pipe ``FD``. The parent then registers
:mod:`gateway.config.plain` as ``pydantic`` and unpickles: the same classes, built on a plain
base, so the process that runs for months never loads pydantic (why: gateway/config/plain.py).
The pipe is private to the two processes; secrets cross it as they were resolved, never a file.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import plain

if TYPE_CHECKING:
    from drivers.profiles import Profile
    from gateway.config.models import Config

Loaded = tuple["Config", dict[str, "Profile"]]
EXIT_INVALID = 2


class _Pickler(pickle.Pickler):
    """pydantic's models pickle by reference to their own modules (ours); its ``SecretStr``
    would name ``pydantic.types``, which the runtime does not have, so it becomes the plain one.
    Anything else of pydantic's reaching the pickle is a bug, said here rather than at start."""

    def reducer_override(self, obj: Any) -> Any:
        module = type(obj).__module__
        if isinstance(obj, type) or not module.startswith("pydantic"):  # classes by name
            return NotImplemented
        if type(obj).__name__ == "SecretStr":
            return plain.SecretStr, (obj.get_secret_value(),)
        raise TypeError(f"a {module}.{type(obj).__name__} in the validated configuration "
                        "cannot be handed to the runtime (gateway/config/plain.py)")


def dumps(loaded: Loaded) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(loaded)
    return out.getvalue()


def _validate(path: Path) -> Loaded | None:
    """The configuration and its profiles, or None after printing every problem."""
    from gateway.config.models import ConfigError, Problem, load_config, load_profiles_for

    warned: list[Problem] = []
    try:
        cfg = load_config(path, warnings=warned)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        return None
    # What ``firegate check`` warns about, said once at start (the journal keeps it).
    for w in warned:
        print(f"warning: {w}", file=sys.stderr)
    return cfg, load_profiles_for(cfg)


def load_for_runtime(path: Path) -> Loaded | None:
    """The validated configuration as plain objects, or None after its problems were printed.

    When pydantic is already loaded in this process (a test calling the CLI in-process), the
    configuration is validated here and kept as pydantic objects: plain and pydantic classes
    cannot live side by side.
    """
    if "pydantic" in sys.modules and sys.modules["pydantic"] is not plain:
        return _validate(path)
    read, write = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-m", "gateway.config.snapshot", str(path),
                                  str(write)], pass_fds=(write,))
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    status = child.wait()
    if status == EXIT_INVALID:
        return None
    if status != 0 or not data:
        print(f"error: {path}: validating the configuration failed (exit status {status}; "
              "its output is above); nothing was started", file=sys.stderr)
        return None
    plain.install()
    loaded: Loaded = pickle.loads(data)
    return loaded


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING,  # as the parent logs (gateway/cli/main.py)
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path, fd = Path(argv[0]), int(argv[1])
    loaded = _validate(path)
    if loaded is None:
        return EXIT_INVALID
    with os.fdopen(fd, "wb") as out:
        out.write(dumps(loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
