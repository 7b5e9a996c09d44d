"""MQTT sink against a real Mosquitto: topics, retained state, events, operator commands."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.outputs.config import MqttConfig, OutputsConfig
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from tests.support.mqtt_helpers import PREFIX, Watcher, check, client_for, retained
from tests.support.outputs_helpers import Ident, drained, mqtt_cfg, tele, transition
from tests.support.servers import Mosquitto
from tests.support.waiting import until


@asynccontextmanager
async def running(cfg: OutputsConfig, path: Path, on_command: Any = None,
                  ) -> AsyncIterator[tuple[Outputs, Outbox]]:
    with Outbox(path, budget_bytes=50_000_000, sinks=cfg.sinks()) as ob:
        outputs = Outputs(cfg, ob, Ident(), on_command)
        task = asyncio.create_task(outputs.run())
        try:
            yield outputs, ob
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_birth_telemetry_events_and_retained_alarm_until_closed(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = mqtt_cfg(mosquitto)
    async with Watcher(mosquitto) as w, running(cfg, tmp_path / "o.sqlite") as (_, ob):
        await until(lambda: w.on("state"), what="the birth message")
        assert check("state", w.on("state")[-1]) == "online"
        ob.put_telemetry([tele("room-301", 1_700_000_000.0, power_w=812.5, **{"door_open@2":
                                                                             True})])
        ob.put_alarm(transition("AL-1", 1, "raised"))
        await drained(ob, "mqtt")
        await until(lambda: w.on("telemetry/room-301") and w.on("events"), what="messages")
        t = check("telemetry", w.on("telemetry/room-301")[0])
        assert t["fields"] == {"power_w": 812.5, "door_open@2": True}
        assert t["gateway"] == "gw-a1" and t["building"] == "dorm-3"
        ev = check("event", w.on("events")[0])
        assert (ev["id"], ev["seq"], ev["state"]) == ("AL-1", 1, "raised")
        kept = await retained(mosquitto, f"{PREFIX}/#")
        assert check("alarm", kept[f"{PREFIX}/alarms/AL-1"])["state"] == "raised"
        assert kept[f"{PREFIX}/state"] == b"online"
        check("health", kept[f"{PREFIX}/health"])

        ob.put_alarm(transition("AL-1", 2, "acknowledged"))
        ob.put_alarm(transition("AL-1", 3, "closed"))
        await drained(ob, "mqtt")
        await until(lambda: len(w.on("events")) == 3, what="three transitions")
        assert [check("event", p)["seq"] for p in w.on("events")] == [1, 2, 3]
        kept = await retained(mosquitto, f"{PREFIX}/alarms/#")
        assert f"{PREFIX}/alarms/AL-1" not in kept, "a closed alarm leaves no retained state"
        assert w.on("alarms/AL-1")[-1] == b""
    kept = await retained(mosquitto, f"{PREFIX}/state")
    assert kept[f"{PREFIX}/state"] == b"offline", "a clean stop says offline"


async def test_bundled_telemetry_carries_every_record_in_few_messages(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = mqtt_cfg(mosquitto, telemetry_bundle=True)
    async with Watcher(mosquitto) as w, running(cfg, tmp_path / "o.sqlite") as (_, ob):
        await until(lambda: w.on("state"), what="the birth message")
        ob.put_telemetry([tele(f"room-{i}", 1_700_000_000.0 + i, power_w=float(i))
                          for i in range(100, 160)])
        await drained(ob, "mqtt")
        await until(lambda: w.on("telemetry"), what="a bundle")
        bundles = [check("telemetry_bundle", p) for p in w.on("telemetry")]
        got = {(r["device"], r["ts"]): r["fields"]["power_w"]
               for b in bundles for r in b["records"]}
        assert got == {(f"room-{i}", 1_700_000_000.0 + i): float(i) for i in range(100, 160)}
        assert len(bundles) < 60 and bundles[0]["building"] == "dorm-3"
        assert not w.on("telemetry/room-100"), "bundling replaces the per-device messages"


async def test_last_will_says_offline_when_the_gateway_dies(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = mqtt_cfg(mosquitto, client_id="fg-will")
    async with Watcher(mosquitto, f"{PREFIX}/state") as w:
        proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is quick)
            [sys.executable, "-m", "tests.support.outputs_proc", str(tmp_path / "o.sqlite"),
             cfg.model_dump_json()], cwd=Path(__file__).parents[2])
        try:
            await until(lambda: w.on("state")[-1:] == [b"online"], what="birth")
        finally:
            proc.kill()  # SIGKILL: no goodbye from the gateway
            proc.wait()
        await until(lambda: w.on("state")[-1] == b"offline", what="the last will")


async def test_cmd_ack_only_from_listed_operators(tmp_path: Path, mosquitto: Mosquitto,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    applied: list[dict[str, Any]] = []

    async def on_command(cmd: dict[str, Any]) -> None:
        applied.append(cmd)

    cfg = mqtt_cfg(mosquitto, operators=["li.wei"], client_id="fg-cmd")
    caplog.set_level(logging.WARNING, "firegate.outputs.mqtt")
    async with running(cfg, tmp_path / "o.sqlite", on_command) as (outputs, _ob):
        await until(lambda: outputs.sinks["mqtt"].health()["state"] == "connected")
        async with client_for(mosquitto) as op:
            sent = time.time()
            for who in ("mallory", "li.wei"):
                body = json.dumps({"alarm_id": "AL-9", "seq": 1, "operator": who,
                                   "note": "on my way", "id": f"ack-{who}", "ts": sent})
                check("cmd_ack", body.encode())
                await op.publish(f"{PREFIX}/cmd/ack", body, qos=1)
            await op.publish(f"{PREFIX}/cmd/ack", b"not json", qos=1)
        await until(lambda: applied and outputs.sinks["mqtt"].health()["commands_ignored"] == 2,
                    what="commands handled")
    assert applied == [{"command": "ack", "alarm_id": "AL-9", "operator": "li.wei", "seq": 1,
                        "note": "on my way", "id": "ack-li.wei", "ts": sent}]
    assert any("mallory" in r.getMessage() and "not listed" in r.getMessage()
               for r in caplog.records)


async def test_password_broker_refuses_anonymous_with_clear_error(
        tmp_path: Path, mosquitto_auth: Mosquitto) -> None:
    cfg = OutputsConfig(mqtt=MqttConfig(url=mosquitto_auth.url, reconnect_min_s=0.2,
                                        reconnect_max_s=0.5, client_id="fg-anon"))
    async with running(cfg, tmp_path / "o.sqlite") as (outputs, ob):
        ob.put_alarm(transition("AL-2", 1, "raised"))
        await until(lambda: outputs.sinks["mqtt"].health()["last_error"] is not None)
        err = outputs.sinks["mqtt"].health()["last_error"]
        assert "refused the login" in err and "username and password" in err
        assert ob.pending("mqtt") == 1, "the alarm waits"
    wrong = mqtt_cfg(mosquitto_auth, password="wrong", client_id="fg-wrong")
    async with running(wrong, tmp_path / "o2.sqlite") as (outputs, _ob):
        await until(lambda: outputs.sinks["mqtt"].health()["last_error"] is not None)
        assert "refused the login" in outputs.sinks["mqtt"].health()["last_error"]
    right = mqtt_cfg(mosquitto_auth, client_id="fg-right")
    async with running(right, tmp_path / "o3.sqlite") as (outputs, ob):
        ob.put_alarm(transition("AL-3", 1, "raised"))
        await drained(ob, "mqtt")


async def test_tls_with_password_delivers_and_wrong_ca_is_refused_clearly(
        tmp_path: Path, mosquitto_tls: Mosquitto) -> None:
    assert mosquitto_tls.tls is not None
    good = mqtt_cfg(mosquitto_tls, client_id="fg-tls")
    async with Watcher(mosquitto_tls) as w, running(good, tmp_path / "o.sqlite") as (_o, ob):
        ob.put_alarm(transition("AL-4", 1, "raised"))
        await drained(ob, "mqtt")
        await until(lambda: w.on("events"), what="the event over TLS")
    bad = mqtt_cfg(mosquitto_tls, client_id="fg-badca", ca_file=str(mosquitto_tls.tls.wrong_ca))
    async with running(bad, tmp_path / "o2.sqlite") as (outputs, ob):
        ob.put_alarm(transition("AL-5", 1, "raised"))
        await until(lambda: outputs.sinks["mqtt"].health()["last_error"] is not None)
        err = outputs.sinks["mqtt"].health()["last_error"]
        assert "certificate" in err and "ca_file" in err, err
        assert ob.pending("mqtt") == 1


def test_config_refuses_password_in_clear_text_off_loopback(tmp_path: Path) -> None:
    base = {"username": "gw", "password": "pw-SECRET-9"}
    with pytest.raises(ValueError, match="clear text"):
        MqttConfig.model_validate({"url": "mqtt://10.0.0.5:1883", **base})
    MqttConfig.model_validate({"url": "mqtt://10.0.0.5:1883", "insecure": True, **base})
    MqttConfig.model_validate({"url": "mqtt://127.0.0.1:1883", **base})
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    ok = MqttConfig.model_validate({"url": "mqtts://broker.campus:8883", "ca_file": str(ca),
                                    **base})
    assert ok.port == 8883 and ok.tls
    assert "pw-SECRET-9" not in repr(ok) and "pw-SECRET-9" not in ok.model_dump_json()
    with pytest.raises(ValueError, match="does not exist"):
        MqttConfig.model_validate({"url": "mqtts://b:8883", "ca_file": str(tmp_path / "no")})
    with pytest.raises(ValueError, match="not an MQTT address"):
        MqttConfig.model_validate({"url": "http://b:1883"})


async def test_a_batch_beyond_the_inflight_window_arrives_whole_as_stored(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A batch of 1,000 polls (ten times paho's in-flight limit) is published from the stored
    rows in one window of PUBACKs: every message arrives, each exactly the record plus the
    gateway's identity, device ids with quotes and Chinese intact."""
    cfg = OutputsConfig(batch_size=1000, max_age_s=0.1, mqtt=MqttConfig.model_validate(
        {"url": mosquitto.url, "health_interval_s": 3600, "client_id": "fg-window"}))
    names = [f'室-{i}"q' if i % 100 == 0 else f"room-{i}" for i in range(1000)]
    recs = [tele(n, 1_700_000_000.0 + i, power_w=i + 0.5) for i, n in enumerate(names)]
    async with Watcher(mosquitto) as w, running(cfg, tmp_path / "o.sqlite") as (outputs, ob):
        await until(lambda: w.on("state"), what="the birth message")
        ob.put_telemetry(recs)
        await drained(ob, "mqtt")
        await until(lambda: sum(len(w.on(f"telemetry/{n}")) for n in names) == 1000,
                    what="all 1,000 messages")
        assert outputs.deliveries["mqtt"].batches == 1, "one batch, one window"
    for rec in [*recs[::97], recs[500]]:
        got = json.loads(w.on(f"telemetry/{rec.device}")[0])
        assert got == {"gateway": "gw-a1", "site": "vc", "campus": "north",
                       "building": "dorm-3", **rec.to_json()}
        check("telemetry", w.on(f"telemetry/{rec.device}")[0])
