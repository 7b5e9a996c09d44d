"""Helpers for the simulator tests: sample values per point, and reading a whole device through
a real pymodbus client with the gateway's own planner and codecs."""

from __future__ import annotations

from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerType

from drivers.codecs import decode
from drivers.model import DataType, Table, Value
from drivers.planner import plan
from drivers.profiles import Point, Profile

Client = AsyncModbusTcpClient | AsyncModbusSerialClient


def sample_value(pt: Point, i: int) -> Value:
    """A value the point can hold exactly, different from the device's life value."""
    if pt.enum is not None:
        options = list(pt.enum.values())
        return options[-1 - (i % 2)] if len(options) > 1 else options[0]
    if pt.table.is_bit or (pt.type is DataType.BIT and pt.width == 1):
        return i % 2 == 0
    if pt.type is DataType.BIT:
        return 1 + i % ((1 << pt.width) - 1)
    if pt.type is DataType.STRING:
        return "SIM"
    if pt.type in (DataType.F32, DataType.F64):
        return 100.25 + 7 * i
    raw = {DataType.I16: -50 + i, DataType.U32: 70000 + i, DataType.I32: -70000 - i}.get(
        pt.type, 100 + i)
    return raw * pt.scale + pt.offset


def samples(profile: Profile) -> dict[str, Value]:
    return {key: sample_value(pt, i) for i, (key, pt) in enumerate(profile.by_key.items())}


def client_for(kind: str, where: int | str, timeout: float = 1.0) -> Client:
    if kind == "rtu":
        return AsyncModbusSerialClient(str(where), framer=FramerType.RTU, baudrate=9600,
                                       timeout=timeout, retries=0)
    framer = FramerType.SOCKET if kind == "tcp" else FramerType.RTU
    return AsyncModbusTcpClient("127.0.0.1", port=int(where), framer=framer, timeout=timeout,
                                retries=0)


async def read_request(client: Client, table: Table, address: int, count: int,
                       unit: int) -> Any:
    if table is Table.COIL:
        return await client.read_coils(address, count=count, device_id=unit)
    if table is Table.DISCRETE:
        return await client.read_discrete_inputs(address, count=count, device_id=unit)
    if table is Table.HOLDING:
        return await client.read_holding_registers(address, count=count, device_id=unit)
    return await client.read_input_registers(address, count=count, device_id=unit)


async def read_device(client: Client, profile: Profile, unit: int) -> dict[str, Value]:
    """Every point of ``profile`` read as the gateway would: planned requests, then decode."""
    out: dict[str, Value] = {}
    for req in plan(profile):
        rr = await read_request(client, req.table, req.address, req.count, unit)
        assert not rr.isError(), f"{profile.profile} unit {unit}: {req} -> {rr}"
        data = rr.bits if req.table.is_bit else rr.registers
        for pt in profile.expanded:
            if pt.table is req.table and req.address <= pt.address and pt.end <= req.end:
                off = pt.address - req.address
                if pt.table.is_bit:
                    out[pt.key] = bool(data[off])
                else:
                    out[pt.key] = decode(pt, data[off : off + pt.words])
    return out


def assert_same(expected: dict[str, Value], got: dict[str, Value], what: str) -> None:
    assert set(got) == set(expected), what
    for key, want in expected.items():
        have = got[key]
        if isinstance(want, float) and not isinstance(have, bool | str):
            assert abs(float(have) - want) <= 1e-4 * max(1.0, abs(want)), (what, key, have, want)
        else:
            assert have == want, (what, key, have, want)
