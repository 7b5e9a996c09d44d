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
from rules import severity as sv

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

# The one scale every dashboard paints, from the project's one severity vocabulary
# (rules/severity.py): a level per alarm severity (twice its rank), 失联 (not heard from) between
# 严重 and 特急, 正常 at 0. A known fire outranks a building that went quiet; a quiet building
# outranks a known major alarm (its state is no longer known). Unknown is never green: 无数据
# and any unmapped value are grey.
SEVERITY_LEVEL: dict[str, int] = {lv.name: 2 * lv.rank for lv in sv.LEVELS if lv.pages}
SILENT_LEVEL = 2 * sv.rank("major") + 1
NORMAL_LEVEL = 0
NO_DATA = "无数据"
GREY = "#8e8e8e"
GREEN, PURPLE = sv.NORMAL_COLOUR, sv.SILENT_COLOUR
AMBER, RED_COLOUR = sv.BY_NAME["major"].colour, sv.BY_NAME["critical"].colour

RESIDUAL_WARN_MA, RESIDUAL_ALARM_MA = 300.0, 500.0
CABLE_WARN_C, CABLE_ALARM_C = 55.0, 70.0
ROOM_WARN_W, ROOM_LIMIT_W = 1000.0, 1500.0

CAMPUS = '"campus" =~ /^$campus$/'
LOC = CAMPUS + ' AND "building" =~ /^$building$/'
NOW = "time > now() - $lookback"
"""Alarm state looks back this far for each alarm's last record. Alarm records are sparse (a few
per alarm), so the long window is cheap; an alarm left open longer than it would be missed."""
CURRENT = "time > now() - $current"
"""Current values: a reading older than this is no longer "now" and shows 无数据."""
HEARD = "time > now() - $stale"
"""A gateway or device heard from within this window is alive; one known but not heard is 失联.
Gateways write ``gateway_health`` every 30 s and device health every 10 s by default."""
KNOWN = "time > now() - $known"
"""Gateways heard from within this window are known, so their silence can be shown."""
DEVICE_KNOWN = "time > now() - 1h"
"""Devices known on a floor map; a longer outage is shown by the device's open comm_loss alarm."""


# --------------------------------------------------------------------------- queries


def _keys(keys: Sequence[str]) -> str:
    return ", ".join(f'"{k}"' for k in keys)


def alarm_state(where: str, by: Sequence[str], fields: Sequence[tuple[str, str]] = ()) -> str:
    """The current state of each alarm (the last record of its ``alarm_id``), grouped by ``by``;
    ``fields`` are extra ``(field, alias)`` to carry along."""
    extra = "".join(f', last("{f}") AS "{a}"' for f, a in fields)
    return (f'SELECT last("open") AS "open", last("seq") AS "seq"{extra} FROM "alarm" '
            f"WHERE {where} AND {NOW} GROUP BY {_keys(('alarm_id', 'severity', *by))}")


def severity_filters() -> list[tuple[int, str]]:
    """(level, InfluxQL condition on the severity tag), one per alarm severity; a severity no
    rule knows ranks as major (``rules.severity.rank``), never lower."""
    known = "|".join(sv.SEVERITIES)
    out = []
    for name, level in SEVERITY_LEVEL.items():
        cond = f'"severity" = \'{name}\''
        if name == "major":
            cond = f'({cond} OR "severity" !~ /^({known})$/)'
        out.append((level, cond))
    return out


def open_alarm_levels(where: str, by: Sequence[str]) -> str:
    """The worst open alarm's level per ``by`` group (only groups with an open alarm)."""
    inner = alarm_state(where, by)
    subs = ", ".join(f'(SELECT "seq" * 0 + {level} AS "level" FROM ({inner}) WHERE '
                     f'"open" = true AND {cond})' for level, cond in severity_filters())
    return f'SELECT max("level") AS "level" FROM {subs} GROUP BY {_keys(by)}'


def silence(measurement: str, field: str, where: str, by: Sequence[str], known: str,
            heard_where: str = "") -> str:
    """``SILENT_LEVEL`` for each ``by`` group known within ``known`` but not heard within the
    last ``$stale``, else 0 (so every known group has a row: none is left to a default).

    InfluxQL cannot compare a time with now() in a SELECT, and an outer time range narrows its
    subqueries (tested on 1.6), so the known ones count +1 and the recently heard ones -1: the
    sum is 1 exactly for the silent ones. ``heard_where`` adds a condition on the last record
    (a device whose health says offline is not heard).
    """
    keys = _keys(by)
    known_q = (f'SELECT last("{field}") * 0 + 1 AS "v" FROM "{measurement}" WHERE {where} '
               f"AND {known} GROUP BY {keys}")
    if heard_where:
        heard_q = (f'SELECT "x" * 0 - 1 AS "v" FROM (SELECT last("{field}") AS "x", '
                   f'last("online") AS "online" FROM "{measurement}" WHERE {where} AND {HEARD} '
                   f"GROUP BY {keys}) WHERE {heard_where}")
    else:
        heard_q = (f'SELECT last("{field}") * 0 - 1 AS "v" FROM "{measurement}" WHERE {where} '
                   f"AND {HEARD} GROUP BY {keys}")
    return (f'SELECT sum("v") * {SILENT_LEVEL} AS "level" FROM ({known_q}), ({heard_q}) '
            f"GROUP BY {keys}")


def gateway_states(where: str, by: Sequence[str]) -> str:
    """Per gateway (and ``by``): ``level`` (0 heard, ``SILENT_LEVEL`` silent) and ``seen``, when
    it was last heard (ms; from ``ts_ms``, which gateways write with each heartbeat)."""
    keys = _keys((*by, "gateway"))
    known = (f'SELECT last("outbox_pending") * 0 + 1 AS "v", last("ts_ms") AS "seen" FROM '
             f'"gateway_health" WHERE {where} AND {KNOWN} GROUP BY {keys}')
    heard = (f'SELECT last("outbox_pending") * 0 - 1 AS "v" FROM "gateway_health" WHERE '
             f'{where} AND {HEARD} GROUP BY {keys}')
    return (f'SELECT sum("v") * {SILENT_LEVEL} AS "level", max("seen") AS "seen" '
            f"FROM ({known}), ({heard}) GROUP BY {keys}")


def gateway_silence(where: str, by: Sequence[str]) -> str:
    """Per gateway (and ``by``): 失联 when its ``gateway_health`` stopped."""
    return silence("gateway_health", "outbox_pending", where, (*by, "gateway"), KNOWN)


def device_silence(where: str, by: Sequence[str]) -> str:
    """Per device (and ``by``): 失联 when its health stopped or says offline."""
    return silence("device_health", "requests", where, (*by, "device"), DEVICE_KNOWN,
                   heard_where='"online" = true')


def worst_level(where: str, by: Sequence[str], gateways: bool = True,
                devices: bool = False) -> str:
    """Levels per ``by`` group: its open alarms and its gateways' (or its devices') silence
    (with ``gateways``, also ``seen``: when the gateway was last heard),
    whose maximum per group (``level_per``) is what the group shows. Every group with a known
    gateway (or device) has a row, so a quiet building is 失联, never missing, never green."""
    parts = [open_alarm_levels(where, by)]
    if gateways:
        parts.append(gateway_states(where, by))
    if devices:
        parts.append(device_silence(where, by))
    subs = ", ".join(f"({p})" for p in parts)
    seen = ', max("seen") AS "seen"' if gateways else ""
    return f'SELECT max("level") AS "level"{seen} FROM {subs} GROUP BY {_keys(by)}'


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
    return (db.CustomVariable("lookback").label("告警回溯 Alarms from the last")
            .values("30d,7d,1d,90d")
            .current(dm.VariableOption(selected=True, text="30d", value="30d")))


def stale_var() -> db.ConstantVariable:
    """Four missed gateway heartbeats (30 s), twelve device health reports (10 s)."""
    return db.ConstantVariable("stale").value("2m")


def current_var() -> db.ConstantVariable:
    """The window of a "now" value: a few poll periods of the slowest class (60 s)."""
    return db.ConstantVariable("current").value("5m")


def known_var() -> db.CustomVariable:
    return (db.CustomVariable("known").label("网关记忆 Gateways heard within")
            .values("1d,7d,30d")
            .current(dm.VariableOption(selected=True, text="1d", value="1d")))


def windows() -> list[db.ConstantVariable | db.CustomVariable]:
    """The time windows every live page uses (see ``NOW``, ``CURRENT``, ``HEARD``, ``KNOWN``)."""
    return [lookback_var(), stale_var(), current_var(), known_var()]


def base_dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description).tags([TAG])
            .timezone("browser").time("now-6h", "now").refresh("30s").editable()
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .link(db.DashboardLink("firegate").type(dm.DashboardLinkType.DASHBOARDS)
                  .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True)))


# --------------------------------------------------------------------------- panels and colours


def level_mappings() -> list[dm.ValueMapping]:
    """Level → Chinese label and colour, from rules/severity.py; no data is 无数据, grey."""
    options = {str(NORMAL_LEVEL): dm.ValueMappingResult(text=sv.NORMAL_ZH, color=GREEN, index=0),
               str(SILENT_LEVEL): dm.ValueMappingResult(text=sv.SILENT_ZH, color=PURPLE,
                                                        index=1)}
    for i, lv in enumerate(sv.LEVELS):
        if lv.pages:
            options[str(SEVERITY_LEVEL[lv.name])] = dm.ValueMappingResult(
                text=lv.zh, color=lv.colour, index=2 + i)
    return [dm.ValueMap(options=dict(sorted(options.items()))),
            dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
                match=dm.SpecialValueMatch.NULL_AND_NAN,
                result=dm.ValueMappingResult(text=NO_DATA, color=GREY, index=20)))]


def no_data_grey() -> dm.ValueMapping:
    """A null reading (a device known but not heard now) is 无数据 in grey."""
    return dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
        match=dm.SpecialValueMatch.NULL_AND_NAN,
        result=dm.ValueMappingResult(text=NO_DATA, color=GREY, index=0)))


def severity_mappings() -> list[dm.ValueMapping]:
    """Severity tag → Chinese label and colour (the alarm tables' severity column)."""
    return [dm.ValueMap(options={lv.name: dm.ValueMappingResult(text=lv.zh, color=lv.colour,
                                                                index=i)
                                 for i, lv in enumerate(sv.LEVELS)})]


def unknown_grey() -> db.ThresholdsConfig:
    """Base colour for values no mapping names: grey, never green."""
    return steps(GREY)


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


def state_tiles(title: str, height: int, span: int) -> stat.Panel:
    """Tiles coloured by level (特急 red … 正常 green, 失联 purple), one per row of the query,
    worst first: readable across a room. Absent data is 无数据 in grey."""
    return (stat.Panel().title(title).datasource(DS).height(height).span(span)
            .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"])
                            .fields("/^level$/"))
            .mappings(level_mappings()).thresholds(unknown_grey()).no_value(NO_DATA)
            .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
            .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
            .graph_mode(cm.BigValueGraphMode.NONE).wide_layout(True)
            .orientation(cm.VizOrientation.AUTO))


def worst_first() -> dm.DataTransformerConfig:
    """Sort rows by level, worst first."""
    return dm.DataTransformerConfig(id_val="sortBy",
                                    options={"sort": [{"field": "level", "desc": True}]})


def level_per(keys: Sequence[str], seen: bool = False) -> list[dm.DataTransformerConfig]:
    """Merge the rows of ``worst_level`` and keep the worst level per ``keys``, worst first;
    with ``seen``, also when the group's gateway was last heard, as text ("最后通信 14:03"),
    which a stat tile shows in its name next to the building.

    InfluxDB 1.x keeps an outer query's rows apart per measurement (alarm, gateway_health,
    device_health), so the last ``max`` over them is Grafana's groupBy.
    """
    fields: dict[str, object] = {k: {"aggregations": [], "operation": "groupby"} for k in keys}
    fields["level"] = {"aggregations": ["max"], "operation": "aggregate"}
    if seen:
        fields["seen"] = {"aggregations": ["max"], "operation": "aggregate"}
    out = [dm.DataTransformerConfig(id_val="merge", options={}),
           dm.DataTransformerConfig(id_val="groupBy", options={"fields": fields})]
    if seen:
        out += [dm.DataTransformerConfig(id_val="convertFieldType", options={"conversions": [
                    {"targetField": "seen (max)", "destinationType": "time"}]}),
                dm.DataTransformerConfig(id_val="formatTime", options={
                    "timeField": "seen (max)", "outputFormat": "[最后通信] MM-DD HH:mm",
                    "useTimezone": True})]
    out += [dm.DataTransformerConfig(id_val="sortBy",
                                     options={"sort": [{"field": "level (max)", "desc": True}]}),
            dm.DataTransformerConfig(id_val="organize",
                                     options={"renameByName": {"level (max)": "level"}})]
    return out


def count_stat(title: str, query: str, height: int = 6, span: int = 4,
               colour_from: float = 1, colour: str = RED_COLOUR,
               no_value: str = NO_DATA) -> stat.Panel:
    """A single big number. 0 is green; no answer is ``no_value`` in grey (an unknown never
    looks fine). Only a count whose empty answer truly means none (open alarms: the records
    are sparse) passes ``no_value="0"``."""
    return (stat.Panel().title(title).datasource(DS).height(height).span(span)
            .with_target(InfluxQL(query).ref_id("A"))
            .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
            .no_value(no_value).thresholds(steps(GREY, (0, GREEN), (colour_from, colour)))
            .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
            .graph_mode(cm.BigValueGraphMode.NONE).text(big_text(24, 80)))


def trend(title: str, unit: str, height: int = 9, span: int = 12) -> timeseries.Panel:
    return (timeseries.Panel().title(title).datasource(DS).unit(unit).height(height).span(span)
            .line_width(1).fill_opacity(10).span_nulls(False)
            .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
                    .placement(cm.LegendPlacement.RIGHT).show_legend(True)
                    .calcs(["lastNotNull", "max"]).sort_by("Max").sort_desc(True))
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
           "thresholds": "thresholds", "color": "color", "no_value": "noValue"}
    return name, [dm.DynamicConfigValue(id_val=ids[k], value=v) for k, v in props.items()]


def empty_as(text: str) -> dm.ValueMapping:
    """Show an empty tag (a device with no room: a corridor, a stairwell) as ``text``."""
    return dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
        match=dm.SpecialValueMatch.EMPTY, result=dm.ValueMappingResult(text=text, index=0)))


def colour_cells() -> dict[str, object]:
    return {"type": "color-background", "mode": "basic"}
