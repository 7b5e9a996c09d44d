"""Alarms: what is open now, the ledger of recent alarms, and the rooms that keep coming back.

Alarm records are transitions (raised, acknowledged, cleared, closed), so an alarm's current state
is the last record of its ``alarm_id``; its age is the time of its ``raised`` record; time to
acknowledge and to close are the gaps between those records (InfluxQL ``elapsed``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

LOCATION = ("building", "floor", "room", "device", "rule", "severity")
GROUP = ", ".join(f'"{k}"' for k in ("alarm_id", *LOCATION))


def _join(mode: str) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val="joinByField",
                                    options={"byField": "alarm_id", "mode": mode})


def _severity_cells(panel: table.Panel) -> table.Panel:
    red = {s: dm.ValueMappingResult(color=c.RED_COLOUR, index=i)
           for i, s in enumerate(c.RED_SEVERITIES)}
    name, props = c.override("severity", cell=c.colour_cells(),
                             mappings=[dm.ValueMap(options=red)])
    return panel.override_by_name(name, props)


def _active() -> table.Panel:
    cols = ", ".join(f'"{k}"' for k in ("alarm_id", *LOCATION, "state", "acked", "value",
                                         "threshold"))
    current = (f'SELECT {cols} FROM (SELECT last("open") AS "open", last("acked") AS "acked", '
               'last("state") AS "state", last("value") AS "value", last("threshold") AS '
               f'"threshold" FROM "alarm" WHERE {c.LOC} AND {c.NOW} GROUP BY {GROUP}) '
               'WHERE "open" = true')
    raised = (f'SELECT first("seq") AS "seq" FROM "alarm" WHERE {c.LOC} AND {c.NOW} '
              'AND "state" = \'raised\' GROUP BY "alarm_id"')
    aname, aprops = c.override("acked", display="Acknowledged", cell=c.colour_cells(),
                               mappings=c.bool_mappings("yes", "NO", c.GREEN, c.RED_COLOUR))
    tname, tprops = c.override("Time 2", display="Raised (age)", unit="dateTimeFromNow")
    panel = (c.rows_table("Active alarms", height=10, span=24)
             .with_target(InfluxQL(current).ref_id("A").table())
             .with_target(InfluxQL(raised).ref_id("B").table())
             .transformations([_join("inner"),
                               c.hide_time("Time 1", "seq", "alarm_id")])
             .override_by_name(aname, aprops).override_by_name(tname, tprops)
             .sort_by([cb.TableSortByFieldState().display_name("Raised (age)")]))
    return _severity_cells(panel)


def _ledger() -> table.Panel:
    last = ('SELECT last("state") AS "state", last("value") AS "value" FROM "alarm" WHERE '
            f'$timeFilter AND {c.LOC} GROUP BY {GROUP}')
    tta = ('SELECT elapsed("seq", 1s) AS "to_ack" FROM "alarm" WHERE $timeFilter AND '
           f'{c.LOC} AND ("state" = \'raised\' OR "state" = \'acknowledged\') GROUP BY "alarm_id"')
    ttc = ('SELECT elapsed("seq", 1s) AS "to_close" FROM "alarm" WHERE $timeFilter AND '
           f'{c.LOC} AND ("state" = \'raised\' OR "state" = \'closed\') GROUP BY "alarm_id"')
    ack_name, ack_props = c.override("to_ack", display="Time to acknowledge", unit="s")
    close_name, close_props = c.override("to_close", display="Time to close", unit="s")
    panel = (c.rows_table("Ledger of recent alarms", height=12, span=24)
             .with_target(InfluxQL(last).ref_id("A").table())
             .with_target(InfluxQL(tta).ref_id("B").table())
             .with_target(InfluxQL(ttc).ref_id("C").table())
             .transformations([_join("outer"),
                               c.hide_time("Time 1", "Time 2", "Time 3")])
             .override_by_name(ack_name, ack_props).override_by_name(close_name, close_props))
    return _severity_cells(panel)


def _mean_time(title: str, states: str, name: str) -> stat.Panel:
    query = (f'SELECT mean("{name}") FROM (SELECT elapsed("seq", 1s) AS "{name}" FROM "alarm" '
             f'WHERE $timeFilter AND {c.LOC} AND ({states}) GROUP BY "alarm_id")')
    return (stat.Panel().title(title).datasource(c.DS).unit("s").height(6).span(6)
            .with_target(InfluxQL(query).ref_id("A"))
            .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]))
            .graph_mode(cm.BigValueGraphMode.NONE).text(c.big_text(18, 48)))


def _raised_over_time() -> timeseries.Panel:
    query = ('SELECT count("seq") FROM "alarm" WHERE $timeFilter AND ' + c.LOC
             + ' AND "state" = \'raised\' GROUP BY time($__interval), "severity" fill(0)')
    return (c.trend("Alarms raised", "short", height=6, span=12)
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_severity"))
            .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
            .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)))


def _repeats() -> table.Panel:
    query = ('SELECT count("seq") AS "times raised" FROM "alarm" WHERE $timeFilter AND '
             + c.LOC + ' AND "state" = \'raised\' GROUP BY "building", "floor", "room", "rule"')
    name, props = c.override("times raised", cell={"type": "gauge", "mode": "basic"},
                             thresholds=c.steps(c.GREEN, (2, c.AMBER), (3, c.RED_COLOUR))
                             .build())
    return (c.rows_table("Repeats by room (escalate repeat offenders)", height=12, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .transformations([c.hide_time()])
            .override_by_name(name, props)
            .sort_by([cb.TableSortByFieldState().display_name("times raised").desc(True)]))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_ALARMS, "Alarms",
                             "Active alarms, the alarm ledger with times to acknowledge and "
                             "close, and repeats by room.")
            .time("now-7d", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var())
            .with_variable(c.lookback_var())
            .with_panel(_active())
            .with_panel(_mean_time("Mean time to acknowledge",
                                   '"state" = \'raised\' OR "state" = \'acknowledged\'',
                                   "to_ack"))
            .with_panel(_mean_time("Mean time to close",
                                   '"state" = \'raised\' OR "state" = \'closed\'', "to_close"))
            .with_panel(_raised_over_time())
            .with_panel(_ledger())
            .with_panel(_repeats()))
