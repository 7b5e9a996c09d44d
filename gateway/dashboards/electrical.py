"""Electrical trends: residual current, cable temperature, room power and energy over time.

The warning and alarm levels are drawn on each chart so a slow climb towards a threshold (ageing
insulation, a heater left on every night) is visible before it alarms.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

WHERE = ("$timeFilter AND " + c.LOC
         + ' AND "room" =~ /^$room$/ AND "device" =~ /^$device$/')


WORST = 20
"""The worst circuits ranked above the curves: 150 curves on one chart hide the one that
matters."""


def _worst(title: str, field: str, measurements: str, unit: str, warn: float,
           alarm: float) -> bargauge.Panel:
    """The ``WORST`` circuits by their maximum over the time range, worst first. InfluxDB keeps
    ``top()`` per measurement, so Grafana merges, sorts and cuts to ``WORST``."""
    query = (f'SELECT top("m", "device", "channel", {WORST}) AS "worst" FROM (SELECT '
             f'max("{field}") AS "m" FROM {measurements} WHERE {WHERE} GROUP BY "device", '
             '"channel")')
    return (bargauge.Panel().title(title).datasource(c.DS).unit(unit).height(9).span(12)
            .with_target(InfluxQL(query).ref_id("A").table())
            .transformations([
                dm.DataTransformerConfig(id_val="merge", options={}),
                dm.DataTransformerConfig(id_val="sortBy",
                                         options={"sort": [{"field": "worst", "desc": True}]}),
                dm.DataTransformerConfig(id_val="limit", options={"limitField": WORST}),
                c.hide_time()])
            .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"])
                            .fields("/^worst$/"))
            .thresholds(c.steps(c.GREEN, (warn, c.AMBER), (alarm, c.RED_COLOUR)))
            .display_mode(cm.BarGaugeDisplayMode.LCD).orientation(cm.VizOrientation.HORIZONTAL)
            .min(0).max(alarm * 1.5).show_unfilled(True))


def _residual() -> timeseries.Panel:
    query = ('SELECT max("residual_current_ma") FROM "residual_current", "breaker", '
             f'"electrical_fire" WHERE {WHERE} GROUP BY time($__interval), "device", "channel" '
             "fill(null)")
    return c.with_limits(c.trend("Residual current", "mA")
                         .with_target(InfluxQL(query).ref_id("A")
                                      .alias("$tag_device $tag_channel")),
                         c.RESIDUAL_WARN_MA, c.RESIDUAL_ALARM_MA)


def _cable_temperature() -> timeseries.Panel:
    query = ('SELECT max("temperature_c") FROM "electrical_fire", "breaker" WHERE '
             f'{WHERE} GROUP BY time($__interval), "device", "channel" fill(null)')
    return c.with_limits(c.trend("Cable temperature", "celsius")
                         .with_target(InfluxQL(query).ref_id("A")
                                      .alias("$tag_device $tag_channel")),
                         c.CABLE_WARN_C, c.CABLE_ALARM_C)


def _room_power() -> timeseries.Panel:
    query = (f'SELECT mean("power_w") FROM "electrical" WHERE {WHERE} '
             'GROUP BY time($__interval), "room" fill(null)')
    return c.with_limits(c.trend("Room power", "watt")
                         .with_target(InfluxQL(query).ref_id("A").alias("$tag_room")),
                         c.ROOM_WARN_W, c.ROOM_LIMIT_W)


def _energy() -> timeseries.Panel:
    query = (f'SELECT non_negative_difference(last("energy_kwh")) FROM "electrical" WHERE '
             f'{WHERE} GROUP BY time(1h), "room" fill(null)')
    return (c.trend("Energy per hour", "kwatth")
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_room"))
            .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
            .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)))


def _current() -> timeseries.Panel:
    query = (f'SELECT mean("current_a") FROM "electrical", "breaker" WHERE {WHERE} '
             'GROUP BY time($__interval), "room", "device" fill(null)')
    return (c.trend("Current", "amp")
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_room $tag_device")))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_ELECTRICAL, "Electrical trends",
                             "Residual current, cable temperature, room power and energy over "
                             "time, with thresholds drawn.")
            .time("now-24h", "now")
            .with_variable(c.campus_var()).with_variable(c.building_var())
            .with_variable(c.tag_var("room", "Room", "electrical", c.LOC))
            .with_variable(c.tag_var("device", "Device", "device_health", c.LOC))
            .with_panel(_worst(f"剩余电流最大的 {WORST} 回路 Worst residual current",
                               "residual_current_ma",
                               '"residual_current", "breaker", "electrical_fire"', "mA",
                               c.RESIDUAL_WARN_MA, c.RESIDUAL_ALARM_MA))
            .with_panel(_worst(f"温度最高的 {WORST} 回路 Hottest cables", "temperature_c",
                               '"electrical_fire", "breaker"', "celsius", c.CABLE_WARN_C,
                               c.CABLE_ALARM_C))
            .with_panel(_residual()).with_panel(_cable_temperature())
            .with_panel(_room_power()).with_panel(_energy())
            .with_panel(_current()))
