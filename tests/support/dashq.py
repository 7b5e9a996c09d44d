"""Run the exported dashboards' own queries the way Grafana's InfluxDB datasource does:
substitute the template variables and time macros, send the InfluxQL to a real InfluxDB 1.6,
read the rows back as dictionaries.

Grafana cannot run here, so this is what stands in for looking at the screen: the tests take
each panel's target from the exported JSON and check what its rows would paint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gateway.dashboards.export import dashboards

HOURS = 6.0
ALL = {"campus": ".*", "building": ".*", "floor": ".*", "room": ".*", "device": ".*",
       "gateway": ".*"}
ONE_BUILDING = {**ALL, "campus": "south", "building": "dorm-7", "floor": "3"}
CONSTANTS = {"lookback": "30d", "stale": "2m", "current": "5m", "known": "1d",
             "__interval": "5m"}


def substitute(query: str, variables: dict[str, str], now_s: float,
               hours: float = HOURS) -> str:
    """What Grafana does before sending an InfluxQL query (time range: the last ``hours``)."""
    frm, to = int((now_s - hours * 3600) * 1000), int(now_s * 1000)
    out = query.replace("$timeFilter", f"time >= {frm}ms and time <= {to}ms")
    values = {**CONSTANTS, **variables}
    out = re.sub(r"\$\{?(__interval|[a-z_]+)\}?",
                 lambda m: values.get(m.group(1), m.group(0)), out)
    assert "$" not in out.replace("$/", ""), f"unsubstituted variable left in {out}"
    return out


def queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard file, what, InfluxQL) for every panel target and variable of every dashboard."""
    for name, dash in dashboards().items():
        for var in dash.get("templating", {}).get("list", []):  # type: ignore[union-attr]
            if var.get("type") == "query":
                yield name, f"variable {var['name']}", var["query"]
        for panel in dash["panels"]:  # type: ignore[union-attr]
            for target in panel.get("targets", []):
                if target.get("rawQuery"):
                    yield name, f"{panel['title']} / {target['refId']}", target["query"]


def panel(dashboard: str, title_starts: str) -> dict[str, Any]:
    """The exported panel of ``dashboard`` whose title starts with ``title_starts``."""
    dash = dashboards()[dashboard]
    found = [p for p in dash["panels"] if str(p.get("title", "")).startswith(title_starts)]  # type: ignore[union-attr]
    assert len(found) == 1, f"{dashboard}: {len(found)} panels titled {title_starts!r}…"
    return found[0]  # type: ignore[no-any-return]


def target(dashboard: str, title_starts: str, ref: str = "A") -> str:
    return next(t["query"] for t in panel(dashboard, title_starts)["targets"]
                if t["refId"] == ref)


def statement(result: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in result, result["error"]
    st: dict[str, Any] = result["results"][0]
    assert "error" not in st, st["error"]
    return st


def count_rows(result: dict[str, Any]) -> int:
    return sum(len(s.get("values", [])) for s in statement(result).get("series", []))


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row as a dict of column → value, the series' tags included (a table in Grafana's
    "table" result format)."""
    out = []
    for s in statement(result).get("series", []):
        for values in s.get("values", []):
            out.append({**s.get("tags", {}), **dict(zip(s["columns"], values, strict=True))})
    return out


def worst_per(found: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """Grafana's merge + groupBy (max of ``level`` per ``keys``), as ``common.level_per``
    configures it: what a tile or map cell finally shows."""
    out: dict[tuple[str, ...], float] = {}
    for row in found:
        key = tuple(str(row.get(k) or "") for k in keys)
        if row.get("level") is not None:
            out[key] = max(out.get(key, row["level"]), row["level"])
    return out


def paint(panel_json: dict[str, Any], value: object,
          field: str | None = None) -> tuple[str, str]:
    """(text, colour) Grafana shows for ``value`` with the panel's value mappings (those of the
    override of column ``field``, if given): a value map first, a null/NaN special map for no
    value; anything unmapped is the base threshold colour."""
    defaults = panel_json["fieldConfig"]["defaults"]
    mappings = defaults.get("mappings", [])
    if field is not None:
        props = next(o["properties"] for o in panel_json["fieldConfig"]["overrides"]
                     if o["matcher"]["options"] == field)
        mappings = next(p["value"] for p in props if p["id"] == "mappings")
    for mapping in mappings:
        opts = mapping["options"]
        if mapping["type"] == "value" and value is not None:
            key = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            if key in opts:
                return opts[key].get("text", key), opts[key].get("color", "")
        if mapping["type"] == "special" and value is None and opts["match"] in ("null",
                                                                                  "null+nan"):
            return opts["result"]["text"], opts["result"]["color"]
    base = defaults.get("thresholds", {}).get("steps", [{"color": "green"}])[0]["color"]
    return (str(value) if value is not None else defaults.get("noValue", "")), base
