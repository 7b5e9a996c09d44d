"""POST a body over one kept-alive HTTP/1.1 connection: h11 over asyncio streams.

Used by the InfluxDB sink (line protocol to ``/api/v2/write``) and by the SMS HTTP providers
(:mod:`gateway.notify.providers`). Both make one kind of request (send a body, read a status, a
few headers and a short body); the outbox and :mod:`gateway.outputs.delivery` already do the
batching and retrying a client library would add.

Why h11 and not aiohttp or influxdb-client (issue 17, ``resource.getrusage`` peak RSS on top of
asyncio, pymodbus and aiomqtt): influxdb-client's async client cost ~47 MB (aiohttp, urllib3,
dateutil, reactivex, its generated API models); aiohttp alone 7.3–9.9 MB (its C parsers, yarl,
multidict, frozenlist, aiosignal, propcache); h11 ~0.25 MB. h11 is python-hyper's sans-IO
HTTP/1.1 protocol library (maintained, the parser under httpcore/httpx and uvicorn): it does
the parsing that must not be hand-written (status line, headers, Content-Length and chunked
bodies, keep-alive and ``Connection: close`` rules); this module only moves its bytes over an
asyncio stream. TLS (``https``) uses :func:`ssl.create_default_context`: the server's
certificate and host name are verified.

Errors: :class:`HttpError` (an ``OSError``) naming the URL when the connection fails or the
answer is not HTTP; ``TimeoutError`` when the whole exchange takes longer than asked. After
either, or a cancel, or an answer cut at ``MAX_BODY``, the connection is dropped: a half-read
answer is never taken for the next request's. A kept-alive connection found closed by the
server is replaced; see ``_exchange`` for the one re-send this allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

MAX_BODY = 1 << 20  # an answer's body beyond this is cut: only its start is ever shown
_READ = 65536


class HttpError(OSError):
    """The connection failed or the server's answer was not HTTP. ``sent`` is False when the
    request cannot have reached the server (it could not connect): a caller that must not
    send a thing twice (an SMS) may then try again safely."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(slots=True)
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


class _Stale(Exception):
    """A kept-alive connection was found closed before any byte of the answer arrived."""


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection
    used: bool = False  # has carried a whole exchange already (so it may have gone stale)


class HttpPoster:
    """``await HttpPoster(base_url).post(path, body, headers, timeout_s)``; ``close()`` at the
    end. One kept-alive connection, one request at a time (a lock orders callers). A request
    on a reused connection may be sent twice (see ``_exchange``): a caller for which that is
    not harmless uses a fresh poster per request, as the SMS providers do."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL: {base_url!r}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in URL {base_url!r}") from exc
        self._port = port or (443 if self._tls else 80)
        self._authority = parts.netloc.rpartition("@")[2]  # the Host header, without userinfo
        self._prefix = parts.path
        # what errors name: never a user:password written into the URL
        self._shown = f"{parts.scheme}://{self._authority}{self._prefix}"
        self._ssl: ssl.SSLContext | None = None
        self._conn: _Conn | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._drop(abort=False)

    async def post(self, path: str, body: bytes, headers: dict[str, str],
                   timeout_s: float) -> Reply:
        """POST ``body`` to ``base_url + path``. Raises :class:`HttpError` (an ``OSError``)
        naming the URL, or ``TimeoutError`` after ``timeout_s`` for the whole exchange."""
        return await self.request("POST", path, body, headers, timeout_s)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str],
                      timeout_s: float) -> Reply:
        """``post`` with another method (the Aliyun SMS API wants a signed GET)."""
        async with self._lock:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self._exchange(method, path, body, headers)
            except BaseException:
                # A timeout, a cancel or an error may leave an answer half read on the
                # connection: it must never be read as the next request's answer.
                await self._drop(abort=True)
                raise

    # ------------------------------------------------------------------ internals

    async def _exchange(self, method: str, path: str, body: bytes,
                        headers: dict[str, str]) -> Reply:
        conn = self._conn
        if conn is not None and _idle_gone(conn.reader):
            await self._drop(abort=True)  # the server closed it while idle: known, no resend
            conn = None
        if conn is None:
            return await self._roundtrip(await self._connect(), method, path, body, headers)
        try:
            return await self._roundtrip(conn, method, path, body, headers)
        except _Stale:
            # The server closed the kept-alive connection between requests and we learnt it only
            # by sending (a race with its idle timeout). Nothing of an answer was read, so send
            # once more on a fresh connection. A POST is not idempotent in general, but the one
            # this poster re-sends is an InfluxDB line-protocol write: the same points (series
            # and timestamp) overwrite themselves, so a write applied twice is applied once.
            # The SMS providers open a fresh poster per page and never reuse a connection, so
            # a page is never sent twice by this (Aliyun's SendSms is not idempotent).
            await self._drop(abort=True)
            return await self._roundtrip(await self._connect(), method, path, body, headers)

    async def _connect(self) -> _Conn:
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()  # loads the CA store: once per poster
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._ssl, limit=_READ)
        except OSError as exc:  # refused, unreachable, DNS, TLS verification (ssl.SSLError)
            raise HttpError(f"{self._shown}: cannot connect: {exc}", sent=False) from exc
        self._conn = _Conn(reader, writer, h11.Connection(h11.CLIENT))
        return self._conn

    async def _roundtrip(self, conn: _Conn, method: str, path: str, body: bytes,
                         headers: dict[str, str]) -> Reply:
        reused = conn.used
        names = {k.lower() for k in headers}
        head = [(k, v) for k, v in headers.items()]
        if "host" not in names:
            head.insert(0, ("Host", self._authority))
        if "user-agent" not in names:
            head.append(("User-Agent", "firegate"))
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(("Content-Length", str(len(body))))
        h = conn.h11
        try:
            out = h.send(h11.Request(method=method, target=self._prefix + path or "/",
                                          headers=head))
            out += h.send(h11.Data(data=body)) if body else b""
            out += h.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # e.g. a header value with a newline in it
            raise HttpError(f"{self._shown}: cannot send this request: {exc}",
                            sent=False) from exc
        try:
            try:
                conn.writer.write(out)
                await conn.writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                if reused:
                    raise _Stale from None
                raise
            reply, complete = await self._answer(conn, reused)
        except h11.RemoteProtocolError as exc:
            raise HttpError(f"{self._shown}: the answer is not HTTP: {exc}") from exc
        except HttpError:
            raise
        except OSError as exc:
            raise HttpError(f"{self._shown}: connection lost: {exc}") from exc
        if not complete or h.our_state is not h11.DONE or h.their_state is not h11.DONE \
                or any(h.trailing_data):
            # body cut at MAX_BODY, the server said close, or it sent more than the answer
            await self._drop(abort=True)
        else:
            h.start_next_cycle()
            conn.used = True
        return reply

    async def _answer(self, conn: _Conn, reused: bool) -> tuple[Reply, bool]:
        """Read one answer; return it and whether it was read to its end. On a reused
        connection that ends (or is reset) before the answer's first byte, raise ``_Stale``."""
        h = conn.h11
        start = b""  # the answer's first bytes, to refuse a non-HTTP one at once
        eof = False
        reply: Reply | None = None
        body = bytearray()
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                if eof:
                    raise HttpError(f"{self._shown}: the connection closed mid-answer "
                                    f"({exc})") from exc
                raise
            if event is h11.NEED_DATA:
                if eof:  # h11 waits for the rest of a line that will never come
                    raise HttpError(f"{self._shown}: the connection closed mid-answer")
                try:
                    data = await conn.reader.read(_READ)
                except (ConnectionResetError, BrokenPipeError):
                    if not start and reused:
                        raise _Stale from None
                    raise
                if not data and not start:
                    if reused:
                        raise _Stale
                    raise HttpError(f"{self._shown}: the server closed the connection "
                                    "without answering")
                if len(start) < 5:
                    start = (start + data)[:5]
                    if not b"HTTP/".startswith(start):  # a server that is not HTTP may
                        # well wait for more of the request rather than close
                        raise h11.RemoteProtocolError(f"it starts with {start!r}")
                eof = not data
                h.receive_data(data)  # b"" is the end of the stream
            elif isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and the like: the real answer follows
            elif isinstance(event, h11.Response):
                reply = Reply(event.status_code, event.reason.decode("latin-1"),
                              _headers(event.headers))
            elif isinstance(event, h11.Data):
                assert reply is not None
                body += event.data
                if len(body) > MAX_BODY:
                    reply.body = bytes(body[:MAX_BODY])
                    return reply, False
            elif isinstance(event, h11.EndOfMessage):
                assert reply is not None
                reply.body = bytes(body)
                return reply, True
            else:  # ConnectionClosed, or PAUSED (never: one request per cycle)
                raise HttpError(f"{self._shown}: the connection closed mid-answer")

    async def _drop(self, *, abort: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if abort:
            conn.writer.transport.abort()  # no TLS goodbye that could itself hang
            return
        conn.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                await conn.writer.wait_closed()


def _idle_gone(reader: asyncio.StreamReader) -> bool:
    """Whether an idle kept-alive connection is known to be unusable: the server closed or
    reset it, or sent something unasked (some servers write a ``408`` before closing an idle
    connection) that would otherwise be read as the next request's answer. ``_buffer`` is
    StreamReader's own, unchanged since Python 3.4; there is no public way to peek."""
    return reader.at_eof() or reader.exception() is not None or \
        bool(getattr(reader, "_buffer", b""))


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """h11 gives lower-case names; a repeated header is joined with ``, `` (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    for name, value in raw:
        k, v = name.decode("latin-1"), value.decode("latin-1")
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out
