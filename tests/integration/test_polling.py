"""Polling real simulators over TCP, RTU over TCP and a pty serial line."""

from __future__ import annotations

import itertools

import pytest

from drivers.device import DeviceReader
from drivers.model import Request, Table
from drivers.planner import plan
from drivers.transport import Line, LinkSpec
from tests.support.polling_kit import PROFILES, polled_bus, wait_for

ALL = [("meter", "ddsu666", 1), ("breaker", "lx47le", 2), ("rcm", "aim_r100", 3),
       ("efd", "efd_combo", 4), ("panel", "fire_panel", 5), ("doors", "fire_door", 6),
       ("exits", "exit_sensor", 7)]


@pytest.mark.parametrize("kind", ["tcp", "rtu_over_tcp", "rtu"])
async def test_full_poll_makes_exactly_the_planned_requests(kind: str) -> None:
    """One poll of every point of every built-in profile, counted at the simulator."""
    async with polled_bus(kind, ALL, start=False) as run:
        where = run.sim.ports()["bus"]
        spec = (LinkSpec(kind="rtu", port=str(where)) if kind == "rtu" else
                LinkSpec(kind=kind, host="127.0.0.1", port=int(where)))  # type: ignore[arg-type]
        line = Line(spec)
        link = await line.acquire()
        try:
            for dev_id, prof_name, unit in ALL:
                prof = PROFILES[prof_name]
                reader = DeviceReader(dev_id, prof, unit)
                run.sim.device(dev_id).reset_stats()
                values: dict[str, object] = {}
                for cls in prof.poll_classes:
                    r = await reader.poll(link, cls)
                    assert r.error is None, r.error
                    values.update(r.values)
                assert set(values) == set(prof.by_key), dev_id
                seen = run.sim.device(dev_id).requests()
                assert sorted(seen, key=repr) == sorted(
                    [rq for cls in prof.poll_classes for rq in
                     plan(prof, prof.points_for(cls))], key=repr), dev_id
        finally:
            line.release(link)
            line.close()


async def test_values_set_at_the_device_arrive_decoded() -> None:
    async with polled_bus("rtu", [("meter", "ddsu666", 1), ("breaker", "lx47le", 2)]) as run:
        run.sim.device("meter").set({"voltage_v": 231.5, "power_w": 1500.0})
        run.sim.device("breaker").set({"breaker_closed": False, "trip_reason": "residual_current",
                                       "temperature_c@2": 61})

        def seen() -> bool:
            m = [r.values for r in run.results["meter"] if "voltage_v" in r.values]
            b = [r.values for r in run.results["breaker"] if "trip_reason" in r.values]
            t = [r.values for r in run.results["breaker"] if "temperature_c@2" in r.values]
            return bool(m and b and t and abs(float(m[-1]["voltage_v"]) - 231.5) < 0.01
                        and b[-1]["trip_reason"] == "residual_current"
                        and t[-1]["temperature_c@2"] == 61)
        await wait_for(seen)
        latest: dict[str, object] = {}
        for r in run.results["breaker"]:
            latest.update(r.values)
        assert latest["breaker_closed"] is False


async def test_strict_meter_gets_its_reads_split_and_every_point_read() -> None:
    """A meter that refuses reads spanning undefined registers (exception 2) is read anyway."""
    async with polled_bus("tcp", [("meter", "ddsu666", 1)], strict={"meter"}) as run:
        await wait_for(lambda: {"power_factor", "frequency_hz", "energy_kwh"} <= {
            k for r in run.results["meter"] for k in r.values})
        reader = run.poller.readers["meter"]
        assert reader.splits >= 1
        fast = [pr.request for pr in reader.plans["fast"]]
        assert Request(Table.INPUT, 0x2000, 8) in fast and Request(Table.INPUT, 0x200A, 2) in fast
        run.sim.device("meter").reset_stats()
        await wait_for(lambda: len(run.sim.device("meter").requests()) >= 6)
        # the remembered split is used from then on: no more refused reads
        assert run.sim.device("meter").stats()["exceptions"] == 0
        assert Request(Table.INPUT, 0x2000, 16) not in run.sim.device("meter").requests()
        latest: dict[str, object] = {}
        for r in run.results["meter"]:
            latest.update(r.values)
        assert set(latest) == set(PROFILES["ddsu666"].by_key)


async def test_silent_rtu_device_does_not_stall_its_line() -> None:
    """One device silent: the others keep their period within one timeout; the silent one is
    offline, and back online within one backoff period after it answers again."""
    devs = [("a", "fire_panel", 1), ("b", "fire_panel", 2), ("c", "fire_panel", 3)]
    async with polled_bus("rtu", devs, period_s=0.3, timeout_s=0.3) as run:
        await wait_for(lambda: all(run.health[d].online for d, _, _ in devs))
        run.sim.device("b").fault("offline")
        await wait_for(lambda: not run.health["b"].online)
        mark = {d: len(run.results[d]) for d in ("a", "c")}
        await wait_for(lambda: all(len(run.results[d]) >= mark[d] + 12 for d in ("a", "c")),
                       timeout=15)
        for d in ("a", "c"):
            window = run.results[d][mark[d]:]
            assert all(r.values for r in window), f"{d} lost polls while b was silent"
            gaps = [b.ts - a.ts for a, b in itertools.pairwise(window)]
            # period 0.3 s + at most one 0.3 s timeout of the silent device (+ scheduling slack)
            assert max(gaps) < 0.3 + 0.3 + 0.25, gaps
        # b costs the line at most one timeout per backoff period (2 s max here)
        b_requests_before = run.health["b"].requests
        await wait_for(lambda: len(run.results["a"]) >= mark["a"] + 20, timeout=15)
        assert run.health["b"].requests - b_requests_before <= 4
        run.sim.device("b").heal()
        await wait_for(lambda: run.health["b"].online, timeout=2.0 + 1.0)
        assert run.health["b"].errors.get("timeout", 0) >= 1


async def test_tcp_device_server_going_away_and_returning() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    devs = [("a", "exit_sensor", 1), ("b", "exit_sensor", 2)]
    async with polled_bus("rtu_over_tcp", devs, port=port) as run:
        await wait_for(lambda: all(run.health[d].online for d, _, _ in devs))
        server = run.sim.servers["bus"]
        await server.stop()
        await wait_for(lambda: not any(run.health[d].online for d, _, _ in devs))
        assert any(r.error and not r.values for r in run.results["a"])
        await server.start()
        await wait_for(lambda: all(run.health[d].online for d, _, _ in devs), timeout=2.0 + 2.0)


@pytest.mark.parametrize("fault", ["garbage", "exception", "slow"])
async def test_bad_replies_show_in_health_and_spare_the_others(fault: str) -> None:
    devs = [("bad", "fire_door", 1), ("good", "fire_door", 2)]
    async with polled_bus("rtu", devs, period_s=0.3, timeout_s=0.3) as run:
        await wait_for(lambda: all(run.health[d].online for d, _, _ in devs))
        run.sim.device("bad").fault(fault, delay_s=0.6) if fault == "slow" else \
            run.sim.device("bad").fault(fault)
        await wait_for(lambda: sum(run.health["bad"].errors.values()) >= 2)
        n = len(run.results["good"])
        await wait_for(lambda: len(run.results["good"]) >= n + 5)
        assert all(r.values for r in run.results["good"][n:])
        assert run.health["bad"].last_error
        run.sim.device("bad").heal()
        await wait_for(lambda: run.health["bad"].online, timeout=5)
