"""An InfluxQL query target for the foundation SDK.

The SDK ships query builders for many datasources but none for InfluxDB, so this module adds the
one the dashboards need, shaped like the SDK's own (a ``Dataquery`` variant with ``to_json`` and a
fluent builder). Every query is a raw InfluxQL string: it is what InfluxDB 1.8, 2.x (through a
DBRP mapping) and 3.x all answer, and what the tests run against a real InfluxDB.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """The target JSON Grafana's InfluxDB datasource stores for a raw (hand-written) query."""

    def __init__(self) -> None:
        self.ref_id = "A"
        self.query = ""
        self.result_format: ResultFormat = "time_series"
        self.alias: str | None = None
        self.hide: bool | None = None
        self.datasource: DataSourceRef | None = None

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> cogvariants.Dataquery:
        """Parse a target of an InfluxDB panel; anything else (a server-side expression in the
        same panel) is kept as the SDK's opaque bag so nothing is lost."""
        if "query" not in data:
            return cogruntime.UnknownDataquery(data)
        q = cls()
        q.ref_id = data.get("refId", "A")
        q.query = data["query"]
        q.result_format = data.get("resultFormat", "time_series")
        q.alias = data.get("alias")
        q.hide = data.get("hide")
        if "datasource" in data:
            q.datasource = DataSourceRef.from_json(data["datasource"])
        return q


def variant_config() -> cogruntime.DataqueryConfig:
    """Lets ``Dashboard.from_json`` read InfluxDB targets back (the SDK has no such variant)."""
    return cogruntime.DataqueryConfig(identifier="influxdb",
                                      from_json_hook=InfluxQLQuery.from_json)


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Fluent builder, in the SDK's style: ``InfluxQL("SELECT ...").ref_id("B").table()``."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery()
        self._internal.query = query

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        """Rows with tags as columns: what tables, joins and group-by transformations need."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """Series name, e.g. ``$tag_room``; Grafana substitutes the tag values."""
        self._internal.alias = alias
        return self

    def hide(self, hide: bool = True) -> Self:
        self._internal.hide = hide
        return self

    def datasource(self, ref: DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self
