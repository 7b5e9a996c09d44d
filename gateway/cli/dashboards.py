"""``firegate dashboards export DIR`` and ``firegate dashboards push --url --token``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def _export(args: argparse.Namespace) -> int:
    from gateway.dashboards.export import export
    from gateway.dashboards.layout import LayoutError

    try:
        written = export(args.dir, args.campus_layout)
    except (OSError, LayoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} dashboards written to {args.dir} (point Grafana's dashboard "
          "provisioning at this folder)")
    return 0


def _push(args: argparse.Namespace) -> int:
    from gateway.dashboards.layout import LayoutError, load
    from gateway.dashboards.push import DatasourceSettings, PushError, push

    token = args.token or os.environ.get("GRAFANA_TOKEN", "")
    settings = DatasourceSettings(
        url=args.datasource_url, database=args.database,
        token=args.influx_token or os.environ.get("FIREGATE_INFLUX_TOKEN", ""))
    try:
        layout = load(args.campus_layout) if args.campus_layout is not None else None
        report = push(args.url, token, folder=args.folder, folder_uid=args.folder_uid,
                      datasource=settings, timeout=args.timeout, campus_layout=layout)
    except (PushError, LayoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("dashboards", help="Grafana dashboards: export as files or push")
    sub = p.add_subparsers(dest="dashboards_command", required=True)

    e = sub.add_parser("export", help="write the dashboards as JSON for Grafana's file "
                       "provisioning")
    e.add_argument("dir", type=Path, metavar="DIR")
    e.add_argument("--campus-layout", type=Path, default=None, metavar="FILE",
                   help="campus layout for the campus map (building outlines, positions and "
                   "names; default: the two-campus example shipped with firegate)")
    e.set_defaults(func=_export)

    u = sub.add_parser("push", help="create or update the dashboards in a running Grafana "
                       "(needs the [grafana] extra)")
    u.add_argument("--url", required=True, help="Grafana's address, e.g. https://grafana:3000")
    u.add_argument("--token", default="", help="service account token (or set GRAFANA_TOKEN)")
    u.add_argument("--folder", default="Fire safety", help="folder title (default: %(default)s)")
    u.add_argument("--folder-uid", default="firegate")
    u.add_argument("--datasource-url", default="http://influxdb:8086",
                   help="InfluxDB as Grafana reaches it, used only when the datasource is "
                   "created (default: %(default)s)")
    u.add_argument("--database", default="firegate",
                   help="InfluxQL database (InfluxDB 2: the DBRP-mapped name)")
    u.add_argument("--influx-token", default="",
                   help="InfluxDB 2 read token for the datasource (or FIREGATE_INFLUX_TOKEN)")
    u.add_argument("--timeout", type=float, default=10.0)
    u.add_argument("--campus-layout", type=Path, default=None, metavar="FILE",
                   help="campus layout for the campus map (default: the shipped example)")
    u.set_defaults(func=_push)
