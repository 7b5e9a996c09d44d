"""``firegate alarms …``: the ledger from the shell, for the duty officer and the review.

Exit codes: 0 done, 1 no such alarm, 2 bad input (a refused close, a bad date, an unreadable
configuration). Works while the gateway runs: the ledger is SQLite in WAL mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from gateway.alarms.ledger import Alarm, Ledger, LedgerError, parse_when
from gateway.inbound.guard import escape_controls

OK, NOT_FOUND, BAD_INPUT = 0, 1, 2


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

    close = sub.add_parser("close", help="close a cleared alarm with a note (销号)")
    common(close)
    close.add_argument("id")
    close.add_argument("--by", required=True, help="who closes")
    close.add_argument("--note", required=True, help="what was found and done")

    hist = sub.add_parser("history", help="every transition of one alarm")
    common(hist)
    hist.add_argument("id")

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
    utc_offset = 8.0
    repeat_s = 7 * 86400.0
    if args.config:
        from gateway.config.models import ConfigError, load_config

        try:
            cfg = load_config(args.config, check_profiles=False)
        except ConfigError as exc:
            return None, f"cannot use the configuration:\n{exc}"
        data_dir = Path(cfg.gateway.data_dir)
        utc_offset = cfg.rules.utc_offset_h
        repeat_s = cfg.rules.repeat_window_h * 3600.0
    elif args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        return None, "say where the ledger is: -c CONFIG or --data-dir DIR"
    path = data_dir / "ledger.sqlite"
    if not path.exists():
        return None, f"no ledger at {path}: has the gateway run with this data directory?"
    return Ledger(path, repeat_window_s=repeat_s, utc_offset_h=utc_offset), ""


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
    alarms = ledger.list(state=state, since=since)
    for a in alarms:
        print(_line(ledger, a, args.lang))
    if not alarms:
        print("no alarms" if args.lang == "en" else "没有报警", file=sys.stderr)
    return OK


def _line(ledger: Ledger, a: Alarm, lang: str) -> str:
    msg = a.message_zh if lang == "zh" else a.message_en
    extra = f" repeat×{a.repeat_count}" if a.repeat_count else ""
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
    tr = ledger.close(args.id, who=args.by, note=args.note, ts=time.time())
    print(f"{tr[0].id} closed by {args.by}")
    return OK


def _history(ledger: Ledger, args: argparse.Namespace) -> int:
    items = ledger.history(args.id)
    if not items:
        raise KeyError(f"no alarm {args.id!r} in the ledger {ledger.path}")
    for h in items:
        who = h.closed_by if h.event == "close" else h.acked_by if h.event == "ack" else None
        # A note or a name can hold terminal escape codes or line breaks: shown, never obeyed.
        print(escape_controls(
            f"{h.seq:>3} {ledger.local(h.ts)}  {h.event:<6} {h.state:<12} "
            f"{h.severity:<8} {('by ' + who) if who else ''} {h.note or ''}"
            f"  {h.message_zh}".rstrip()))
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
             "export": _export}


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry for tests and before the lead wires ``alarms`` into ``firegate``."""
    parser = argparse.ArgumentParser(prog="firegate")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
