"""The one severity vocabulary: rank, labels, paging and colour, written once.

Every part of firegate that orders, names, pages or paints a severity reads it here: the rules
(which emit them), the ledger (which ranks and sorts them), the notifier (which pages them), the
live view, the SMS text and the dashboards. Labels follow the four-level scale used in Chinese
campus safety plans (特急/严重/一般/提示); ``info`` is a recorded event that never pages (a breaker
switched off by hand, a scheduled cut).

Colours are the control room's: red, orange, yellow and blue for the alarm levels, green for
normal, and purple for 失联 (not heard from), which must never look like an alarm level nor like
normal (see gateway/dashboards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "major", "minor", "warning", "info"]
AlarmSeverity = Literal["critical", "major", "minor", "warning"]
"""What a rule may raise an alarm with, and what the configuration may set (not ``info``)."""


@dataclass(frozen=True, slots=True)
class Level:
    """One severity: ``rank`` orders them (higher is worse)."""

    name: Severity
    rank: int
    zh: str
    en: str
    pages: bool
    colour: str


LEVELS: tuple[Level, ...] = (
    Level("info", 0, "记录", "info", False, "text"),
    Level("warning", 1, "提示", "warning", True, "blue"),
    Level("minor", 2, "一般", "minor", True, "yellow"),
    Level("major", 3, "严重", "major", True, "orange"),
    Level("critical", 4, "特急", "critical", True, "red"),
)
"""Lowest first."""

BY_NAME: dict[str, Level] = {lv.name: lv for lv in LEVELS}
SEVERITIES: tuple[Severity, ...] = tuple(lv.name for lv in LEVELS)
ALARM_SEVERITIES: tuple[AlarmSeverity, ...] = ("warning", "minor", "major", "critical")
"""The severities a rule may raise an alarm with (``info`` is an event, not an alarm), lowest
first: an index into this orders them like :func:`rank`."""
assert ALARM_SEVERITIES == tuple(lv.name for lv in LEVELS if lv.pages)

NORMAL_ZH, NORMAL_COLOUR = "正常", "green"
SILENT_ZH, SILENT_COLOUR = "失联", "purple"


def rank(severity: str) -> int:
    """Rank of a severity; an unknown name ranks as ``major`` so it is never under-ranked."""
    level = BY_NAME.get(severity)
    return level.rank if level is not None else BY_NAME["major"].rank


def by_rank(value: int) -> Severity:
    """The severity of a rank, clamped to the scale."""
    return LEVELS[max(0, min(len(LEVELS) - 1, value))].name


def label_zh(severity: str) -> str:
    """The Chinese label an operator reads; an unknown name is shown as it is."""
    level = BY_NAME.get(severity)
    return level.zh if level is not None else severity


def pages(severity: str) -> bool:
    """Whether a raised alarm of this severity pages the on-call staff."""
    level = BY_NAME.get(severity)
    return level.pages if level is not None else True
