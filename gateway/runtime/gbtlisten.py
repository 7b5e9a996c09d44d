"""The monitoring-centre end of GB/T 26875.3: transmission devices dial in, the gateway reads.

One :class:`Gbt26875Listener` per ``type: gbt26875`` bus. It plugs into the runtime like a
poller does: every data frame from a listed device becomes a :class:`PollResult` handed to the
same ``on_result`` (rules → ledger → outbox → pages), and a device that has sent nothing, not
even a heartbeat, for ``silent_s`` produces failed results once a second, so ``comm_loss`` sees
its silence exactly as it sees a Modbus device that stopped answering.

On the wire, as the centre:
- a valid frame from a listed device is processed, then confirmed (command 3, same serial
  number): confirmed means the rules have seen it and its alarms are on the ledger (or, while
  the ledger cannot be written, held in memory and retried, as for any poll);
- a malformed frame (bounds, checksum, end marker, data unit) is denied (command 6) when its
  header names a listed device and a serial number, otherwise dropped; the link stays up;
- a frame from an unlisted source address is logged (once per address) and ignored;
- a retransmission of a frame already taken is confirmed again but not processed twice.

Relay mode (``relay_to: host:port``): every byte from the device goes unchanged to the real
monitoring centre and every byte back from it to the device; the gateway reads along and neither
confirms nor denies (the centre does). If the centre cannot be reached the gateway does not
confirm in its place: the device keeps its frames and retransmits, so the 119 centre still gets
them once its link is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable

from drivers.gbt26875 import frame as fr
from drivers.gbt26875 import units
from drivers.gbt26875.points import DeviceState, Operation
from drivers.model import PollResult, Value
from gateway.config.models import Device, Gbt26875Bus
from gateway.runtime.poller import DeviceHealth

log = logging.getLogger("firegate.gbt26875")

POLL_CLASS = "frame"
RECENT = 64  # frames remembered per device to tell a retransmission from a new frame
READ_CHUNK = 4096
LOG_PER_MINUTE = 10
HOLD_CLASS = "hold"
HOLD_S = 120.0
"""A state that changed this recently is fed to the rules every second (the longest delay the
standard allows a panel status change is 100 s, GB 50116 / GB/T 26875; rules/settings.py)."""

OperationSink = Callable[[str, Operation, float], None]


class Gbt26875Listener:
    def __init__(self, bus: Gbt26875Bus, devices: list[Device],
                 on_result: Callable[[PollResult], None], health: dict[str, DeviceHealth],
                 on_operation: OperationSink, silent_keys: dict[str, list[str]]) -> None:
        self.bus = bus
        self.centre = fr.address_bytes(bus.address)
        self.by_addr = {fr.address_bytes(d.address or ""): d.id for d in devices}
        self.on_result = on_result
        self.on_operation = on_operation
        self.health = health
        self.silent_keys = silent_keys
        self.state = {d.id: DeviceState() for d in devices}
        self.recent: dict[str, deque[tuple[int, bytes]]] = {d.id: deque(maxlen=RECENT)
                                                            for d in devices}
        self.last_frame: dict[str, float] = {}
        self.held: dict[str, dict[str, tuple[Value, float]]] = {d.id: {} for d in devices}
        self.started = time.monotonic()
        self.port: int | None = None  # the port actually bound (``port: 0`` in tests)
        self.ready = asyncio.Event()
        self.connections = 0
        # A connection that stays mute this long holds a slot for nothing: closed.
        self.idle_s = max(2 * bus.silent_s, 60.0)
        self.counters = {"frames": 0, "confirmed": 0, "denied": 0, "malformed": 0,
                         "unlisted": 0, "repeats": 0, "relayed_bytes": 0}
        self._unlisted_seen: set[bytes] = set()
        self._log_window = -60.0
        self._log_count = 0
        self._log_dropped = 0
        self._allow = [ipaddress.ip_network(n, strict=False) for n in bus.allow_from]
        self._relay: tuple[str, int] | None = None
        if bus.relay_to:
            host, _, port = bus.relay_to.rpartition(":")
            self._relay = (host, int(port))

    # ------------------------------------------------------------------ serving
    async def run(self) -> None:
        server = await asyncio.start_server(self._client, self.bus.host, self.bus.port,
                                            limit=fr.MAX_FRAME * 4)
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("bus %s: listening for GB/T 26875.3 transmission devices on %s:%d%s",
                 self.bus.id, self.bus.host, self.port,
                 f", relaying to {self.bus.relay_to}" if self._relay else "")
        self.ready.set()
        async with server:
            await self._watch_silence()

    def _allowed(self, peer: object) -> bool:
        if not self._allow:
            return True
        try:
            ip = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else str(peer))
        except ValueError:
            return False
        return any(ip in net for net in self._allow)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not self._allowed(peer):
            log.warning("bus %s: refusing a connection from %s: not in allow_from", self.bus.id,
                        peer)
            writer.close()
            return
        if self.connections >= self.bus.max_connections:
            log.warning("bus %s: refusing %s: %d connections already", self.bus.id, peer,
                        self.connections)
            writer.close()
            return
        self.connections += 1
        frames = fr.FrameReader()
        up: Relay | None = Relay(self, writer) if self._relay else None
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_s)
                except TimeoutError:
                    log.info("bus %s: nothing from %s for %.0f s; closing the connection (a "
                             "device dials again)", self.bus.id, peer, self.idle_s)
                    break
                if not data:
                    break
                if up is not None:
                    up.send(data)
                for item in frames.feed(data):
                    try:
                        self._take(item, None if up is not None else writer)
                    except Exception:  # nothing a device sends may stop the listener
                        log.exception("bus %s: handling a frame from %s failed", self.bus.id,
                                      peer)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("bus %s: connection from %s ended: %s", self.bus.id, peer, exc)
        except asyncio.CancelledError:
            # The gateway is stopping with a device still connected. Ending here rather than
            # re-raising: nobody awaits this task but the stream server's done-callback, which on
            # Python 3.11 calls task.exception() on it, and that raises for a cancelled task:
            # an "Exception in callback" traceback in the journal at every normal stop.
            log.info("bus %s: closing the connection from %s: the gateway is stopping",
                     self.bus.id, peer)
        finally:
            self.connections -= 1
            if up is not None:
                await up.close()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # ------------------------------------------------------------------ frames
    def _take(self, item: fr.Frame | fr.FrameError, writer: asyncio.StreamWriter | None) -> None:
        if isinstance(item, fr.FrameError):
            self._malformed(item, writer)
            return
        dev = self.by_addr.get(item.source)
        if dev is None:
            self.counters["unlisted"] += 1
            if item.source not in self._unlisted_seen and len(self._unlisted_seen) < 1024:
                self._unlisted_seen.add(item.source)
                log.warning("bus %s: frames from source address %s, which no device lists; "
                            "ignored (add a device with address: %s to read it)", self.bus.id,
                            fr.address_text(item.source), fr.address_text(item.source))
            return
        self.counters["frames"] += 1
        now = time.time()
        self._alive(dev, now)
        if item.command != fr.Command.SEND_DATA:
            return  # a confirm, a response or a control frame: it shows the device is there
        key = (item.serial, item.data)
        if key in self.recent[dev]:
            self.counters["repeats"] += 1
        else:
            try:
                unit = units.decode(item.data) if item.data else None
            except units.UnitError as exc:
                self._malformed(fr.FrameError(str(exc), serial=item.serial, source=item.source),
                                writer)
                return
            if unit is not None:
                # If this raises, the frame is neither confirmed nor remembered: the device
                # sends it again and it is taken then.
                self._deliver(dev, unit, now)
            self.recent[dev].append(key)
        if writer is not None:
            writer.write(item.reply(fr.Command.CONFIRM, self.centre, _now_label()).encode())
            self.counters["confirmed"] += 1

    def _deliver(self, dev: str, unit: units.DataUnit | units.RawUnit, ts: float) -> None:
        state = self.state[dev]
        dropped = state.dropped
        reading = state.read(unit)
        if state.dropped > dropped and dropped == 0:
            log.error("bus %s: %s reports more than %d components; the others are ignored",
                      self.bus.id, dev, state.max_components)
        held = self.held[dev]
        mono = time.monotonic()
        for k, v in reading.values.items():
            held[k] = (v, mono)
        if reading.values:
            r = PollResult(dev, ts, POLL_CLASS, reading.values, labels=reading.labels)
            h = self.health[dev]
            h.points += len(r.values)
            self.on_result(r)
        for op in reading.operations:
            self.on_operation(dev, op, ts)

    def _malformed(self, err: fr.FrameError, writer: asyncio.StreamWriter | None) -> None:
        self.counters["malformed"] += 1
        dev = self.by_addr.get(err.source) if err.source is not None else None
        # A flood of bad frames must not flood the journal: the first few in a minute are
        # logged, then one line says how many more there were.
        now = time.monotonic()
        if now - self._log_window >= 60.0:
            if self._log_dropped:
                log.warning("bus %s: %d more malformed frame(s) not logged", self.bus.id,
                            self._log_dropped)
            self._log_window, self._log_count, self._log_dropped = now, 0, 0
        if self._log_count < LOG_PER_MINUTE:
            self._log_count += 1
            log.warning("bus %s: malformed frame%s: %s", self.bus.id,
                        f" from {dev}" if dev else "", err)
        else:
            self._log_dropped += 1
        if dev is not None:
            h = self.health[dev]
            h.errors["bad_frame"] = h.errors.get("bad_frame", 0) + 1
            h.last_error = str(err)
        if writer is not None and dev is not None and err.serial is not None and \
                err.source is not None:
            deny = fr.Frame(err.serial, fr.Command.DENY, self.centre, err.source,
                            time=_now_label())
            writer.write(deny.encode())
            self.counters["denied"] += 1

    def _alive(self, dev: str, ts: float) -> None:
        self.last_frame[dev] = time.monotonic()
        h = self.health[dev]
        if not h.online and h.ever_seen:
            log.info("bus %s: %s is sending again", self.bus.id, dev)
        h.online = h.ever_seen = True
        h.last_seen = ts
        h.polls += 1
        h.consecutive_failures = 0

    # ------------------------------------------------------------------ time
    async def _watch_silence(self) -> None:
        """Once a second: a failed result for every device silent longer than ``silent_s``; for
        the others, the states that changed in the last ``HOLD_S`` again, as a poll would read
        them, so rules with an on- or off-delay (a fault that clears after 5 s) decide on time
        even though the panel sends a state only when it changes."""
        period = min(1.0, self.bus.silent_s / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for dev in self.state:
                last = self.last_frame.get(dev, self.started)
                quiet = now - last
                if quiet < self.bus.silent_s:
                    self._hold(dev, now)
                    continue
                h = self.health[dev]
                h.online = False
                h.consecutive_failures += 1
                err = (f"no frame or heartbeat for {quiet:.0f} s (silent_s is "
                       f"{self.bus.silent_s:g} s)")
                if h.last_error != err and h.consecutive_failures == 1:
                    log.warning("bus %s: %s: %s", self.bus.id, dev, err)
                h.last_error = err
                h.errors["silent"] = h.errors.get("silent", 0) + 1
                r = PollResult(dev, time.time(), POLL_CLASS, failed=list(self.silent_keys[dev]),
                               error=err)
                try:
                    self.on_result(r)
                except Exception:
                    log.exception("handling the silence of %s failed", dev)


    def _hold(self, dev: str, now: float) -> None:
        held = self.held[dev]
        recent = {k: v for k, (v, t) in held.items() if now - t <= HOLD_S}
        if len(recent) < len(held):
            for k in [k for k, (_, t) in held.items() if now - t > HOLD_S]:
                del held[k]
        if not recent:
            return
        try:
            self.on_result(PollResult(dev, time.time(), HOLD_CLASS, recent))
        except Exception:
            log.exception("handling the held states of %s failed", dev)


class Relay:
    """One device connection's link to the real monitoring centre: bytes out unchanged and in
    order, the centre's answers back to the device unchanged. Never blocks the reading along: the
    centre is dialled as soon as the device connects, bytes wait (bounded) while it is, and are
    written without waiting for the centre to take them."""

    RETRY_S = 5.0
    MAX_PENDING = 64 * 1024  # bytes held while the centre is being dialled
    MAX_BUFFERED = 1024 * 1024  # bytes the centre has not taken yet before more are dropped

    def __init__(self, listener: Gbt26875Listener, device: asyncio.StreamWriter) -> None:
        self.listener = listener
        self.device = device
        self.writer: asyncio.StreamWriter | None = None
        self.pending = bytearray()
        self.pump: asyncio.Task[None] | None = None
        self.connecting: asyncio.Task[None] | None = asyncio.create_task(self._connect())
        self.next_try = 0.0
        self.dropped = 0

    def send(self, data: bytes) -> None:
        w = self.writer
        if w is not None and not w.is_closing():
            if w.transport.get_write_buffer_size() > self.MAX_BUFFERED:
                self._drop(len(data), "the monitoring centre is not taking data")
                return
            w.write(data)
            self.listener.counters["relayed_bytes"] += len(data)
            return
        if len(self.pending) + len(data) <= self.MAX_PENDING:
            self.pending += data
        else:
            self._drop(len(data), "the monitoring centre is not connected")
        if (self.connecting is None or self.connecting.done()) and \
                time.monotonic() >= self.next_try:
            self.connecting = asyncio.create_task(self._connect())

    def _drop(self, n: int, why: str) -> None:
        if self.dropped == 0:
            log.error("bus %s: %s: relayed bytes dropped (the device is not confirmed, so it "
                      "keeps and resends its frames)", self.listener.bus.id, why)
        self.dropped += n

    async def _connect(self) -> None:
        assert self.listener._relay is not None
        host, port = self.listener._relay
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.listener.bus.timeout_s)
        except (OSError, TimeoutError) as exc:
            self.next_try = time.monotonic() + self.RETRY_S
            log.error("bus %s: cannot reach the monitoring centre at %s:%d (%s); frames are "
                      "not confirmed meanwhile, so the device keeps and resends them",
                      self.listener.bus.id, host, port, exc)
            self.pending.clear()
            return
        # No await between here and the write: what waited goes first, in order.
        self.writer = writer
        if self.pending:
            writer.write(bytes(self.pending))
            self.listener.counters["relayed_bytes"] += len(self.pending)
            self.pending.clear()
        self.pump = asyncio.create_task(self._back(reader, writer))

    async def _back(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(READ_CHUNK):
                self.device.write(data)
                await self.device.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            log.warning("bus %s: the monitoring centre closed the relayed link",
                        self.listener.bus.id)
            writer.close()
            if self.writer is writer:
                self.writer = None

    async def close(self) -> None:
        for t in (self.connecting, self.pump):
            if t is not None and not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if self.writer is not None:
            self.writer.close()


def _now_label() -> fr.TimeLabel:
    try:
        return fr.TimeLabel.from_datetime(dt.datetime.now())
    except ValueError:
        return fr.TimeLabel()
