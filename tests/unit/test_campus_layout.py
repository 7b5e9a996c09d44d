"""The campus layout file behind the campus map: what a mistake says, what the map draws."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.dashboards import layout as lay

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campus-layout.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_deploy_kits_layout_is_the_shipped_example() -> None:
    assert lay.load(REPO / "deploy" / "central" / "campus-layout.yaml") == lay.load()


def test_a_building_id_on_two_campuses_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, """campuses:
  - {id: north, name: 北校区, x: 0, y: 0, w: 700, h: 700,
     buildings: [{id: dorm-1, name: 1号楼, x: 10, y: 10, w: 50, h: 50}]}
  - {id: south, name: 南校区, x: 800, y: 0, w: 700, h: 700,
     buildings: [{id: dorm-1, name: 1号楼, x: 810, y: 10, w: 50, h: 50}]}
""")
    with pytest.raises(lay.LayoutError, match=r"campus-layout.yaml.*'dorm-1'.*north.*south"):
        lay.load(path)


def test_a_missing_field_names_where(tmp_path: Path) -> None:
    path = _write(tmp_path, """campuses:
  - {id: north, name: 北校区, x: 0, y: 0, w: 700, h: 700,
     buildings: [{id: dorm-1, x: 10, y: 10, w: 50, h: 50}]}
""")
    with pytest.raises(lay.LayoutError, match=r"campuses\.0\.buildings\.0\.name: Field required"):
        lay.load(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(lay.LayoutError, match="cannot read the campus layout"):
        lay.load(tmp_path / "nowhere.yaml")


def test_the_background_draws_campuses_roads_and_labels_offline() -> None:
    layout = lay.load()
    svg = lay.background_svg(layout)
    assert svg == lay.background_svg(lay.load())  # byte-stable
    assert "北校区" in svg and "南校区" in svg and "<polyline" in svg and "北门" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    uri = lay.background_uri(layout)
    assert base64.b64decode(uri.split(",", 1)[1]).decode() == svg
    assert len(layout.buildings()) == svg.count('stroke-dasharray="4 3"')
