"""InfluxDB sink against VictoriaMetrics (a real InfluxDB v2 write endpoint) and InfluxDB 1.6."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.outputs.config import InfluxConfig, OutputsConfig
from gateway.outputs.lineproto import LineBuilder
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from gateway.records import TelemetryRecord
from tests.support.outputs_helpers import Ident, drained, tele, transition, until
from tests.support.servers import Influx1, Victoria


def influx_cfg(url: str | None, **kw: object) -> OutputsConfig:
    return OutputsConfig(batch_size=200, max_age_s=0.2,
                         influx=InfluxConfig(url=url, org="campus", bucket="firegate",
                                             token="t0ken", **kw))  # type: ignore[arg-type]


def test_line_protocol_escapes_and_types_parse_in_real_influxdb(influx1: Influx1) -> None:
    b = LineBuilder(Ident(building="dorm 3,east"), poll_health=True)
    out: list[str] = []
    b.telemetry(TelemetryRecord(device="rcm=1", ts=1_700_000_000.5,
                                measurement="residual current", tags={"floor": "2", "room": "2 01"},
                                fields={"residual_current_ma@3": 42, "breaker_closed": True,
                                        "trip_reason": 'say "hi"\\', "temperature_c": float("nan"),
                                        "residual_current_ma@4": 7.5}), out)
    plain = next(line for line in out if "channel=" not in line and "device_health" not in line)
    assert plain == ("residual\\ current,building=dorm\\ 3\\,east,campus=north,device=rcm\\=1,"
                      "floor=2,gateway=gw-a1,room=2\\ 01,site=vc breaker_closed=true,"
                      'trip_reason="say \\"hi\\"\\\\" 1700000000500')
    assert out[0].endswith(",channel=3,device=rcm\\=1,floor=2,gateway=gw-a1,room=2\\ 01,site=vc "
                           "residual_current_ma=42.0 1700000000500")
    assert out[-1].startswith("device_health,") and "ok=true,quality=\"good\",points=5.0" in out[-1]
    influx1.query("CREATE DATABASE lp")
    influx1.write("lp", "\n".join(out))
    res = influx1.query('SELECT trip_reason, breaker_closed, building FROM "residual current"',
                        "lp")["results"][0]["series"][0]
    row = dict(zip(res["columns"], res["values"][0], strict=True))
    assert row["building"] == "dorm 3,east" and row["trip_reason"] == 'say "hi"\\'
    assert row["breaker_closed"] is True
    chans = influx1.query('SELECT residual_current_ma FROM "residual current" GROUP BY channel',
                          "lp")["results"][0]["series"]
    assert {s["tags"]["channel"]: s["values"][0][1] for s in chans} == {"3": 42, "4": 7.5}


async def test_telemetry_and_alarms_land_in_victoria_once_per_series_and_time(
        tmp_path: Path, victoria: Victoria) -> None:
    cfg = influx_cfg(victoria.url, health_interval_s=0.2, poll_health=True)
    now = time.time()
    with Outbox(tmp_path / "o.sqlite", budget_bytes=50_000_000, sinks=cfg.sinks()) as ob:
        for cycle in range(10):
            ob.put_telemetry([tele(f"land-{d}", now + cycle, voltage_v=230.0 + d,
                                   current_a=1.5) for d in range(30)])
        ob.put_alarm(transition("land-A1", 1, "raised", now))
        outputs = Outputs(cfg, ob, Ident())
        task = asyncio.create_task(outputs.run())
        await drained(ob, "influx")
        h = outputs.health()
        await until(lambda: bool(victoria.export('{__name__="gateway_health_outbox_pending"}')),
                    what="gateway_health in VictoriaMetrics")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert h.sinks["influx"]["state"] == "connected"
    assert h.outbox["sinks"]["influx"]["delivered"] == 301
    volts = victoria.points('{__name__="electrical_voltage_v",device=~"land-.*"}')
    assert len(volts) == 300  # 30 devices × 10 cycles
    series = victoria.export('{__name__="electrical_voltage_v",device="land-7"}')
    assert series[0].metric == {"__name__": "electrical_voltage_v", "site": "vc",
                                "campus": "north", "building": "dorm-3", "floor": "3",
                                "room": "301", "device": "land-7", "gateway": "gw-a1"}
    assert set(series[0].values) == {237.0}
    assert len(victoria.points('{__name__="device_health_ok",device=~"land-.*"}')) == 300
    alarm = victoria.export('{__name__="alarm_seq",alarm_id="land-A1"}')
    assert alarm[0].metric["severity"] == "major" and alarm[0].metric["rule"] == "overload"
    assert victoria.export('{__name__="alarm_open",alarm_id="land-A1"}')[0].values == [1]
    health = victoria.export('{__name__="gateway_health_influx_connected"}')
    assert health[0].metric["gateway"] == "gw-a1" and health[0].values[-1] == 1


async def test_influx_outage_loses_nothing_and_repeats_are_harmless(
        tmp_path: Path, make_victoria: object) -> None:
    vm: Victoria = make_victoria()  # type: ignore[operator]
    cfg = influx_cfg(vm.url)
    t0 = time.time()
    with Outbox(tmp_path / "o.sqlite", budget_bytes=50_000_000, sinks=cfg.sinks()) as ob:
        outputs = Outputs(cfg, ob, Ident())
        outputs.deliveries["influx"].backoff_max_s = 0.5
        task = asyncio.create_task(outputs.run())
        cycle = 0

        async def produce(n: int) -> None:
            nonlocal cycle
            for _ in range(n):
                ob.put_telemetry([tele(f"out-{d}", t0 + cycle, voltage_v=float(cycle))
                                  for d in range(20)])
                cycle += 1
                await asyncio.sleep(0.02)

        await produce(20)
        await drained(ob, "influx")
        # VictoriaMetrics answers 204 before its in-memory buffer reaches disk (seconds later):
        # a SIGKILL then loses what it had acknowledged. That is the server's durability, not
        # ours, so only what was polled from the kill on is counted below.
        killed_at = cycle
        vm.kill()
        await produce(60)  # about two seconds of polls with the database gone
        assert ob.pending("influx") > 0
        assert "cannot reach InfluxDB" in (outputs.health().sinks["influx"]["last_error"]
                                           or "")
        vm.start()
        await produce(20)
        await drained(ob, "influx", limit_s=30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert ob.stats()["shed"] == 0
    got = vm.points('{__name__="electrical_voltage_v"}')
    since_kill = {p for p in got if p[1] >= round((t0 + killed_at) * 1000)}
    assert len(since_kill) == 20 * (cycle - killed_at), "every poll of every device is there"


async def test_line_protocol_file_without_server(tmp_path: Path) -> None:
    lp = tmp_path / "demo.lp"
    cfg = OutputsConfig(max_age_s=0.1, influx=InfluxConfig(line_protocol_file=lp))
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=cfg.sinks()) as ob:
        ob.put_telemetry([tele("f-1", 1_700_000_000.0, power_w=812.5)])
        ob.put_alarm(transition("F1", 1, "raised", 1_700_000_001.0))
        task = asyncio.create_task(Outputs(cfg, ob, Ident()).run())
        await drained(ob, "influx")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    lines = lp.read_text().splitlines()
    assert lines[0].startswith("alarm,") and 'state="raised"' in lines[0]
    assert ",alarm_id=F1," in lines[0] and "open=true" in lines[0]
    assert lines[1].endswith(" power_w=812.5 1700000000000")
    assert lines[-1].startswith("gateway_health,"), "a last health line when stopping"
    assert "outbox_pending=0.0" in lines[-1] and "influx_connected=true" in lines[-1]


def test_alarm_value_keeps_one_field_type_in_real_influxdb(influx1: Influx1) -> None:
    b = LineBuilder(Ident())
    out: list[str] = []
    trip = replace(transition("T1", 1, "raised", 1_700_000_010.0), rule="breaker_trip",
                   value="leakage", threshold=None)
    over = replace(transition("T2", 1, "raised", 1_700_000_011.0), value=1820)
    door = replace(transition("T3", 1, "raised", 1_700_000_012.0), rule="door", value=True)
    closed = replace(transition("T2", 4, "closed", 1_700_000_013.0), acked_by="li.wei")
    for rec in (trip, over, door, closed):
        b.alarm(rec, out)
    influx1.query("CREATE DATABASE alarms")
    influx1.write("alarms", "\n".join(out))  # one type per field, or InfluxDB refuses
    q = influx1.query('SELECT last("open") AS "open", last("acked") AS "acked", last("value") '
                      'AS "value" FROM "alarm" GROUP BY "alarm_id"', "alarms")
    rows = {s["tags"]["alarm_id"]: s["values"][0][1:] for s in q["results"][0]["series"]}
    assert rows == {"T1": [True, False, None], "T2": [False, True, 1820.0],
                    "T3": [True, False, 1.0]}


def test_config_refuses_token_in_clear_text_off_loopback() -> None:
    secret = "tok-SECRET-123"
    with pytest.raises(ValueError, match="clear text"):
        InfluxConfig.model_validate({"url": "http://10.1.2.3:8086", "org": "o", "bucket": "b",
                                     "token": secret})
    ok = InfluxConfig.model_validate({"url": "http://10.1.2.3:8086", "org": "o", "bucket": "b",
                                      "token": secret, "insecure": True})
    assert secret not in repr(ok) and secret not in str(ok.model_dump())
    assert secret not in ok.model_dump_json()


async def test_small_budget_database_outage_sheds_only_telemetry_and_counts_it(
        tmp_path: Path, make_victoria: object) -> None:
    """A long database outage with a small disk budget: the oldest telemetry is shed and
    counted, every alarm transition still arrives, and what was not shed arrives too."""
    vm: Victoria = make_victoria()  # type: ignore[operator]
    cfg = influx_cfg(vm.url)
    t0 = time.time()
    with Outbox(tmp_path / "o.sqlite", budget_bytes=300_000, sinks=cfg.sinks()) as ob:
        outputs = Outputs(cfg, ob, Ident())
        outputs.deliveries["influx"].backoff_max_s = 0.5
        task = asyncio.create_task(outputs.run())
        vm.kill()
        polls = 0
        for cycle in range(150):  # far more telemetry than the budget holds
            ob.put_telemetry([tele(f"shed-{d}", t0 + cycle, voltage_v=float(cycle),
                                   current_a=1.0, power_w=200.0) for d in range(20)])
            polls += 20
            if cycle % 15 == 0:
                ob.put_alarm(transition(f"shed-A{cycle}", 1, "raised", t0 + cycle))
            await asyncio.sleep(0)
        shed = ob.stats()["shed"]
        assert shed > 0, "the budget was never reached"
        vm.start()
        await drained(ob, "influx", limit_s=60)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert ob.stats()["shed"] == shed  # nothing more once the database was back
    alarms = {p[0] for p in vm.points('{__name__="alarm_seq"}')}
    assert len(alarms) == 10, "every alarm transition arrived"
    volts = vm.points('{__name__="electrical_voltage_v",device=~"shed-.*"}')
    assert len(volts) + shed == polls, "delivered plus shed is everything that was polled"
    newest = max(p[1] for p in volts)
    assert newest == round((t0 + 149) * 1000), "the oldest went, the newest stayed"
