"""Write every dashboard as JSON for Grafana's file provisioning.

The output is deterministic (sorted keys, fixed indentation, no timestamps or ids), so a re-export
is byte-for-byte identical and the files can be committed and reviewed as diffs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from gateway.dashboards import alarms, building, campusmap, electrical, health, overview
from gateway.dashboards import layout as lay

BUILDERS: dict[str, Callable[[], DashboardBuilder]] = {
    "firegate-overview.json": overview.build,
    "firegate-campus-map.json": campusmap.build,
    "firegate-building.json": building.build,
    "firegate-alarms.json": alarms.build,
    "firegate-electrical.json": electrical.build,
    "firegate-health.json": health.build,
}
"""Each dashboard's builder; the campus map's draws the example layout shipped with firegate
(``export`` and ``dashboards`` take another)."""


def _builders(layout: lay.Layout | None) -> dict[str, Callable[[], DashboardBuilder]]:
    if layout is None:
        return BUILDERS
    return {**BUILDERS, "firegate-campus-map.json": lambda: campusmap.build(layout)}


def to_json(builder: DashboardBuilder) -> str:
    return json.dumps(builder.build(), cls=JSONEncoder, indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


def dashboards(layout: lay.Layout | None = None) -> dict[str, dict[str, object]]:
    """Each dashboard as the plain JSON model Grafana stores, keyed by file name."""
    return {name: json.loads(to_json(build())) for name, build in _builders(layout).items()}


def export(directory: str | Path, layout: str | Path | None = None) -> list[Path]:
    """Write (or overwrite) one ``.json`` file per dashboard into ``directory``; the campus map
    is drawn from the ``layout`` file (default: the example shipped with firegate)."""
    builders = _builders(lay.load(layout) if layout is not None else None)
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the dashboard folder {out}: {exc.strerror}") from exc
    written = []
    for name, build in builders.items():
        path = out / name
        path.write_text(to_json(build()), encoding="utf-8")
        written.append(path)
    return written
