"""One map for two campuses (预警一张图): every building on a drawn campus plan, coloured by its
worst state, each linked to its building map.

Grafana's Canvas panel, no online map tiles (the control room may be offline): the background is
an SVG drawn from the deploy kit's campus layout file (``layout.py``), embedded in the dashboard
as a data URI on the first, full-size element; one rectangle per building is placed over it in
percent of the panel, so it scales with the background. Each rectangle's colour comes from the
field named by the building's id: the same levels as the overview's tiles (one query, merged per
building, then turned into one field per building). A building with no data at all is grey
(无数据), never green.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import canvas
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import canvas as cv
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards import common as c
from gateway.dashboards import layout as lay
from gateway.dashboards.influxql import InfluxQL
from gateway.dashboards.overview import open_alarms_table

UID_CAMPUS_MAP = "firegate-campus-map"
BY = ("campus", "building")
BUILDING_LINK = ("/d/" + c.UID_BUILDING + "/building?var-building=${__field.name}"
                 "&${__url_time_range}")


def _pct(v: float, total: float) -> float:
    return round(100.0 * v / total, 3)


def _scaled(box: lay.Box, layout: lay.Layout) -> canvas.Placement:
    return (canvas.Placement().left(_pct(box.x, layout.width))
            .right(_pct(layout.width - box.x - box.w, layout.width))
            .top(_pct(box.y, layout.height))
            .bottom(_pct(layout.height - box.y - box.h, layout.height)))


def _scale() -> canvas.Constraint:
    return (canvas.Constraint().horizontal(cv.HorizontalConstraint.SCALE)
            .vertical(cv.VerticalConstraint.SCALE))


def elements(layout: lay.Layout) -> list[cogbuilder.Builder[cv.CanvasElementOptions]]:
    """The background, then per building a shape coloured by its level and a label."""
    background = (canvas.CanvasElementOptions().name("background").type("rectangle")
                  .config({"text": {"fixed": "", "mode": "fixed"}})
                  .constraint(_scale())
                  .placement(canvas.Placement().left(0).right(0).top(0).bottom(0))
                  .background(canvas.BackgroundConfig()
                              .image(cb.ResourceDimensionConfig()
                                     .mode(cm.ResourceDimensionMode.FIXED)
                                     .fixed(lay.background_uri(layout)))
                              .size(cv.BackgroundImageSize.FILL)))
    out: list[cogbuilder.Builder[cv.CanvasElementOptions]] = [background]
    for _campus, b in layout.buildings():
        out.append(
            canvas.CanvasElementOptions().name(b.id).type("rectangle")
            .config({"text": {"fixed": b.name, "mode": "fixed"}, "align": "center",
                     "valign": "middle", "size": 18, "color": {"fixed": "#000000"}})
            .constraint(_scale()).placement(_scaled(b, layout))
            .background(canvas.BackgroundConfig().color(
                cb.ColorDimensionConfig().field(b.id).fixed(c.GREY)))
            .border(canvas.LineConfig().color(cb.ColorDimensionConfig().fixed("#d8d9da"))
                    .width(2)))
        state = lay.Box(x=b.x, y=b.y + b.h * 0.62, w=b.w, h=b.h * 0.36)
        out.append(
            canvas.CanvasElementOptions().name(f"{b.id} state").type("text")
            .config({"text": {"field": b.id, "mode": "field", "fixed": c.NO_DATA},
                     "align": "center", "valign": "middle", "size": 16,
                     "color": {"fixed": "#000000"}})
            .constraint(_scale()).placement(_scaled(state, layout)))
    return out


def map_query() -> str:
    """The overview tiles' levels: open alarms and gateway silence, per campus and building."""
    return c.worst_level(c.LOC, BY)


def _map(layout: lay.Layout) -> canvas.Panel:
    # Grafana's "Rows to fields": one field per building, named by its id, valued by its level.
    to_fields = dm.DataTransformerConfig(id_val="rowsToFields",
                                         options={"nameField": "building", "valueField": "level"})
    return (canvas.Panel().title(layout.title).datasource(c.DS).height(20).span(24)
            .with_target(InfluxQL(map_query()).ref_id("A").table())
            .transformations([*c.level_per(BY), to_fields])
            .mappings(c.level_mappings()).thresholds(c.unknown_grey())
            .data_links([c.link("打开楼层图 Open the building map", BUILDING_LINK)])
            .inline_editing(False).show_advanced_types(False).pan_zoom(False)
            .root(canvas.CanvasOptionsRoot().name("campus").elements(elements(layout)))
            .description("Each building in its worst state: 特急 red, 严重 orange, 一般 yellow, "
                         "提示 blue, 失联 purple (its gateway has not reported for $stale), "
                         "正常 green; grey: no data. Click a building for its floors."))


def build(layout: lay.Layout | None = None) -> db.Dashboard:
    layout = layout or lay.load()
    dash = (c.base_dashboard(UID_CAMPUS_MAP, "校园一张图 Campus map",
                             "Both campuses on one plan, each building in its worst state.")
            .refresh("10s").time("now-1h", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var()))
    for var in c.windows():
        dash = dash.with_variable(var)
    return (dash.with_panel(_map(layout))
            .with_panel(open_alarms_table("未处理告警 Open alarms (worst, then newest, first)",
                                          height=10)))
