"""Every panel query and every variable query of every exported dashboard, run against a real
InfluxDB (Debian's 1.6.7 ``influxd``, which answers InfluxQL), must return rows.

Grafana cannot run here, so the test does what Grafana's InfluxDB datasource does: it substitutes
the template variables and the time macros, then sends the query to ``/query``.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.dashboards.export import dashboards
from tests.support import dashdata

DB = "firegate"
HOURS = 6.0



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Influx1:
    """A throw-away InfluxDB 1.x on loopback ports, everything under a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = root / "influxdb.conf"
        conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{_free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        self.log = open(root / "influxd.log", "wb")
        self.proc = subprocess.Popen(["influxd", "-config", str(conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("influxd did not start; see "
                                       f"{root / 'influxd.log'}") from None
                time.sleep(0.1)

    def query(self, q: str, db: str = DB) -> dict[str, Any]:
        data = urllib.parse.urlencode({"db": db, "q": q, "epoch": "s"}).encode()
        try:
            with urllib.request.urlopen(self.url + "/query", data=data, timeout=30) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:  # InfluxDB explains a bad query in the body
            return json.loads(exc.read())  # type: ignore[no-any-return]

    def write(self, lines: list[str], db: str = DB) -> None:
        for i in range(0, len(lines), 5000):
            body = "\n".join(lines[i:i + 5000]).encode()
            req = urllib.request.Request(f"{self.url}/write?db={db}&precision=ns", data=body,
                                         method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 204

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx1]:
    server = Influx1(tmp_path_factory.mktemp("influx1"))
    try:
        server.query(f'CREATE DATABASE "{DB}"', db="")
        server.write(dashdata.generate(time.time(), hours=HOURS))
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- substitution

ALL = {"campus": ".*", "building": ".*", "floor": ".*", "room": ".*", "device": ".*",
       "gateway": ".*"}
ONE_BUILDING = {**ALL, "campus": "south", "building": "dorm-7", "floor": "3"}
CONSTANTS = {"lookback": "30d", "stale": "2m", "__interval": "5m"}


def substitute(query: str, variables: dict[str, str], now_s: float) -> str:
    """What Grafana does before sending an InfluxQL query (time range: the last HOURS)."""
    frm, to = int((now_s - HOURS * 3600) * 1000), int(now_s * 1000)
    out = query.replace("$timeFilter", f"time >= {frm}ms and time <= {to}ms")
    values = {**variables, **CONSTANTS}
    out = re.sub(r"\$\{?(__interval|[a-z_]+)\}?",
                 lambda m: values.get(m.group(1), m.group(0)), out)
    assert "$" not in out.replace("$/", ""), f"unsubstituted variable left in {out}"
    return out


def _queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard file, what, InfluxQL) for every panel target and variable of every dashboard."""
    for name, dash in dashboards().items():
        for var in dash.get("templating", {}).get("list", []):  # type: ignore[union-attr]
            if var.get("type") == "query":
                yield name, f"variable {var['name']}", var["query"]
        for panel in dash["panels"]:  # type: ignore[union-attr]
            for target in panel.get("targets", []):
                if target.get("rawQuery"):
                    yield name, f"{panel['title']} / {target['refId']}", target["query"]


QUERIES = list(_queries())


def test_every_dashboard_has_influxql_panels() -> None:
    per_dashboard = {name for name, _, _ in QUERIES}
    assert per_dashboard == set(dashboards())
    assert len(QUERIES) >= 40


def _rows(result: dict[str, Any]) -> int:
    assert "error" not in result, result["error"]
    statement = result["results"][0]
    assert "error" not in statement, statement["error"]
    return sum(len(s.get("values", [])) for s in statement.get("series", []))


@pytest.mark.parametrize("variables", [ALL, ONE_BUILDING], ids=["all", "one-building"])
@pytest.mark.parametrize(("dashboard", "what", "query"), QUERIES,
                         ids=[f"{d}:{w}" for d, w, _ in QUERIES])
def test_query_returns_rows(influx: Influx1, dashboard: str, what: str, query: str,
                            variables: dict[str, str]) -> None:
    sql = substitute(query, variables, time.time())
    assert _rows(influx.query(sql)) > 0, f"{dashboard} {what}: no rows for\n{sql}"


def test_building_map_colours_rooms(influx: Influx1) -> None:
    """The map's alarm query paints the room with the open fire alarm red and the room whose
    meter has gone silent amber; the room whose alarms were all closed stays out (green)."""
    dash = dashboards()["firegate-building.json"]
    panel = next(p for p in dash["panels"] if p.get("repeat") == "floor")  # type: ignore
    by_ref = {t["refId"]: t["query"] for t in panel["targets"]}
    levels: dict[str, float] = {}
    for floor in ("1", "3"):
        sql = substitute(by_ref["B"], {**ONE_BUILDING, "floor": floor}, time.time())
        for s in influx.query(sql)["results"][0].get("series", []):
            levels[s["tags"]["room"]] = s["values"][0][1]
    assert levels == {"304": 1}
    sql = substitute(by_ref["C"], ONE_BUILDING, time.time())
    offline = {s["tags"]["room"] for s in influx.query(sql)["results"][0]["series"]}
    assert offline == {"304"}


def test_overview_paints_the_building_with_a_fire_red(influx: Influx1) -> None:
    dash = dashboards()["firegate-overview.json"]
    panel = next(p for p in dash["panels"] if p["title"] == "Buildings")  # type: ignore
    query = next(t["query"] for t in panel["targets"] if t["refId"] == "B")
    series = influx.query(substitute(query, ALL, time.time()))["results"][0]["series"]
    levels = {s["tags"]["building"]: s["values"][0][1] for s in series}
    assert levels == {"dorm-1": 1, "dorm-2": 1, "dorm-7": 2}


def test_time_to_acknowledge_is_measured(influx: Influx1) -> None:
    dash = dashboards()["firegate-alarms.json"]
    panel = next(p for p in dash["panels"] if p["title"] == "Ledger of recent alarms")  # type: ignore
    query = next(t["query"] for t in panel["targets"] if t["refId"] == "B")
    series = influx.query(substitute(query, ALL, time.time()))["results"][0]["series"]
    seconds = sorted(v[1] for s in series for v in s["values"])
    # dashdata's acknowledged alarms within the window: 45, 60, 90, 120, 200, 300, 600 s
    assert seconds == [45, 60, 90, 120, 200, 300, 600]

