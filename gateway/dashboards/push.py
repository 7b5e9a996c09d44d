"""Send the dashboards to a running Grafana over its HTTP API.

This runs on an admin's machine or in CI, never on an edge gateway: grafana-client (and the
niquests/urllib3-future it brings, which replaces ``urllib3`` process-wide) lives in the optional
``[grafana]`` extra and is imported only here, only when a push is asked for.

A push is idempotent: the folder and the datasource are created when missing and left alone when
present (an admin may have tuned the datasource's credentials); dashboards are saved by uid with
``overwrite``, so a second push updates them in place instead of adding copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.dashboards import common
from gateway.dashboards.export import dashboards
from gateway.dashboards.layout import Layout

INSTALL_HINT = ("`firegate dashboards push` needs the grafana-client package, which edge "
                "gateways do not install. On the machine that pushes, run: "
                "pip install 'firegate[grafana]'  (or: pip install 'grafana-client>=5.1,<6')")


class PushError(Exception):
    """The push could not be done; the message says what to fix."""


@dataclass
class PushReport:
    folder: str = ""
    datasource: str = ""
    dashboards: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"folder: {self.folder}", f"datasource: {self.datasource}"]
        out += [f"dashboard {uid}: {what}" for uid, what in self.dashboards.items()]
        return out


@dataclass(frozen=True)
class DatasourceSettings:
    """Where Grafana finds InfluxDB. InfluxQL mode: InfluxDB 1.8 answers it directly, 2.x
    through a DBRP mapping (made by ``deploy/central``'s init script), 3.x natively."""

    url: str = "http://influxdb:8086"
    database: str = "firegate"
    token: str = ""
    user: str = ""
    password: str = ""

    def payload(self) -> dict[str, Any]:
        json_data: dict[str, Any] = {"version": "InfluxQL", "dbName": self.database,
                                     "httpMode": "POST"}
        secure: dict[str, str] = {}
        if self.token:
            json_data["httpHeaderName1"] = "Authorization"
            secure["httpHeaderValue1"] = f"Token {self.token}"
        if self.password:
            secure["password"] = self.password
        body: dict[str, Any] = {
            "uid": common.DATASOURCE_UID, "name": common.DATASOURCE_NAME, "type": "influxdb",
            "access": "proxy", "url": self.url, "jsonData": json_data, "isDefault": False,
        }
        if self.user:
            body["user"] = self.user
        if secure:
            body["secureJsonData"] = secure
        return body


def _client(url: str, token: str, timeout: float) -> Any:
    try:
        from grafana_client.api import GrafanaApi
    except ImportError as exc:
        raise PushError(INSTALL_HINT) from exc
    return GrafanaApi.from_url(url, credential=token or None, timeout=timeout)


def _explain(exc: Exception, url: str, doing: str) -> PushError:
    status = getattr(exc, "status_code", None)
    if status == 401:
        hint = ("Grafana refused the token: create a service account token with the Editor "
                "role (Administration > Service accounts) and pass it with --token")
    elif status == 403:
        hint = "the token's service account lacks permission: give it the Editor role"
    elif status in (None, 0):
        hint = f"cannot reach Grafana at {url}: check the URL, the port and the firewall"
    else:
        hint = f"Grafana answered {status}: {exc}"
    return PushError(f"{doing}: {hint}")


def push(url: str, token: str, *, folder: str = "Fire safety", folder_uid: str = "firegate",
         datasource: DatasourceSettings | None = None, timeout: float = 10.0,
         campus_layout: Layout | None = None) -> PushReport:
    """Create the folder and datasource if missing, then save every dashboard in place (the
    campus map drawn from ``campus_layout``, default the example shipped with firegate)."""
    api = _client(url, token, timeout)
    try:
        from grafana_client.client import GrafanaClientError, GrafanaException
        from niquests.exceptions import RequestException
    except ImportError as exc:  # pragma: no cover - same package as above
        raise PushError(INSTALL_HINT) from exc
    report = PushReport()

    doing = f"looking for folder {folder!r}"
    try:
        existing = api.folder.get_all_folders()
        match = next((f for f in existing if f.get("uid") == folder_uid), None) or \
            next((f for f in existing if f.get("title") == folder), None)
        if match is None:
            doing = f"creating folder {folder!r}"
            api.folder.create_folder(folder, uid=folder_uid)
            report.folder = f"{folder} ({folder_uid}): created"
        else:
            folder_uid = match["uid"]
            report.folder = f"{match.get('title', folder)} ({folder_uid}): exists"

        doing = f"looking for datasource {common.DATASOURCE_UID!r}"
        try:
            api.datasource.get_datasource_by_uid(common.DATASOURCE_UID)
            report.datasource = f"{common.DATASOURCE_NAME} ({common.DATASOURCE_UID}): exists"
        except GrafanaClientError as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
            doing = f"creating datasource {common.DATASOURCE_NAME!r}"
            api.datasource.create_datasource((datasource or DatasourceSettings()).payload())
            report.datasource = f"{common.DATASOURCE_NAME} ({common.DATASOURCE_UID}): created"

        for model in dashboards(campus_layout).values():
            uid = str(model["uid"])
            doing = f"saving dashboard {uid!r}"
            answer = api.dashboard.update_dashboard({
                "dashboard": {**model, "id": None}, "folderUid": folder_uid,
                "overwrite": True, "message": "firegate dashboards push",
            })
            version = answer.get("version") if isinstance(answer, dict) else None
            report.dashboards[uid] = "created" if version == 1 else f"updated (version {version})"
    except (GrafanaException, RequestException) as exc:
        raise _explain(exc, url, doing) from exc
    return report
