"""Health of the gateways and their devices: is the data and the paging path working?

For the IT admin and the integrator: outbox depth and age (is the central link down?), poll cycle
times (is an RS-485 line overloaded?), device response times and errors (which device or cable is
failing?), modem signal and SMS sent (can the gateway still page people?).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries

from gateway.dashboards import common as c
from gateway.dashboards.influxql import InfluxQL

GW = "$timeFilter AND " + c.LOC + ' AND "gateway" =~ /^$gateway$/'
DEV = "$timeFilter AND " + c.LOC + ' AND "device" =~ /^$device$/'


def _gw(title: str, unit: str, select: str, alias: str = "$tag_gateway",
        where: str = "") -> timeseries.Panel:
    # fill(null): a gap stays a gap (fill(previous) drew a dead gateway's last value up to now).
    query = (f'SELECT {select} FROM "gateway_health" WHERE {GW}{where} '
             f'GROUP BY time($__interval), "building", "gateway" fill(null)')
    return c.trend(title, unit, height=8, span=12).with_target(
        InfluxQL(query).ref_id("A").alias(alias))


def _outbox_depth() -> timeseries.Panel:
    return _gw("Outbox: records waiting", "short", 'max("outbox_pending")')


def _outbox_age() -> timeseries.Panel:
    return c.with_limits(_gw("Outbox: age of the oldest record", "s",
                             'max("outbox_oldest_age_s")'), 60, 600)


def _delivery() -> timeseries.Panel:
    return _gw("Outbox: delivered and shed (totals)", "short",
               'last("delivered") AS "delivered", last("shed") AS "shed"',
               alias="$tag_gateway $col")


def _poll_cycle() -> timeseries.Panel:
    return _gw("Poll cycle time", "ms", 'mean("poll_cycle_ms") AS "mean", max("poll_cycle_ms") '
               'AS "max"', alias="$tag_gateway $col")


def _modem() -> timeseries.Panel:
    # CSQ 0-31 (3GPP TS 27.007 +CSQ; 99 = not known or no network, left out so it never plots
    # as excellent): below 10 is marginal for SMS, 15 and above is good.
    return (_gw("Modem signal (CSQ)", "short", 'last("modem_signal_csq")',
                where=' AND "modem_signal_csq" < 99')
            .thresholds(c.steps(c.RED_COLOUR, (10, c.AMBER), (15, c.GREEN)))
            .min(0).max(31))


def _sms() -> timeseries.Panel:
    return _gw("SMS sent and failed (totals)", "short",
               'last("sms_sent") AS "sent", last("sms_failed") AS "failed"',
               alias="$tag_gateway $col")


def _response() -> timeseries.Panel:
    query = (f'SELECT mean("response_ms") FROM "device_health" WHERE {DEV} '
             'GROUP BY time($__interval), "device" fill(null)')
    return (c.trend("Device response time", "ms", height=9, span=12)
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_device")))


def _errors() -> timeseries.Panel:
    query = (f'SELECT non_negative_difference(max("errors")) FROM "device_health" WHERE {DEV} '
             'GROUP BY time($__interval), "device" fill(null)')
    return (c.trend("Device errors per interval", "short", height=9, span=12)
            .with_target(InfluxQL(query).ref_id("A").alias("$tag_device")))


def _gateways() -> table.Panel:
    """Each gateway: 正常 or 失联, and when it was last heard."""
    query = c.gateway_states(c.LOC + ' AND "gateway" =~ /^$gateway$/', ("campus", "building"))
    lname, lprops = c.override("level", display="状态", mappings=c.level_mappings(),
                               cell=c.colour_cells())
    sname, sprops = c.override("seen", display="最后通信 Last heard", unit="dateTimeFromNow")
    return (c.rows_table("网关 Gateways now", height=7, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .transformations([c.hide_time(), c.worst_first()])
            .override_by_name(lname, lprops).override_by_name(sname, sprops))


def _devices() -> table.Panel:
    query = ('SELECT last("online") AS "online", last("response_ms") AS "response", '
             'last("errors") AS "errors", last("requests") AS "requests" FROM "device_health" '
             f'WHERE {c.LOC} AND "device" =~ /^$device$/ AND {c.DEVICE_KNOWN} '
             'GROUP BY "gateway", "floor", "room", "device"')
    name, props = c.override("online", display="在线", cell=c.colour_cells(),
                             mappings=c.bool_mappings("在线", "离线", c.GREEN, c.PURPLE))
    rname, rprops = c.override("response", unit="ms", display="响应")
    tname, tprops = c.override("Time", unit="dateTimeFromNow", display="最后报告 Last report")
    return (c.rows_table("设备 Devices now", height=10, span=24)
            .with_target(InfluxQL(query).ref_id("A").table())
            .override_by_name(name, props).override_by_name(rname, rprops)
            .override_by_name(tname, tprops)
            .sort_by([cb.TableSortByFieldState().display_name("在线")]))


def build() -> db.Dashboard:
    return (c.base_dashboard(c.UID_HEALTH, "Gateway and device health",
                             "Outbox depth and age, poll cycle times, device response times "
                             "and errors, modem signal and SMS.")
            .with_variable(c.campus_var()).with_variable(c.building_var())
            .with_variable(c.tag_var("gateway", "Gateway", "device_health", c.LOC))
            .with_variable(c.tag_var("device", "Device", "device_health", c.LOC))
            .with_variable(c.lookback_var()).with_variable(c.stale_var())
            .with_variable(c.known_var())
            .refresh("10s")
            .with_row(db.Row("Gateways"))
            .with_panel(_gateways())
            .with_panel(_outbox_depth()).with_panel(_outbox_age())
            .with_panel(_delivery()).with_panel(_poll_cycle())
            .with_panel(_modem()).with_panel(_sms())
            .with_row(db.Row("Devices"))
            .with_panel(_response()).with_panel(_errors())
            .with_panel(_devices()))
