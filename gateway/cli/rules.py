"""``firegate rules replay``: a recorded meter trace through one device's rules, offline.

A building checks what its rule settings would have raised on its own recordings before it
changes them: the trace (``drivers/trace.py``) is played at full speed on simulated time, the
device's rules as configured (kind, ratings, per-device overrides, the appliance policy), and
every alarm transition is printed as one JSON line::

    {"t_s": 8.0, "rule": "malicious_load", "state": "raised", "severity": "major", ...}

``t_s`` is seconds from the first row; ``--start`` says what local time that row was (so night
rules and allowed hours apply as they would have), by default 00:00 of 2026-01-05, a Monday.
Exit codes: 0 done, 2 bad input (configuration, device, trace: the message names the line).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from drivers.trace import Trace, TraceError, read_trace

BAD_INPUT = 2
DEFAULT_START = "2026-01-05T00:00:00"
STATES = {"raise": "raised", "update": "updated", "clear": "cleared"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``rules`` to the top-level ``firegate`` parser's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "rules", help="try the rules offline on recorded data")
    sub = p.add_subparsers(dest="rules_cmd", required=True, metavar="COMMAND")
    rp = sub.add_parser("replay", help="a recorded meter trace (CSV) through a device's rules; "
                        "one JSON line per alarm transition")
    rp.add_argument("-c", "--config", required=True, help="the gateway configuration")
    rp.add_argument("--device", required=True, help="the configured device the trace is from")
    rp.add_argument("--trace", required=True, help="CSV: t_s,power_w and power_factor or "
                    "reactive_power_var; optional voltage_v, current_a")
    rp.add_argument("--start", default=DEFAULT_START,
                    help="ISO-8601 local time of the first row (default %(default)s); an "
                    "offset such as +08:00 overrides the configured utc_offset_h")
    p.set_defaults(func=run)
    return p


def start_epoch(text: str, utc_offset_h: float) -> float:
    """Seconds since the epoch of ``text``, local time of the building unless it has an offset."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone(timedelta(hours=utc_offset_h)))
    return when.timestamp()


def replay(engine: Any, device: str, trace: Trace, t0: float) -> list[dict[str, Any]]:
    """Feed every row as a snapshot at ``t0 + t_s``; the transitions as JSON-ready dicts."""
    from rules.model import Snapshot

    out: list[dict[str, Any]] = []
    cols = list(trace.values)
    first = trace.t_s[0]
    feed = engine.feed
    for i, (t, *vals) in enumerate(zip(trace.t_s, *trace.values.values(), strict=True)):
        events = feed(Snapshot(device, t0 + t - first, True, dict(zip(cols, vals, strict=True)),
                               (), "fast"))
        for e in events:
            out.append({"t_s": round(t - first, 3), "row": i + 1, "rule": e.rule,
                        "state": STATES.get(e.kind, e.kind), "severity": e.severity,
                        "channel": e.channel, "value": e.value, "threshold": e.threshold,
                        "message_en": e.message_en, "message_zh": e.message_zh})
    return out


def run(args: argparse.Namespace) -> int:
    from gateway.config.models import ConfigError, load_config, load_profiles_for
    from gateway.runtime.gateway import device_info
    from rules.engine import Engine

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        for prob in exc.problems:
            print(f"error: {prob}", file=sys.stderr)
        return BAD_INPUT
    dev = next((d for d in cfg.devices if d.id == args.device), None)
    if dev is None:
        known = ", ".join(d.id for d in cfg.devices[:20])
        print(f"error: {args.config}: no device {args.device!r}; devices: {known}",
              file=sys.stderr)
        return BAD_INPUT
    try:
        t0 = start_epoch(args.start, cfg.rules.utc_offset_h)
    except ValueError as exc:
        print(f"error: --start {args.start!r}: not an ISO-8601 time ({exc}); write it like "
              f"2026-01-05T22:30:00", file=sys.stderr)
        return BAD_INPUT
    try:
        trace = read_trace(args.trace)
    except TraceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    profiles = load_profiles_for(cfg)
    info = device_info(cfg, dev, profiles[dev.profile])
    engine = Engine(cfg.rules, {dev.id: info})
    lines = replay(engine, dev.id, trace, t0)
    sys.stdout.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    print(f"{args.trace}: {len(trace)} rows over {trace.duration_s / 3600:.2f} h, "
          f"{len(lines)} transitions", file=sys.stderr)
    return 0
