"""Keeping secrets and stores private: file modes of the data directory, and no secret in logs.

The gateway runs as an unprivileged user (see ``deploy/gateway/firegate.service``); its ledger
holds names and phone numbers, so the data directory is 0750 and the databases 0640: the service
group may read them for backups, nobody else. Secrets (MQTT password, InfluxDB token, SMS keys)
come from the environment or from files; whatever path a message takes to a log, the redaction
filter replaces a secret's text with ``***`` so a pasted log never leaks one.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

DIR_MODE = 0o750
FILE_MODE = 0o640
STORE_SUFFIXES = (".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal")
SECRET_NAME = re.compile(r"pass|token|secret|key|pwd|credential", re.IGNORECASE)
MIN_SECRET_LEN = 4
MASK = "***"


class DataDirError(OSError):
    """The data directory cannot be used; the message says why and what to do."""


def data_dir_problems(data: Path) -> list[str]:
    """Why the gateway could not keep its stores in ``data``: a symlink (whose target the
    gateway would chmod), not a directory, or not writable (a read-only mount, wrong owner).
    Written to by creating and removing a file, as the gateway will."""
    data = Path(os.path.abspath(data))
    if data.is_symlink():
        return [f"data_dir {data} is a symbolic link (to {os.readlink(data)}); give the real "
                "directory: the gateway would tighten the modes of what it points to"]
    probe = data
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return [f"data_dir {data}: {probe} is not a directory"]
    try:
        fd, name = tempfile.mkstemp(prefix=".firegate-check-", dir=probe)
    except OSError as exc:
        what = "it" if probe == data else f"{probe}, where it would be created,"
        return [f"data_dir {data}: {what} is not writable by this user ({exc.strerror}); the "
                "gateway keeps its ledger and outbox there"]
    os.close(fd)
    os.unlink(name)
    return []


def prepare_data_dir(data: Path, stores: Iterable[str] = ("ledger.sqlite", "outbox.sqlite",
                                                          "actions.sqlite")
                     ) -> None:
    """Create the directory 0750 and the stores 0640 before SQLite opens them: SQLite gives its
    WAL and shared-memory files the mode of the database, so they start private too. Raises
    :class:`DataDirError` for a symlinked or unwritable directory."""
    problems = data_dir_problems(data)
    if problems:
        raise DataDirError(problems[0])
    # Created 0750 from the start: a directory the gateway makes itself is never reported as
    # "tightened" (the demo's temporary directory used to be, at every run).
    data.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for name in stores:
        path = data / name
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
            os.close(fd)


def loose_modes(data: Path) -> list[tuple[Path, int, int]]:
    """(path, mode now, mode it should have) for the directory and stores that are too open."""
    out: list[tuple[Path, int, int]] = []
    try:
        mode = stat.S_IMODE(data.stat().st_mode)
    except OSError:
        return out
    if mode & ~DIR_MODE:
        out.append((data, mode, mode & DIR_MODE))
    for path in sorted(data.iterdir()):
        if not path.name.endswith(STORE_SUFFIXES) or not path.is_file():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & ~FILE_MODE:
            out.append((path, mode, mode & FILE_MODE))
    return out


def tighten_data_dir(data: Path) -> list[str]:
    """Remove group write and every right of others; returns what was changed, in words."""
    changed = []
    for path, now, want in loose_modes(data):
        try:
            path.chmod(want)
        except OSError as exc:
            changed.append(f"cannot tighten {path} from {now:o} to {want:o}: {exc.strerror}")
            continue
        changed.append(f"tightened {path} from {now:o} to {want:o}")
    return changed


# --------------------------------------------------------------------------- secrets


def secret_values(model: Any) -> list[str]:
    """Every secret in a configuration: ``SecretStr`` fields, and text fields whose name says
    password, token, secret or key. Longest first, so a secret that contains another is masked
    whole."""
    found: set[str] = set()
    _walk(model, "", found)
    return sorted((s for s in found if len(s) >= MIN_SECRET_LEN), key=len, reverse=True)


def _walk(obj: Any, name: str, found: set[str]) -> None:
    if isinstance(obj, SecretStr):
        found.add(obj.get_secret_value())
    elif isinstance(obj, BaseModel):
        for field in type(obj).model_fields:
            _walk(getattr(obj, field, None), field, found)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, str(k), found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _walk(v, name, found)
    elif isinstance(obj, str) and SECRET_NAME.search(name) and not name.endswith("_file"):
        found.add(obj)


def redact(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and s in text:
            text = text.replace(s, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: formats the record's message and masks every known secret in it (and
    in an exception's text), so neither a log file nor the journal ever holds one."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("firegate-redact")
        self.secrets: list[str] = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string is logged as it is
            msg = str(record.msg)
        clean = redact(msg, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text, self.secrets)
            record.exc_info = None
        record.msg, record.args = clean, None
        return True


_installed: list[tuple[logging.Handler, RedactingFilter]] = []


def install_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Mask ``secrets`` in every handler of the root logger (and ones added later through
    :func:`logging.basicConfig` are covered by a last-resort filter on the root logger too)."""
    flt = RedactingFilter(secrets)
    root = logging.getLogger()
    for h in [*root.handlers, logging.lastResort]:
        if h is None:
            continue
        for old in [f for f in h.filters if isinstance(f, RedactingFilter)]:
            h.removeFilter(old)
        h.addFilter(flt)
        _installed.append((h, flt))
    return flt


def remove_redaction() -> None:
    while _installed:
        h, flt = _installed.pop()
        h.removeFilter(flt)
