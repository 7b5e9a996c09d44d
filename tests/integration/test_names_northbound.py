"""The names people use travel north: an alarm's ``location`` (the exit's label) and the
building's display name reach a real Mosquitto in the event and retained alarm payloads (valid
against the published schema) and InfluxDB's ``alarm`` measurement as a ``location`` field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.runtime.wiring import start_services
from tests.support.gateway_kit import config, running
from tests.support.mqtt_helpers import PREFIX, Watcher, check, retained
from tests.support.polling_kit import wait_for
from tests.support.servers import Mosquitto

DEVICES = [{"id": "exit-w", "profile": "exit_sensor", "unit": 1, "location": "西侧安全出口",
            "labels": {"exit": {"2": "西楼梯间1层通道"}}}]


async def test_location_and_names_reach_mqtt_and_influx(tmp_path: Path,
                                                        mosquitto: Mosquitto) -> None:
    lp = tmp_path / "alarms.lp"
    cfg = config(tmp_path, DEVICES, period_s=0.5,
                 rules={"defaults": {"blocked_exit": {"hold_s": 1, "night_hold_s": 1}}},
                 outputs={"batch_size": 50, "max_age_s": 0.1, "stop_grace_s": 0.5,
                          "mqtt": {"url": mosquitto.url, "client_id": "fg-names"},
                          "influx": {"line_protocol_file": str(lp)}})
    cfg.gateway.site, cfg.gateway.id = PREFIX.split("/")[1:]
    cfg.gateway.campus_name, cfg.gateway.building_name = "北校区", "3号宿舍楼"
    async with Watcher(mosquitto) as w, running(cfg) as rig:
        task = asyncio.gather(*start_services(rig.gw).coroutines)
        try:
            rig.sim.device("exit-w").set({"obstructed@2": True})
            await wait_for(lambda: bool(w.on("events")), timeout=15)
            ev = check("event", w.on("events")[0])
            assert (ev["rule"], ev["location"], ev["building"], ev["building_name"],
                    ev["campus_name"]) == ("blocked_exit", "西楼梯间1层通道", "dorm-9",
                                           "3号宿舍楼", "北校区")
            assert ev["message_zh"].startswith("3号宿舍楼 西楼梯间1层通道：")
            kept = await retained(mosquitto, f"{PREFIX}/alarms/#")
            state = check("alarm", kept[f"{PREFIX}/alarms/{ev['id']}"])
            assert state["location"] == "西楼梯间1层通道"
            await wait_for(lambda: lp.exists() and "alarm," in lp.read_text(), timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    line = next(x for x in lp.read_text(encoding="utf-8").splitlines() if x.startswith("alarm,"))
    assert 'location="西楼梯间1层通道"' in line and "rule=blocked_exit" in line
    assert json.loads(json.dumps(ev))  # the payload is plain JSON a screen can read
