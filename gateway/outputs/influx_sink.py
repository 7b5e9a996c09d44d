"""InfluxDB sink: line protocol POSTed to the v2 write API (``/api/v2/write``).

The POST is made by :mod:`gateway.outputs.httppost` over one kept-alive connection, not by
influxdb-client: its async client cost ~47 MB of RSS for one request kind (see that module).
Batching and retry are the outbox's and :mod:`gateway.outputs.delivery`'s.
How server answers are handled:
- 2xx: the batch is acknowledged in the outbox;
- 429 / 503: retried after the server's Retry-After (or the usual backoff);
- 401 / 403 / 404: the token, org or bucket is wrong. That will not fix itself in seconds, so
  the data waits in the outbox, the error is shown in ``health()`` and the write is tried again
  every ``auth_retry_s`` (60 s), so a corrected server-side setting resumes delivery by itself;
- 400 / 422: InfluxDB rejected the lines themselves. Sending them again would block every later
  record forever, so the batch is counted as ``rejected``, logged and acknowledged;
- anything else (connection refused, timeout, 5xx): backoff with jitter.

With ``line_protocol_file`` every line the server accepted is appended there too; without
``url`` the file is the only destination (the demo's ``--line-protocol FILE``).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

from gateway.outputs.config import InfluxConfig, SinkConfig
from gateway.outputs.delivery import SinkContext, SinkError
from gateway.outputs.httppost import HttpPoster, Reply
from gateway.outputs.lineproto import Identity, LineBuilder, flatten_health
from gateway.outputs.outbox import Batch
from gateway.records import OutputsHealth

log = logging.getLogger("firegate.outputs.influx")

_AUTH = {
    401: "the token was refused (401): check outputs.influx.token",
    403: "the token may not write to this bucket (403): give it write permission on the bucket",
    404: "the org or bucket does not exist (404): check outputs.influx.org and bucket",
}


def _retry_after(reply: Reply) -> float | None:
    value = reply.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from InfluxDB; fall back to our own backoff


class InfluxSink:
    name = "influx"

    def __init__(self, cfg: InfluxConfig, identity: Identity, *,
                 health_source: Callable[[], OutputsHealth] | None = None) -> None:
        self.cfg = cfg
        self.builder = LineBuilder(identity, poll_health=cfg.poll_health)
        self._health_source = health_source
        self._ready = asyncio.Event()
        self._api: HttpPoster | None = None
        self._path = "/api/v2/write?" + urlencode({"org": cfg.org, "bucket": cfg.bucket,
                                                    "precision": "ms"})
        token = cfg.token.get_secret_value() if cfg.token else ""
        self._headers = {"Content-Type": "text/plain; charset=utf-8",
                         "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        if cfg.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._file: IO[str] | None = None
        self.state = "connecting" if cfg.url else "file"
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.lines_sent = 0
        self.rejected = 0
        self.where = cfg.url or str(cfg.line_protocol_file)

    # ------------------------------------------------------------------ connection

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        """Open the file and the HTTP client (inside a coroutine, as the client requires)."""
        if self.cfg.line_protocol_file is not None:
            path = Path(self.cfg.line_protocol_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")  # noqa: ASYNC230 (once, at start)
        try:
            if self.cfg.url is not None:
                self._api = HttpPoster(self.cfg.url)
            self._ready.set()
            await self._health_loop()
        finally:
            self._ready.clear()
            if self._api is not None:
                await self._api.close()
            self._api = None
            if self._file is not None:
                if self._health_source is not None:  # the last word, for a short demo run
                    self._file.write(self._health_line() + "\n")
                self._file.close()
                self._file = None

    async def _health_loop(self) -> None:
        # The first one soon, so that even a short run shows up in the health dashboard.
        await asyncio.sleep(min(5.0, self.cfg.health_interval_s))
        while True:
            await self._write_health()
            await asyncio.sleep(self.cfg.health_interval_s)

    def _health_line(self) -> str:
        assert self._health_source is not None
        h = self._health_source()
        return self.builder.gateway_health({**flatten_health(h.outbox, h.sinks), **h.runtime},
                                           time.time())

    async def _write_health(self) -> None:
        """Best effort: a ``gateway_health`` point straight out (not via the outbox: it is about
        now, and a backlog of it would say nothing)."""
        if self._health_source is None:
            return
        line = self._health_line()
        if self._api is not None:
            try:
                await self._write(line.encode())
            except (SinkError, _Rejected):
                return  # the delivery loop reports the same failure
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    # ------------------------------------------------------------------ sending

    def _fail(self, msg: str, retry_after: float | None = None) -> SinkError:
        self.state = "error"
        self.last_error = msg
        self.last_error_at = time.time()
        return SinkError(msg, retry_after=retry_after)

    async def _write(self, body: bytes) -> None:
        assert self._api is not None
        if self.cfg.gzip:
            body = gzip.compress(body, compresslevel=1)  # line protocol shrinks ~10× even so
        try:
            reply = await self._api.post(self._path, body, self._headers, self.cfg.timeout_s)
        except (TimeoutError, OSError) as exc:
            raise self._fail(f"cannot reach InfluxDB at {self.cfg.url}: "
                             f"{exc.__class__.__name__} {exc}") from exc
        status = reply.status
        if 200 <= status < 300:
            self.state = "connected"
            return
        if status in _AUTH:
            raise self._fail(f"InfluxDB at {self.cfg.url} refused the write: {_AUTH[status]};"
                             f" the data waits, next try in {self.cfg.auth_retry_s:.0f} s",
                             self.cfg.auth_retry_s)
        if status in (429, 503):
            raise self._fail(f"InfluxDB at {self.cfg.url} is busy ({status}); retrying",
                             _retry_after(reply))
        if status in (400, 422):
            raise _Rejected(reply.body[:500].decode("utf-8", "replace") or reply.reason)
        raise self._fail(f"InfluxDB at {self.cfg.url} answered {status} {reply.reason}")

    async def send(self, batch: Batch) -> None:
        lines = self.builder.lines(batch)
        if not lines:
            return
        text = "\n".join(lines)
        if self.cfg.url is not None:
            try:
                await self._write(text.encode())
            except _Rejected as exc:
                self.rejected += len(batch)
                log.error("InfluxDB at %s rejected %d %s records as malformed, dropped them: %s",
                          self.cfg.url, len(batch), batch.lane, exc)
                return
        if self._file is not None:
            self._file.write(text + "\n")
            self._file.flush()
        self.lines_sent += len(lines)

    def health(self) -> dict[str, object]:
        return {"state": self.state, "where": self.where, "last_error": self.last_error,
                "last_error_at": self.last_error_at, "lines_sent": self.lines_sent,
                "rejected": self.rejected}


class _Rejected(Exception):
    """The server refused the lines themselves (400/422)."""


def make_sink(cfg: SinkConfig, ctx: SinkContext) -> InfluxSink:
    """The ``influx`` entry of ``gateway.outputs.config.SINK_TYPES``."""
    assert isinstance(cfg, InfluxConfig)
    return InfluxSink(cfg, ctx.identity, health_source=ctx.health)
