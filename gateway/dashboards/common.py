"""What every firegate dashboard shares: the datasource, template variables, location filters,
alarm-level queries, colours, thresholds and links.

Queries are written once here so the overview, the building map and the alarm pages agree on what
"red" means. The thresholds mirror the domain figures (GB 50116 commentary: residual current alarms
at 300-500 mA; cable temperature alarm settings from 55 °C; dorm rooms limited to 800-1500 W) and
are only drawn, never decided here: the gateway's rules decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards.influxql import InfluxQL

Targets = cogbuilder.Builder[Dataquery]

DATASOURCE_UID = "firegate-influxdb"
DATASOURCE_NAME = "firegate InfluxDB"
DS = dm.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
TAG = "firegate"

UID_OVERVIEW = "firegate-overview"
UID_BUILDING = "firegate-building"
UID_ALARMS = "firegate-alarms"
UID_ELECTRICAL = "firegate-electrical"
UID_HEALTH = "firegate-health"

# Severities that paint a room or building red; every other open alarm paints it amber.
RED_SEVERITIES = ("critical", "fire", "emergency")
RED = "/^(" + "|".join(RED_SEVERITIES) + ")$/"

GREEN, AMBER, RED_COLOUR = "green", "orange", "red"

RESIDUAL_WARN_MA, RESIDUAL_ALARM_MA = 300.0, 500.0
CABLE_WARN_C, CABLE_ALARM_C = 55.0, 70.0
ROOM_WARN_W, ROOM_LIMIT_W = 1000.0, 1500.0

CAMPUS = '"campus" =~ /^$campus$/'
LOC = CAMPUS + ' AND "building" =~ /^$building$/'
NOW = "time > now() - $lookback"
"""Current-state panels look back this far for each series' last value (alarms older than the
lookback that are still open would be missed: keep it longer than an alarm is ever left open)."""


# --------------------------------------------------------------------------- queries


def open_alarm_levels(where: str, by: Sequence[str]) -> str:
    """Alarm level per ``by`` group: 2 when a red-severity alarm is open, else 1 when any is.

    Alarm records are transitions, so the last record of each ``alarm_id`` is its current state;
    two subqueries over the same measurement merge in the outer ``max``.
    """
    keys = ", ".join(f'"{k}"' for k in ("alarm_id", "severity", *by))
    inner = (f'SELECT last("open") AS "open", last("seq") AS "seq" FROM "alarm" WHERE {where} '
             f"AND {NOW} GROUP BY {keys}")
    red = (f'SELECT "seq" * 0 + 2 AS "level" FROM ({inner}) WHERE "open" = true '
           f'AND "severity" =~ {RED}')
    amber = (f'SELECT "seq" * 0 + 1 AS "level" FROM ({inner}) WHERE "open" = true '
             f'AND "severity" !~ {RED}')
    group = ", ".join(f'"{k}"' for k in by)
    return f'SELECT max("level") AS "level" FROM ({red}), ({amber}) GROUP BY {group}'


def offline_levels(where: str, by: Sequence[str]) -> str:
    """Level 1 (amber) for each ``by`` group with a device whose last health report is offline."""
    keys = ", ".join(f'"{k}"' for k in ("device", *by))
    group = ", ".join(f'"{k}"' for k in by)
    return (f'SELECT count("online") * 0 + 1 AS "level" FROM (SELECT last("online") AS "online" '
            f'FROM "device_health" WHERE {where} AND {NOW} GROUP BY {keys}) '
            f'WHERE "online" = false GROUP BY {group}')


def state_grid_targets(baseline: str, where: str, by: str) -> list[Targets]:
    """Three table queries whose merge gives one level per ``by`` value (0 green by default)."""
    return [
        InfluxQL(baseline).ref_id("A").table(),
        InfluxQL(open_alarm_levels(where, [by])).ref_id("B").table(),
        InfluxQL(offline_levels(where, [by])).ref_id("C").table(),
    ]


def level_per(by: str) -> list[dm.DataTransformerConfig]:
    """Merge the level tables and keep the worst level per ``by`` (a room, a building)."""
    return [
        dm.DataTransformerConfig(id_val="merge", options={}),
        dm.DataTransformerConfig(id_val="groupBy", options={"fields": {
            by: {"aggregations": [], "operation": "groupby"},
            "level": {"aggregations": ["max"], "operation": "aggregate"},
        }}),
        dm.DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": by}]}),
    ]


# --------------------------------------------------------------------------- variables


def campus_var() -> db.QueryVariable:
    return (db.QueryVariable("campus").label("Campus").datasource(DS)
            .query('SHOW TAG VALUES FROM "device_health" WITH KEY = "campus"')
            .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD).sort(dm.VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True).all_value(".*")
            .current(dm.VariableOption(selected=True, text="All", value="$__all")))


def building_var(multi: bool = True) -> db.QueryVariable:
    var = (db.QueryVariable("building").label("Building").datasource(DS)
           .query('SHOW TAG VALUES FROM "device_health" WITH KEY = "building" WHERE ' + CAMPUS)
           .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
           .sort(dm.VariableSort.ALPHABETICAL_ASC).multi(multi))
    if multi:
        var = var.include_all(True).all_value(".*").current(
            dm.VariableOption(selected=True, text="All", value="$__all"))
    return var


def tag_var(name: str, label: str, measurement: str, where: str) -> db.QueryVariable:
    """A multi-value variable over one tag, "All" matching every value (even an absent tag)."""
    return (db.QueryVariable(name).label(label).datasource(DS)
            .query(f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{name}" WHERE {where}')
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.NATURAL_ASC).multi(True).include_all(True).all_value(".*")
            .current(dm.VariableOption(selected=True, text="All", value="$__all")))


def lookback_var() -> db.CustomVariable:
    return (db.CustomVariable("lookback").label("Current state from the last")
            .values("30d,7d,1d,90d")
            .current(dm.VariableOption(selected=True, text="30d", value="30d")))


def stale_var() -> db.ConstantVariable:
    return db.ConstantVariable("stale").value("2m")


def base_dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description).tags([TAG])
            .timezone("browser").time("now-6h", "now").refresh("30s").editable()
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .link(db.DashboardLink("firegate").type(dm.DashboardLinkType.DASHBOARDS)
                  .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True)))


# --------------------------------------------------------------------------- panels and colours


def level_mappings() -> list[dm.ValueMapping]:
    return [dm.ValueMap(options={
        "0": dm.ValueMappingResult(text="OK", color=GREEN, index=0),
        "1": dm.ValueMappingResult(text="WARNING", color=AMBER, index=1),
        "2": dm.ValueMappingResult(text="ALARM", color=RED_COLOUR, index=2),
    })]


def bool_mappings(true_text: str, false_text: str, true_colour: str = RED_COLOUR,
                  false_colour: str = GREEN) -> list[dm.ValueMapping]:
    return [dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
        match=dm.SpecialValueMatch.TRUE,
        result=dm.ValueMappingResult(text=true_text, color=true_colour, index=0))),
        dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
            match=dm.SpecialValueMatch.FALSE,
            result=dm.ValueMappingResult(text=false_text, color=false_colour, index=1)))]


def steps(base: str, *levels: tuple[float, str]) -> db.ThresholdsConfig:
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=None, color=base)]
        + [dm.Threshold(value=v, color=c) for v, c in levels])


def big_text(title: float, value: float) -> cb.VizTextDisplayOptions:
    return cb.VizTextDisplayOptions().title_size(title).value_size(value)


def state_tiles(title: str, by: str, height: int, span: int) -> stat.Panel:
    """Tiles coloured green, amber or red, one per ``by`` value: readable across a room."""
    return (stat.Panel().title(title).datasource(DS).height(height).span(span)
            .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"])
                            .fields("/^level/"))
            .mappings(level_mappings()).thresholds(steps(GREEN, (1, AMBER), (2, RED_COLOUR)))
            .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
            .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
            .graph_mode(cm.BigValueGraphMode.NONE).wide_layout(True)
            .orientation(cm.VizOrientation.AUTO)
            .transformations(level_per(by)))


def count_stat(title: str, query: str, height: int = 6, span: int = 4,
               colour_from: float = 1, colour: str = RED_COLOUR) -> stat.Panel:
    """A single big number; zero when the query finds nothing (nothing is wrong)."""
    return (stat.Panel().title(title).datasource(DS).height(height).span(span)
            .with_target(InfluxQL(query).ref_id("A"))
            .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
            .no_value("0").thresholds(steps(GREEN, (colour_from, colour)))
            .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
            .graph_mode(cm.BigValueGraphMode.NONE).text(big_text(24, 80)))


def trend(title: str, unit: str, height: int = 9, span: int = 12) -> timeseries.Panel:
    return (timeseries.Panel().title(title).datasource(DS).unit(unit).height(height).span(span)
            .line_width(1).fill_opacity(10).span_nulls(False)
            .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
                    .placement(cm.LegendPlacement.RIGHT).show_legend(True)
                    .calcs(["lastNotNull", "max"]))
            .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI)
                     .sort(cm.SortOrder.DESCENDING)))


def with_limits(panel: timeseries.Panel, warn: float, alarm: float) -> timeseries.Panel:
    """Draw the warning and alarm lines with shaded bands, so a curve's margin is visible."""
    return (panel.thresholds(steps(GREEN, (warn, AMBER), (alarm, RED_COLOUR)))
            .thresholds_style(cb.GraphThresholdsStyleConfig()
                              .mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA)))


def rows_table(title: str, height: int, span: int) -> table.Panel:
    return (table.Panel().title(title).datasource(DS).height(height).span(span)
            .cell_height(cm.TableCellHeight.MD).filterable(True))


def hide_time(*extra: str) -> dm.DataTransformerConfig:
    names = {"Time": True, **{name: True for name in extra}}
    return dm.DataTransformerConfig(id_val="organize", options={"excludeByName": names})


def link(title: str, url: str) -> db.DashboardLink:
    return db.DashboardLink(title).url(url)


def override(name: str, **props: object) -> tuple[str, list[dm.DynamicConfigValue]]:
    """An override for one column, written with Grafana's property ids (``custom.cellOptions``)."""
    ids = {"cell": "custom.cellOptions", "display": "displayName", "links": "links",
           "mappings": "mappings", "unit": "unit", "width": "custom.width",
           "thresholds": "thresholds"}
    return name, [dm.DynamicConfigValue(id_val=ids[k], value=v) for k, v in props.items()]


def colour_cells() -> dict[str, object]:
    return {"type": "color-background", "mode": "basic"}
