"""The ``firegate`` command line: demo, run, check, simulate, alarms, dashboards, rules, desk."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config.models import Config

EXIT_INVALID = 2


def _cmd_check(args: argparse.Namespace) -> int:
    from gateway.config.models import ConfigError, Problem, load_config, load_profiles_for

    warned: list[Problem] = []
    try:
        cfg = load_config(args.config, warnings=warned)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{args.config}: {len(exc.problems)} problem(s); nothing was started.",
              file=sys.stderr)
        return EXIT_INVALID
    # Valid, but a hazard would be seen late or page nobody: said, not refused (a site may
    # mean it, e.g. a control room staffed around the clock instead of SMS).
    for problem in warned:
        print(f"warning: {problem}", file=sys.stderr)
    if args.plan:
        from drivers.device import DeviceReader

        profiles = load_profiles_for(cfg)
        plan = {
            d.id: [r.as_dict() for r in DeviceReader(d.id, profiles[d.profile], d.unit,
                                                     d.gap_fill).full_plan()]
            for d in cfg.devices if cfg.bus(d.bus).type != "gbt26875"  # frames, no reads
        }
        # One line per device: a plan of 150 rooms stays readable and diffable.
        rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in plan.items()]
        print("{\n" + ",\n".join(rows) + "\n}")
        from gateway.runtime.linebudget import warnings

        for w in warnings(cfg, profiles):
            print(f"warning: {w}", file=sys.stderr)
        return 0
    from gateway.runtime.linebudget import warnings as line_warnings

    # A line that cannot hold its classes polls the fire bits late: said by check alone too.
    for w in line_warnings(cfg, load_profiles_for(cfg)):
        print(f"warning: {args.config}: {w}", file=sys.stderr)
    from gateway.security import data_dir_problems, loose_modes

    bad = data_dir_problems(cfg.gateway.data_dir)
    if bad:
        for msg in bad:
            print(f"error: {args.config}: gateway.data_dir: {msg}", file=sys.stderr)
        return EXIT_INVALID
    for path, now, want in loose_modes(cfg.gateway.data_dir):
        print(f"warning: {path} is mode {now:o}; the gateway tightens it to {want:o} at start "
              f"(chmod {want:o} {path})", file=sys.stderr)
    print(f"{args.config}: valid — {len(cfg.buses)} buses, {len(cfg.devices)} devices, "
          f"gateway {cfg.gateway.id} in {cfg.gateway.campus}/{cfg.gateway.building}")
    return 0


def _load(path: Path) -> Config | None:
    """The configuration, or None after printing every problem with file, line and field."""
    from gateway.config.models import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    # Validated in a child: this process, which runs for months, never loads pydantic
    # (gateway/config/plain.py says why). Nothing that imports a configuration module may be
    # imported before this line.
    from gateway.config.snapshot import load_for_runtime

    loaded = load_for_runtime(args.config)
    if loaded is None:
        return EXIT_INVALID
    cfg, profiles = loaded
    from gateway.runtime.process import run_gateway
    from gateway.security import data_dir_problems

    bad = data_dir_problems(cfg.gateway.data_dir)
    if bad:
        for msg in bad:
            print(f"error: {args.config}: gateway.data_dir: {msg}", file=sys.stderr)
        return EXIT_INVALID
    return asyncio.run(run_gateway(cfg, for_s=args.for_s, summary=args.summary,
                                   view=not args.no_view, profiles=profiles))


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo.embedded import run_demo

    return asyncio.run(run_demo(args))


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gateway.demo.simulate import run_simulate

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_INVALID
    return asyncio.run(run_simulate(cfg, args.scenario, for_s=args.for_s, traces=args.trace))


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, type=Path)
    p.add_argument("--summary", type=Path, help="write the summary JSON here at exit")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--no-view", action="store_true", help="status lines instead of the live view")
    p.set_defaults(func=_cmd_run)


def _run_parser() -> argparse.ArgumentParser:
    """``firegate [-v] run …`` alone: parsed before any other command's module is imported, so
    the running gateway never loads what only the other commands need (pydantic above all)."""
    ap = argparse.ArgumentParser(prog="firegate")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)
    _run_arguments(sub.add_parser("run", help="run the gateway from a configuration"))
    return ap


def build_parser() -> argparse.ArgumentParser:
    from gateway.cli import actions as cli_actions
    from gateway.cli import alarms as cli_alarms
    from gateway.cli import dashboards as cli_dashboards
    from gateway.cli import desk as cli_desk
    from gateway.cli import rules as cli_rules

    ap = argparse.ArgumentParser(
        prog="firegate", description="Edge gateway for fire and electrical safety: polls "
        "Modbus devices, raises alarms locally, pages on-call staff, delivers to MQTT and "
        "InfluxDB.")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate a configuration (exit 2 when invalid)")
    p.add_argument("-c", "--config", required=True, type=Path)
    p.add_argument("--plan", action="store_true",
                   help="print the read plan (requests of one full poll per device) as JSON, "
                   "and warn about any RS-485 line that cannot hold its poll classes")
    p.set_defaults(func=_cmd_check)

    _run_arguments(sub.add_parser("run", help="run the gateway from a configuration"))

    p = sub.add_parser("demo", help="simulated dormitory building, gateway and scenario; "
                       "no servers needed")
    p.add_argument("--for", dest="for_s", type=float, default=120.0,
                   help="seconds to run (default 120: the whole scenario)")
    p.add_argument("--summary", type=Path, help="write the summary JSON here at the end")
    p.add_argument("--data-dir", type=Path, help="keep the demo's stores here "
                   "(default: a fresh temporary directory)")
    p.add_argument("--no-view", action="store_true", help="status lines instead of the live view")
    p.add_argument("--mqtt", metavar="URL", help="also deliver to this MQTT broker")
    p.add_argument("--influx", metavar="URL", help="also deliver to this InfluxDB v2 endpoint")
    p.add_argument("--influx-org", default="firegate")
    p.add_argument("--influx-bucket", default="firegate")
    p.add_argument("--influx-token", default="", help="or set FIREGATE_INFLUX_TOKEN")
    p.add_argument("--line-protocol", type=Path, metavar="FILE",
                   help="write every InfluxDB line the gateway sends to FILE")
    p.add_argument("--modem", action="store_true", help="page by SMS through a simulated modem")
    p.add_argument("--sms-log", type=Path, metavar="FILE",
                   help="JSON lines of every message the simulated modem received")
    p.add_argument("--scenario", type=Path, help="another scenario file to play")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("simulate", help="serve the configured devices from simulators")
    p.add_argument("-c", "--config", required=True, type=Path)
    p.add_argument("--scenario", type=Path)
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--trace", action="append", default=[], metavar="ID=FILE.csv",
                   help="play a recorded meter trace into device ID (repeatable)")
    p.set_defaults(func=_cmd_simulate)

    for module in (cli_alarms, cli_dashboards, cli_actions, cli_rules, cli_desk):
        module.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    words = [a for a in argv if a not in ("-v", "--verbose")]
    parser = _run_parser() if words[:1] == ["run"] else build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rc = args.func(args)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
