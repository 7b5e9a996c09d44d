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
from gateway.dashboards.overview import open_alarms_table
from rules import severity as sv

LOCATION = ("campus", "building", "floor", "room", "channel", "device", "rule", "severity")
GROUP = ", ".join(f'"{k}"' for k in ("alarm_id", *LOCATION))
COLUMNS_ZH = {"alarm_id": "告警号", "campus": "校区", "building": "楼", "floor": "楼层",
              "room": "房间", "channel": "防区/回路", "device": "设备", "rule": "规则",
              "state": "状态", "message": "告警内容", "value": "数值"}


def _join(mode: str) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val="joinByField",
                                    options={"byField": "alarm_id", "mode": mode})


def _severity_cells(panel: table.Panel) -> table.Panel:
    name, props = c.override("severity", cell=c.colour_cells(), display="级别",
                             mappings=c.severity_mappings())
    return panel.override_by_name(name, props)


def _active() -> table.Panel:
    """The overview's open-alarm table: worst, then newest, first; silent gateways included."""
    return open_alarms_table("未处理告警 Active alarms (worst, then newest, first)", height=12)


def _ledger() -> table.Panel:
    last = ('SELECT last("state") AS "state", last("message_zh") AS "message", '
            'last("value") AS "value" FROM "alarm" WHERE '
            f'$timeFilter AND {c.LOC} GROUP BY {GROUP}')
    tta = ('SELECT elapsed("seq", 1s) AS "to_ack" FROM "alarm" WHERE $timeFilter AND '
           f'{c.LOC} AND ("state" = \'raised\' OR "state" = \'acknowledged\') GROUP BY "alarm_id"')
    ttc = ('SELECT elapsed("seq", 1s) AS "to_close" FROM "alarm" WHERE $timeFilter AND '
           f'{c.LOC} AND ("state" = \'raised\' OR "state" = \'closed\') GROUP BY "alarm_id"')
    ack_name, ack_props = c.override("to_ack", display="确认用时 To acknowledge", unit="s")
    close_name, close_props = c.override("to_close", display="销号用时 To close", unit="s")
    panel = (c.rows_table("Ledger of recent alarms 告警台账", height=12, span=24)
             .with_target(InfluxQL(last).ref_id("A").table())
             .with_target(InfluxQL(tta).ref_id("B").table())
             .with_target(InfluxQL(ttc).ref_id("C").table())
             .transformations([_join("outer"),
                               c.hide_time("Time 1", "Time 2", "Time 3")])
             .override_by_name(ack_name, ack_props).override_by_name(close_name, close_props))
    for field, label in COLUMNS_ZH.items():
        panel = panel.override_by_name(*c.override(field, display=label))
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
    panel = (c.trend("Alarms raised", "short", height=6, span=12)
             .with_target(InfluxQL(query).ref_id("A").alias("$tag_severity"))
             .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
             .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)))
    for lv in sv.LEVELS:
        panel = panel.override_by_name(lv.name, [
            dm.DynamicConfigValue(id_val="displayName", value=lv.zh),
            dm.DynamicConfigValue(id_val="color",
                                  value={"mode": "fixed", "fixedColor": lv.colour})])
    return panel


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


DESK_URL = "https://grafana.campus.example:8480"
"""Where the control room's desk answers (deploy/central: the Grafana host, port 8480); the
dashboard's ``desk`` constant, changed in the JSON or the dashboard settings for another host."""


def desk_var() -> db.ConstantVariable:
    return db.ConstantVariable("desk").value(DESK_URL)


def desk_link() -> db.DashboardLink:
    """Grafana shows alarms but cannot acknowledge or close them: the desk (firegate desk)
    does, for the same building."""
    return (db.DashboardLink("报警台 Alarm desk: acknowledge and close")
            .type(dm.DashboardLinkType.LINK).url("${desk}/?building=${building}")
            .target_blank(True).icon("external link"))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_ALARMS, "Alarms",
                             "Active alarms, the alarm ledger with times to acknowledge and "
                             "close, and repeats by room.")
            .time("now-7d", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var())
            .with_variable(c.lookback_var()).with_variable(c.stale_var())
            .with_variable(c.known_var()).with_variable(desk_var())
            .link(desk_link())
            .refresh("10s")
            .with_panel(_active())
            .with_panel(_mean_time("Mean time to acknowledge",
                                   '"state" = \'raised\' OR "state" = \'acknowledged\'',
                                   "to_ack"))
            .with_panel(_mean_time("Mean time to close",
                                   '"state" = \'raised\' OR "state" = \'closed\'', "to_close"))
            .with_panel(_raised_over_time())
            .with_panel(_ledger())
            .with_panel(_repeats()))
