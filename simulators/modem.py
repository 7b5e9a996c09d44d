"""A GSM modem on a pty that answers AT commands the way a 4G module does.

It checks every PDU it is given (the ``AT+CMGS`` length, the user data header, UCS2) and
rejects a bad one with ``+CMS ERROR: 304`` like a real module, so a test that passes here sends
PDUs a network accepts. Faults can be injected: a ``+CMS ERROR`` for the next sends, no network,
a missing SIM, and silence (a hung modem). A reply can be delivered as an incoming message
(``+CMTI`` then ``AT+CMGR``), so acknowledgement by SMS is tested end to end.

Every message it received is recorded (raw PDU hex, number, decoded text) and can be written as
JSON lines, live (``log_path``) or at the end (``write_jsonl``).

    async with ModemSimulator(log_path="sms.jsonl") as sim:
        modem = GsmModem(sim.path)           # sim.path is the pty the gateway opens
        sim.deliver("+8613900000001", "1 4821")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import tty
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from drivers.sms.pdu import PduError, decode_pdu, encode_deliver

CTRL_Z = 0x1A
ESC = 0x1B


@dataclass
class ReceivedPdu:
    """One ``AT+CMGS`` as the simulator saw it."""

    ts: float
    pdu_hex: str
    tpdu_length: int
    number: str = ""
    text: str = ""
    dcs: int = 0
    concat: dict[str, int] | None = None
    accepted: bool = True
    error: str | None = None
    message_ref: int | None = None


@dataclass
class SimMessage:
    """A whole message put back together from its parts."""

    number: str
    text: str
    parts: int
    reference: int | None
    pdus: list[str] = field(default_factory=list)


class ModemSimulator:
    """Async context manager; entering it opens the pty and returns its path (also ``.path``)."""

    def __init__(self, *, log_path: str | Path | None = None, pin: str | None = None,
                 smsc: str = "+8613800100500", rssi: int = 21, registered: bool = True,
                 echo: bool = True) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.pin = pin
        self.smsc = smsc
        self.rssi = rssi
        self.registered = registered
        self.sim_state = "SIM PIN" if pin else "READY"
        self.echo = echo
        self.silent = False
        self.pdu_mode = False
        self.cmee = 0
        self.received: list[ReceivedPdu] = []
        self.commands: list[str] = []
        self.storage: dict[int, str] = {}
        self.path = ""
        self._master = -1
        self._slave = -1
        self._buf = bytearray()
        self._cmgs_len: int | None = None
        self._cms_queue: list[int] = []
        self._mr = 0
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ life
    async def __aenter__(self) -> str:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._loop.add_reader(self._master, self._on_readable)
        return self.path

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._loop is not None and self._master >= 0:
            self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    # ------------------------------------------------------------------ faults and replies
    def inject_cms_error(self, code: int, count: int = 1) -> None:
        """The next ``count`` sends are answered ``+CMS ERROR: code``."""
        self._cms_queue.extend([code] * count)

    def set_network(self, registered: bool) -> None:
        """No network: ``AT+CREG?`` says searching, sends fail with ``+CMS ERROR: 331``."""
        self.registered = registered

    def set_silent(self, silent: bool) -> None:
        """A hung modem: every byte is swallowed and nothing is answered."""
        self.silent = silent
        if silent:
            self._buf.clear()
            self._cmgs_len = None

    def set_sim(self, state: str) -> None:
        """``READY``, ``SIM PIN`` or ``NOT INSERTED``."""
        self.sim_state = state

    def deliver(self, sender: str, text: str) -> int:
        """Store ``text`` from ``sender`` as an SMS-DELIVER and announce it with ``+CMTI``."""
        index = next(i for i in range(1, 1000) if i not in self.storage)
        self.storage[index] = encode_deliver(sender, text, datetime.now(UTC), smsc=self.smsc)
        self._send(f'\r\n+CMTI: "SM",{index}\r\n')
        return index

    # ------------------------------------------------------------------ what was sent
    @property
    def accepted(self) -> list[ReceivedPdu]:
        return [r for r in self.received if r.accepted]

    def messages(self) -> list[SimMessage]:
        """Accepted parts joined into messages (a long message appears once all parts came)."""
        out: list[SimMessage] = []
        groups: dict[tuple[str, int, int], list[ReceivedPdu]] = {}
        for r in self.accepted:
            if r.concat is None:
                out.append(SimMessage(r.number, r.text, 1, None, [r.pdu_hex]))
                continue
            key = (r.number, r.concat["reference"], r.concat["total"])
            groups.setdefault(key, []).append(r)
            parts = groups[key]
            if len({p.concat["seq"] for p in parts if p.concat}) == key[2]:
                parts.sort(key=lambda p: p.concat["seq"] if p.concat else 0)
                out.append(SimMessage(key[0], "".join(p.text for p in parts), key[2], key[1],
                                      [p.pdu_hex for p in parts]))
                del groups[key]
        return out

    def write_jsonl(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for r in self.received:
                f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")

    async def wait_for_messages(self, count: int, wait_s: float = 5.0,
                                number: str | None = None) -> list[SimMessage]:
        """Wait until ``count`` whole messages (to ``number`` if given) have arrived."""
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while len(self.messages_to(number)) < count and loop.time() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - loop.time()):
                    await self._changed.wait()
        return self.messages_to(number)

    def messages_to(self, number: str | None) -> list[SimMessage]:
        return [m for m in self.messages() if number is None or m.number == number]

    # ------------------------------------------------------------------ the line
    def _send(self, text: str) -> None:
        if self._master < 0:
            return
        data = text.encode("ascii", "replace")
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, data)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        if self.silent:
            return
        self._buf.extend(chunk)
        while self._step():
            pass

    def _step(self) -> bool:
        if self._cmgs_len is not None:
            for i, b in enumerate(self._buf):
                if b in (CTRL_Z, ESC):
                    payload = bytes(self._buf[:i]).decode("ascii", "replace").strip()
                    del self._buf[:i + 1]
                    length, self._cmgs_len = self._cmgs_len, None
                    if b == CTRL_Z:
                        self._on_pdu(length, payload)
                    return True
            return False
        idx = self._buf.find(b"\r")
        if idx < 0:
            return False
        # a real module drops an ESC or Ctrl-Z that arrives outside a message
        line = bytes(self._buf[:idx]).decode("ascii", "replace").strip("\x1a\x1b\r\n ")
        del self._buf[:idx + 1]
        if line:
            if self.echo:
                self._send(line + "\r\n")
            self.commands.append(line)
            self._command(line)
        return True

    def _ok(self, *lines: str) -> None:
        self._send("".join(f"\r\n{line}\r\n" for line in lines) + "\r\nOK\r\n")

    def _cms(self, code: int) -> None:
        self._send(f"\r\n+CMS ERROR: {code}\r\n")

    def _cme(self, code: int) -> None:
        self._send(f"\r\n+CME ERROR: {code}\r\n" if self.cmee else "\r\nERROR\r\n")

    def _command(self, line: str) -> None:
        up = line.upper()
        if not up.startswith("AT"):
            self._send("\r\nERROR\r\n")
            return
        cmd = up[2:]
        if cmd == "":
            self._ok()
        elif cmd in ("E0", "E1"):
            self.echo = cmd == "E1"
            self._ok()
        elif cmd.startswith("+CMEE="):
            self.cmee = int(cmd[6:] or 0)
            self._ok()
        elif cmd == "+CPIN?":
            if self.sim_state == "NOT INSERTED":
                self._cme(10)
            else:
                self._ok(f"+CPIN: {self.sim_state}")
        elif cmd.startswith("+CPIN="):
            given = line.split("=", 1)[1].strip().strip('"')
            if self.sim_state == "SIM PIN" and given == self.pin:
                self.sim_state = "READY"
                self._ok()
            else:
                self._cme(16)
        elif cmd.startswith("+CMGF="):
            self.pdu_mode = cmd[6:] == "0"
            self._ok()
        elif cmd.startswith("+CPMS"):
            n = len(self.storage)
            self._ok(f"+CPMS: {n},30,{n},30,{n},30")
        elif cmd.startswith("+CNMI") or cmd.startswith("+CFUN") or cmd.startswith("+CSCA"):
            self._ok()
        elif cmd == "+CREG?":
            self._ok(f"+CREG: 0,{1 if self.registered else 2}")
        elif cmd == "+CSQ":
            self._ok(f"+CSQ: {self.rssi if self.registered else 99},99")
        elif cmd.startswith("+CMGS="):
            self._cmgs(line)
        elif cmd.startswith("+CMGR="):
            index = int(cmd[6:] or -1)
            pdu = self.storage.get(index)
            if pdu is None:
                self._cms(321)
            else:
                self._ok(f"+CMGR: 0,,{_tpdu_len(pdu)}", pdu)
        elif cmd.startswith("+CMGL"):
            lines: list[str] = []
            for index, pdu in sorted(self.storage.items()):
                lines += [f"+CMGL: {index},0,,{_tpdu_len(pdu)}", pdu]
            self._ok(*lines)
        elif cmd.startswith("+CMGD="):
            index = int(cmd[6:].split(",")[0] or -1)
            if self.storage.pop(index, None) is None:
                self._cms(321)
            else:
                self._ok()
        else:
            self._send("\r\nERROR\r\n")

    def _cmgs(self, line: str) -> None:
        if self.sim_state != "READY":
            self._cms(311 if self.sim_state == "SIM PIN" else 310)
            return
        if not self.pdu_mode:
            self._cms(302)  # this module refuses text mode for what we send
            return
        m = re.fullmatch(r"AT\+CMGS=(\d+)", line.strip(), re.IGNORECASE)
        if not m:
            self._cms(304)
            return
        self._cmgs_len = int(m.group(1))
        self._send("\r\n> ")

    def _on_pdu(self, length: int, pdu_hex: str) -> None:
        rec = ReceivedPdu(time.time(), pdu_hex, length)
        try:
            d = decode_pdu(pdu_hex, tpdu_length=length)
            if d.kind != "submit":
                raise PduError("AT+CMGS was given an SMS-DELIVER, not an SMS-SUBMIT")
            rec.number, rec.text, rec.dcs = d.number, d.text, d.dcs
            if d.concat is not None:
                rec.concat = {"reference": d.concat.reference, "total": d.concat.total,
                              "seq": d.concat.seq}
        except PduError as exc:
            rec.accepted, rec.error = False, f"invalid PDU: {exc}"
            self._record(rec)
            self._cms(304)
            return
        if self._cms_queue:
            code = self._cms_queue.pop(0)
            rec.accepted, rec.error = False, f"injected +CMS ERROR: {code}"
            self._record(rec)
            self._cms(code)
            return
        if not self.registered:
            rec.accepted, rec.error = False, "no network"
            self._record(rec)
            self._cms(331)
            return
        self._mr = (self._mr + 1) % 256
        rec.message_ref = self._mr
        self._record(rec)
        self._ok(f"+CMGS: {self._mr}")

    def _record(self, rec: ReceivedPdu) -> None:
        self.received.append(rec)
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")
        if self._changed is not None:
            self._changed.set()


def _tpdu_len(pdu_hex: str) -> int:
    data = bytes.fromhex(pdu_hex)
    return len(data) - 1 - data[0]




async def _serve(log_path: str | None, pin: str | None) -> None:
    """Run until interrupted; lines on stdin like ``+8613800000001 1 4821`` deliver replies."""
    import sys

    sim = ModemSimulator(log_path=log_path, pin=pin)
    async with sim as path:
        print(f"modem simulator on {path} (type '<number> <reply text>' to deliver a reply)",
              flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                await asyncio.Event().wait()  # stdin closed: keep serving
            number, _, text = line.strip().partition(" ")
            if number and text:
                print(f"delivered as index {sim.deliver(number, text)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m simulators.modem",
                                 description="A GSM modem that answers AT commands on a pty.")
    ap.add_argument("--log", help="append every received PDU as a JSON line to this file")
    ap.add_argument("--pin", help="make the SIM ask for this PIN")
    args = ap.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.log, args.pin))


if __name__ == "__main__":
    main()
