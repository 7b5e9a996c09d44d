"""Recorded meter traces: a CSV a building exported from its own room meter, read as a source
of samples (for ``firegate rules replay`` and for a simulated meter that plays it back).

Columns (a header row names them, in any order): ``t_s`` (seconds from the first row, never
going backwards), ``power_w``, and ``power_factor`` or ``reactive_power_var`` (or both);
``voltage_v`` and ``current_a`` are optional. Empty lines and lines starting with ``#`` are
skipped. Every problem is a :class:`TraceError` naming the file and the line, because a
building's own export is the usual source of bad rows (a unit in a cell, a clock stepping back).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED = ("t_s", "power_w")
ONE_OF = ("power_factor", "reactive_power_var")
OPTIONAL = ("voltage_v", "current_a")
COLUMNS = (*REQUIRED, *ONE_OF, *OPTIONAL)


class TraceError(ValueError):
    """A trace that cannot be used; the message names the file and the line."""

    def __init__(self, source: str, line: int, msg: str) -> None:
        super().__init__(f"{source}:{line}: {msg}")
        self.source = source
        self.line = line


@dataclass
class Trace:
    """Columns of a trace, row by row; ``columns`` lists the value columns present."""

    source: str
    t_s: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.values)

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def duration_s(self) -> float:
        return self.t_s[-1] - self.t_s[0] if self.t_s else 0.0

    def rows(self) -> Iterator[tuple[float, dict[str, float]]]:
        """(t_s, {column: value}) per row, t_s from the first row."""
        cols = list(self.values.items())
        t0 = self.t_s[0] if self.t_s else 0.0
        for i, t in enumerate(self.t_s):
            yield t - t0, {k: v[i] for k, v in cols}

    def index_at(self, t: float) -> int:
        """The last row at or before ``t`` seconds from the first row (-1 before it)."""
        t0 = self.t_s[0] if self.t_s else 0.0
        return bisect.bisect_right(self.t_s, t + t0) - 1

    def row(self, i: int) -> dict[str, float]:
        return {k: v[i] for k, v in self.values.items()}


def _header(source: str, line: int, names: list[str]) -> list[str]:
    cols = [n.strip() for n in names]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise TraceError(source, line, f"missing column {', '.join(missing)}; a trace has "
                         f"t_s, power_w, and power_factor or reactive_power_var")
    if not any(c in cols for c in ONE_OF):
        raise TraceError(source, line, "missing column power_factor or reactive_power_var "
                         "(one of them is needed to tell a heater from a charger)")
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise TraceError(source, line, f"unknown column {unknown[0]!r}; columns: "
                         f"{', '.join(COLUMNS)}")
    dup = [c for c in cols if cols.count(c) > 1]
    if dup:
        raise TraceError(source, line, f"column {dup[0]!r} appears twice")
    return cols


def _number(source: str, line: int, col: str, cell: str) -> float:
    try:
        x = float(cell)
    except ValueError:
        raise TraceError(source, line, f"{col}: {cell.strip()!r} is not a number") from None
    if not math.isfinite(x):
        raise TraceError(source, line, f"{col}: {cell.strip()!r} is not a finite number")
    return x


def parse_trace(lines: Iterable[str], source: str = "<trace>") -> Trace:
    """A :class:`Trace` from CSV text lines; raises :class:`TraceError` at the first problem."""
    trace = Trace(source)
    cols: list[str] | None = None
    last = -math.inf
    for n, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        cells = next(csv.reader(io.StringIO(text))) if '"' in text else text.split(",")
        if cols is None:
            cols = _header(source, n, cells)
            trace.values = {c: [] for c in cols if c != "t_s"}
            continue
        if len(cells) != len(cols):
            raise TraceError(source, n, f"{len(cells)} values for {len(cols)} columns "
                             f"({', '.join(cols)})")
        for col, cell in zip(cols, cells, strict=True):
            x = _number(source, n, col, cell)
            if col == "t_s":
                if x < last:
                    raise TraceError(source, n, f"t_s goes backwards ({x:g} after {last:g})")
                last = x
                trace.t_s.append(x)
            else:
                if col == "power_factor" and not -1.0 <= x <= 1.0:
                    raise TraceError(source, n, f"power_factor: {x:g} is not within -1..1")
                trace.values[col].append(x)
    if cols is None:
        raise TraceError(source, 1, "empty trace: no header row (t_s,power_w,power_factor,...)")
    if not trace.t_s:
        raise TraceError(source, 2, "the trace has a header but no rows")
    return trace


def read_trace(path: Path | str) -> Trace:
    """The trace in ``path``; a file that cannot be read is a TraceError at line 0."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return parse_trace(f, str(path))
    except OSError as exc:
        raise TraceError(str(path), 0, f"cannot read the trace: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TraceError(str(path), 0, f"not UTF-8 text: {exc.reason}") from None
