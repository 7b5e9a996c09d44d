"""Modbus links: one connection to a bus endpoint, with the line discipline a bus needs.

A serial line (RTU, or RTU carried over TCP by a serial device server) allows one request in
flight and needs a quiet gap between frames; a Modbus TCP endpoint can take a few connections in
parallel. pymodbus clients already serialise their own calls, so parallelism on TCP comes from
several clients, and the line discipline (gap, pause, recovery after a timeout) lives here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from struct import error as struct_error
from typing import Any, Literal

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from drivers.model import Request, Table

# pymodbus logs every timeout at ERROR; a gateway reports those in device health instead.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}

# What each code asks of whoever reads it (Modbus Application Protocol V1.1b3, section 7).
EXCEPTION_HINTS = {
    1: "the device does not support this function: check that the profile fits the model",
    2: "the device does not define these registers: check that the profile fits the model, "
       "its firmware and the unit address",
    3: "the device refuses this request: check that the profile fits the model",
    4: "the device reports an internal failure: check the device, restart it if it persists",
    5: "the device is still busy with an earlier command: asked again after a pause",
    6: "the device is busy with a long operation: asked again after a pause",
    10: "the serial gateway has no path to the device: check the gateway's configuration "
        "and load",
    11: "the serial gateway got no answer from the device: check the RS-485 wiring behind "
        "the gateway, the device's address, baud rate and power",
}

BUSY_CODES = frozenset({5, 6})
"""Transient by the spec: 05 acknowledge ("processing, a long duration will be required") and
06 server device busy ("the client should retransmit the message later"); a serial gateway
also answers 06 when too many requests are queued. Asked again, never taken as a refusal."""

UNREACHABLE_CODES = frozenset({10, 11})
"""A gateway speaking for a device it cannot reach: 0A no path to it, 0B no answer from it
(the gateway already waited its own timeout). The device is silent, not refusing."""


class LinkError(Exception):
    """A request that produced no usable reply. ``kind`` is what health counts it as."""

    kind = "error"


class ReplyTimeout(LinkError):
    kind = "timeout"


class NotConnected(LinkError):
    kind = "connection"


class BadReply(LinkError):
    kind = "bad_reply"


class ExceptionReply(LinkError):
    """The device answered with a Modbus exception; the link itself is fine.

    ``kind`` is ``busy`` (05, 06: ask again later), ``unreachable`` (0A, 0B: a gateway cannot
    reach the device behind it) or ``exception`` (the device refuses or failed)."""

    kind = "exception"

    def __init__(self, code: int, request: Request, unit: int, op: str = "read") -> None:
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        hint = EXCEPTION_HINTS.get(code)
        if code in BUSY_CODES and op != "read":  # a write is not repeated behind anyone's back
            hint = "the device is busy with a long operation: try again later"
        super().__init__(
            f"unit {unit} answered exception {code} ({name}) to a {op} of {request.count} "
            f"{request.table.value} from {request.address}" + (f": {hint}" if hint else "")
        )
        self.code = code
        self.kind = ("busy" if code in BUSY_CODES else
                     "unreachable" if code in UNREACHABLE_CODES else "exception")


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """Where and how to reach a bus (built by the gateway from its configuration)."""

    kind: Literal["tcp", "rtu", "rtu_over_tcp"]
    host: str = ""
    port: int | str = 502
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5
    retries: int = 0
    pause_s: float = 0.0
    local_echo: bool = False
    """The RS-485 adapter hears its own requests (no echo suppression on its receiver): every
    request comes back ahead of the reply and is dropped. Off by default: with it on and no
    echo, a write's reply (which repeats the request, functions 05 and 06) would be dropped
    as an echo, so it is a property of the adapter, set per serial line."""

    @property
    def serial_framing(self) -> bool:
        return self.kind in ("rtu", "rtu_over_tcp")

    @property
    def char_time_s(self) -> float:
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return bits / self.baudrate

    @property
    def frame_gap_s(self) -> float:
        """Quiet time between frames: 3.5 characters (1.75 ms above 19200 baud, per the spec)."""
        if not self.serial_framing:
            return self.pause_s
        gap = 3.5 * self.char_time_s if self.baudrate <= 19200 else 0.00175
        return max(gap, self.pause_s)

    def describe(self) -> str:
        if self.kind == "rtu":
            return f"{self.port} at {self.baudrate} baud"
        framing = " (RTU over TCP)" if self.kind == "rtu_over_tcp" else ""
        return f"{self.host}:{self.port}{framing}"


_READS = {Table.HOLDING: "read_holding_registers", Table.INPUT: "read_input_registers",
          Table.COIL: "read_coils", Table.DISCRETE: "read_discrete_inputs"}
_READ_FC = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
FC_WRITE_COIL, FC_WRITE_REGISTER, FC_WRITE_REGISTERS = 5, 6, 16
_Call = Callable[[AsyncModbusTcpClient | AsyncModbusSerialClient], Awaitable[Any]]


class Link:
    """One client connection. Not safe for overlapping calls: a :class:`Line` hands it out."""

    def __init__(self, spec: LinkSpec) -> None:
        self.spec = spec
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if spec.kind == "rtu":
            self._client = AsyncModbusSerialClient(
                str(spec.port),
                framer=FramerType.RTU,
                baudrate=spec.baudrate,
                bytesize=spec.bytesize,
                parity=spec.parity,
                stopbits=spec.stopbits,
                timeout=spec.timeout_s,
                retries=spec.retries,
                reconnect_delay=0,
                handle_local_echo=spec.local_echo,
            )
        else:
            self._client = AsyncModbusTcpClient(
                spec.host,
                port=int(spec.port),
                framer=FramerType.RTU if spec.kind == "rtu_over_tcp" else FramerType.SOCKET,
                timeout=spec.timeout_s,
                retries=spec.retries,
                reconnect_delay=0,
            )
        self._last_io = 0.0
        self._quiet_until = 0.0

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self) -> None:
        if self._client.connected:
            return
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException) as exc:
            raise NotConnected(f"cannot connect to {self.spec.describe()}: {exc}") from exc
        if not ok:
            raise NotConnected(f"cannot connect to {self.spec.describe()}")

    def close(self) -> None:
        self._client.close()

    async def read(self, request: Request, unit: int) -> Sequence[int] | Sequence[bool]:
        """Read one request from one unit. Raises a :class:`LinkError` subclass on failure."""
        read = _READS[request.table]
        rr = await self._transact(request, unit, "answer", lambda c: getattr(c, read)(
            request.address, count=request.count, device_id=unit), _READ_FC[request.table])
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            raise ExceptionReply(code, request, unit)
        if request.table.is_bit:
            bits: list[bool] = list(rr.bits)
            if len(bits) < request.count:
                raise BadReply(f"unit {unit}: {len(bits)} bits in reply, {request.count} asked")
            return bits
        regs: list[int] = list(rr.registers)
        if len(regs) != request.count:
            raise BadReply(f"unit {unit}: {len(regs)} registers in reply, {request.count} asked")
        return regs

    # ------------------------------------------------------------------ writes
    # Writes go through the same gap, quiet time and error mapping as reads, so a write on a
    # serial line is one more transaction in the line's discipline, not a side channel.

    async def write_coil(self, address: int, value: bool, unit: int) -> None:
        """Write one coil. Raises a :class:`LinkError` subclass on failure."""
        await self._write(Request(Table.COIL, address, 1), unit,
                          lambda c: c.write_coil(address, bool(value), device_id=unit),
                          FC_WRITE_COIL)

    async def write_register(self, address: int, value: int, unit: int) -> None:
        """Write one holding register (function 0x06)."""
        _check_word(value, address)
        await self._write(Request(Table.HOLDING, address, 1), unit,
                          lambda c: c.write_register(address, value, device_id=unit),
                          FC_WRITE_REGISTER)

    async def write_registers(self, address: int, values: Sequence[int], unit: int) -> None:
        """Write consecutive holding registers (function 0x10)."""
        if not values:
            raise ValueError("write_registers needs at least one value")
        for i, v in enumerate(values):
            _check_word(v, address + i)
        words = list(values)
        await self._write(Request(Table.HOLDING, address, len(words)), unit,
                          lambda c: c.write_registers(address, words, device_id=unit),
                          FC_WRITE_REGISTERS)

    async def _write(self, request: Request, unit: int, call: _Call, fc: int) -> None:
        rr = await self._transact(request, unit, "confirm a write", call, fc)
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            raise ExceptionReply(code, request, unit, op="write")
        echoed = getattr(rr, "address", request.address)
        if isinstance(echoed, int) and echoed != request.address:
            raise BadReply(f"unit {unit} confirmed a write to {echoed}, not to "
                           f"{request.address}: not taken as done")

    async def _transact(self, request: Request, unit: int, verb: str, call: _Call,
                        fc: int) -> Any:
        """One transaction in the line's discipline: connect, keep the frame gap and any quiet
        time, then map what went wrong onto the :class:`LinkError` kinds health counts.

        A reply must answer this request: its function code (``fc``, or ``fc | 0x80`` for an
        exception) and its unit id. A well-formed frame of another function (a holding read
        answered as an input read) once passed as data and cleared ``comm_loss``: it is a
        :class:`BadReply` now, counted in health, never data. pymodbus itself pairs a Modbus TCP
        reply with its request by transaction id (a reply with another id is not this
        request's reply: the request times out), and checks byte counts and CRCs while framing.
        """
        await self.connect()
        wait = max(self._last_io + self.spec.frame_gap_s, self._quiet_until) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            rr = await call(self._client)
            _check_reply(rr, fc, unit, self.spec)
            return rr
        except BadReply:
            self._quiet_until = time.monotonic() + self.spec.timeout_s / 2
            raise
        except ConnectionException as exc:
            raise NotConnected(f"{self.spec.describe()}: connection lost ({exc})") from exc
        except ModbusIOException as exc:
            # A late reply must not be taken for the next request's: keep the line quiet.
            self._quiet_until = time.monotonic() + self.spec.timeout_s / 2
            what = "" if verb == "answer" else f" of {request.table.value} {request.address}"
            raise ReplyTimeout(
                f"unit {unit} did not {verb}{what} within {self.spec.timeout_s:g} s on "
                f"{self.spec.describe()}") from exc
        except (ModbusException, ValueError, IndexError, struct_error) as exc:
            raise BadReply(f"unit {unit}: malformed reply on {self.spec.describe()}: {exc}") \
                from exc
        finally:
            self._last_io = time.monotonic()


def _check_reply(rr: Any, fc: int, unit: int, spec: LinkSpec) -> None:
    got_fc = getattr(rr, "function_code", None)
    if not isinstance(got_fc, int) or got_fc & 0x7F != fc:
        raise BadReply(f"unit {unit} on {spec.describe()} answered function {got_fc} to a "
                       f"request of function {fc}: not this request's reply, ignored")
    got_unit = getattr(rr, "dev_id", unit)
    if isinstance(got_unit, int) and got_unit != unit and unit != 0:
        raise BadReply(f"a reply from unit {got_unit} came to a request to unit {unit} on "
                       f"{spec.describe()}: not this request's reply, ignored")


def _check_word(value: int, address: int) -> None:
    if not 0 <= int(value) <= 0xFFFF:
        raise ValueError(f"register {address}: {value} does not fit in 16 bits (0 to 65535)")


class _Borrowed:
    """One borrowing of a free link from a line's queue (see :meth:`Line.link`)."""

    __slots__ = ("_free", "_link")

    def __init__(self, free: asyncio.Queue[Link]) -> None:
        self._free = free
        self._link: Link | None = None

    async def __aenter__(self) -> Link:
        free = self._free
        # A free link is taken at once; otherwise wait in line for one (Queue.get is fair).
        self._link = free.get_nowait() if not free.empty() else await free.get()
        return self._link

    async def __aexit__(self, *exc: object) -> None:
        if self._link is not None:
            self._free.put_nowait(self._link)
            self._link = None


class Line:
    """A bus endpoint and its links: ``max_concurrency`` 1 on a serial line, more on TCP."""

    def __init__(self, spec: LinkSpec, max_concurrency: int = 1) -> None:
        n = 1 if spec.kind == "rtu" else max_concurrency
        self.spec = spec
        self._free: asyncio.Queue[Link] = asyncio.Queue()
        self._links = [Link(spec) for _ in range(n)]
        for link in self._links:
            self._free.put_nowait(link)

    @property
    def concurrency(self) -> int:
        return len(self._links)

    def link(self) -> _Borrowed:
        """``async with line.link() as link:``: a free link of this line, given back however
        the block ends (a serial line has one, so one request is in flight on it).

        A plain async context manager rather than ``contextlib.asynccontextmanager``: it runs
        for every poll, and the generator machinery cost more than the borrowing itself."""
        return _Borrowed(self._free)

    def close(self) -> None:
        for link in self._links:
            link.close()
