"""Campus overview for the fire control room's wall screen: what to do, worst first.

Built to be read from across the room: big solid tiles in the one severity scale (特急 red, 严重
orange, 一般 yellow, 提示 blue, 失联 purple, 正常 green), worst first; under them every open alarm,
worst and newest first, with where it is and what it says; then the fire panels, FIRE on top.
A building whose gateway stopped reporting is 失联, never green: each tile's level is computed in
one query that lists every gateway heard within ``$known`` (see ``common.worst_level``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL
from rules import severity as sv

BUILDING_LINK = ("/d/" + c.UID_BUILDING + "/building?var-campus=${__data.fields.campus}"
                 "&var-building=${__data.fields.building}&${__url_time_range}")
PLACE = ("campus", "building", "campus_name", "building_name")
"""Tiles and rows are per building; display names (tags, when the gateways send them) ride
along so the tile reads "north dorm-1 北校区 1号楼"."""
ORDER = 10_000_000_000_000
"""Sort key = level × ORDER + raised time in ms: worst first, then newest (one sortable field:
Grafana sorts a table by one field)."""


def _buildings() -> stat.Panel:
    query = c.worst_level(c.LOC, PLACE)
    return (c.state_tiles("各楼状态 Buildings", height=8, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .transformations(c.level_per(PLACE, seen=True))
            .text(c.big_text(22, 34))
            .data_links([c.link("打开楼层图 Open the building map", BUILDING_LINK)])
            .description("One tile per building, worst first. 特急/严重/一般/提示: the worst "
                         "open alarm. 失联: a gateway of the building has not reported for "
                         "$stale; each tile names when its gateway was last heard. "
                         "正常: heard from, nothing open. Click a tile for its building map."))


def open_alarm_rows(where: str) -> str:
    """Every open alarm as a row: level, sort key, where (campus, building, floor, room, zone or
    loop channel, location), the Chinese message, when raised, acknowledged or not."""
    by = ("campus", "building", "floor", "room", "channel", *PLACE[2:])
    inner = c.alarm_state(where, by, fields=(("acked", "acked"), ("message_zh", "message"),
                                             ("location", "location"),
                                             ("raised_ms", "raised")))
    cols = ", ".join(f'"{k}"' for k in ("alarm_id", "severity", *by, "acked", "message",
                                         "location", "raised"))
    subs = ", ".join(
        f'(SELECT "seq" * 0 + {level} AS "level", "raised" + {level * ORDER} AS "order", '
        f'{cols} FROM ({inner}) WHERE "open" = true AND {cond})'
        for level, cond in c.severity_filters())
    return f"SELECT * FROM {subs}"


def silent_gateway_rows(where: str) -> str:
    """Every silent gateway as a row (level 失联), "raised" = when it was last heard."""
    keys = ", ".join(f'"{k}"' for k in (*PLACE, "gateway"))
    return (f'SELECT "level", "seen" + {c.SILENT_LEVEL * ORDER} AS "order", "seen" AS "raised", '
            f'{keys} FROM ({c.gateway_states(where, PLACE)}) WHERE "level" > 0')


def open_alarms_table(title: str, height: int) -> table.Panel:
    names = {"level": "级别", "campus": "校区", "building": "楼", "campus_name": "校区名",
             "building_name": "楼名", "floor": "楼层", "room": "房间",
             "channel": "防区/回路", "location": "位置", "message": "告警内容",
             "raised": "发生/最后通信", "acked": "已确认", "gateway": "网关"}
    order = ["level", "campus", "campus_name", "building", "building_name", "floor", "room",
             "channel", "location", "message", "raised", "acked", "gateway"]
    panel = (c.rows_table(title, height=height, span=24)
             .with_target(InfluxQL(open_alarm_rows(c.LOC)).ref_id("A").table())
             .with_target(InfluxQL(silent_gateway_rows(c.LOC)).ref_id("B").table())
             .transformations([
                 dm.DataTransformerConfig(id_val="merge", options={}),
                 dm.DataTransformerConfig(id_val="sortBy", options={
                     "sort": [{"field": "order", "desc": True}]}),
                 dm.DataTransformerConfig(id_val="organize", options={
                     "excludeByName": {"Time": True, "order": True, "alarm_id": True,
                                       "severity": True},
                     "indexByName": {k: i for i, k in enumerate(order)},
                     "renameByName": {}}),
             ]))
    for field, label in names.items():
        props: dict[str, object] = {"display": label}
        if field == "level":
            props.update(mappings=c.level_mappings(), cell=c.colour_cells(), width=70)
        elif field == "raised":
            props.update(unit="dateTimeFromNow", width=130)
        elif field == "acked":
            props.update(mappings=c.bool_mappings("已确认", "未确认", c.GREEN, c.RED_COLOUR),
                         cell=c.colour_cells(), width=80)
        elif field == "building":
            props.update(links=[c.link("打开楼层图 Open the building map",
                                       BUILDING_LINK).build()])
        elif field == "room":
            props.update(mappings=[c.empty_as("公共区域")])
        name, dyn = c.override(field, **props)
        panel = panel.override_by_name(name, dyn)
    return panel.description("Open alarms (not yet closed) and silent gateways, worst first, "
                             "then newest. 发生/最后通信: when the alarm was raised, or when a "
                             "silent gateway was last heard. Click a building for its map.")


def _open_alarms_by_severity() -> stat.Panel:
    query = ('SELECT count("open") AS "open" FROM (SELECT last("open") AS "open" FROM "alarm" '
             f'WHERE {c.LOC} AND {c.NOW} GROUP BY "alarm_id", "severity") '
             'WHERE "open" = true GROUP BY "severity"')
    panel = (stat.Panel().title("告警分级 Open alarms by severity").datasource(c.DS)
             .height(6).span(9)
             .with_target(InfluxQL(query).ref_id("A").alias("$tag_severity"))
             .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
             .no_value("0").thresholds(c.steps(c.GREEN))
             .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
             .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
             .graph_mode(cm.BigValueGraphMode.NONE).text(c.big_text(20, 48))
             .data_links([c.link("打开告警页 Open the alarm list", "/d/" + c.UID_ALARMS
                                 + "/alarms?${campus:queryparam}&${building:queryparam}")]))
    for lv in sv.LEVELS:
        if lv.pages:
            panel = panel.override_by_name(lv.name, [
                dm.DynamicConfigValue(id_val="displayName", value=lv.zh),
                dm.DynamicConfigValue(id_val="color",
                                      value={"mode": "fixed", "fixedColor": lv.colour})])
    return panel


def _not_acknowledged() -> stat.Panel:
    query = ('SELECT count("open") AS "open" FROM (SELECT last("open") AS "open", last("acked") '
             f'AS "acked" FROM "alarm" WHERE {c.LOC} AND {c.NOW} GROUP BY "alarm_id") '
             'WHERE "open" = true AND "acked" = false')
    return c.count_stat("未确认 Not acknowledged", query, height=6, span=4, no_value="0")


def _fire_zones() -> stat.Panel:
    query = ('SELECT count("fire_alarm") AS "zones" FROM (SELECT last("fire_alarm") AS '
             f'"fire_alarm" FROM "fire_panel" WHERE {c.LOC} AND "channel" != \'\' AND '
             f'{c.CURRENT} GROUP BY "building", "device", "channel") WHERE "fire_alarm" = true')
    return c.count_stat("火警防区 Zones in fire", query, height=6, span=4, no_value="0")


def _gateways_silent() -> stat.Panel:
    query = (f'SELECT sum("level") / {c.SILENT_LEVEL} AS "silent" FROM '
             f'({c.gateway_silence(c.LOC, ("campus", "building"))})')
    return (c.count_stat("网关失联 Gateways silent", query, height=6, span=4,
                         colour=c.PURPLE)
            .description("Gateways heard within $known but not in the last $stale: a "
                         "network, power or gateway fault. 无数据: no gateway heard at all."))


def _devices_offline() -> stat.Panel:
    query = ('SELECT count("online") AS "offline" FROM (SELECT last("online") AS "online" FROM '
             f'"device_health" WHERE {c.LOC} AND {c.CURRENT} GROUP BY "device") '
             'WHERE "online" = false')
    return (c.count_stat("设备离线 Devices offline", query, height=6, span=3,
                         colour=c.PURPLE, no_value="0")
            .data_links([c.link("网关与设备 Gateway and device health", "/d/" + c.UID_HEALTH
                                + "/health?${campus:queryparam}&${building:queryparam}")]))


FIRE_FIELDS = (("fire_alarm", "火警"), ("fault", "故障"), ("supervisory", "监管"),
               ("shielded", "屏蔽"), ("main_power_fault", "主电"),
               ("backup_power_fault", "备电"), ("running", "运行"))


def _fire_panels() -> table.Panel:
    select = ", ".join(f'last("{f}") AS "{f}"' for f, _ in FIRE_FIELDS)
    query = (f'SELECT {select} FROM "fire_panel" WHERE {c.LOC} AND "channel" = \'\' AND '
             f'{c.CURRENT} GROUP BY "campus", "building", "device"')
    panel = (c.rows_table("消防主机 Fire alarm control panels (火警 on top)", height=8, span=24)
             .with_target(InfluxQL(query).ref_id("A").table())
             .transformations([c.hide_time(),
                               dm.DataTransformerConfig(id_val="sortBy", options={
                                   "sort": [{"field": "fire_alarm", "desc": True}]})])
             .no_value(c.NO_DATA)
             .cell_options(cm.TableColoredBackgroundCellOptions(
                 mode=cm.TableCellBackgroundDisplayMode.BASIC)))
    for field, label in FIRE_FIELDS[:-1]:
        colour = c.RED_COLOUR if field == "fire_alarm" else c.AMBER
        name, props = c.override(field, display=label,
                                 mappings=c.bool_mappings(label, "正常", colour))
        panel = panel.override_by_name(name, props)
    name, props = c.override("running", display="运行",
                             mappings=c.bool_mappings("运行", "调试", c.GREEN, c.AMBER))
    return panel.override_by_name(name, props)


def build() -> db.Dashboard:
    dash = (c.base_dashboard(c.UID_OVERVIEW, "消防控制室 总览 Fire control room: overview",
                             "Every building's state worst first, every open alarm, the fire "
                             "panels: for the wall screen.")
            .refresh("10s").time("now-1h", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var()))
    for var in c.windows():
        dash = dash.with_variable(var)
    return (dash.with_panel(_buildings())
            .with_panel(open_alarms_table("未处理告警 Open alarms (worst, then newest, "
                                          "first)", height=10))
            .with_panel(_open_alarms_by_severity()).with_panel(_not_acknowledged())
            .with_panel(_fire_zones()).with_panel(_gateways_silent())
            .with_panel(_devices_offline())
            .with_panel(_fire_panels()))
