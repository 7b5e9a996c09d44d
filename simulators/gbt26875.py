"""A user information transmission device (用户信息传输装置) that speaks GB/T 26875.3, and a
monitoring centre that listens, both over real TCP.

    dev = TransmissionDevice("000000000001", components=DEMO_COMPONENTS)
    async with dev.dialing("127.0.0.1", port):      # dials the gateway, reconnects if dropped
        await dev.fire(2, 17)                        # component status, waits for the confirm
        await dev.reset()                            # operation record + system status
        dev.misbehave("bad_checksum")                # the next frame is damaged on the wire

    async with MonitoringCentre() as centre:         # listens; confirms every valid frame
        centre.port, centre.received                 # bytes as they arrived, for relay tests

The device keeps one frame in flight: it waits ``confirm_s`` for the confirm (command 3, same
serial number), then retransmits the very same bytes, ``retries`` times, as a real device does
while its centre is away. A heartbeat (run state, type 21) goes every ``heartbeat_s`` when it
has nothing else to say. :meth:`TransmissionDevice.misbehave` damages the next frame (bad
checksum, truncated, wrong length, flood of garbage and frames) for the gateway's tests.
``simulators`` imports ``drivers`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from drivers.gbt26875 import frame as fr
from drivers.gbt26875 import units as u
from drivers.gbt26875.points import COMPONENT_BITS, OPERATIONS, SYSTEM_BITS

log = logging.getLogger("simulators.gbt26875")

Misbehaviour = Literal["bad_checksum", "truncated", "wrong_length", "flood", "unlisted"]
MISBEHAVIOURS: tuple[str, ...] = ("bad_checksum", "truncated", "wrong_length", "flood",
                                  "unlisted")


@dataclass(frozen=True)
class Component:
    loop: int
    point: int
    type: int = 42  # point smoke detector
    description: str = ""
    system_address: int = 1

    @property
    def address(self) -> int:
        return self.loop << 16 | self.point


DEMO_COMPONENTS = (
    Component(2, 17, 42, "三层东侧走廊感烟"),
    Component(2, 18, 42, "三层西侧走廊感烟"),
    Component(1, 3, 23, "一层大厅手动报警按钮"),
    Component(3, 5, 18, "配电间感温"),
)


def _bit(names: tuple[str, ...], *on: str) -> int:
    return sum(1 << names.index(n) for n in on)


@dataclass
class Step:
    """One step of a scripted scenario: ``at`` seconds from the start, an ``action`` (fire,
    fault, clear, reset, silence, self_test, system, analog, misbehave) and its arguments."""

    at: float
    action: str
    loop: int = 0
    point: int = 0
    value: float = 0.0
    analog_type: int = 3
    status: tuple[str, ...] = ()
    kind: str = ""


# The scripted scenario: a fire at loop 2 address 17 (三层东侧走廊感烟), silenced, then reset
# at the panel; a fault at the switch room's heat detector, which clears; temperatures meanwhile.
DEMO_SCRIPT = (
    Step(4.0, "analog", 3, 5, value=31.5),
    Step(12.0, "fire", 2, 17),
    Step(20.0, "silence"),
    Step(45.0, "reset"),
    Step(55.0, "fault", 3, 5),
    Step(60.0, "analog", 3, 5, value=33.0),
    Step(90.0, "clear", 3, 5),
)


@dataclass
class _Out:
    raw: bytes
    serial: int
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    denied: int = 0


class TransmissionDevice:
    def __init__(self, address: str = "000000000001", *, centre: str = "000000000000",
                 components: tuple[Component, ...] = DEMO_COMPONENTS, confirm_s: float = 1.0,
                 retries: int = 3, heartbeat_s: float = 30.0, system_address: int = 1,
                 hello_on_connect: bool = False) -> None:
        self.address = fr.address_bytes(address)
        self.centre = fr.address_bytes(centre)
        self.components = {(c.loop, c.point): c for c in components}
        self.confirm_s = confirm_s
        self.retries = retries
        self.heartbeat_s = heartbeat_s
        self.hello_on_connect = hello_on_connect  # a run state right after each (re)connect
        self.system_address = system_address
        self.serial = 0
        self.connects = 0
        self.sent: list[bytes] = []  # every write on the wire, retransmissions too
        self.received: list[fr.Frame] = []  # confirms, denies and anything else from the centre
        self.status: dict[tuple[int, int], int] = {}
        self.system = _bit(SYSTEM_BITS, "running")
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()  # one frame in flight
        self._inflight: _Out | None = None
        self._misbehave: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ connection
    @contextlib.asynccontextmanager
    async def dialing(self, host: str, port: int) -> AsyncIterator[TransmissionDevice]:
        """Dial ``host:port`` (the gateway, as if it were the centre) and keep the link up."""
        self._tasks.append(asyncio.create_task(self._dial(host, port)))
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        try:
            await asyncio.wait_for(self._connected.wait(), 10)
            yield self
        finally:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self._tasks.clear()
            if self._writer is not None:
                self._writer.close()

    async def run(self, host: str, port: int, script: tuple[Step, ...] = DEMO_SCRIPT, *,
                  time_scale: float = 1.0) -> None:
        """Dial (retrying until the centre is up), play ``script`` once, then keep the link and
        the heartbeats going until cancelled: what ``firegate demo`` and ``simulate`` run."""
        self._tasks.append(asyncio.create_task(self._dial(host, port)))
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        try:
            await self._connected.wait()
            await self.play(script, time_scale=time_scale)
            await asyncio.Event().wait()
        finally:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self._tasks.clear()

    async def _hello(self) -> None:
        with contextlib.suppress(Exception):
            await self.run_state()

    async def _dial(self, host: str, port: int) -> None:
        delay = 0.1
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self.connects += 1
            self._writer = writer
            self._connected.set()
            hello = asyncio.create_task(self._hello()) if self.hello_on_connect else None
            try:
                await self._read(reader)
            finally:
                if hello is not None:
                    hello.cancel()
                self._connected.clear()
                self._writer = None
                writer.close()
            await asyncio.sleep(delay)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        frames = fr.FrameReader()
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(4096):
                for item in frames.feed(data):
                    if isinstance(item, fr.FrameError):
                        log.warning("transmission device: bad frame from the centre: %s", item)
                        continue
                    self.received.append(item)
                    out = self._inflight
                    if out is None or item.serial != out.serial:
                        continue
                    if item.command == fr.Command.CONFIRM:
                        out.confirmed.set()
                    elif item.command == fr.Command.DENY:
                        out.denied += 1

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(Exception):
                await self.run_state()

    # ------------------------------------------------------------------ sending
    def misbehave(self, kind: str) -> None:
        """Damage the next frame sent: bad_checksum, truncated (the tail never comes),
        wrong_length (declared length off by 3), flood (garbage and 50 frames at once),
        unlisted (sent from another source address)."""
        if kind not in MISBEHAVIOURS:
            raise ValueError(f"misbehaviour {kind!r}: one of {', '.join(MISBEHAVIOURS)}")
        self._misbehave.append(kind)

    def _frame(self, data: bytes, source: bytes | None = None) -> fr.Frame:
        self.serial = (self.serial + 1) & 0xFFFF
        now = dt.datetime.now()
        return fr.Frame(self.serial, fr.Command.SEND_DATA, source or self.address, self.centre,
                        data, fr.TimeLabel.from_datetime(now))

    async def send_unit(self, unit: u.DataUnit, *, wait: bool = True) -> bool:
        """Send one data unit and, with ``wait``, retransmit until confirmed. True if it was."""
        async with self._lock:
            kind = self._misbehave.pop(0) if self._misbehave else None
            f = self._frame(u.encode(unit), fr.address_bytes("0000DEADBEEF")
                            if kind == "unlisted" else None)
            raw = f.encode()
            if kind is not None and kind != "unlisted":
                await self._write(_damage(raw, kind, self))
                return False
            out = self._inflight = _Out(raw, f.serial)
            try:
                for _ in range(1 + (self.retries if wait else 0)):
                    await self._write(raw)
                    if not wait:
                        return False
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(out.confirmed.wait(), self.confirm_s)
                        return True
                log.warning("transmission device: serial %d never confirmed", f.serial)
                return False
            finally:
                self._inflight = None

    async def send_raw(self, raw: bytes) -> None:
        """Bytes as they are, for tests that write their own frames."""
        await self._write(raw)

    async def _write(self, raw: bytes) -> None:
        await asyncio.wait_for(self._connected.wait(), 10)
        assert self._writer is not None
        self._writer.write(raw)
        self.sent.append(raw)
        await self._writer.drain()

    # ------------------------------------------------------------------ what a panel reports
    def _now(self) -> fr.TimeLabel:
        return fr.TimeLabel.from_datetime(dt.datetime.now())

    async def component(self, loop: int, point: int, *on: str, wait: bool = True) -> bool:
        c = self.components.get((loop, point)) or Component(loop, point)
        status = _bit(COMPONENT_BITS, "running", *on)
        self.status[(loop, point)] = status
        obj = u.ComponentStatus(1, c.system_address, c.type, c.address, status,
                                u.encode_description(c.description).rstrip(b"\0"), self._now())
        return await self.send_unit(u.DataUnit(u.COMPONENT_STATUS, (obj,)), wait=wait)

    async def fire(self, loop: int, point: int, *, wait: bool = True) -> bool:
        self.system |= _bit(SYSTEM_BITS, "fire_alarm")
        return await self.component(loop, point, "fire_alarm", wait=wait)

    async def fault(self, loop: int, point: int, *, wait: bool = True) -> bool:
        self.system |= _bit(SYSTEM_BITS, "fault")
        return await self.component(loop, point, "fault", wait=wait)

    async def clear(self, loop: int, point: int, *, wait: bool = True) -> bool:
        ok = await self.component(loop, point, wait=wait)
        if not any(s & _bit(COMPONENT_BITS, "fault") for s in self.status.values()):
            self.system &= ~_bit(SYSTEM_BITS, "fault")
        return ok

    async def system_status(self, *on: str, wait: bool = True) -> bool:
        self.system = _bit(SYSTEM_BITS, "running", *on)
        obj = u.SystemStatus(1, self.system_address, self.system, self._now())
        return await self.send_unit(u.DataUnit(u.SYSTEM_STATUS, (obj,)), wait=wait)

    async def operation(self, *what: str, operator: int = 1, wait: bool = True) -> bool:
        obj = u.OperationRecord(1, self.system_address, _bit(OPERATIONS, *what), operator,
                                self._now())
        return await self.send_unit(u.DataUnit(u.OPERATION_RECORD, (obj,)), wait=wait)

    async def reset(self, operator: int = 1) -> bool:
        """A reset at the panel: the operation record, then the system status without fire."""
        for k in self.status:
            self.status[k] &= ~_bit(COMPONENT_BITS, "fire_alarm")
        self.system &= ~_bit(SYSTEM_BITS, "fire_alarm")
        ok = await self.operation("reset", operator=operator)
        faults = [n for n in ("fault",) if self.system & _bit(SYSTEM_BITS, n)]
        return await self.system_status(*faults) and ok

    async def analog(self, loop: int, point: int, analog_type: int, value: float) -> bool:
        c = self.components.get((loop, point)) or Component(loop, point)
        obj = u.AnalogValue(1, c.system_address, c.type, c.address, analog_type,
                            round(value * 10), self._now())
        return await self.send_unit(u.DataUnit(u.ANALOG_VALUE, (obj,)))

    async def run_state(self, *on: str) -> bool:
        bits = ("running", "fire_alarm", "fault", "main_power_fault", "backup_power_fault")
        obj = u.DeviceRunState(_bit(bits, "running", *on), self._now())
        return await self.send_unit(u.DataUnit(u.DEVICE_RUN_STATE, (obj,)))

    async def play(self, script: tuple[Step, ...] = DEMO_SCRIPT, *,
                   time_scale: float = 1.0) -> None:
        """Play a scripted scenario; ``time_scale`` below 1 plays it faster."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for step in script:
            await asyncio.sleep(max(0.0, start + step.at * time_scale - loop.time()))
            try:
                await self._step(step)
            except Exception as exc:  # one bad step must not end the scenario
                log.warning("transmission device: step %s failed: %s", step, exc)

    async def _step(self, s: Step) -> None:
        if s.action == "fire":
            await self.fire(s.loop, s.point)
        elif s.action == "fault":
            await self.fault(s.loop, s.point)
        elif s.action == "clear":
            await self.clear(s.loop, s.point)
        elif s.action == "reset":
            await self.reset()
        elif s.action in ("silence", "self_test"):
            await self.operation(s.action)
        elif s.action == "system":
            await self.system_status(*s.status)
        elif s.action == "analog":
            await self.analog(s.loop, s.point, s.analog_type, s.value)
        elif s.action == "misbehave":
            self.misbehave(s.kind)
        else:
            raise ValueError(f"unknown step action {s.action!r}")


def _damage(raw: bytes, kind: str, dev: TransmissionDevice) -> bytes:
    b = bytearray(raw)
    if kind == "bad_checksum":
        b[-3] ^= 0x5A
        return bytes(b)
    if kind == "truncated":
        return bytes(b[:len(b) // 2])
    if kind == "wrong_length":
        n = (b[24] | b[25] << 8) + 3
        b[24], b[25] = n & 0xFF, n >> 8
        return bytes(b)
    # flood: garbage, then 50 frames with random serial numbers and wrong checksums
    rng = random.Random(len(dev.sent))
    junk = bytes(rng.randrange(256) for _ in range(2000))
    frames = []
    for _ in range(50):
        c = bytearray(raw)
        c[2], c[3] = rng.randrange(256), rng.randrange(256)
        c[-3] = (fr.checksum(bytes(c[2:-3])) + 1 + rng.randrange(255)) & 0xFF  # never right
        frames.append(bytes(c))
    return junk + b"".join(frames)


class MonitoringCentre:
    """A monitoring centre that listens (the far end of a relay): it records every byte as it
    arrived and confirms every valid data frame."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 address: str = "000000000000") -> None:
        self.host = host
        self.port = port
        self.address = fr.address_bytes(address)
        self.received = bytearray()
        self.frames: list[fr.Frame] = []
        self.confirmed = 0
        self._server: asyncio.Server | None = None
        self.got = asyncio.Event()

    async def __aenter__(self) -> MonitoringCentre:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = fr.FrameReader()
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(4096):
                self.received += data
                for item in frames.feed(data):
                    if isinstance(item, fr.FrameError):
                        continue
                    self.frames.append(item)
                    self.got.set()
                    if item.command == fr.Command.SEND_DATA:
                        writer.write(item.reply(fr.Command.CONFIRM, self.address).encode())
                        self.confirmed += 1
                await writer.drain()
        writer.close()
