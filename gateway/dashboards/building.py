"""One building: the "one map" of floors and rooms coloured by state, then the circuits.

The map answers "where exactly is the problem": one row of room tiles per floor (the panel repeats
over the floor variable), each tile green, amber or red, each linking to the room's electrical
trends. Below it, what an electrician looks at next: room power, residual current and cable
temperatures per circuit, and the devices with links to their health.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

FLOOR = c.LOC + ' AND "floor" =~ /^$floor$/'
IN_ROOMS = FLOOR + " AND \"room\" != ''"
ROOM_LINK = ("/d/" + c.UID_ELECTRICAL + "/electrical-trends?${campus:queryparam}"
             "&${building:queryparam}&var-room=${__data.fields.room}&${__url_time_range}")
DEVICE_LINK = ("/d/" + c.UID_HEALTH + "/health?${campus:queryparam}&${building:queryparam}"
               "&var-device=${__data.fields.device}&${__url_time_range}")


def _room_map() -> stat.Panel:
    baseline = (f'SELECT last("power_w") * 0 AS "level" FROM "electrical" WHERE {FLOOR} '
                f'AND {c.NOW} GROUP BY "room"')
    return (c.state_tiles("Floor $floor", "room", height=6, span=24)
            .targets(c.state_grid_targets(baseline, IN_ROOMS, "room"))
            .text(c.big_text(14, 18))
            .repeat("floor").repeat_direction("v")
            .data_links([c.link("Electrical trends of this room", ROOM_LINK)])
            .description("One tile per room. Green: nothing open. Amber: a warning is open or "
                         "a device is offline. Red: a critical or fire alarm is open."))


def _bars(title: str, query: str, unit: str, warn: float, alarm: float, alias: str,
          span: int) -> bargauge.Panel:
    return (bargauge.Panel().title(title).datasource(c.DS).unit(unit).height(10).span(span)
            .with_target(InfluxQL(query).ref_id("A").alias(alias))
            .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
            .thresholds(c.steps(c.GREEN, (warn, c.AMBER), (alarm, c.RED_COLOUR)))
            .display_mode(cm.BarGaugeDisplayMode.LCD).orientation(cm.VizOrientation.HORIZONTAL)
            .min(0).max(alarm * 1.5).show_unfilled(True))


def _room_power() -> bargauge.Panel:
    query = (f'SELECT last("power_w") FROM "electrical" WHERE {FLOOR} AND {c.NOW} '
             'GROUP BY "floor", "room"')
    return _bars("Room power now", query, "watt", c.ROOM_WARN_W, c.ROOM_LIMIT_W,
                 "$tag_room", span=8).max(2000)


def _residual() -> bargauge.Panel:
    query = (f'SELECT last("residual_current_ma") FROM "residual_current", "breaker", '
             f'"electrical_fire" WHERE {FLOOR} AND {c.NOW} GROUP BY "floor", "device", "channel"')
    return _bars("Residual current per circuit", query, "mA", c.RESIDUAL_WARN_MA,
                 c.RESIDUAL_ALARM_MA, "floor $tag_floor $tag_device $tag_channel", span=8)


def _temperatures() -> bargauge.Panel:
    query = (f'SELECT last("temperature_c") FROM "electrical_fire", "breaker" WHERE {FLOOR} '
             f'AND {c.NOW} GROUP BY "floor", "device", "channel"')
    return _bars("Cable temperature per circuit", query, "celsius", c.CABLE_WARN_C,
                 c.CABLE_ALARM_C, "floor $tag_floor $tag_device $tag_channel", span=8)


def _devices() -> table.Panel:
    query = ('SELECT last("online") AS "online", last("response_ms") AS "response", '
             'last("errors") AS "errors" FROM "device_health" WHERE ' + FLOOR + ' AND '
             + c.NOW + ' GROUP BY "floor", "room", "device"')
    name, props = c.override("online", mappings=c.bool_mappings("online", "OFFLINE", c.GREEN,
                                                                 c.RED_COLOUR),
                             cell=c.colour_cells(), display="Online")
    rname, rprops = c.override("response", unit="ms", display="Response")
    dname, dprops = c.override("device", links=[c.link("Health of this device",
                                                       DEVICE_LINK).build()])
    return (c.rows_table("Devices", height=10, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .transformations([c.hide_time()])
            .override_by_name(name, props).override_by_name(rname, rprops)
            .override_by_name(dname, dprops)
            .sort_by([cb.TableSortByFieldState().display_name("online")]))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_BUILDING, "Building",
                             "Floors and rooms by state; room power, residual current and "
                             "cable temperatures per circuit.")
            .with_variable(c.campus_var()).with_variable(c.building_var(multi=False))
            .with_variable(c.tag_var("floor", "Floor", "electrical", c.LOC))
            .with_variable(c.lookback_var())
            .with_row(db.Row("Where is the problem"))
            .with_panel(_room_map())
            .with_row(db.Row("Circuits"))
            .with_panel(_room_power()).with_panel(_residual()).with_panel(_temperatures())
            .with_panel(_devices()))
