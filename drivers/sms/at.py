"""An async AT command channel on a serial port.

The port is opened non-blocking and read through the event loop's ``add_reader``: no thread
outlives the channel, and a modem that stops answering costs a timeout, never a hung task.
Unsolicited result codes (``+CMTI`` for a new message, ``RING``...) may arrive at any moment,
even in the middle of a command's answer; they are queued apart so a command only sees its own
lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import serial

CTRL_Z = b"\x1a"
ESC = b"\x1b"
FINAL_OK = ("OK",)
FINAL_ERRORS = ("ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "COMMAND NOT SUPPORT")
ALWAYS_UNSOLICITED = ("+CMTI:", "+CDSI:", "RING", "RDY", "SMS DONE", "PB DONE",
                      "Call Ready", "SMS Ready", "+QIND:")


class AtError(Exception):
    """The modem's answer to a command was not ``OK``; ``final`` is its final line."""

    def __init__(self, command: str, final: str, lines: list[str], port: str) -> None:
        super().__init__(f"modem on {port} answered {final!r} to {command!r}")
        self.command = command
        self.final = final
        self.lines = lines
        self.port = port


class AtTimeout(Exception):
    """The modem did not answer in time: unplugged, powered off, or hung."""

    def __init__(self, command: str, timeout: float, port: str) -> None:
        super().__init__(f"modem on {port} did not answer {command!r} within {timeout:g} s "
                         f"(check power, the USB/serial cable and the port name)")
        self.command = command
        self.port = port


@dataclass
class _Pending:
    command: str
    lines: list[str]
    done: asyncio.Future[str]
    prompt: asyncio.Future[None] | None = None


def _is_unsolicited(line: str) -> bool:
    """Lines that can never be part of a command's answer."""
    return line.startswith(ALWAYS_UNSOLICITED)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _final_kind(line: str) -> str | None:
    if line in FINAL_OK:
        return "ok"
    if line in FINAL_ERRORS or line.startswith("+CMS ERROR") or line.startswith("+CME ERROR"):
        return "error"
    return None


class AtChannel:
    """One AT command at a time; unsolicited lines go to ``unsolicited`` (an asyncio.Queue).

    Use as ``async with AtChannel(port) as ch: lines = await ch.command("AT+CSQ")``.
    """

    def __init__(self, port: str, baudrate: int = 115200, *,
                 serial_factory: Callable[..., serial.Serial] | None = None) -> None:
        self.port = port
        self.baudrate = baudrate
        self._factory = serial_factory or serial.Serial
        self._ser: serial.Serial | None = None
        self._buf = bytearray()
        self._pending: _Pending | None = None
        self._lock = asyncio.Lock()
        self.unsolicited: asyncio.Queue[str] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed_reason: str | None = None

    # ------------------------------------------------------------------ life
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            ser = self._factory(self.port, self.baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError) as exc:
            raise OSError(f"cannot open modem port {self.port}: {exc}") from exc
        self._ser = ser
        self._buf.clear()
        self.closed_reason = None
        self._loop.add_reader(ser.fileno(), self._on_readable)

    async def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(ser.fileno())
        with contextlib.suppress(Exception):
            ser.close()
        self._fail_pending("port closed")

    async def __aenter__(self) -> AtChannel:
        await self.open()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    # ------------------------------------------------------------------ reading
    def _on_readable(self) -> None:
        ser = self._ser
        if ser is None:
            return
        try:
            chunk = os.read(ser.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"read failed: {exc}")
            return
        if not chunk:
            self._lost("port closed by the other side")
            return
        self._buf.extend(chunk)
        self._parse()

    def _lost(self, reason: str) -> None:
        self.closed_reason = reason
        ser, self._ser = self._ser, None
        if ser is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(ser.fileno())
            with contextlib.suppress(Exception):
                ser.close()
        self._fail_pending(reason)

    def _fail_pending(self, reason: str) -> None:
        p = self._pending
        if p is None:
            return
        exc = ConnectionError(f"modem port {self.port}: {reason}")
        if p.prompt is not None and not p.prompt.done():
            p.prompt.set_exception(exc)
        if not p.done.done():
            p.done.set_exception(exc)

    def _parse(self) -> None:
        while True:
            p = self._pending
            if p is not None and p.prompt is not None and not p.prompt.done():
                stripped = self._buf.lstrip(b"\r\n")
                if stripped.startswith(b">"):
                    del self._buf[:len(self._buf) - len(stripped) + 1]
                    if self._buf.startswith(b" "):
                        del self._buf[:1]
                    p.prompt.set_result(None)
                    continue
            idx = self._buf.find(b"\n")
            idx_r = self._buf.find(b"\r")
            if idx == -1 and idx_r == -1:
                return
            cut = min(i for i in (idx, idx_r) if i != -1)
            raw = bytes(self._buf[:cut])
            del self._buf[:cut + 1]
            line = raw.decode("ascii", "replace").strip()
            if line:
                self._on_line(line)

    def _on_line(self, line: str) -> None:
        p = self._pending
        if p is not None and line == p.command:
            return  # echo (ATE1), before the modem was told ATE0
        if _is_unsolicited(line) or p is None or p.done.done():
            self.unsolicited.put_nowait(line)
            return
        kind = _final_kind(line)
        if kind == "ok":
            p.done.set_result("OK")
        elif kind == "error":
            p.done.set_result(line)
        else:
            p.lines.append(line)

    # ------------------------------------------------------------------ commands
    async def _write(self, data: bytes, wait_s: float) -> None:
        """Write all of ``data``; a port that takes nothing for ``wait_s`` (a hung USB modem
        with a full buffer) is a timeout, never a busy loop on the event loop."""
        ser = self._ser
        if ser is None:
            raise ConnectionError(f"modem port {self.port} is not open"
                                  + (f" ({self.closed_reason})" if self.closed_reason else ""))
        fd = ser.fileno()
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                self._lost(f"write failed: {exc}")
                raise ConnectionError(f"modem port {self.port}: write failed: {exc}") from exc
            writable: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, _resolve, writable)
            try:
                async with asyncio.timeout(wait_s):
                    await writable
            except TimeoutError:
                raise AtTimeout(f"write of {len(data)} bytes", wait_s, self.port) from None
            finally:
                loop.remove_writer(fd)

    async def command(self, cmd: str, wait_s: float = 5.0) -> list[str]:
        """Send ``cmd``; return the lines before ``OK``. Raises AtError or AtTimeout."""
        return await self._run(cmd, None, wait_s, wait_s)

    async def command_with_prompt(self, cmd: str, payload: str, wait_s: float = 30.0,
                                  prompt_wait_s: float = 5.0) -> list[str]:
        """``AT+CMGS=<n>``, wait for ``> ``, send ``payload`` then Ctrl-Z."""
        return await self._run(cmd, payload, wait_s, prompt_wait_s)

    async def _run(self, cmd: str, payload: str | None, wait_s: float,
                   prompt_wait_s: float) -> list[str]:
        async with self._lock:
            loop = asyncio.get_running_loop()
            pending = _Pending(cmd, [], loop.create_future(),
                               loop.create_future() if payload is not None else None)
            self._pending = pending
            try:
                await self._write(cmd.encode("ascii") + b"\r", prompt_wait_s)
                if pending.prompt is not None:
                    waiter = asyncio.ensure_future(asyncio.shield(pending.prompt))
                    both: set[asyncio.Future[Any]] = {waiter, pending.done}
                    done, _ = await asyncio.wait(both,
                                                 timeout=prompt_wait_s,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if not done:
                        await self._write(ESC, prompt_wait_s)  # abandon the half-entered message
                        raise AtTimeout(cmd + " (waiting for '>')", prompt_wait_s, self.port)
                    if pending.done.done():  # refused before the prompt
                        final = pending.done.result()
                        raise AtError(cmd, final, pending.lines, self.port)
                    assert payload is not None
                    await self._write(payload.encode("ascii") + CTRL_Z, wait_s)
                try:
                    async with asyncio.timeout(wait_s):
                        final = await asyncio.shield(pending.done)
                except TimeoutError:
                    raise AtTimeout(cmd, wait_s, self.port) from None
                if final != "OK":
                    raise AtError(cmd, final, pending.lines, self.port)
                return pending.lines
            finally:
                self._pending = None
                for fut in (pending.done, pending.prompt):
                    if fut is not None and not fut.done():
                        fut.cancel()
                    elif fut is not None and not fut.cancelled():
                        fut.exception()  # mark retrieved
