"""Actions asked for from outside: operators on MQTT ``cmd/action`` (real Mosquitto) and the
``firegate action`` command line handing requests to a running gateway."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.actions_kit import rig, until
from tests.support.mqtt_helpers import check, client_for
from tests.support.servers import Mosquitto

ROOT = Path(__file__).parents[2]
PREFIX = "firegate/vc/gw-t"


async def test_mqtt_action_applies_only_listed_operators(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def edit(c: dict[str, Any]) -> None:
        c["outputs"] = {"mqtt": {"url": mosquitto.url, "client_id": "fg-actions",
                                 "operators": ["alice", "bob"], "telemetry": False,
                                 "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}}

    async with rig(tmp_path, edit, wired=True) as r:
        assert r.services is not None and r.services.outputs is not None
        sink = r.services.outputs.sinks["mqtt"]
        await until(lambda: sink.health()["state"] == "connected", what="MQTT connected")
        events: list[dict[str, Any]] = []
        async with client_for(mosquitto) as watch:
            await watch.subscribe(f"{PREFIX}/events", qos=1)

            async def collect() -> None:
                async for m in watch.messages:
                    events.append(check("event", m.payload))

            collector = asyncio.create_task(collect())
            async with client_for(mosquitto) as op:
                for who in ("mallory", "bob", "alice"):
                    body = {"operator": who, "device": "room-1", "action": "cut_socket",
                            "reason": "kettle seen by the warden", "id": f"c-{who}",
                            "ts": time.time()}
                    await op.publish(f"{PREFIX}/cmd/action", json.dumps(body), qos=1)
                    if who == "mallory":
                        await until(lambda: sink.health()["commands_ignored"] == 1,
                                    what="mallory ignored")
                        assert r.audit("room-1") == [] and r.writes("room-1") == 0
                    else:
                        n = 1 if who == "bob" else 2
                        await until(lambda n=n: len([x for x in r.audit("room-1")
                                                     if x["result"] != "writing"]) == n, what=who)
                await op.publish(f"{PREFIX}/cmd/action", b"{\"operator\": 5}", qos=1)
            await until(lambda: len([e for e in events if e.get("event") == "action"]) == 2,
                        what="action events on MQTT")
            collector.cancel()
        rows = r.audit("room-1")
        assert [(x["who"], x["via"], x["result"]) for x in rows] == \
            [("bob", "mqtt", "refused"), ("alice", "mqtt", "done")]
        assert "not listed in actions.operators" in rows[0]["params"]["detail"]
        assert r.sim_value("room-1", "socket_on") is False
        await until(lambda: sink.health()["commands_ignored"] == 2, what="malformed ignored")
        acts = [e for e in events if e.get("event") == "action"]
        assert [(e["who"], e["outcome"]) for e in acts] == [("bob", "refused"), ("alice", "done")]
    assert any("mallory" in m and "not listed" in m for m in caplog.messages)


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli.main", "action", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_hands_the_request_to_the_running_gateway(tmp_path: Path) -> None:
    async with rig(tmp_path, run=True) as r:
        c = str(r.config_path)
        rc, out, err = await _cli("brk-1", "trip", "--by", "alice", "--reason", "smoke", "-c", c,
                                  "--dry-run")
        assert (rc, out.split(":")[0]) == (0, "DRY_RUN"), err
        assert r.sim_value("brk-1", "breaker_closed") is True
        rc, out, err = await _cli("brk-1", "trip", "--by", "alice", "--reason", "smoke", "-c", c)
        assert rc == 0 and out.startswith("DONE: trip on brk-1 by alice"), (out, err)
        assert "read back breaker_closed = false" in out
        assert r.sim_value("brk-1", "breaker_closed") is False
        rc, out, err = await _cli("brk-1", "close", "--by", "mallory", "--reason", "x", "-c", c)
        assert rc == 1 and out.startswith("REFUSED") and "mallory" in out
        assert [x["via"] for x in r.audit("brk-1")] == ["cli", "cli", "cli"]


async def test_cli_without_a_running_gateway_withdraws_the_request(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:  # the gateway's stores exist but nothing takes requests
        rc, _out, err = await _cli("brk-1", "trip", "--by", "alice", "--reason", "smoke",
                                   "-c", str(r.config_path), "--wait", "0.5")
        assert rc == 3 and "withdrawn" in err
        from gateway.actions.requests import RequestQueue

        with RequestQueue(r.cfg.gateway.data_dir) as q:
            assert q.take() == [], "a withdrawn request is never carried out later"
        assert r.sim_value("brk-1", "breaker_closed") is True
