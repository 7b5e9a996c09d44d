"""Every panel query and every variable query of every exported dashboard, run against a real
InfluxDB (Debian's 1.6.7 ``influxd``, which answers InfluxQL) holding hours of generated data,
must return rows.

Grafana cannot run here, so the test does what Grafana's InfluxDB datasource does
(tests/support/dashq.py): it substitutes the template variables and the time macros, then sends
the query to ``/query``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.dashboards.export import dashboards
from tests.support import dashdata, dashq
from tests.support.servers import Influx1

DB = "firegate_history"
QUERIES = list(dashq.queries())
ALL, ONE_BUILDING = dashq.ALL, dashq.ONE_BUILDING
EMPTY_FOR_ONE_BUILDING = {
    "silent": "dorm-7's gateway reports: no silent-gateway rows there (dorm-2's is silent)",
}


@pytest.fixture(scope="module")
def influx(influx1: Influx1) -> Iterator[Influx1]:
    influx1.query(f'DROP DATABASE "{DB}"')
    influx1.query(f'CREATE DATABASE "{DB}"')
    lines = dashdata.generate(time.time(), hours=dashq.HOURS)
    for i in range(0, len(lines), 5000):
        influx1.write(DB, "\n".join(lines[i:i + 5000]), precision="ns")
    yield influx1
    influx1.query(f'DROP DATABASE "{DB}"')


def test_every_dashboard_has_influxql_panels() -> None:
    per_dashboard = {name for name, _, _ in QUERIES}
    assert per_dashboard == set(dashboards())
    assert len(QUERIES) >= 40


def _expected_empty(query: str, variables: dict[str, str]) -> bool:
    return variables is ONE_BUILDING and 'WHERE "level" > 0' in query


@pytest.mark.parametrize("variables", [ALL, ONE_BUILDING], ids=["all", "one-building"])
@pytest.mark.parametrize(("dashboard", "what", "query"), QUERIES,
                         ids=[f"{d}:{w}" for d, w, _ in QUERIES])
def test_query_returns_rows(influx: Influx1, dashboard: str, what: str, query: str,
                            variables: dict[str, str]) -> None:
    sql = dashq.substitute(query, variables, time.time())
    n = dashq.count_rows(influx.query(sql, db=DB))
    if _expected_empty(query, variables):
        assert n == 0, f"{dashboard} {what}: {EMPTY_FOR_ONE_BUILDING['silent']}"
    else:
        assert n > 0, f"{dashboard} {what}: no rows for\n{sql}"


def _run(influx: Influx1, query: str, variables: dict[str, str]) -> list[dict[str, object]]:
    return dashq.rows(influx.query(dashq.substitute(query, variables, time.time()), db=DB))


def test_building_map_colours_rooms_and_common_areas(influx: Influx1) -> None:
    """dorm-7: the fire panel's open fire alarm (floor 1, no room) paints floor 1's 公共区域
    red; room 304, whose meter is offline, is 失联; closed alarms leave rooms green."""
    panel = dashq.panel("firegate-building.json", "$floor 层")
    levels: dict[tuple[str, ...], float] = {}
    for floor in ("1", "2", "3"):
        rows = _run(influx, panel["targets"][0]["query"], {**ONE_BUILDING, "floor": floor})
        levels.update(dashq.worst_per(rows, ("floor", "room")))  # type: ignore[arg-type]
    painted = {k: dashq.paint(panel, v)[0] for k, v in levels.items()}
    assert painted[("1", "")] == "特急"
    assert painted[("3", "304")] == "失联"
    assert painted[("1", "101")] == "正常"  # its e-bike alarm was closed
    assert {v for k, v in painted.items() if k not in {("1", ""), ("3", "304")}} == {"正常"}
    assert len(painted) == 3 * 5  # four rooms and a 公共区域 per floor


def test_overview_tiles(influx: Influx1) -> None:
    panel = dashq.panel("firegate-overview.json", "各楼状态")
    rows = _run(influx, panel["targets"][0]["query"], ALL)
    levels = dashq.worst_per(rows, ("building",))  # type: ignore[arg-type]
    painted = {b: dashq.paint(panel, v) for (b,), v in levels.items()}
    # dorm-1: a major open; dorm-2: its gateway went silent 10 minutes ago; dorm-7: a fire
    assert painted == {"dorm-1": ("严重", "orange"), "dorm-2": ("失联", "purple"),
                       "dorm-7": ("特急", "red")}


def test_time_to_acknowledge_is_measured(influx: Influx1) -> None:
    query = dashq.target("firegate-alarms.json", "Ledger of recent alarms", "B")
    seconds = sorted(r["to_ack"] for r in _run(influx, query, ALL))  # type: ignore[type-var]
    # dashdata's acknowledged alarms within the window: 45, 60, 90, 120, 200, 300, 600 s
    assert seconds == [45, 60, 90, 120, 200, 300, 600]


def test_trends_rank_the_worst_circuits_first(influx: Influx1) -> None:
    """Above the curves, the worst 20 circuits: dashdata's floor-3 channel 3 (+250 mA) lead."""
    panel = dashq.panel("firegate-electrical.json", "剩余电流最大的")
    rows = _run(influx, panel["targets"][0]["query"], ALL)
    kinds = [t["id"] for t in panel["transformations"]]
    assert kinds[:3] == ["merge", "sortBy", "limit"]
    limit = panel["transformations"][2]["options"]["limitField"]
    ranked = sorted(rows, key=lambda r: r["worst"], reverse=True)[:limit]  # type: ignore[arg-type, return-value]
    assert limit == 20 and len(rows) > limit
    assert {(r["device"], r["channel"]) for r in ranked[:3]} == {
        ("dorm-1-rc-3", "3"), ("dorm-2-rc-3", "3"), ("dorm-7-rc-3", "3")}
