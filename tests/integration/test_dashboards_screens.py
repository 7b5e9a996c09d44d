"""What the control room's screens paint, from each dashboard's own queries on a real InfluxDB
1.6 holding the wall-screen moment of tests/support/wallscreen.py (written by firegate's own
line-protocol builder).

Grafana cannot run here (no screenshots): each test takes a panel's InfluxQL from the exported
JSON, runs it as Grafana's datasource would, applies the panel's merge/groupBy (max level per
tile) and reads the colour and text from the panel's own value mappings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.dashboards import campusmap
from gateway.dashboards import layout as lay
from gateway.dashboards.export import dashboards
from tests.support import dashq, wallscreen
from tests.support.servers import Influx1

DB = "wallscreen"
ALL = dashq.ALL


@pytest.fixture(scope="module")
def screen(influx1: Influx1) -> Iterator[tuple[Influx1, float]]:
    now = time.time()
    influx1.query(f'DROP DATABASE "{DB}"')
    influx1.query(f'CREATE DATABASE "{DB}"')
    influx1.write(DB, "\n".join(wallscreen.generate(now)))
    yield influx1, now
    influx1.query(f'DROP DATABASE "{DB}"')


def run(screen: tuple[Influx1, float], query: str,
        variables: dict[str, str] | None = None) -> list[dict[str, Any]]:
    server, _ = screen
    sql = dashq.substitute(query, variables or ALL, time.time())
    return dashq.rows(server.query(sql, db=DB))


def _tiles(screen: tuple[Influx1, float]) -> dict[str, tuple[str, str]]:
    panel = dashq.panel("firegate-overview.json", "各楼状态")
    rows = run(screen, panel["targets"][0]["query"])
    levels = dashq.worst_per(rows, ("campus", "building"))
    return {b: dashq.paint(panel, lvl) for (_, b), lvl in levels.items()}


def test_a_fire_in_a_zone_of_a_panel_without_a_room_paints_the_tile_and_the_map_red(
        screen: tuple[Influx1, float]) -> None:
    assert _tiles(screen)["dorm-7"] == ("特急", "red")
    panel = dashq.panel("firegate-building.json", "$floor 层")
    one = {**ALL, "campus": "south", "building": "dorm-7", "floor": "1"}
    cells = dashq.worst_per(run(screen, panel["targets"][0]["query"], one), ("floor", "room"))
    # the panel has no room: its floor's 公共区域 cell (an empty room) carries the fire
    assert dashq.paint(panel, cells[("1", "")]) == ("特急", "red")
    room = next(o for o in panel["fieldConfig"]["overrides"]
                if o["matcher"]["options"] == "room")
    assert room["properties"][0]["value"][0]["options"]["result"]["text"] == "公共区域"
    # the dead meter's room is 失联, the live one 正常
    assert dashq.paint(panel, cells[("1", "101")]) == ("失联", "purple")
    assert dashq.paint(panel, cells[("1", "102")]) == ("正常", "green")


def test_a_gateway_silent_for_three_minutes_is_shown_silent_never_green(
        screen: tuple[Influx1, float]) -> None:
    tiles = _tiles(screen)
    assert tiles["dorm-2"] == ("失联", "purple")
    assert tiles["dorm-1"] == ("严重", "orange")
    # the tile names when the gateway was last heard (its "seen", formatted by the panel)
    panel = dashq.panel("firegate-overview.json", "各楼状态")
    seen = {r["building"]: r["seen"] for r in run(screen, panel["targets"][0]["query"])
            if r.get("seen") is not None}
    _, now = screen
    assert abs(seen["dorm-2"] / 1000 - (now - wallscreen.SILENT_FOR_S)) <= 30
    assert now - seen["dorm-7"] / 1000 <= 40
    kinds = [t["id"] for t in panel["transformations"]]
    assert kinds.index("groupBy") < kinds.index("formatTime") < kinds.index("sortBy")
    count = dashq.panel("firegate-overview.json", "网关失联")
    assert [r["silent"] for r in run(screen, count["targets"][0]["query"])] == [1]
    health = dashq.panel("firegate-health.json", "网关 Gateways now")
    gateways = {r["gateway"]: r for r in run(screen, health["targets"][0]["query"])}
    assert dashq.paint(health, gateways["gw-n2"]["level"], "level") == ("失联", "purple")
    assert dashq.paint(health, gateways["gw-n1"]["level"], "level") == ("正常", "green")
    _, now = screen
    assert abs(gateways["gw-n2"]["seen"] / 1000 - (now - wallscreen.SILENT_FOR_S)) <= 30


def _open_alarm_rows(screen: tuple[Influx1, float], dashboard: str) -> list[dict[str, Any]]:
    """Both targets merged, sorted as the panel sorts them (by ``order``, descending)."""
    panel = dashq.panel(dashboard, "未处理告警")
    rows = [r for t in panel["targets"] for r in run(screen, t["query"])]
    sort = next(t for t in panel["transformations"] if t["id"] == "sortBy")["options"]["sort"][0]
    assert sort == {"field": "order", "desc": True}
    return sorted(rows, key=lambda r: r["order"], reverse=True)


@pytest.mark.parametrize("dashboard", ["firegate-overview.json", "firegate-alarms.json",
                                       "firegate-campus-map.json"])
def test_the_open_alarm_table_lists_a_critical_before_an_older_major_with_zone_and_message(
        screen: tuple[Influx1, float], dashboard: str) -> None:
    rows = _open_alarm_rows(screen, dashboard)
    panel = dashq.panel(dashboard, "未处理告警")
    shown = [(dashq.paint(panel, r["level"], "level")[0], r["building"]) for r in rows]
    assert shown == [("特急", "dorm-7"), ("失联", "dorm-2"), ("严重", "dorm-1")]
    fire, silent, major = rows
    assert (fire["channel"], fire["location"], fire["message"]) == (
        "5", wallscreen.FIRE_LOCATION, wallscreen.FIRE_MESSAGE)
    assert fire["acked"] is False and fire["raised"] > major["raised"]
    assert major["message"] == wallscreen.MAJOR_MESSAGE and major["channel"] == "3"
    assert silent["gateway"] == "gw-n2"
    # the closed comm_loss alarm is not listed
    assert all(r.get("alarm_id") != "A261203003" for r in rows)


def test_a_dead_meter_shows_no_data_not_its_old_value(screen: tuple[Influx1, float]) -> None:
    panel = dashq.panel("firegate-building.json", "房间功率")
    one = {**ALL, "campus": "south", "building": "dorm-7", "floor": "1"}
    by_device = {r["device"]: r["power_w"] for r in run(screen, panel["targets"][0]["query"],
                                                        one)}
    assert by_device[wallscreen.DEAD_METER] is None
    assert dashq.paint(panel, by_device[wallscreen.DEAD_METER]) == ("无数据", "#8e8e8e")
    assert 420 <= by_device["dorm-7-m-102"] <= 427


def test_the_campus_map_paints_each_building_of_the_layout(
        screen: tuple[Influx1, float]) -> None:
    dash = dashboards()["firegate-campus-map.json"]
    panel = dashq.panel("firegate-campus-map.json", "校园一张图")
    assert panel["type"] == "canvas"
    levels = dashq.worst_per(run(screen, panel["targets"][0]["query"]), ("campus", "building"))
    # rowsToFields names one field per building id: the elements' colour fields
    to_fields = panel["transformations"][-1]
    assert to_fields == {"id": "rowsToFields",
                         "options": {"nameField": "building", "valueField": "level"}}
    by_field = {b: lvl for (_, b), lvl in levels.items()}
    elements = {e["name"]: e for e in panel["options"]["root"]["elements"]}
    layout = lay.load()
    for _, b in layout.buildings():
        assert elements[b.id]["background"]["color"]["field"] == b.id
        assert elements[b.id]["config"]["text"]["fixed"] == b.name
    painted = {b: dashq.paint(panel, by_field.get(b)) for b in ("dorm-1", "dorm-2", "dorm-7",
                                                                 "lab-1")}
    assert painted == {"dorm-1": ("严重", "orange"), "dorm-2": ("失联", "purple"),
                       "dorm-7": ("特急", "red"), "lab-1": ("无数据", "#8e8e8e")}
    assert elements["lab-1"]["background"]["color"]["fixed"] == "#8e8e8e"
    assert elements["background"]["background"]["image"]["fixed"].startswith(
        "data:image/svg+xml;base64,")
    assert dash["uid"] == campusmap.UID_CAMPUS_MAP
