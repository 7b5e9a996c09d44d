"""The simulators through real pymodbus clients: every built-in profile on every bus kind, strict
addresses, unknown units, writes, request counts and every fault kind."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pymodbus.exceptions import ModbusIOException

from drivers.model import Table
from drivers.planner import plan
from drivers.profiles import load_profiles
from simulators import SimBus, SimDevice, SimSpec, Simulation, SpecError
from tests.support.sim_kit import Client, assert_same, client_for, read_device, samples

PROFILES = load_profiles()
NAMES = sorted(PROFILES)
KINDS = ["tcp", "rtu_over_tcp", "rtu"]


def one_bus(kind: str, tmp_path: Path, devices: list[tuple[str, str, int]],
            strict: set[str] = frozenset(), **bus: object) -> SimSpec:  # type: ignore[assignment]
    port: int | str = str(tmp_path / "ttyRS485") if kind == "rtu" else 0
    return SimSpec(
        buses=[SimBus("bus", kind, port=port, **bus)],  # type: ignore[arg-type]
        devices=[SimDevice(i, PROFILES[p], "bus", u, strict_addresses=i in strict)
                 for i, p, u in devices],
    )


async def connected(sim: Simulation, kind: str, wait_s: float = 1.0) -> Client:
    client = client_for(kind, sim.ports()["bus"], wait_s)
    assert await client.connect()
    return client


@pytest.mark.parametrize("kind", KINDS)
async def test_every_builtin_profile_reads_back_what_was_set(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [(n, n, u) for u, n in enumerate(NAMES, 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind)
        try:
            for unit, name in enumerate(NAMES, 1):
                want = samples(PROFILES[name])
                sim.device(name).set(want)
                got = await read_device(client, PROFILES[name], unit)
                assert_same(want, got, f"{name} over {kind}")
        finally:
            client.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_life_values_look_like_a_healthy_building(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [(n, n, u) for u, n in enumerate(NAMES, 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind)
        try:
            got = {n: await read_device(client, PROFILES[n], u) for u, n in enumerate(NAMES, 1)}
        finally:
            client.close()
    meter = got["ddsu666"]
    assert 220 < float(meter["voltage_v"]) < 240
    assert 49.9 < float(meter["frequency_hz"]) < 50.1
    assert 0 < float(meter["power_w"]) < 800
    assert 0.5 < float(meter["power_factor"]) <= 1.0
    assert float(meter["energy_kwh"]) > 0
    assert got["lx47le"]["breaker_closed"] is True
    assert got["lx47le"]["trip_reason"] == "none"
    assert 0 < float(got["lx47le"]["residual_current_ma"]) < 30
    loops = [float(v) for k, v in got["aim_r100"].items() if k.startswith("residual_current_ma@")]
    assert len(loops) == 12 and all(10 <= v <= 60 for v in loops)
    assert all(v == "normal" for k, v in got["aim_r100"].items() if k.startswith("loop_fault@"))
    efd = got["efd_combo"]
    assert not any(efd[k] for k in ("residual_alarm", "temperature_alarm", "arc_alarm", "fault"))
    assert all(25 < float(efd[f"temperature_c@{i}"]) < 35 for i in range(1, 5))
    panel = got["fire_panel"]
    assert panel["running"] is True
    assert not any(v for k, v in panel.items() if k != "running")
    door = got["fire_door"]
    assert all(door[f"door_closed@{i}"] and not door[f"door_open@{i}"] for i in range(1, 9))
    assert not any(v for k, v in got["exit_sensor"].items() if k.startswith("obstructed"))


async def test_strict_meter_refuses_a_read_over_undefined_registers(tmp_path: Path) -> None:
    spec = one_bus("tcp", tmp_path, [("strict", "ddsu666", 1), ("lenient", "ddsu666", 2)],
                   strict={"strict"})
    async with Simulation(spec) as sim:
        client = await connected(sim, "tcp")
        try:
            # 0x2000-0x200F covers 0x2008/0x2009 and 0x200C/0x200D, which the profile lacks.
            rr = await client.read_input_registers(0x2000, count=16, device_id=1)
            assert rr.isError() and rr.exception_code == 2
            ok = await client.read_input_registers(0x2000, count=16, device_id=2)
            assert not ok.isError() and ok.registers[8:10] == [0, 0]
            # the gateway's split of that read (no gap bridged) is answered
            prof = PROFILES["ddsu666"]
            reqs = [r for r in plan(prof, gap_fill=0) if r.table is Table.INPUT]
            for r in reqs:
                res = await client.read_input_registers(r.address, count=r.count, device_id=1)
                assert not res.isError(), r
            assert sim.device("strict").stats()["exceptions"] == 1
        finally:
            client.close()


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
async def test_meter_answers_function_3_like_function_4(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [("meter", "ddsu666", 1)], strict={"meter"})
    async with Simulation(spec) as sim:
        sim.device("meter").set({"voltage_v": 230.2})
        client = await connected(sim, kind)
        try:
            fc4 = await client.read_input_registers(0x2000, count=2, device_id=1)
            fc3 = await client.read_holding_registers(0x2000, count=2, device_id=1)
        finally:
            client.close()
    assert fc3.registers == fc4.registers == [0x4366, 0x3333]  # 230.2 V as in domain.md
    assert sim.device("meter").stats()["by_table"] == {"input": 1, "holding": 1}


async def test_unknown_unit_gets_exception_0x0b_from_a_tcp_endpoint(tmp_path: Path) -> None:
    spec = one_bus("tcp", tmp_path, [("meter", "ddsu666", 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, "tcp")
        try:
            rr = await client.read_input_registers(0x2000, count=2, device_id=7)
            assert rr.isError() and rr.exception_code == 0x0B
        finally:
            client.close()
        assert sim.stats()["bus"]["unknown_unit_requests"] == 1


@pytest.mark.parametrize("kind", ["rtu", "rtu_over_tcp"])
async def test_unknown_unit_is_silent_on_a_serial_line(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [("meter", "ddsu666", 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind, wait_s=0.3)
        try:
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0x2000, count=2, device_id=7)
            rr = await client.read_input_registers(0x2000, count=2, device_id=1)
            assert not rr.isError()
        finally:
            client.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_simulator_counts_exactly_the_requests_made(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [("meter", "ddsu666", 1), ("breaker", "lx47le", 2)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind)
        try:
            await read_device(client, PROFILES["lx47le"], 2)
            await read_device(client, PROFILES["lx47le"], 2)
        finally:
            client.close()
        planned = plan(PROFILES["lx47le"])
        st = sim.device("breaker").stats()
        assert st["requests"] == 2 * len(planned)
        assert st["by_table"] == {t: 2 * sum(1 for r in planned if r.table.value == t)
                                  for t in {r.table.value for r in planned}}
        assert sorted(sim.device("breaker").requests(), key=repr) == sorted(planned * 2, key=repr)
        assert sim.device("meter").stats()["requests"] == 0
        sim.device("breaker").reset_stats()
        assert sim.device("breaker").stats()["requests"] == 0


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
async def test_breaker_opens_and_closes_by_coil_and_keeps_written_settings(
    kind: str, tmp_path: Path
) -> None:
    spec = one_bus(kind, tmp_path, [("breaker", "lx47le", 2), ("rcm", "aim_r100", 3)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind)
        try:
            assert not (await client.write_coil(1, False, device_id=2)).isError()
            opened = await read_device(client, PROFILES["lx47le"], 2)
            assert opened["breaker_closed"] is False
            assert opened["trip_reason"] == "remote"
            assert opened["power_w"] == 0 and opened["current_a"] == 0
            assert not (await client.write_coil(1, True, device_id=2)).isError()
            closed = await read_device(client, PROFILES["lx47le"], 2)
            assert closed["breaker_closed"] is True and closed["trip_reason"] == "none"
            # an AIM-R100 alarm setting for loop 3 (0x0056 + 2) written over Modbus sticks
            assert not (await client.write_register(0x0058, 450, device_id=3)).isError()
            rcm = await read_device(client, PROFILES["aim_r100"], 3)
            assert rcm["residual_setting_ma@3"] == 450
            assert rcm["residual_setting_ma@1"] == 300
        finally:
            client.close()


async def test_locked_breaker_refuses_remote_close(tmp_path: Path) -> None:
    spec = one_bus("tcp", tmp_path, [("breaker", "lx47le", 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, "tcp")
        try:
            await client.write_coil(1, False, device_id=1)
            await client.write_coil(2, True, device_id=1)
            await client.write_coil(1, True, device_id=1)
            got = await read_device(client, PROFILES["lx47le"], 1)
        finally:
            client.close()
    assert got["breaker_closed"] is False and got["locked"] is True


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("offline", {}),
        ("garbage", {"mode": "corrupt"}),
        ("garbage", {"mode": "truncate"}),
        ("garbage", {"mode": "noise"}),
        ("slow", {"delay_s": 0.5}),
    ],
)
async def test_fault_makes_reads_fail_then_the_device_recovers(
    kind: str, fault: str, options: dict[str, object], tmp_path: Path
) -> None:
    spec = one_bus(kind, tmp_path, [("meter", "ddsu666", 1), ("other", "ddsu666", 2)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind, wait_s=0.25)
        try:
            sim.device("meter").fault(fault, for_s=0.4, **options)  # type: ignore[arg-type]
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0x2000, count=2, device_id=1)
            await asyncio.sleep(0.6)  # the fault is over, and any late reply has gone by
            rr = await client.read_input_registers(0x2000, count=2, device_id=1)
            assert not rr.isError()
            other = await client.read_input_registers(0x2000, count=2, device_id=2)
            assert not other.isError()
        finally:
            client.close()
        assert sim.device("meter").stats()["faults"] == {fault: 1}


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
async def test_slow_device_still_answers_a_patient_master(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [("meter", "ddsu666", 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind, wait_s=2.0)
        try:
            sim.device("meter").fault("slow", delay_s=0.3)
            rr = await client.read_input_registers(0x2000, count=2, device_id=1)
            assert not rr.isError()
        finally:
            client.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_exception_fault_answers_with_the_code(kind: str, tmp_path: Path) -> None:
    spec = one_bus(kind, tmp_path, [("panel", "fire_panel", 1)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind)
        try:
            sim.device("panel").fault("exception")
            rr = await client.read_holding_registers(0, count=9, device_id=1)
            assert rr.isError() and rr.exception_code == 4
            sim.device("panel").fault("exception", code=6)
            rr = await client.read_holding_registers(0, count=9, device_id=1)
            assert rr.isError() and rr.exception_code == 6
            sim.device("panel").heal()
            assert not (await client.read_holding_registers(0, count=9, device_id=1)).isError()
        finally:
            client.close()


def test_fault_arguments_are_checked(tmp_path: Path) -> None:
    spec = one_bus("tcp", tmp_path, [("m", "ddsu666", 1)])
    sim = Simulation(spec)
    with pytest.raises(ValueError, match="not one of"):
        sim.device("m").fault("melted")
    with pytest.raises(ValueError, match="garbage mode"):
        sim.device("m").fault("garbage", mode="shouting")
    with pytest.raises(KeyError, match="no simulated device 'x'"):
        sim.device("x")


# ------------------------------------------------------------------ spec and entry points


def test_spec_rejects_what_cannot_run() -> None:
    prof = PROFILES["ddsu666"]
    with pytest.raises(SpecError, match="unit 1 on bus 'b' is already 'a'"):
        SimSpec([SimBus("b")], [SimDevice("a", prof, "b", 1), SimDevice("c", prof, "b", 1)])
    with pytest.raises(SpecError, match="bus 'nope' does not exist"):
        SimSpec([SimBus("b")], [SimDevice("a", prof, "nope", 1)])
    with pytest.raises(SpecError, match="needs port: a path"):
        SimSpec([SimBus("b", "rtu")], [])


async def test_ports_are_reported_and_several_buses_run_together(tmp_path: Path) -> None:
    link = tmp_path / "dev" / "ttyS1"
    spec = SimSpec(
        buses=[SimBus("a", "tcp"), SimBus("b", "rtu_over_tcp"), SimBus("c", "rtu", port=str(link))],
        devices=[SimDevice("m1", PROFILES["ddsu666"], "a", 1),
                 SimDevice("m2", PROFILES["ddsu666"], "b", 1),
                 SimDevice("m3", PROFILES["ddsu666"], "c", 1)],
    )
    async with Simulation(spec) as sim:
        ports = sim.ports()
        assert isinstance(ports["a"], int) and ports["a"] > 0
        assert isinstance(ports["b"], int) and ports["b"] not in (0, ports["a"])
        assert ports["c"] == str(link) and link.is_symlink()
    assert not link.exists()  # the link goes with the simulation


def test_standalone_entry_point_serves_a_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "sim.yaml"
    spec.write_text(
        "buses: [{id: line1, type: rtu_over_tcp, host: 127.0.0.1, port: 0}]\n"
        "devices: [{id: m1, profile: ddsu666, bus: line1, unit: 1}]\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "simulators", "-c", str(spec), "--for", "0.2"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0, proc.stderr
    ports = json.loads(proc.stdout.splitlines()[0])["ports"]
    assert isinstance(ports["line1"], int) and ports["line1"] > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("buses: [{id: b}]\ndevices: [{id: m, profile: nosuch, bus: b, unit: 1}]\n",
                   encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "simulators", "-c", str(bad), "--for", "0.1"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 2 and "profile 'nosuch' is not known" in proc.stderr


@pytest.mark.parametrize("kind", ["rtu", "tcp"])
async def test_a_cut_line_silences_every_device_until_it_is_mended(
    kind: str, tmp_path: Path
) -> None:
    spec = one_bus(kind, tmp_path, [("m1", "ddsu666", 1), ("m2", "ddsu666", 2)])
    async with Simulation(spec) as sim:
        client = await connected(sim, kind, wait_s=0.25)
        try:
            sim.bus_fault("bus", "offline")
            for unit in (1, 2):
                with pytest.raises(ModbusIOException):
                    await client.read_input_registers(0x2000, count=2, device_id=unit)
            sim.device("m2").fault("exception")  # a device's own fault wins over the line's
            rr = await client.read_input_registers(0x2000, count=2, device_id=2)
            assert rr.isError() and rr.exception_code == 4
            sim.heal_bus("bus")
            sim.device("m2").heal()
            for unit in (1, 2):
                ok = await client.read_input_registers(0x2000, count=2, device_id=unit)
                assert not ok.isError()
        finally:
            client.close()
    with pytest.raises(KeyError, match="no simulated bus 'nope'"):
        sim.bus_fault("nope", "offline")


async def test_the_pty_line_survives_the_master_closing_and_reopening_it(tmp_path: Path) -> None:
    spec = one_bus("rtu", tmp_path, [("meter", "ddsu666", 1)])
    async with Simulation(spec) as sim:
        for _ in range(3):
            client = await connected(sim, "rtu", wait_s=0.5)
            try:
                rr = await client.read_input_registers(0x2000, count=2, device_id=1)
                assert not rr.isError()
            finally:
                client.close()
        assert sim.device("meter").stats()["requests"] == 3
