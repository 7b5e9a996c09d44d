"""A third output is one module plus one registry entry: a test-only JSON-lines sink, listed
under ``outputs.sinks`` beside MQTT, receives the same telemetry and alarm transitions as the
real broker does, from a real gateway polling real simulators."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.outputs import config as outputs_config
from gateway.runtime.wiring import start_services
from tests.support import jsonl_sink
from tests.support.gateway_kit import config, running
from tests.support.mqtt_helpers import Watcher
from tests.support.servers import Mosquitto
from tests.support.waiting import until

DEVICES = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 3, "room": "305"},
           {"id": "room-301", "profile": "ddsu666", "unit": 2, "floor": 3, "room": "301"}]
PREFIX = "firegate/test-college/gw-test"


async def test_a_registered_third_sink_gets_what_mqtt_gets(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(outputs_config.SINK_TYPES, "jsonl", jsonl_sink.ENTRY)
    out = tmp_path / "records.jsonl"
    cfg = config(tmp_path / "data", DEVICES, outputs={
        "max_age_s": 0.2, "stop_grace_s": 0,
        "sinks": [{"type": "mqtt", "url": mosquitto.url, "client_id": "fg-third"},
                  {"type": "jsonl", "path": str(out)}]})
    assert cfg.outputs.sinks() == ["mqtt", "jsonl"]
    async with Watcher(mosquitto, topic=f"{PREFIX}/#") as watch, running(cfg) as rig:
        services = start_services(rig.gw)
        task = asyncio.gather(*services.coroutines)
        try:
            await asyncio.sleep(1.0)
            rig.sim.device("panel").set({"fire_alarm": True})
            await until(lambda: bool(rig.raised("fire_alarm", "panel")))
            await asyncio.sleep(1.0)
            await until(lambda: rig.gw.outbox.pending() == 0, timeout=10)
            await asyncio.sleep(0.5)  # the last MQTT messages reach the watcher
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    got = jsonl_sink.read(out)
    file_tel = {(r["device"], r["ts"]) for r in got if r["lane"] == "telemetry"}
    file_alarms = {(r["id"], r["seq"]) for r in got if r["lane"] == "alarm"}
    mqtt_tel = {(b["device"], b["ts"]) for t, p, _ in watch.got
                if t.startswith(f"{PREFIX}/telemetry/") for b in [json.loads(p)]}
    mqtt_alarms = {(b["id"], b["seq"]) for t, p, _ in watch.got if t == f"{PREFIX}/events"
                   for b in [json.loads(p)]}
    assert len(file_tel) > 10 and file_alarms, (len(file_tel), file_alarms)
    assert file_tel == mqtt_tel
    assert file_alarms == mqtt_alarms
    fire = rig.raised("fire_alarm", "panel")[0]
    assert (fire["id"], fire["seq"]) in file_alarms
