"""``firegate desk -c desk.yaml`` (the control room's desk) and ``firegate desk user add NAME
--role viewer|operator|admin`` (password read from standard input, never from the command line,
where other users of the machine could see it in the process list)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

EXIT_INVALID = 2


def _config(args: argparse.Namespace) -> Any:
    from gateway.config.models import ConfigError
    from gateway.desk.config import load_desk_config

    path = getattr(args, "user_config", None) or args.config
    if path is None:
        print("error: say which desk configuration: firegate desk -c desk.yaml ...",
              file=sys.stderr)
        return None
    try:
        return load_desk_config(path)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "desk_command", None) == "user":
        return _user_add(args)
    cfg = _config(args)
    if cfg is None:
        return EXIT_INVALID
    from gateway.desk.service import run_desk

    try:
        return asyncio.run(run_desk(cfg))
    except KeyboardInterrupt:
        return 0


def _user_add(args: argparse.Namespace) -> int:
    from gateway.desk.auth import AuthError, add_user
    from gateway.desk.service import open_store

    cfg = _config(args)
    if cfg is None:
        return EXIT_INVALID
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ; nothing was changed", file=sys.stderr)
            return EXIT_INVALID
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store = open_store(cfg)
    try:
        add_user(store, args.name, password, args.role)
    except AuthError as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_INVALID
    finally:
        store.close()
    print(f"user {args.name} ({args.role}) saved in {cfg.desk.data_dir / 'desk.sqlite'}")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("desk", help="the control room's alarm desk (central web page)")
    p.add_argument("-c", "--config", type=Path, help="desk.yaml")
    sub = p.add_subparsers(dest="desk_command")
    u = sub.add_parser("user", help="manage the desk's users")
    usub = u.add_subparsers(dest="user_command", required=True)
    a = usub.add_parser("add", help="add a user or change their password and role (password "
                        "from standard input)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    a.add_argument("-c", "--config", dest="user_config", type=Path, help="desk.yaml")
    p.set_defaults(func=_run)
