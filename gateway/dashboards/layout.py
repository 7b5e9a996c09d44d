"""The campus layout: where each campus and building is drawn on the control room's map.

A deploy-kit file (``deploy/central/campus-layout.yaml``) gives, in drawing units, each campus's
outline and each building's outline, id and display name; optional roads and labels. The campus
map dashboard draws the background (outlines, roads, labels) as an SVG embedded in the
dashboard, so nothing is fetched from the internet (the control room may be offline), and
places one coloured shape per building over it.
"""

from __future__ import annotations

import base64
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.config.models import Ident


class LayoutError(ValueError):
    """The layout file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(_Strict):
    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)


class Building(Box):
    id: Ident
    name: str = Field(min_length=1)


class Campus(Box):
    id: Ident
    name: str = Field(min_length=1)
    buildings: list[Building] = Field(min_length=1)


class Road(_Strict):
    points: list[tuple[float, float]] = Field(min_length=2)
    width: float = Field(default=6, gt=0)


class Label(_Strict):
    x: float
    y: float
    text: str = Field(min_length=1)


class Layout(_Strict):
    title: str = "校园一张图"
    width: float = Field(default=1600, gt=0)
    height: float = Field(default=800, gt=0)
    campuses: list[Campus] = Field(min_length=1)
    roads: list[Road] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits(self) -> Layout:
        seen: dict[str, str] = {}
        for campus in self.campuses:
            for shape, what in ((campus, f"campus {campus.id}"),
                                *((b, f"building {campus.id}/{b.id}") for b in campus.buildings)):
                if shape.x + shape.w > self.width or shape.y + shape.h > self.height:
                    raise ValueError(f"{what} reaches past the map ({self.width} × "
                                     f"{self.height}): x + w and y + h must fit")
            for b in campus.buildings:
                if b.id in seen:
                    raise ValueError(f"building id {b.id!r} is in both campus {seen[b.id]} and "
                                     f"campus {campus.id}: the map names buildings by id, so "
                                     "ids must be unique across campuses")
                seen[b.id] = campus.id
        return self

    def buildings(self) -> list[tuple[Campus, Building]]:
        return [(c, b) for c in self.campuses for b in c.buildings]


DEFAULT = "campus-layout.yaml"
"""The example layout shipped with firegate (two campuses, the demo's buildings)."""


def load(path: str | Path | None = None) -> Layout:
    """Read a layout file; without a path, the example shipped in ``gateway/defaults``."""
    if path is None:
        text = (resources.files("gateway") / "defaults" / DEFAULT).read_text(encoding="utf-8")
        where = f"gateway/defaults/{DEFAULT}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise LayoutError(f"cannot read the campus layout {path}: {exc.strerror}") from exc
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LayoutError(f"{where}: not valid YAML: {exc}") from exc
    try:
        return Layout.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise LayoutError(f"{where}: {field}: {first['msg']}") from exc


def background_svg(layout: Layout) -> str:
    """The map's background: campus outlines with names, roads and labels (no buildings: they
    are the dashboard's coloured shapes). Deterministic text, so exports stay byte-stable."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:g}" '
             f'height="{layout.height:g}" viewBox="0 0 {layout.width:g} {layout.height:g}">',
             f'<rect width="{layout.width:g}" height="{layout.height:g}" fill="#1f2328"/>']
    for road in layout.roads:
        pts = " ".join(f"{x:g},{y:g}" for x, y in road.points)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#5a5f66" '
                     f'stroke-width="{road.width:g}" stroke-linecap="round"/>')
    for c in layout.campuses:
        parts.append(f'<rect x="{c.x:g}" y="{c.y:g}" width="{c.w:g}" height="{c.h:g}" '
                     'rx="12" fill="#2b3036" stroke="#8e8e8e" stroke-width="2"/>')
        parts.append(f'<text x="{c.x + 14:g}" y="{c.y + 30:g}" font-size="24" '
                     f'fill="#d8d9da">{escape(c.name)}</text>')
        for b in c.buildings:  # a faint footprint, visible even if the shape is not drawn
            parts.append(f'<rect x="{b.x:g}" y="{b.y:g}" width="{b.w:g}" height="{b.h:g}" '
                         'fill="none" stroke="#44494f" stroke-dasharray="4 3"/>')
    for label in layout.labels:
        parts.append(f'<text x="{label.x:g}" y="{label.y:g}" font-size="16" '
                     f'fill="#a0a4a8">{escape(label.text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def background_uri(layout: Layout) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(
        background_svg(layout).encode("utf-8")).decode("ascii")
