"""``firegate dashboards export``: SDK-built, stable, and what the central stack provisions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins, runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from gateway.cli.main import main
from gateway.dashboards import common, influxql
from gateway.dashboards import layout as lay
from gateway.dashboards.export import BUILDERS, dashboards, to_json

REPO = Path(__file__).resolve().parents[2]
PROVISIONED = REPO / "deploy" / "central" / "grafana" / "dashboards"


def _export(tmp: Path) -> dict[str, bytes]:
    assert main(["dashboards", "export", str(tmp)]) == 0
    return {p.name: p.read_bytes() for p in sorted(tmp.iterdir())}


def test_export_writes_every_dashboard_and_is_byte_stable(tmp_path: Path) -> None:
    first = _export(tmp_path / "a")
    second = _export(tmp_path / "b")
    assert set(first) == set(BUILDERS) and len(first) == 6
    assert first == second


def test_export_with_the_deploy_kits_campus_layout_is_byte_stable(tmp_path: Path) -> None:
    layout = REPO / "deploy" / "central" / "campus-layout.yaml"
    runs = []
    for d in ("a", "b"):
        assert main(["dashboards", "export", "--campus-layout", str(layout),
                     str(tmp_path / d)]) == 0
        runs.append({p.name: p.read_bytes() for p in sorted((tmp_path / d).iterdir())})
    assert runs[0] == runs[1] and "firegate-campus-map.json" in runs[0]


def test_a_bad_campus_layout_is_a_clear_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "layout.yaml"
    bad.write_text("campuses:\n  - {id: north, name: N, x: 0, y: 0, w: 100, h: 100,\n"
                   "     buildings: [{id: dorm-1, name: D, x: 10, y: 10, w: 5000, h: 10}]}\n",
                   encoding="utf-8")
    assert main(["dashboards", "export", "--campus-layout", str(bad),
                 str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "dorm-1" in err and "past the map" in err


def test_exported_json_is_what_the_sdk_builds_and_reads_back(tmp_path: Path) -> None:
    """Each file is the SDK builder's output, and the SDK's own model parses it back to the
    same JSON (no hand-written or post-edited dashboard JSON)."""
    plugins.register_default_plugins()
    runtime.register_dataquery_variant(influxql.variant_config())
    files = _export(tmp_path)
    for name, build in BUILDERS.items():
        assert files[name].decode() == to_json(build())
        data = json.loads(files[name])
        back = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
        assert back == data, name


def test_provisioned_copies_are_current() -> None:
    """deploy/central provisions the committed files; they must equal a fresh export
    (regenerate with: firegate dashboards export --campus-layout
    deploy/central/campus-layout.yaml deploy/central/grafana/dashboards)."""
    layout = lay.load(REPO / "deploy" / "central" / "campus-layout.yaml")
    for name, dash in dashboards(layout).items():
        text = (PROVISIONED / name).read_text(encoding="utf-8")
        assert json.loads(text) == dash, name


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def test_every_panel_uses_the_firegate_influxdb_and_filters_by_campus() -> None:
    for name, dash in dashboards().items():
        assert dash["uid"].startswith("firegate-") and "id" not in dash
        names = {v["name"] for v in dash["templating"]["list"]}  # type: ignore[index]
        assert {"campus", "building"} <= names, name
        for panel in _panels(dash):  # type: ignore[arg-type]
            assert panel["datasource"] == {"type": "influxdb", "uid": common.DATASOURCE_UID}
            for t in panel["targets"]:
                if "query" in t:
                    assert "$campus" in t["query"], (name, panel["title"])


def _links(dash: dict[str, Any]) -> list[str]:
    out = []
    for panel in _panels(dash):
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        out += [link["url"] for link in defaults.get("links", [])]
        for o in panel.get("fieldConfig", {}).get("overrides", []):
            for prop in o["properties"]:
                if prop["id"] == "links":
                    out += [link["url"] for link in prop["value"]]
    return out


def test_links_lead_from_overview_to_building_to_device() -> None:
    dash = dashboards()
    overview = _links(dash["firegate-overview.json"])
    assert any(u.startswith(f"/d/{common.UID_BUILDING}/") and "var-building=" in u
               for u in overview)
    building = _links(dash["firegate-building.json"])
    assert any(u.startswith(f"/d/{common.UID_HEALTH}/") and "var-device=" in u
               for u in building)
    assert any(u.startswith(f"/d/{common.UID_ELECTRICAL}/") and "var-room=" in u
               for u in building)
    targets = {f"/d/{d['uid']}/" for d in dash.values()}
    for u in overview + building:
        assert re.match(r"/d/[a-z-]+/", u) and re.match(r"/d/[a-z-]+/", u).group(0) in targets  # type: ignore[union-attr]


def test_trends_draw_the_alarm_thresholds() -> None:
    trends = dashboards()["firegate-electrical.json"]
    drawn = {p["title"]: [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
             for p in _panels(trends)  # type: ignore[arg-type]
             if p["fieldConfig"]["defaults"].get("custom", {}).get("thresholdsStyle", {})
             .get("mode") == "line+area"}
    assert drawn["Residual current"] == [None, 300, 500]
    assert drawn["Cable temperature"] == [None, 55, 70]
    assert drawn["Room power"] == [None, 1000, 1500]


def test_building_map_repeats_per_floor() -> None:
    building = dashboards()["firegate-building.json"]
    grid = [p for p in _panels(building) if p.get("repeat") == "floor"]  # type: ignore[arg-type]
    assert len(grid) == 1 and grid[0]["type"] == "stat"
    floor = next(v for v in building["templating"]["list"]  # type: ignore[index]
                 if v["name"] == "floor")
    assert floor["multi"] and floor["includeAll"]
