"""The one way firegate opens a SQLite store: private file, WAL, one transaction helper.

Every store under the data directory (``ledger.sqlite``, ``outbox.sqlite``, ``notify.sqlite``,
``actions.sqlite``) is opened here, so they all get the same guarantees:

- the file is created 0640 before SQLite opens it, so its ``-wal`` and ``-shm`` files (which
  SQLite creates with the database's mode) start private too: alarm history and phone numbers
  are not for every local user;
- WAL journal (readers never block the writer; a shell ``firegate alarms ack`` can write while
  the gateway runs) with ``synchronous=NORMAL`` unless the store asks for more: in WAL mode that
  survives a killed process, and a store that needs power-cut durability for one commit raises
  it for that commit (the outbox's ``put_alarm``);
- ``transaction()``: ``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception, under a
  re-entrant lock so a store shared between the event loop and a worker thread stays coherent.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from gateway.security import FILE_MODE


class SqliteStore:
    """``SqliteStore(path, schema=SQL)``; ``with store.transaction() as db: ...``; ``close()``."""

    def __init__(self, path: str | Path, *, schema: str, timeout_s: float = 10.0,
                 synchronous: str = "NORMAL", pragmas: Iterable[str] = (),
                 check_same_thread: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                  check_same_thread=check_same_thread)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            for pragma in pragmas:
                self.db.execute(f"PRAGMA {pragma}")
            self.db.executescript(schema)
        except BaseException:
            self.db.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``IMMEDIATE``): no lock upgrade can fail half
        way through, and a concurrent writer waits ``timeout_s`` instead of failing."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
