"""``firegate dashboards push`` against a stand-in of Grafana's HTTP API.

Grafana cannot run here, so a small http.server app implements the endpoints the push uses, with
Grafana's rules that matter: a bearer token, folder uids unique (409), a dashboard saved by uid
replaces the stored one only with ``overwrite`` (else 412) and bumps its version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.cli.main import main
from gateway.dashboards import common
from gateway.dashboards.export import dashboards
from gateway.dashboards.push import PushError, push

TOKEN = "glsa_standin_token"


class GrafanaStandIn:
    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []


def _handler(state: GrafanaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"message": "Unauthorized"})
                return False
            return True

        def _body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            if not self._authorised():
                return
            path = self.path.split("?")[0]
            if path == "/api/folders":
                self._send(200, list(state.folders.values()))
            elif path.startswith("/api/datasources/uid/"):
                ds = state.datasources.get(path.rsplit("/", 1)[1])
                self._send(200, ds) if ds else self._send(404, {"message": "Data source not "
                                                                            "found"})
            elif path.startswith("/api/dashboards/uid/"):
                d = state.dashboards.get(path.rsplit("/", 1)[1])
                self._send(200, d) if d else self._send(404, {"message": "Dashboard not found"})
            else:
                self._send(404, {"message": "Not found"})

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if not self._authorised():
                return
            body = self._body()
            if self.path == "/api/folders":
                if body["uid"] in state.folders:
                    self._send(409, {"message": "a folder with the same uid already exists"})
                    return
                state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"],
                                              "id": len(state.folders) + 1}
                self._send(200, state.folders[body["uid"]])
            elif self.path == "/api/datasources":
                if body["uid"] in state.datasources or any(
                        d["name"] == body["name"] for d in state.datasources.values()):
                    self._send(409, {"message": "data source with the same name already exists"})
                    return
                state.datasources[body["uid"]] = body
                self._send(200, {"message": "Datasource added", "datasource": body})
            elif self.path == "/api/dashboards/db":
                dash = body["dashboard"]
                old = state.dashboards.get(dash["uid"])
                if old is not None and not body.get("overwrite"):
                    self._send(412, {"status": "name-exists", "message": "exists"})
                    return
                if body.get("folderUid") not in state.folders:
                    self._send(400, {"message": "folder not found"})
                    return
                version = 1 if old is None else old["version"] + 1
                state.dashboards[dash["uid"]] = {"dashboard": dash, "version": version,
                                                 "folderUid": body["folderUid"]}
                self._send(200, {"uid": dash["uid"], "version": version, "status": "success"})
            else:
                self._send(404, {"message": "Not found"})

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[GrafanaStandIn, str]]:
    pytest.importorskip("grafana_client", reason="install the [grafana] extra: "
                        "pip install -e '.[grafana]'")
    state = GrafanaStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_push_stand_in_creates_once_then_updates_in_place(
        grafana: tuple[GrafanaStandIn, str]) -> None:
    state, url = grafana
    first = push(url, TOKEN)
    assert list(state.folders) == ["firegate"]
    assert state.folders["firegate"]["title"] == "Fire safety"
    ds = state.datasources[common.DATASOURCE_UID]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    assert set(state.dashboards) == {str(d["uid"]) for d in dashboards().values()}
    assert all(v == "created" for v in first.dashboards.values())

    second = push(url, TOKEN)
    assert list(state.folders) == ["firegate"]
    assert list(state.datasources) == [common.DATASOURCE_UID]
    assert len(state.dashboards) == 6
    assert all(d["version"] == 2 for d in state.dashboards.values())
    assert all(v == "updated (version 2)" for v in second.dashboards.values())
    assert second.folder.endswith("exists") and second.datasource.endswith("exists")
    stored = state.dashboards[common.UID_OVERVIEW]["dashboard"]
    assert stored["panels"] == dashboards()["firegate-overview.json"]["panels"]


def test_push_stand_in_reuses_a_folder_with_the_same_title(
        grafana: tuple[GrafanaStandIn, str]) -> None:
    state, url = grafana
    state.folders["abc123"] = {"uid": "abc123", "title": "Fire safety", "id": 7}
    push(url, TOKEN)
    assert list(state.folders) == ["abc123"]
    assert {d["folderUid"] for d in state.dashboards.values()} == {"abc123"}


def test_push_stand_in_bad_token_says_what_to_do(grafana: tuple[GrafanaStandIn, str]) -> None:
    state, url = grafana
    with pytest.raises(PushError, match="service account token"):
        push(url, "wrong")
    assert not state.dashboards


def test_push_stand_in_from_the_command_line(grafana: tuple[GrafanaStandIn, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    state, url = grafana
    rc = main(["dashboards", "push", "--url", url, "--token", TOKEN,
               "--datasource-url", "http://influx.campus:8086", "--influx-token", "readtoken"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "folder: Fire safety (firegate): created" in out
    ds = state.datasources[common.DATASOURCE_UID]
    assert ds["url"] == "http://influx.campus:8086"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token readtoken"


def test_push_without_grafana_client_explains_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("grafana_client", "grafana_client.api", "grafana_client.client"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(PushError, match=r"firegate\[grafana\]"):
        push("http://127.0.0.1:9", TOKEN)


def test_unreachable_grafana_is_named() -> None:
    pytest.importorskip("grafana_client")
    with pytest.raises(PushError, match="cannot reach Grafana"):
        push("http://127.0.0.1:9", TOKEN, timeout=2)


def test_export_and_cli_do_not_import_grafana_client() -> None:
    """grafana-client swaps urllib3 for the whole process: the edge install must not load it."""
    code = ("import sys, tempfile; from gateway.cli.main import main; "
            "main(['dashboards', 'export', tempfile.mkdtemp()]); "
            "print('grafana_client' in sys.modules, 'niquests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
