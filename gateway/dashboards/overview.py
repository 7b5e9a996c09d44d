"""Campus overview for the fire control room's wall screen.

Built to be read from across the room: big solid tiles, few words, red only when a person must
act. Each building tile links to that building's map.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import expr, stat, table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

BUILDING_LINK = ("/d/" + c.UID_BUILDING + "/building?var-campus=${__data.fields.campus}"
                 "&var-building=${__data.fields.building}&${__url_time_range}")


def _buildings() -> stat.Panel:
    # Every dormitory building has room meters: they list the buildings, all green to start.
    baseline = ('SELECT last("power_w") * 0 AS "level" FROM "electrical" WHERE '
                f'{c.CAMPUS} AND {c.NOW} GROUP BY "campus", "building"')
    targets: list[c.Targets] = [
        InfluxQL(baseline).ref_id("A").table(),
        InfluxQL(c.open_alarm_levels(c.CAMPUS, ["campus", "building"])).ref_id("B").table(),
        InfluxQL(c.offline_levels(c.CAMPUS, ["campus", "building"])).ref_id("C").table(),
    ]
    return (c.state_tiles("Buildings", "building", height=9, span=24).targets(targets)
            .transformations(_per_building())
            .text(c.big_text(28, 40))
            .data_links([c.link("Open the building map", BUILDING_LINK)])
            .description("Green: nothing open. Amber: a warning is open or a device is offline. "
                         "Red: a critical or fire alarm is open. Click a building for its map."))


def _per_building() -> list[dm.DataTransformerConfig]:
    return [
        dm.DataTransformerConfig(id_val="merge", options={}),
        dm.DataTransformerConfig(id_val="groupBy", options={"fields": {
            "campus": {"aggregations": [], "operation": "groupby"},
            "building": {"aggregations": [], "operation": "groupby"},
            "level": {"aggregations": ["max"], "operation": "aggregate"},
        }}),
        dm.DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": "building"}]}),
    ]


def _open_alarms_by_severity() -> stat.Panel:
    query = ('SELECT count("open") AS "open" FROM (SELECT last("open") AS "open" FROM "alarm" '
             f'WHERE {c.LOC} AND {c.NOW} GROUP BY "alarm_id", "severity") '
             'WHERE "open" = true GROUP BY "severity"')
    return (stat.Panel().title("Active alarms by severity").datasource(c.DS).height(7).span(10)
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_severity"))
            .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
            .no_value("0").thresholds(c.steps(c.GREEN, (1, c.AMBER)))
            .override_by_regexp(f"/^({'|'.join(c.RED_SEVERITIES)})$/", [dm.DynamicConfigValue(
                id_val="thresholds", value=c.steps(c.GREEN, (1, c.RED_COLOUR)).build())])
            .color_mode(cm.BigValueColorMode.BACKGROUND_SOLID)
            .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
            .graph_mode(cm.BigValueGraphMode.NONE).text(c.big_text(24, 64))
            .data_links([c.link("Open the alarm list", "/d/" + c.UID_ALARMS
                                + "/alarms?${campus:queryparam}&${building:queryparam}")]))


def _not_acknowledged() -> stat.Panel:
    query = ('SELECT count("open") AS "open" FROM (SELECT last("open") AS "open", last("acked") '
             f'AS "acked" FROM "alarm" WHERE {c.LOC} AND {c.NOW} GROUP BY "alarm_id") '
             'WHERE "open" = true AND "acked" = false')
    return c.count_stat("Not yet acknowledged", query, height=7, span=4)


def _fire_zones() -> stat.Panel:
    query = ('SELECT count("fire_alarm") AS "zones" FROM (SELECT last("fire_alarm") AS '
             f'"fire_alarm" FROM "fire_panel" WHERE {c.LOC} AND "channel" != \'\' AND {c.NOW} '
             'GROUP BY "building", "device", "channel") WHERE "fire_alarm" = true')
    return c.count_stat("Zones in fire", query, height=7, span=4)


def _fire_panels() -> table.Panel:
    fields = [("fire_alarm", "Fire"), ("fault", "Fault"), ("supervisory", "Supervisory"),
              ("shielded", "Disabled"), ("main_power_fault", "Mains"),
              ("backup_power_fault", "Battery"), ("running", "Running")]
    select = ", ".join(f'last("{f}") AS "{label}"' for f, label in fields)
    query = (f'SELECT {select} FROM "fire_panel" WHERE {c.LOC} AND "channel" = \'\' AND {c.NOW} '
             'GROUP BY "building", "device"')
    panel = (c.rows_table("Fire alarm control panels", height=7, span=24)
             .with_target(InfluxQL(query).ref_id("A").table())
             .transformations([c.hide_time()])
             .cell_options(cm.TableColoredBackgroundCellOptions(
                 mode=cm.TableCellBackgroundDisplayMode.BASIC)))
    for _field, label in fields[:-1]:
        name, props = c.override(label, mappings=c.bool_mappings(label.upper(), "normal"))
        panel = panel.override_by_name(name, props)
    name, props = c.override("Running", mappings=c.bool_mappings("running", "TEST MODE",
                                                                 c.GREEN, c.AMBER))
    return panel.override_by_name(name, props)


def _gateways_silent() -> stat.Panel:
    known = ('SELECT count("pending") FROM (SELECT last("outbox_pending") AS "pending" FROM '
             f'"gateway_health" WHERE {c.LOC} AND {c.NOW} GROUP BY "gateway")')
    reporting = ('SELECT count("pending") FROM (SELECT last("outbox_pending") AS "pending" FROM '
                 f'"gateway_health" WHERE {c.LOC} AND time > now() - $stale GROUP BY "gateway")')
    return (c.count_stat("Gateways silent", known, height=7, span=3)
            .targets([InfluxQL(known).ref_id("A").hide().datasource(c.DS),
                      InfluxQL(reporting).ref_id("B").hide().datasource(c.DS),
                      expr.TypeMath().ref_id("C").expression("$A - $B")
                      .datasource(dm.DataSourceRef(type_val="__expr__", uid="__expr__"))])
            .description("Gateways that reported health in the lookback window but not in the "
                         "last $stale: a network, power or gateway fault."))


def _devices_offline() -> stat.Panel:
    query = ('SELECT count("online") AS "offline" FROM (SELECT last("online") AS "online" FROM '
             f'"device_health" WHERE {c.LOC} AND {c.NOW} GROUP BY "device") '
             'WHERE "online" = false')
    return (c.count_stat("Devices offline", query, height=7, span=3, colour=c.AMBER)
            .data_links([c.link("Open gateway and device health", "/d/" + c.UID_HEALTH
                                + "/health?${campus:queryparam}&${building:queryparam}")]))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_OVERVIEW, "Fire control room: campus overview",
                             "Every building's state at a glance, for the wall screen.")
            .refresh("10s").time("now-1h", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var())
            .with_variable(c.lookback_var()).with_variable(c.stale_var())
            .with_panel(_buildings())
            .with_panel(_open_alarms_by_severity()).with_panel(_not_acknowledged())
            .with_panel(_fire_zones()).with_panel(_gateways_silent())
            .with_panel(_devices_offline())
            .with_panel(_fire_panels()))
