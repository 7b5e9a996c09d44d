"""A GSM/4G modem that sends and receives SMS in PDU mode.

``GsmModem`` wraps an :class:`~drivers.sms.at.AtChannel` with what paging needs: initialise
(echo off, numeric errors, SIM PIN, PDU mode, new-message notices), report health in words an IT
admin can act on, send the parts of a message, read and delete replies, and reset a modem that
stopped answering by closing and reopening its port.

Every ``+CMS ERROR`` becomes a :class:`CmsError` that says whether trying again later on the same
modem can help (``retryable``) or the page should go to the fallback channel now.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import serial

from drivers.sms.at import AtChannel, AtError, AtTimeout
from drivers.sms.pdu import PduError, SubmitPdu, decode_pdu, encode_submit

# code: (meaning, retryable on this modem later)
CMS_ERRORS: dict[int, tuple[str, bool]] = {
    8: ("operator determined barring: the SIM may not send SMS (check the SIM's plan)", False),
    10: ("call barred: the SIM may not send SMS (check the SIM's plan)", False),
    21: ("message rejected by the network", True),
    27: ("destination out of service", True),
    28: ("unidentified subscriber: the recipient number does not exist", False),
    29: ("facility rejected by the network", True),
    38: ("network out of order", True),
    41: ("temporary network failure", True),
    42: ("network congestion", True),
    50: ("SMS not subscribed or no credit left on the SIM (top it up)", False),
    96: ("invalid message: a mandatory field is missing", False),
    300: ("modem (ME) failure", True),
    301: ("SMS service of the modem is reserved", True),
    302: ("operation not allowed (the modem is not ready for SMS)", True),
    303: ("operation not supported by this modem", False),
    304: ("invalid PDU mode parameter: the message was malformed", False),
    305: ("invalid text mode parameter", False),
    310: ("no SIM card inserted", False),
    311: ("the SIM needs its PIN (set notify.modem.pin)", False),
    312: ("the SIM needs a PH-SIM PIN", False),
    313: ("SIM failure (reseat or replace the SIM card)", False),
    314: ("SIM busy", True),
    315: ("wrong SIM", False),
    316: ("the SIM needs its PUK: it was locked after wrong PINs", False),
    317: ("the SIM needs its PIN2", False),
    318: ("the SIM needs its PUK2", False),
    320: ("SIM memory failure", True),
    321: ("invalid message index", False),
    322: ("SIM message memory full (old messages must be deleted)", True),
    330: ("SMS centre address unknown (set notify.modem.smsc to the operator's SMSC)", False),
    331: ("no network service (check the antenna and the operator's coverage)", True),
    332: ("network timeout", True),
    340: ("no acknowledgement expected", True),
    500: ("unknown modem error", True),
}

CME_ERRORS: dict[int, tuple[str, bool]] = {
    3: ("operation not allowed", True),
    4: ("operation not supported", False),
    10: ("no SIM card inserted", False),
    11: ("the SIM needs its PIN (set notify.modem.pin)", False),
    12: ("the SIM needs its PUK: it was locked after wrong PINs", False),
    13: ("SIM failure (reseat or replace the SIM card)", False),
    14: ("SIM busy", True),
    15: ("wrong SIM", False),
    16: ("wrong SIM PIN (check notify.modem.pin; a few more tries lock the SIM)", False),
    30: ("no network service (check the antenna and the operator's coverage)", True),
    31: ("network timeout", True),
    100: ("unknown modem error", True),
}

CREG_STATES = {0: "not registered, not searching", 1: "registered (home network)",
               2: "searching for a network", 3: "registration denied by the operator",
               4: "registration state unknown", 5: "registered (roaming)"}


class ModemError(Exception):
    """Something about the modem that an IT admin must know; ``retryable`` says if waiting helps.
    """

    retryable: bool = True


class CmsError(ModemError):
    """``+CMS ERROR: <code>`` (or ``+CME ERROR``) with its meaning and a retry decision."""

    def __init__(self, code: int, meaning: str, retryable: bool, *, port: str = "",
                 command: str = "", kind: str = "CMS") -> None:
        where = f" on {port}" if port else ""
        super().__init__(f"modem{where}: +{kind} ERROR {code}: {meaning}"
                         + (" (will retry)" if retryable else " (not retried on this modem)"))
        self.code = code
        self.meaning = meaning
        self.retryable = retryable
        self.kind = kind
        self.command = command


class ModemSilent(ModemError):
    """The modem stopped answering; it is reset (port closed and reopened) before the retry."""


class ModemNotReady(ModemError):
    """Answers, but cannot send yet: SIM or network. ``retryable`` follows the cause."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def to_modem_error(exc: AtError) -> ModemError:
    m = re.match(r"\+(CMS|CME) ERROR:\s*(\d+)", exc.final)
    if m:
        kind, code = m.group(1), int(m.group(2))
        table = CMS_ERRORS if kind == "CMS" else CME_ERRORS
        meaning, retryable = table.get(code, (f"error {code} (see the modem's AT manual)", True))
        return CmsError(code, meaning, retryable, port=exc.port, command=exc.command, kind=kind)
    text = exc.final.split(":", 1)[-1].strip()
    err = ModemError(f"modem on {exc.port} refused {exc.command!r}: {text}")
    err.retryable = True
    return err


@dataclass
class ModemHealth:
    """What ``firegate`` shows an IT admin about the modem. ``ok`` means it can send now."""

    ok: bool
    port: str
    sim: str = "unknown"
    registration: int | None = None
    rssi: int | None = None
    error: str | None = None
    checked_at: float = 0.0

    @property
    def registered(self) -> bool:
        return self.registration in (1, 5)

    @property
    def signal_dbm(self) -> int | None:
        if self.rssi is None or self.rssi == 99:
            return None
        return -113 + 2 * self.rssi

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "port": self.port, "sim": self.sim,
                "registration": CREG_STATES.get(self.registration, "unknown")
                if self.registration is not None else "unknown",
                "rssi": self.rssi, "signal_dbm": self.signal_dbm, "error": self.error}


@dataclass(frozen=True)
class IncomingSms:
    index: int
    sender: str
    text: str
    timestamp: datetime | None
    pdu_hex: str


class GsmModem:
    """``async with GsmModem("/dev/ttyUSB2", pin=...) as m: await m.send_text(number, text)``."""

    def __init__(self, port: str, baudrate: int = 115200, *, pin: str | None = None,
                 smsc: str | None = None, command_wait_s: float = 5.0,
                 send_wait_s: float = 60.0, validity_minutes: int = 24 * 60,
                 serial_factory: Callable[..., serial.Serial] | None = None) -> None:
        self.port = port
        self.baudrate = baudrate
        self.pin = pin
        self.smsc = smsc
        self.command_wait_s = command_wait_s
        self.send_wait_s = send_wait_s
        self.validity_minutes = validity_minutes
        self._factory = serial_factory
        self._ch: AtChannel | None = None
        self._ref = 0
        self.last_health = ModemHealth(False, port, error="not opened yet")
        self.resets = 0

    # ------------------------------------------------------------------ life
    async def __aenter__(self) -> GsmModem:
        await self.open()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        self._ch = AtChannel(self.port, self.baudrate, serial_factory=self._factory)
        await self._ch.open()

    async def close(self) -> None:
        if self._ch is not None:
            await self._ch.close()
            self._ch = None

    async def reset(self) -> ModemHealth:
        """Close and reopen the port, then initialise again: what clears a hung modem or a
        USB modem that re-enumerated."""
        self.resets += 1
        await self.close()
        await asyncio.sleep(0)
        try:
            await self.open()
        except OSError as exc:
            self.last_health = ModemHealth(False, self.port, error=str(exc),
                                           checked_at=_now())
            raise ModemSilent(str(exc)) from exc
        return await self.init()

    @property
    def channel(self) -> AtChannel:
        if self._ch is None or not self._ch.is_open:
            reason = self._ch.closed_reason if self._ch is not None else None
            raise ModemSilent(f"modem port {self.port} is not open"
                              + (f" ({reason})" if reason else ""))
        return self._ch

    async def _at(self, cmd: str, wait_s: float | None = None) -> list[str]:
        try:
            return await self.channel.command(cmd, wait_s or self.command_wait_s)
        except AtTimeout as exc:
            raise ModemSilent(str(exc)) from exc
        except ConnectionError as exc:
            raise ModemSilent(str(exc)) from exc
        except AtError as exc:
            raise to_modem_error(exc) from exc

    # ------------------------------------------------------------------ set-up and health
    async def init(self) -> ModemHealth:
        """Echo off, numeric errors, PIN, PDU mode, ``+CMTI`` notices; then health."""
        for attempt in range(3):  # the first AT may meet the rest of an abandoned command
            try:
                await self._at("AT")
                break
            except CmsError:
                raise
            except ModemSilent:
                raise
            except ModemError:
                if attempt == 2:
                    raise
        await self._at("ATE0")
        with contextlib.suppress(ModemError):
            await self._at("AT+CMEE=1")
        sim = await self._sim_state()
        if sim == "SIM PIN":
            if not self.pin:
                raise self._not_ready("the SIM needs its PIN: set notify.modem.pin", False)
            await self._at(f'AT+CPIN="{self.pin}"')
            for _ in range(10):
                sim = await self._sim_state()
                if sim == "READY":
                    break
                await asyncio.sleep(0.2)
        if sim != "READY":
            raise self._not_ready(f"SIM is not ready ({sim})", sim in ("NOT READY", "BUSY"))
        await self._at("AT+CMGF=0")
        with contextlib.suppress(ModemError):
            await self._at('AT+CPMS="SM","SM","SM"')
        with contextlib.suppress(ModemError):
            await self._at("AT+CNMI=2,1,0,0,0")
        return await self.health()

    def _not_ready(self, msg: str, retryable: bool) -> ModemNotReady:
        err = ModemNotReady(f"modem on {self.port}: {msg}", retryable)
        self.last_health = ModemHealth(False, self.port, error=str(err), checked_at=_now())
        return err

    async def _sim_state(self) -> str:
        try:
            lines = await self._at("AT+CPIN?")
        except CmsError as exc:
            return "NOT INSERTED" if exc.code in (10, 310) else f"error {exc.code}"
        for line in lines:
            if line.startswith("+CPIN:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    async def health(self) -> ModemHealth:
        """``AT``, ``AT+CPIN?``, ``AT+CREG?``, ``AT+CSQ``. Never raises: the error is in it."""
        h = ModemHealth(False, self.port, checked_at=_now())
        try:
            await self._at("AT")
            h.sim = await self._sim_state()
            for line in await self._at("AT+CREG?"):
                m = re.match(r"\+CREG:\s*\d+\s*,\s*(\d+)", line)
                if m:
                    h.registration = int(m.group(1))
            for line in await self._at("AT+CSQ"):
                m = re.match(r"\+CSQ:\s*(\d+)", line)
                if m:
                    h.rssi = int(m.group(1))
            if h.sim != "READY":
                h.error = f"SIM is not ready ({h.sim})"
            elif not h.registered:
                state = CREG_STATES.get(h.registration or 0, "unknown")
                h.error = f"not registered on the mobile network: {state} (check the antenna)"
            elif h.rssi in (None, 99, 0):
                h.error = "no usable signal (CSQ 99): check the antenna"
            else:
                h.ok = True
        except ModemError as exc:
            h.error = str(exc)
        self.last_health = h
        return h

    # ------------------------------------------------------------------ sending
    def next_reference(self) -> int:
        self._ref = (self._ref + 1) % 256
        return self._ref

    async def send_pdu(self, part: SubmitPdu) -> int:
        """One part via ``AT+CMGS``; returns the message reference the network gave it."""
        try:
            lines = await self.channel.command_with_prompt(
                f"AT+CMGS={part.tpdu_length}", part.hex, self.send_wait_s, self.command_wait_s)
        except AtTimeout as exc:
            raise ModemSilent(str(exc)) from exc
        except ConnectionError as exc:
            raise ModemSilent(str(exc)) from exc
        except AtError as exc:
            raise to_modem_error(exc) from exc
        for line in lines:
            m = re.match(r"\+CMGS:\s*(\d+)", line)
            if m:
                return int(m.group(1))
        return -1

    async def send_text(self, number: str, text: str) -> list[int]:
        """Encode (UCS2 for Chinese, split with a concatenation header) and send every part."""
        try:
            parts = encode_submit(number, text, reference=self.next_reference(),
                                  smsc=self.smsc, validity_minutes=self.validity_minutes)
        except PduError as exc:
            err = ModemError(f"cannot encode the message for {number}: {exc}")
            err.retryable = False
            raise err from exc
        return [await self.send_pdu(p) for p in parts]

    # ------------------------------------------------------------------ receiving
    async def wait_new_message(self) -> int:
        """Wait for a ``+CMTI`` notice; returns the storage index (other notices are dropped)."""
        ch = self.channel
        while True:
            line = await ch.unsolicited.get()
            m = re.match(r'\+CMTI:\s*"?\w*"?\s*,\s*(\d+)', line)
            if m:
                return int(m.group(1))

    async def read_message(self, index: int) -> IncomingSms | None:
        lines = await self._at(f"AT+CMGR={index}")
        for i, line in enumerate(lines):
            if line.startswith("+CMGR:") and i + 1 < len(lines):
                return self._incoming(index, lines[i + 1])
        return None

    async def list_messages(self) -> list[IncomingSms]:
        """Every stored message (``AT+CMGL=4``), so replies that came while we were away count.
        """
        lines = await self._at("AT+CMGL=4", self.send_wait_s)
        out: list[IncomingSms] = []
        for i, line in enumerate(lines):
            m = re.match(r"\+CMGL:\s*(\d+)", line)
            if m and i + 1 < len(lines):
                sms = self._incoming(int(m.group(1)), lines[i + 1])
                if sms is not None:
                    out.append(sms)
        return out

    def _incoming(self, index: int, pdu_hex: str) -> IncomingSms | None:
        try:
            d = decode_pdu(pdu_hex)
        except PduError:
            return IncomingSms(index, "", "", None, pdu_hex)
        if d.kind != "deliver":
            return None
        return IncomingSms(index, d.number, d.text, d.timestamp, pdu_hex)

    async def delete(self, index: int) -> None:
        await self._at(f"AT+CMGD={index}")

    async def read_incoming(self) -> list[IncomingSms]:
        """Read then delete every stored reply (keeps the SIM from filling: CMS 322)."""
        msgs = await self.list_messages()
        for m in msgs:
            await self.delete(m.index)
        return msgs


def _now() -> float:
    return time.time()
