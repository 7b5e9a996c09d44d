"""``firegate alarms …``: the ledger from the shell, for the duty officer and the review.

Exit codes: 0 done, 1 no such alarm, 2 bad input (a refused close, a bad date, an unreadable
configuration, a refused maintenance or shelving), 3 the gateway has not answered a maintenance
or shelving request yet. Works while the gateway runs: the ledger is SQLite in WAL mode.

``shelve`` and ``maintenance`` write a request to the ledger; the running gateway decides it
(see ``gateway/alarms/suppression.py``: never a live fire alarm, never longer than
``rules.suppression.max_h``) and the command prints its answer.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from gateway.alarms.ledger import CATEGORIES, Alarm, Ledger, LedgerError, by_severity, parse_when
from gateway.alarms.review import build, write_csv, write_html
from gateway.inbound.guard import escape_controls

OK, NOT_FOUND, BAD_INPUT, PENDING = 0, 1, 2, 3
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 3600.0}


def duration_s(text: str) -> float:
    """``90m``, ``2h``, ``1.5`` (hours), ``1d`` as seconds."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise LedgerError(f"--for {text!r} is not a duration: write e.g. 30m, 2h or 1d")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alarms`` to the top-level ``firegate`` parser's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "alarms", help="list, acknowledge, close and export alarms from the ledger")
    sub = p.add_subparsers(dest="alarms_cmd", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        where = sp.add_mutually_exclusive_group()
        where.add_argument("-c", "--config", help="gateway configuration (finds the data dir)")
        where.add_argument("--data-dir", help="the gateway's data directory")

    ls = sub.add_parser("list", help="alarms, open ones by default")
    common(ls)
    ls.add_argument("--state", default="open",
                    help="open (default), all, raised, acknowledged, cleared or closed")
    ls.add_argument("--since", help="first raised on or after (YYYY-MM-DD [HH:MM], local)")
    ls.add_argument("--lang", choices=("zh", "en"), default="zh")

    ack = sub.add_parser("ack", help="acknowledge an alarm")
    common(ack)
    ack.add_argument("id")
    ack.add_argument("--by", required=True, help="who acknowledges")

    close = sub.add_parser("close", help="close a cleared alarm with a category and a note (销号)")
    common(close)
    close.add_argument("id")
    close.add_argument("--by", required=True, help="who closes")
    close.add_argument("--category", required=True, metavar="CATEGORY",
                       help=f"for the review: {', '.join(CATEGORIES)}")
    close.add_argument("--note", required=True, help="what was found and done")

    assign = sub.add_parser("assign", help="give an open alarm a responsible person and a "
                            "deadline (整改期限)")
    common(assign)
    assign.add_argument("id")
    assign.add_argument("--to", required=True, help="the person responsible for the fix")
    assign.add_argument("--due", required=True,
                        help="deadline, YYYY-MM-DD [HH:MM] local (a date alone: end of day)")
    assign.add_argument("--by", required=True, help="who assigns")

    over = sub.add_parser("overdue", help="open alarms past their deadline")
    common(over)

    rev = sub.add_parser("review", help="the two-monthly review: counts, false-alarm rate, "
                         "times, overdue items, repeat rooms")
    common(rev)
    rev.add_argument("--from", dest="from_", help="YYYY-MM-DD local (default: 60 days before "
                     "--to)")
    rev.add_argument("--to", help="YYYY-MM-DD local, exclusive (default: now)")
    rev.add_argument("--building", help="one building's id (default: every building)")
    rev.add_argument("--format", choices=("csv", "html"), required=True)

    hist = sub.add_parser("history", help="every transition of one alarm")
    common(hist)
    hist.add_argument("id")

    def suppression(sp: argparse.ArgumentParser) -> None:
        common(sp)
        sp.add_argument("--by", required=True, help="who asks")
        sp.add_argument("--why", default="", help="what work or test (required to start)")
        sp.add_argument("--for", dest="for_", help="how long: 30m, 2h, 1d (default "
                        "rules.suppression.default_h, at most max_h)")
        sp.add_argument("--end", action="store_true", help="end it now")
        sp.add_argument("--wait", type=float, default=10.0,
                        help="seconds to wait for the gateway's answer (default 10)")

    shelve = sub.add_parser("shelve", help="stop one rule of a device from paging for a while")
    shelve.add_argument("device")
    shelve.add_argument("rule")
    suppression(shelve)

    maint = sub.add_parser("maintenance", help="put a device in maintenance for a while "
                           "(its alarms are recorded, nobody is paged)")
    maint.add_argument("device")
    suppression(maint)

    sup = sub.add_parser("suppressions", help="maintenance and shelving: active ones, or all "
                         "requests with --all")
    common(sup)
    sup.add_argument("--all", action="store_true", help="every request, refused and ended too")

    exp = sub.add_parser("export", help="CSV for the two-monthly review")
    common(exp)
    exp.add_argument("--from", dest="from_", required=True, help="YYYY-MM-DD (local)")
    exp.add_argument("--to", required=True, help="YYYY-MM-DD (local, exclusive)")
    exp.add_argument("--out", help="file to write (default: standard output)")
    exp.add_argument("--summary", action="store_true",
                     help="one row per building and rule instead of one per alarm")
    p.set_defaults(func=run)
    return p


def _open(args: argparse.Namespace) -> tuple[Ledger | None, str]:
    """The ledger the arguments point at, or None and why not."""
    args.names = {}
    utc_offset = 8.0
    repeat_s = 7 * 86400.0
    repeats = None
    if args.config:
        from gateway.config.models import ConfigError, load_config

        try:
            cfg = load_config(args.config, check_profiles=False)
        except ConfigError as exc:
            return None, f"cannot use the configuration:\n{exc}"
        data_dir = Path(cfg.gateway.data_dir)
        if cfg.gateway.building_name:
            args.names = {cfg.gateway.building: cfg.gateway.building_name}
        utc_offset = cfg.rules.utc_offset_h
        repeat_s = cfg.rules.repeat_window_h * 3600.0
        repeats = cfg.rules.repeats
    elif args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        return None, "say where the ledger is: -c CONFIG or --data-dir DIR"
    path = data_dir / "ledger.sqlite"
    if not path.exists():
        return None, f"no ledger at {path}: has the gateway run with this data directory?"
    return Ledger(path, repeat_window_s=repeat_s, utc_offset_h=utc_offset, repeats=repeats), ""


def run(args: argparse.Namespace) -> int:
    ledger, why = _open(args)
    if ledger is None:
        print(f"firegate alarms: {why}", file=sys.stderr)
        return BAD_INPUT
    with ledger:
        try:
            return _COMMANDS[args.alarms_cmd](ledger, args)
        except KeyError as exc:
            print(f"firegate alarms: {exc.args[0]}", file=sys.stderr)
            return NOT_FOUND
        except LedgerError as exc:
            print(f"firegate alarms: {exc}", file=sys.stderr)
            return BAD_INPUT


def _list(ledger: Ledger, args: argparse.Namespace) -> int:
    since = parse_when(args.since, _offset(ledger)) if args.since else None
    state = None if args.state == "all" else args.state
    alarms = by_severity(ledger.list(state=state, since=since))  # the worst, then the newest
    for a in alarms:
        print(_line(ledger, a, args.lang))
    if not alarms:
        print("no alarms" if args.lang == "en" else "没有报警", file=sys.stderr)
    return OK


def _line(ledger: Ledger, a: Alarm, lang: str) -> str:
    msg = a.message_zh if lang == "zh" else a.message_en
    extra = f" repeat×{a.repeat_count}" if a.repeat_count else ""
    if a.occurrence > 1:  # raised again while open: the ack must name this occurrence
        extra += f" occurrence {a.occurrence_id}"
    if a.assignee:
        extra += f" → {a.assignee} by {ledger.local(a.due_at)[:10]}"
    if a.category:
        extra += f" [{a.category}]"
    if a.suppressed:
        extra += f" [{a.suppressed}]"
    # Escaped: notes, names and messages may hold what a terminal would obey (escape codes).
    return escape_controls(
        f"{a.id}  {ledger.local(a.first_raised_at)}  {a.severity:<8} {a.state:<12} "
        f"{a.rule:<17} {a.device}{'/' + a.channel if a.channel else ''}{extra}  {msg}")


def _ack(ledger: Ledger, args: argparse.Namespace) -> int:
    tr = ledger.ack(args.id, who=args.by, via="cli", ts=time.time())
    print(f"{tr[0].id} acknowledged by {args.by}")
    return OK


def _close(ledger: Ledger, args: argparse.Namespace) -> int:
    tr = ledger.close(args.id, who=args.by, note=args.note, ts=time.time(),
                      category=args.category)
    print(f"{tr[0].id} closed by {args.by} as {args.category}")
    return OK


def _assign(ledger: Ledger, args: argparse.Namespace) -> int:
    due = parse_when(args.due, _offset(ledger))
    if len(args.due.strip()) == 10:  # a date alone: the end of that day
        due += 86400.0 - 1.0
    tr = ledger.assign(args.id, to=args.to, due=due, who=args.by, ts=time.time())
    print(f"{tr[0].id} assigned to {args.to} by {args.by}, due {ledger.local(due)}")
    return OK


def _overdue(ledger: Ledger, args: argparse.Namespace) -> int:
    now = time.time()
    items = by_severity(ledger.overdue(now))
    for a in items:
        days = (now - (a.due_at or now)) / 86400.0
        print(f"{a.id}  due {ledger.local(a.due_at)}  {days:.1f} d over  {a.assignee}  "
              f"{a.severity:<8} {a.rule:<17} {a.location or a.room or ''}  {a.message_zh}")
    if not items:
        print("没有超期未整改的报警", file=sys.stderr)
    return OK


def _review(ledger: Ledger, args: argparse.Namespace) -> int:
    off = _offset(ledger)
    now = time.time()
    end = parse_when(args.to, off) if args.to else now
    start = parse_when(args.from_, off) if args.from_ else end - 60 * 86400.0
    if end <= start:
        raise LedgerError(f"--to {args.to} must be after --from {args.from_}")
    rv = build(ledger.list(since=start, until=end), ledger.open_alarms(), start, end, now,
               ledger.tz, building=args.building, names=getattr(args, "names", {}))
    if args.building and not rv.alarms and not rv.overdue:
        known = sorted({a.building for a in ledger.list()})
        raise LedgerError(f"no alarms of building {args.building!r} in the period; buildings "
                          f"in this ledger: {', '.join(known) or 'none'}")
    if args.format == "csv":
        write_csv(rv, sys.stdout)
    else:
        write_html(rv, sys.stdout)
    return OK


def _history(ledger: Ledger, args: argparse.Namespace) -> int:
    items = ledger.history(args.id)
    if not items:
        raise KeyError(f"no alarm {args.id!r} in the ledger {ledger.path}")
    for h in items:
        ev = h.event
        who = h.closed_by if ev == "close" else h.acked_by if ev == "ack" else \
            h.assigned_by if ev == "assign" else None
        more = f"[{h.category}] " if ev == "close" and h.category else ""
        if ev == "assign":
            more = f"to {h.assignee} due {ledger.local(h.due_at)} "
        elif ev == "overdue":
            more = f"escalated to level {h.overdue_level}: {h.escalated_to or ''} "
        occ = f"#{h.occurrence}"
        # A note or a name can hold terminal escape codes or line breaks: shown, never obeyed.
        print(escape_controls(
            f"{h.seq:>3} {occ:>3} {ledger.local(h.ts)}  {ev:<7} {h.state:<12} "
            f"{h.severity:<8} {('by ' + who) if who else ''} {more}"
            f"{(h.note or '') if ev == 'close' else ''}  {h.message_zh}".rstrip()))
    return OK


def _suppress(ledger: Ledger, args: argparse.Namespace) -> int:
    kind = "shelve" if args.alarms_cmd == "shelve" else "maintenance"
    for_s = duration_s(args.for_) if args.for_ else None
    now = time.time()
    sid = ledger.request_suppression(
        kind=kind, op="end" if args.end else "start", device=args.device,
        rule=getattr(args, "rule", "*"), who=args.by, via="cli", why=args.why,
        until_ts=None if for_s is None else now + for_s, ts=now)
    deadline = time.monotonic() + max(0.0, args.wait)
    row = ledger.suppression(sid)
    while row is not None and row.state == "requested" and time.monotonic() < deadline:
        time.sleep(0.1)
        row = ledger.suppression(sid)
    if row is None or row.state == "requested":
        print(f"firegate alarms: request {sid} recorded, but the gateway has not answered "
              f"within {args.wait:g} s: is it running with this data directory?",
              file=sys.stderr)
        return PENDING
    if row.state == "refused":
        print(f"firegate alarms: refused: {row.outcome}", file=sys.stderr)
        return BAD_INPUT
    print(row.outcome)
    return OK


def _suppressions(ledger: Ledger, args: argparse.Namespace) -> int:
    rows = ledger.suppressions(None if args.all else "active")
    for r in rows:
        what = "maintenance" if r.kind == "maintenance" else f"shelve {r.rule}"
        end = f" ended {ledger.local(r.ended_at)} ({r.end_reason})" if r.ended_at else ""
        print(f"{r.id:>4} {r.state:<9} {r.device:<12} {what:<26} "
              f"until {ledger.local(r.until_ts)}  by {r.who} via {r.via}: "
              f"{r.why}{end}" + (f"  [{r.outcome}]" if r.state == "refused" else ""))
    if not rows:
        print("no maintenance or shelving" + ("" if args.all else " active"), file=sys.stderr)
    return OK


def _export(ledger: Ledger, args: argparse.Namespace) -> int:
    off = _offset(ledger)
    start, end = parse_when(args.from_, off), parse_when(args.to, off)
    if end <= start:
        raise LedgerError(f"--to {args.to} must be after --from {args.from_}")
    n = ledger.export_csv(start, end, args.out or sys.stdout, summary=args.summary)
    if args.out:
        print(f"{n} rows written to {args.out}", file=sys.stderr)
    return OK


def _offset(ledger: Ledger) -> float:
    off = ledger.tz.utcoffset(None)
    return off.total_seconds() / 3600.0 if off is not None else 8.0


_COMMANDS = {"list": _list, "ack": _ack, "close": _close, "history": _history,
             "export": _export, "shelve": _suppress, "maintenance": _suppress,
             "suppressions": _suppressions, "assign": _assign, "overdue": _overdue,
             "review": _review}


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry for tests and before the lead wires ``alarms`` into ``firegate``."""
    parser = argparse.ArgumentParser(prog="firegate")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
