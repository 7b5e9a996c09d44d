"""``firegate action DEVICE ACTION --by NAME --reason TEXT [-c CONFIG] [--dry-run]``.

The running gateway owns the serial lines, so this command does not write to a device itself: it
hands the request to the gateway through the data directory (``gateway.actions.requests``), waits
for the gateway to check, write, read back and audit it, and prints the audited result. Run it as
the gateway's user (``sudo -u firegate firegate action …``): the data directory is private to it.

Exit codes: 0 done (or dry run), 1 refused or failed, 2 bad input, 3 no running gateway took the
request in time (it was withdrawn and will not happen later).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DONE, REFUSED, BAD_INPUT, NO_GATEWAY = 0, 1, 2, 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "action", help="ask the running gateway for a named action on a device (audited)")
    p.add_argument("device", help="device id from the configuration")
    p.add_argument("action", help="an action the device's profile offers and the configuration "
                   "enables (e.g. cut_socket, restore_socket, silence_buzzer)")
    p.add_argument("--by", required=True, help="who asks (must be in actions.operators)")
    p.add_argument("--reason", required=True, help="why: goes into the audit")
    p.add_argument("-c", "--config", required=True, type=Path, help="the gateway's configuration")
    p.add_argument("--dry-run", action="store_true", help="check and audit, but write nothing")
    p.add_argument("--wait", type=float, default=20.0,
                   help="seconds to wait for the gateway's answer (default 20)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gateway.actions.requests import FILE, RequestQueue
    from gateway.config.models import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"firegate action: cannot use the configuration:\n{exc}", file=sys.stderr)
        return BAD_INPUT
    dev = next((d for d in cfg.devices if d.id == args.device), None)
    if dev is None:
        print(f"firegate action: no device {args.device!r} in {args.config}", file=sys.stderr)
        return BAD_INPUT
    data = Path(cfg.gateway.data_dir)
    if not (data / FILE).exists():
        print(f"firegate action: {data / FILE} does not exist: is the gateway running with "
              f"this configuration (and are you its user)?", file=sys.stderr)
        return NO_GATEWAY
    with RequestQueue(data) as queue:
        rid = queue.submit(args.device, args.action, args.by, args.reason, args.dry_run)
        end = time.monotonic() + args.wait
        poll = min(0.2, cfg.actions.request_poll_s / 2)
        while (res := queue.result(rid)) is None:
            if time.monotonic() > end:
                if queue.withdraw(rid):
                    print(f"firegate action: no running gateway took the request within "
                          f"{args.wait:g} s; it was withdrawn and will not be carried out",
                          file=sys.stderr)
                    return NO_GATEWAY
                end = time.monotonic() + 30  # taken: the answer is on its way
            time.sleep(poll)
    print(_line(res))
    return DONE if res["outcome"] in ("done", "dry_run") else REFUSED


def _line(res: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(res["ts"]))
    return (f"{res['outcome'].upper()}: {res['action']} on {res['device']} by {res['who']} at "
            f"{when} (audit #{res['audit_id']}): {res['detail']}")
