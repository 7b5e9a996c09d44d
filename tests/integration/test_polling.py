"""Polling real simulators over TCP, RTU over TCP and a pty serial line."""

from __future__ import annotations

import asyncio
import contextlib
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


def optimum_requests(profile: str, poll_class: str, undefined: set[str]) -> list[Request]:
    """The fewest reads of a class's readable points on a device that refuses any undefined
    register, computed from the readable map alone (not with the planner): a request may only
    span registers the device defines, and at most 125 of them."""
    prof = PROFILES[profile]
    defined = {a for p in prof.expanded if p.key not in undefined for a in range(p.address, p.end)}
    wanted = sorted((p.address, p.end) for p in prof.points_for(poll_class)
                    if p.key not in undefined)
    out: list[Request] = []
    start = end = -1
    for a, e in wanted:
        if start >= 0 and all(x in defined for x in range(end, a)) and e - start <= 125:
            end = max(end, e)
            continue
        if start >= 0:
            out.append(Request(Table.INPUT, start, end - start))
        start, end = a, e
    out.append(Request(Table.INPUT, start, end - start))
    return out


async def test_meter_without_a_register_is_read_in_the_fewest_requests_its_map_allows() -> None:
    """A DDSU666 variant without reactive power (0x2006 undefined, inside the fast block) that
    refuses reads across undefined registers: bisection finds the readable ranges once, then
    each fast poll makes exactly the optimum number of requests, and 0x2006 is not re-read
    every cycle."""
    gone = {"reactive_power_var"}
    async with polled_bus("tcp", [("meter", "ddsu666", 1)],
                          undefined={"meter": tuple(gone)}) as run:
        await wait_for(lambda: run.health["meter"].unreadable == ("reactive_power_var",))
        reader = run.poller.readers["meter"]
        for cls in PROFILES["ddsu666"].poll_classes:
            assert [pr.request for pr in reader.plans[cls]] == optimum_requests(
                "ddsu666", cls, gone), cls
        assert [pr.request for pr in reader.plans["fast"]] == [
            Request(Table.INPUT, 0x2000, 6), Request(Table.INPUT, 0x200A, 2)]
        mark = len(run.results["meter"])
        sim = run.sim.device("meter")
        sim.reset_stats()
        await wait_for(lambda: len(run.results["meter"]) >= mark + 12)
        fast = [r for r in run.results["meter"][mark:] if r.poll_class == "fast"]
        assert fast and all(r.requests == 2 for r in fast), [r.requests for r in fast]
        assert all({"voltage_v", "current_a", "power_w", "power_factor"} <= set(r.values)
                   for r in fast)
        assert sim.stats()["exceptions"] == 0  # nothing refused once the map is known
        assert Request(Table.INPUT, 0x2006, 2) not in sim.requests()


async def test_unreadable_point_is_retried_with_backoff_and_rejoins_when_defined() -> None:
    async with polled_bus("tcp", [("meter", "ddsu666", 1)], start=False,
                          undefined={"meter": ("reactive_power_var",)}) as run:
        reader = run.poller.readers["meter"]
        reader.retry_unreadable_s = 1.0
        polling = asyncio.create_task(run.poller.run())
        await wait_for(lambda: bool(reader.unreadable))
        sim = run.sim.device("meter")
        sim.reset_stats()
        await asyncio.sleep(2.5)
        retries = [r for r in sim.requests() if r == Request(Table.INPUT, 0x2006, 2)]
        fast_polls = sum(1 for r in sim.requests() if r == Request(Table.INPUT, 0x2000, 6))
        assert 1 <= len(retries) <= 3 and fast_polls >= 6, (retries, fast_polls)
        # The meter is reconfigured and now defines the register: the next retry reads it and
        # it rejoins the fast block (the gap before the power factor stays undefined).
        model = sim.model
        model.defined = {**model.defined,
                         Table.INPUT: model.defined[Table.INPUT] | {0x2006, 0x2007}}
        await wait_for(lambda: not reader.unreadable, timeout=5)
        assert "reactive_power_var" in run.results["meter"][-1].values or any(
            "reactive_power_var" in r.values for r in run.results["meter"][-5:])
        await wait_for(lambda: [pr.request for pr in reader.plans["fast"]] == [
            Request(Table.INPUT, 0x2000, 8), Request(Table.INPUT, 0x200A, 2)], timeout=5)
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


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
