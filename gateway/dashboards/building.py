"""One building: the map of floors and rooms coloured by state, then the circuits.

The map answers "where exactly is the problem": one row of tiles per floor (the panel repeats
over the floor variable), one tile per room plus a 公共区域 tile for the floor's devices that
have no room (the fire panel's zones, the floor's residual current monitor, fire doors, exits),
and a row for devices with no floor at all. Each tile has the worst level of what is in it: an
open alarm of any device there, or 失联 when a device there has stopped reporting. Below the
map, what an electrician looks at next: room power, residual current and cable temperatures now
(a reading older than ``$current`` is 无数据, not its old value), and the devices.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

FLOOR = c.LOC + ' AND "floor" =~ /^$floor$/'
NO_FLOOR = c.LOC + " AND \"floor\" = ''"
ROOM_LINK = ("/d/" + c.UID_ELECTRICAL + "/electrical-trends?${campus:queryparam}"
             "&${building:queryparam}&var-room=${__data.fields.room}&${__url_time_range}")
DEVICE_LINK = ("/d/" + c.UID_HEALTH + "/health?${campus:queryparam}&${building:queryparam}"
               "&var-device=${__data.fields.device}&${__url_time_range}")
COMMON_AREA = "公共区域"


def map_levels(where: str) -> str:
    """Level per (floor, room) of the building map: open alarms of every device (with or without
    a room) and device silence; an empty room is the floor's 公共区域."""
    return c.worst_level(where, ("floor", "room"), gateways=False, devices=True)


def _tiles(title: str, where: str) -> stat.Panel:
    return (c.state_tiles(title, height=6, span=24)
            .with_target(InfluxQL(map_levels(where)).ref_id("A").table())
            .transformations(c.level_per(("floor", "room")))
            .override_by_name(*c.override("room", mappings=[c.empty_as(COMMON_AREA)]))
            .override_by_name(*c.override("floor", mappings=[c.empty_as("未分层")]))
            .text(c.big_text(14, 18))
            .data_links([c.link("房间电气趋势 Electrical trends of this room", ROOM_LINK)]))


def _room_map() -> stat.Panel:
    return (_tiles("$floor 层", FLOOR).repeat("floor").repeat_direction("v")
            .description("One tile per room and one 公共区域 tile for the floor's devices "
                         "without a room, worst first. 特急/严重/一般/提示: the worst open "
                         "alarm there. 失联: a device there has not reported for $stale."))


def _no_floor() -> stat.Panel:
    return (_tiles("未分层设备 Devices without a floor", NO_FLOOR).height(4)
            .description("Devices configured without a floor (a roof, an outdoor "
                         "distribution box): the same scale."))


def _now(field: str, measurements: str, where: str, by: str) -> str:
    """The last value of ``field`` within ``$current`` per ``by``, and a row (null value) for
    every device heard within the hour but not now: Grafana shows it as 无数据."""
    return (f'SELECT max("v") AS "{field}", max("k") AS "known" FROM '
            f'(SELECT last("{field}") AS "v" FROM {measurements} WHERE {where} AND {c.CURRENT} '
            f"GROUP BY {by}), "
            f'(SELECT last("{field}") * 0 AS "k" FROM {measurements} WHERE {where} AND '
            f"{c.DEVICE_KNOWN} GROUP BY {by}) GROUP BY {by}")


def _bars(title: str, query: str, field: str, unit: str, warn: float, alarm: float,
          span: int) -> bargauge.Panel:
    return (bargauge.Panel().title(title).datasource(c.DS).unit(unit).height(10).span(span)
            .with_target(InfluxQL(query).ref_id("A").table())
            .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"])
                            .fields(f"/^{field}$/"))
            .thresholds(c.steps(c.GREEN, (warn, c.AMBER), (alarm, c.RED_COLOUR)))
            .no_value(c.NO_DATA)
            .mappings([c.no_data_grey()])
            .display_mode(cm.BarGaugeDisplayMode.LCD).orientation(cm.VizOrientation.HORIZONTAL)
            .min(0).max(alarm * 1.5).show_unfilled(True))


def _room_power() -> bargauge.Panel:
    query = _now("power_w", '"electrical"', FLOOR, '"floor", "room", "device"')
    return _bars("房间功率 Room power now", query, "power_w", "watt", c.ROOM_WARN_W,
                 c.ROOM_LIMIT_W, span=8).max(2000)


def _residual() -> bargauge.Panel:
    query = _now("residual_current_ma", '"residual_current", "breaker", "electrical_fire"',
                 FLOOR, '"floor", "device", "channel"')
    return _bars("剩余电流 Residual current per circuit now", query, "residual_current_ma",
                 "mA", c.RESIDUAL_WARN_MA, c.RESIDUAL_ALARM_MA, span=8)


def _temperatures() -> bargauge.Panel:
    query = _now("temperature_c", '"electrical_fire", "breaker"', FLOOR,
                 '"floor", "device", "channel"')
    return _bars("线缆温度 Cable temperature per circuit now", query, "temperature_c",
                 "celsius", c.CABLE_WARN_C, c.CABLE_ALARM_C, span=8)


def _devices() -> table.Panel:
    query = ('SELECT last("online") AS "online", last("response_ms") AS "response", '
             'last("errors") AS "errors" FROM "device_health" WHERE ' + FLOOR + ' AND '
             + c.DEVICE_KNOWN + ' GROUP BY "floor", "room", "device"')
    name, props = c.override("online", mappings=c.bool_mappings("在线", "离线", c.GREEN,
                                                                 c.PURPLE),
                             cell=c.colour_cells(), display="在线")
    rname, rprops = c.override("response", unit="ms", display="响应")
    tname, tprops = c.override("Time", unit="dateTimeFromNow", display="最后报告")
    dname, dprops = c.override("device", links=[c.link("设备健康 Health of this device",
                                                       DEVICE_LINK).build()])
    room, room_props = c.override("room", mappings=[c.empty_as(COMMON_AREA)])
    return (c.rows_table("设备 Devices", height=10, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .override_by_name(name, props).override_by_name(rname, rprops)
            .override_by_name(tname, tprops).override_by_name(dname, dprops)
            .override_by_name(room, room_props)
            .sort_by([cb.TableSortByFieldState().display_name("在线")]))


def build() -> db.Dashboard:
    dash = (c.base_dashboard(c.UID_BUILDING, "楼层图 Building",
                             "Floors and rooms by state; room power, residual current and "
                             "cable temperatures now, per circuit.")
            .refresh("10s")
            .with_variable(c.campus_var()).with_variable(c.building_var(multi=False))
            .with_variable(c.tag_var("floor", "楼层 Floor", "device_health", c.LOC)))
    for var in c.windows():
        dash = dash.with_variable(var)
    return (dash.with_row(db.Row("哪里有问题 Where is the problem"))
            .with_panel(_room_map()).with_panel(_no_floor())
            .with_row(db.Row("回路 Circuits"))
            .with_panel(_room_power()).with_panel(_residual()).with_panel(_temperatures())
            .with_panel(_devices()))
