"""Serve one bus of simulated devices with pymodbus's server.

pymodbus 3.16's ``SimDevice``/``SimData`` keep static register images; these devices compute
their registers lazily from time, count every request, and fail on purpose, so the bus is served
through ``BusContext``, a data store with the interface the pymodbus request handler calls
(``async_getValues``/``async_setValues``/``device_ids``). The pymodbus server is built with a
one-register ``SimDevice`` (its constructor insists) and then given the bus context.

Unknown unit ids behave as on real installations: on a serial line (``rtu``, and ``rtu_over_tcp``
behind a transparent serial device server) nobody answers; a Modbus TCP endpoint with several
units is a gateway and answers exception 0x0B (gateway target device failed to respond).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType as PmDataType
from pymodbus.simulator import SimData as PmSimData
from pymodbus.simulator import SimDevice as PmSimDevice

from drivers.model import Request, Table
from simulators.device import DeviceModel
from simulators.faults import FaultTable
from simulators.pty import PtyRelay, gap_s, transaction_s
from simulators.spec import SimBus

log = logging.getLogger(__name__)

READ_FC = {1: Table.COIL, 2: Table.DISCRETE, 3: Table.HOLDING, 4: Table.INPUT}
WRITE_FC = {5: Table.COIL, 15: Table.COIL, 6: Table.HOLDING, 16: Table.HOLDING}
RECENT = 2000  # requests remembered per device


class DeviceStats:
    """What one simulated device was asked, as the device saw it."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.registers: dict[str, int] = {}
        self.writes = 0
        self.exceptions = 0
        self.recent: collections.deque[Request] = collections.deque(maxlen=RECENT)

    def count(self, table: Table, address: int, count: int) -> None:
        self.requests[table.value] = self.requests.get(table.value, 0) + 1
        self.registers[table.value] = self.registers.get(table.value, 0) + count
        self.recent.append(Request(table, address, count))

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()),
            "by_table": dict(self.requests),
            "registers": dict(self.registers),
            "writes": self.writes,
            "exceptions": self.exceptions,
        }


class BusContext:
    """The data store of one bus: unit id → device model, plus faults and counters."""

    def __init__(
        self,
        bus: SimBus,
        models: dict[int, DeviceModel],
        faults: FaultTable,
        serial_timing: bool = False,
    ) -> None:
        self.bus = bus
        self.models = models
        self.faults = faults
        self.stats = {unit: DeviceStats() for unit in models}
        self.unknown_unit_requests = 0
        self.serial_timing = serial_timing  # rtu_over_tcp with emulate_timing: hold the line
        self._line = asyncio.Lock()
        self._free_at = 0.0

    def device_ids(self) -> list[int]:
        return list(self.models)

    def _model(self, unit: int) -> DeviceModel | None:
        """The device at ``unit``; None means answer 0x0B (a TCP gateway with nobody there);
        on serial kinds pymodbus is told to stay silent instead."""
        model = self.models.get(unit)
        if model is None:
            self.unknown_unit_requests += 1
            if self.bus.kind != "tcp":
                raise NoSuchIdException(f"no simulated device at unit {unit} on {self.bus.id}")
        return model

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        model = self._model(device_id)
        if model is None:
            return ExcCodes.GATEWAY_NO_RESPONSE
        if func_code in WRITE_FC:  # the read-back pymodbus does after a single write
            words = model.read(WRITE_FC[func_code], address, count)
            if words is None:
                return ExcCodes.ILLEGAL_ADDRESS
            return [bool(w) for w in words] if func_code == 5 else words
        table = READ_FC.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        stats = self.stats[device_id]
        stats.count(table, address, count)
        reply_bytes = 5 + ((count + 7) // 8 if table.is_bit else 2 * count)
        await self._line_time(8, reply_bytes)
        fault = self.faults.active(device_id)
        if fault is not None:
            if fault.kind == "slow":
                self.faults.count(device_id, "slow")
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "exception":
                self.faults.count(device_id, "exception")
                stats.exceptions += 1
                return ExcCodes(fault.code) if fault.code in ExcCodes._value2member_map_ else (
                    ExcCodes.DEVICE_FAILURE
                )
        words = model.read(table, address, count)
        if words is None:
            stats.exceptions += 1
            return ExcCodes.ILLEGAL_ADDRESS
        if table.is_bit:
            return [bool(w) for w in words]
        return words

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        model = self._model(device_id)
        if model is None:
            return ExcCodes.GATEWAY_NO_RESPONSE
        table = WRITE_FC.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        stats = self.stats[device_id]
        stats.writes += 1
        await self._line_time(9 + 2 * len(values), 8)
        fault = self.faults.active(device_id)
        if fault is not None and fault.kind == "exception":
            self.faults.count(device_id, "exception")
            stats.exceptions += 1
            return ExcCodes(fault.code) if fault.code in ExcCodes._value2member_map_ else (
                ExcCodes.DEVICE_FAILURE
            )
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
        if not model.write(table, address, [int(v) for v in values]):
            stats.exceptions += 1
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    async def _line_time(self, req: int, resp: int) -> None:
        """Hold the serial side as the pty relay would (same model, ``simulators.pty``): a
        transaction starts a 3.5-character gap after the previous one ended."""
        if not self.serial_timing:
            return
        async with self._line:
            loop = asyncio.get_running_loop()
            now = loop.time()
            start = max(now, self._free_at)
            end = start + transaction_s(req, resp, self.bus.baudrate, self.bus.turnaround_s)
            self._free_at = end + gap_s(self.bus.baudrate)
            await asyncio.sleep(end - now)


def _placeholder() -> PmSimDevice:
    return PmSimDevice(0, simdata=[PmSimData(0, values=0, datatype=PmDataType.REGISTERS)])


class BusServer:
    """One bus: a pymodbus server (TCP listener or RTU on a pty) over a ``BusContext``."""

    def __init__(
        self,
        bus: SimBus,
        models: list[DeviceModel],
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.bus = bus
        self.faults = FaultTable(clock=clock, seed=seed)
        serial_timing = bus.kind == "rtu_over_tcp" and bus.emulate_timing
        self.context = BusContext(bus, {m.unit: m for m in models}, self.faults, serial_timing)
        self.models = {m.id: m for m in models}
        self.relay: PtyRelay | None = None
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self.address: int | str = bus.port

    async def start(self) -> None:
        bus = self.bus
        if bus.kind == "rtu":
            self.relay = PtyRelay(
                str(bus.port),
                baudrate=bus.baudrate,
                emulate_timing=bus.emulate_timing,
                turnaround_s=bus.turnaround_s,
                reply_filter=lambda data: self.faults.filter_reply(data, "rtu"),
            )
            await self.relay.start()
            server: ModbusTcpServer | ModbusSerialServer = ModbusSerialServer(
                _placeholder(),
                framer=FramerType.RTU,
                port=self.relay.server_path,
                baudrate=bus.baudrate,
                ignore_missing_devices=True,
            )
        else:
            framing = "socket" if bus.kind == "tcp" else "rtu"

            def trace(sending: bool, data: bytes) -> bytes:
                return self.faults.filter_reply(data, framing) if sending else data

            server = ModbusTcpServer(
                _placeholder(),
                framer=FramerType.SOCKET if bus.kind == "tcp" else FramerType.RTU,
                address=(bus.host, int(bus.port)),
                ignore_missing_devices=bus.kind != "tcp",
                trace_packet=trace,
            )
        server.context = self.context  # type: ignore[assignment]
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            if self.relay is not None:
                self.relay.close()
            where = f"{bus.host}:{bus.port}" if bus.kind != "rtu" else str(bus.port)
            raise OSError(
                f"simulated bus {bus.id!r} cannot listen on {where}: {exc} "
                f"(is the port in use by another program?)"
            ) from exc
        self._server = server
        if bus.kind == "rtu":
            self.address = str(bus.port)
        else:
            sockets = getattr(server.transport, "sockets", None) or []
            if sockets:
                self.address = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None

    def stats(self) -> dict[str, Any]:
        by_unit = {m.unit: m.id for m in self.models.values()}
        out: dict[str, Any] = {
            "devices": {
                by_unit[unit]: {**st.as_dict(), "faults": dict(self.faults.injected.get(unit, {}))}
                for unit, st in self.context.stats.items()
            },
            "unknown_unit_requests": self.context.unknown_unit_requests,
        }
        if self.relay is not None:
            out["bytes_to_devices"] = self.relay.bytes_to_devices
            out["bytes_to_master"] = self.relay.bytes_to_master
        return out
