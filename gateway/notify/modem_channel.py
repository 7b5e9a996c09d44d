"""The modem as a paging channel: keeps it initialised, watches its health, resets it when it
stops answering, and hands incoming replies to the notifier.

``send`` never waits for a modem that is down: it raises at once so the page can go to the
fallback channel, and the supervisor keeps reopening the port in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

from drivers.sms.modem import GsmModem, IncomingSms, ModemError, ModemHealth, ModemSilent
from gateway.notify.config import ModemConfig

log = logging.getLogger("firegate.notify.modem")


class ChannelDown(Exception):
    """The channel cannot send right now (the reason is in the message)."""

    retryable = True


class ModemChannel:
    def __init__(self, cfg: ModemConfig, on_reply: Callable[[IncomingSms], None],
                 on_ready: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.on_ready = on_ready
        self.name = cfg.name
        self.dedupe = False
        self.on_reply = on_reply
        self.modem = GsmModem(cfg.port, cfg.baudrate,
                              pin=cfg.pin.get_secret_value() if cfg.pin else None,
                              smsc=cfg.smsc, command_wait_s=cfg.command_wait_s,
                              send_wait_s=cfg.send_wait_s)
        self.ready = False
        self.error: str | None = "starting"
        self._reset = asyncio.Event()
        self.recovered = asyncio.Event()
        self.first_attempt = asyncio.Event()  # set once the first initialisation ended

    def health(self) -> dict[str, object]:
        h = self.modem.last_health.as_dict()
        h.update(ready=self.ready, error=self.error if not self.ready else h.get("error"),
                 resets=self.modem.resets)
        return h

    async def send(self, phone: str, text: str, params: dict[str, str], key: str) -> str:
        if not self.ready:
            raise ChannelDown(f"modem on {self.cfg.port} is not ready: {self.error}")
        try:
            refs = await self.modem.send_text(phone, text)
        except ModemSilent as exc:
            self._down(str(exc))
            raise
        except ModemError as exc:
            if exc.retryable:
                # a fault of the line or the network: a health check shows whether it lasts
                self._reset.set()
            raise
        return ",".join(str(r) for r in refs)

    def _down(self, why: str) -> None:
        self.ready = False
        self.error = why
        self.recovered.clear()
        self._reset.set()

    async def run(self) -> None:
        """Open, initialise, then watch: ends only on cancellation."""
        try:
            while True:
                try:
                    await self._session()
                except (ModemError, OSError, ConnectionError) as exc:
                    self._down(str(exc))
                    self.modem.resets += 1
                    self.first_attempt.set()
                    log.warning("%s; reopening in %g s", exc, self.cfg.reopen_after_s)
                await asyncio.sleep(self.cfg.reopen_after_s)
        finally:
            self.ready = False
            await self.modem.close()

    async def _session(self) -> None:
        await self.modem.close()
        try:
            await self.modem.open()
        except OSError as exc:
            raise ModemSilent(str(exc)) from exc
        health = await self.modem.init()
        self._set_health(health)
        self.first_attempt.set()
        await self._drain_stored()
        ch = self.modem.channel
        while True:
            self._reset.clear()
            getter = asyncio.ensure_future(ch.unsolicited.get())
            reset = asyncio.ensure_future(self._reset.wait())
            try:
                done, _ = await asyncio.wait({getter, reset}, timeout=self.cfg.health_every_s,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (getter, reset):
                    f.cancel()
            if getter in done and not getter.cancelled():
                m = re.match(r'\+CMTI:\s*"?\w*"?\s*,\s*(\d+)', getter.result())
                if m:
                    await self._read_one(int(m.group(1)))
                continue
            if not ch.is_open:
                raise ModemSilent(f"modem port {self.cfg.port} closed: {ch.closed_reason}")
            health = await self.modem.health()
            self._set_health(health)
            if health.error and "did not answer" in health.error:
                raise ModemSilent(health.error)
            if health.ok:
                await self._drain_stored()

    def _set_health(self, h: ModemHealth) -> None:
        was = self.ready
        self.ready = h.ok
        self.error = h.error
        if h.ok and not was:
            log.info("modem on %s ready (signal %s dBm)", self.cfg.port, h.signal_dbm)
            self.recovered.set()
            if self.on_ready is not None:
                self.on_ready()
        if not h.ok:
            self.recovered.clear()

    async def _read_one(self, index: int) -> None:
        """``+CMTI`` announced a message: ``AT+CMGR`` it, ``AT+CMGD`` it, hand it over."""
        sms = await self.modem.read_message(index)
        if sms is None:
            return
        await self.modem.delete(index)
        self._hand_over(sms)

    def _hand_over(self, sms: IncomingSms) -> None:
        try:
            self.on_reply(sms)
        except Exception:  # a bad reply must not stop the modem
            log.exception("handling a reply from %s failed", sms.sender)

    async def _drain_stored(self) -> None:
        """Read and delete every stored message: replies that came while we were busy count."""
        with contextlib.suppress(ModemError):
            for sms in await self.modem.read_incoming():
                self._hand_over(sms)
