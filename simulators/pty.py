"""A serial line made of two pty pairs and an asyncio relay, with RS-485 timing if asked.

Layout::

    gateway ── opens LINK (symlink) ── client pty slave ═ client master ─┐
                                                                        relay (this module)
    pymodbus RTU server ── opens SERVER pty slave ═ server master ──────┘

A pty moves bytes at memory speed and ignores the baud rate, so the relay holds them back to
what the wire would allow. It is also where line faults are injected: ``reply_filter`` sees each
chunk the devices send (one reply frame, as the server writes a frame at once) and may drop,
truncate or garble it.

Timing model (``emulate_timing=True``), used by benchmarks to compute the wire minimum:

- one character takes ``char_s = 11 / baud`` (RTU: start + 8 data + parity-or-second-stop +
  stop = 11 bits; ≈1.146 ms at 9600);
- the line is half duplex: a chunk that arrives at time ``t`` in the same direction as the
  previous one, while that one is still on the wire, follows it without a gap; otherwise it
  starts at ``max(t, line_end + gap_s)`` with ``gap_s = 3.5 * char_s`` (the RTU inter-frame
  silence), plus ``turnaround_s`` when it is a device's reply;
- a chunk of ``n`` bytes is delivered whole when its last byte would have arrived:
  ``start + n * char_s``; ``line_end`` becomes that time.

So a transaction with an ``n_req``-byte request and ``n_resp``-byte reply takes at least
``(n_req + n_resp) * char_s + gap_s + turnaround_s`` from request to reply, and the next request
can start ``gap_s`` later: ``transaction_s()`` below. At 9600 baud a 10-register read (8 + 25
bytes) takes 37.8 ms + 4.0 ms + turnaround, and one every 45.8 ms + turnaround at best.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from pathlib import Path

BITS_PER_CHAR = 11
GAP_CHARS = 3.5

ReplyFilter = Callable[[bytes], bytes]


def char_s(baudrate: int) -> float:
    return BITS_PER_CHAR / baudrate


def gap_s(baudrate: int) -> float:
    return GAP_CHARS * char_s(baudrate)


def transaction_s(
    req_bytes: int, resp_bytes: int, baudrate: int, turnaround_s: float = 0.0
) -> float:
    """Request start to reply end on the wire, per the model above."""
    return (req_bytes + resp_bytes) * char_s(baudrate) + gap_s(baudrate) + turnaround_s


def cycle_s(req_bytes: int, resp_bytes: int, baudrate: int, turnaround_s: float = 0.0) -> float:
    """Shortest time between the starts of two back-to-back transactions."""
    return transaction_s(req_bytes, resp_bytes, baudrate, turnaround_s) + gap_s(baudrate)


class PtyRelay:
    """Two pty pairs bridged by a relay; ``link`` is the path the client opens."""

    def __init__(
        self,
        link: str | Path,
        baudrate: int = 9600,
        emulate_timing: bool = False,
        turnaround_s: float = 0.0,
        reply_filter: ReplyFilter | None = None,
    ) -> None:
        self.link = Path(link)
        self.baudrate = baudrate
        self.emulate_timing = emulate_timing
        self.turnaround_s = turnaround_s
        self.reply_filter = reply_filter
        # An RS-485 adapter whose receiver stays on while it sends (no echo suppression): the
        # master reads back every request it wrote, ahead of the device's reply.
        self.local_echo = False
        self.server_path = ""
        self.client_path = ""
        self._fds: list[int] = []
        self._srv_master = -1
        self._cli_master = -1
        self._line_end = 0.0
        self._last_dir = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.TimerHandle] = set()
        self.bytes_to_devices = 0
        self.bytes_to_master = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        srv_m, srv_s = os.openpty()
        cli_m, cli_s = os.openpty()
        self._fds = [srv_m, srv_s, cli_m, cli_s]
        for fd in (srv_s, cli_s):
            tty.setraw(fd)  # no echo, no line discipline: bytes pass as they are
        for fd in (srv_m, cli_m):
            os.set_blocking(fd, False)
        self._srv_master, self._cli_master = srv_m, cli_m
        self.server_path = os.ttyname(srv_s)
        self.client_path = os.ttyname(cli_s)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if self.link.is_symlink() or self.link.exists():
            if not self.link.is_symlink():
                self.close()
                raise FileExistsError(
                    f"{self.link} exists and is not a link made by a simulator: remove it or "
                    f"choose another port path for the rtu bus"
                )
            self.link.unlink()
        self.link.symlink_to(self.client_path)
        self._loop.add_reader(cli_m, self._on_readable, cli_m, "req")
        self._loop.add_reader(srv_m, self._on_readable, srv_m, "resp")

    def close(self) -> None:
        if self._loop is not None:
            for fd in (self._srv_master, self._cli_master):
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(fd)
        for h in self._pending:
            h.cancel()
        self._pending.clear()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        with contextlib.suppress(OSError):
            if self.link.is_symlink() and os.readlink(self.link) == self.client_path:
                self.link.unlink()

    # ---------------------------------------------------------------- relay
    def _on_readable(self, fd: int, direction: str) -> None:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while the other side has the slave closed: nothing to relay
        if not data:
            return
        if direction == "resp" and self.reply_filter is not None:
            data = self.reply_filter(data)
            if not data:
                return
        target = self._srv_master if direction == "req" else self._cli_master
        if direction == "req" and self.local_echo:
            self._write(self._cli_master, data, "echo")
        if not self.emulate_timing:
            self._write(target, data, direction)
            return
        assert self._loop is not None
        now = self._loop.time()
        if direction == self._last_dir and now <= self._line_end:
            start = self._line_end
        else:
            start = max(now, self._line_end + gap_s(self.baudrate))
            if direction == "resp":
                start = max(start, self._line_end + gap_s(self.baudrate) + self.turnaround_s)
        end = start + len(data) * char_s(self.baudrate)
        self._line_end = end
        self._last_dir = direction
        handle: asyncio.TimerHandle | None = None

        def deliver() -> None:
            if handle is not None:
                self._pending.discard(handle)
            self._write(target, data, direction)

        handle = self._loop.call_at(end, deliver)
        self._pending.add(handle)

    def _write(self, fd: int, data: bytes, direction: str) -> None:
        if direction == "req":
            self.bytes_to_devices += len(data)
        elif direction == "resp":
            self.bytes_to_master += len(data)
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                continue
            except OSError:
                return
            view = view[n:]
