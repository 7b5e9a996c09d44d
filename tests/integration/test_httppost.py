"""The HTTP poster (h11 over asyncio streams) against real local servers: aiohttp.web for the
answers a real HTTP server gives (chunked, keep-alive, TLS), and plain asyncio TCP servers for
the misbehaviour no HTTP framework will produce on purpose (closing a kept-alive connection the
moment a request arrives, answering with something that is not HTTP)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gateway.outputs.httppost import MAX_BODY, HttpError, HttpPoster
from tests.support.servers import TlsFiles
from tests.support.waiting import until

LINES = b"power,device=d1 w=1.5 1700000000000\n"
HEADERS = {"Content-Type": "text/plain; charset=utf-8"}


@dataclass
class Web:
    """An aiohttp.web server that records every request with the client's port (one port per
    connection) and answers with ``handler``."""

    url: str = ""
    seen: list[tuple[int, str, bytes]] = field(default_factory=list)  # (client port, path, body)


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], *,
                 ssl_context: ssl.SSLContext | None = None,
                 keepalive_timeout: float = 75.0) -> tuple[Web, web.AppRunner]:
    w = Web()

    async def record(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        w.seen.append((peer[1] if peer else -1, request.path_qs, await request.read()))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    w.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    return w, runner


@pytest.fixture
async def plain() -> AsyncIterator[Web]:
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/chunked":
            resp = web.StreamResponse(status=200, headers={"X-Part": "a"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for part in (b'{"code":', b'"invalid",', b'"message":"bad line"}'):
                await resp.write(part)
            await resp.write_eof()
            return resp
        if request.path == "/big":
            return web.Response(status=400, body=b"x" * (MAX_BODY + 1000))
        if request.path == "/close":
            return web.Response(status=204, headers={"Connection": "close"})
        return web.Response(status=204)

    w, runner = await _serve(answer)
    yield w
    await runner.cleanup()


async def test_chunked_answer_is_read_whole(plain: Web) -> None:
    p = HttpPoster(plain.url)
    try:
        r = await p.post("/chunked?org=campus", LINES, HEADERS, 5)
    finally:
        await p.close()
    assert (r.status, r.reason) == (200, "OK")
    assert r.headers["transfer-encoding"] == "chunked" and r.headers["x-part"] == "a"
    assert r.body == b'{"code":"invalid","message":"bad line"}'
    assert plain.seen[0][1:] == ("/chunked?org=campus", LINES)


async def test_two_posts_share_one_kept_alive_connection(plain: Web) -> None:
    p = HttpPoster(plain.url)
    try:
        r1 = await p.post("/api/v2/write", LINES, HEADERS, 5)
        r2 = await p.post("/api/v2/write", LINES + LINES, HEADERS, 5)
    finally:
        await p.close()
    assert r1.status == r2.status == 204
    (port1, _, body1), (port2, _, body2) = plain.seen
    assert port1 == port2, "the second POST went over the first one's connection"
    assert (body1, body2) == (LINES, LINES + LINES)


async def test_connection_close_answer_and_cut_body_open_a_new_connection(plain: Web) -> None:
    p = HttpPoster(plain.url)
    try:
        assert (await p.post("/close", LINES, HEADERS, 5)).status == 204
        big = await p.post("/big", LINES, HEADERS, 5)
        after = await p.post("/api/v2/write", LINES, HEADERS, 5)
    finally:
        await p.close()
    assert big.status == 400 and len(big.body) == MAX_BODY, "an error body is cut at MAX_BODY"
    assert after.status == 204
    ports = [port for port, _, _ in plain.seen]
    assert len(set(ports)) == 3, "neither a closing answer's nor a half-read one's connection " \
                                 "is used again"


async def test_server_closing_idle_keep_alive_between_posts() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    # aiohttp.web closes a kept-alive connection idle for keepalive_timeout, as InfluxDB and
    # proxies in front of it do (and as a server restart does)
    w, runner = await _serve(answer, keepalive_timeout=0.2)
    p = HttpPoster(w.url)
    try:
        assert (await p.post("/api/v2/write", b"a 1", HEADERS, 5)).status == 204
        conn = p._conn
        assert conn is not None
        await until(conn.reader.at_eof, what="the server closing the idle connection")
        assert (await p.post("/api/v2/write", b"b 2", HEADERS, 5)).status == 204
    finally:
        await p.close()
        await runner.cleanup()
    (port1, _, body1), (port2, _, body2) = w.seen
    assert (body1, body2) == (b"a 1", b"b 2") and port1 != port2, "sent once, on a new connection"


# ---------------------------------------------------------------------------- raw TCP servers


@dataclass
class Raw:
    """A plain asyncio TCP server; ``behave(conn_no, req_no, request)`` returns the bytes to
    answer with, or None to close the connection without answering."""

    behave: Callable[[int, int, bytes], bytes | None]
    url: str = ""
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection no, body)
    connections: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)  # one per connection

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        self.writers.append(writer)
        n = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append((conn, body))
                out = self.behave(conn, n, body)
                n += 1
                if out is None:
                    return
                writer.write(out)
                await writer.drain()
        finally:
            writer.close()


Behave = Callable[[int, int, bytes], bytes | None]
StartRaw = Callable[[Behave], Awaitable[Raw]]


@pytest.fixture
async def raw() -> AsyncIterator[StartRaw]:
    """``await raw(behave)``: a started :class:`Raw` server."""
    servers: list[asyncio.Server] = []

    async def start(behave: Behave) -> Raw:
        r = Raw(behave)
        srv = await asyncio.start_server(r.handle, "127.0.0.1", 0)
        servers.append(srv)
        r.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        return r

    yield start
    for srv in servers:
        srv.close()


OK = b"HTTP/1.1 204 No Content\r\n\r\n"


async def test_keep_alive_closed_as_the_request_arrives_is_resent_once(raw: StartRaw) -> None:
    # The race the idle check cannot see: the server drops the kept-alive connection just as the
    # second request reaches it. Nothing of an answer was read, so the poster sends it again on a
    # fresh connection (line protocol writes are idempotent: same points overwrite).
    srv = await raw(lambda conn, n, body: None if (conn, n) == (0, 1) else OK)
    p = HttpPoster(srv.url)
    try:
        assert (await p.post("/api/v2/write", b"a 1", HEADERS, 5)).status == 204
        assert (await p.post("/api/v2/write", b"b 2", HEADERS, 5)).status == 204
    finally:
        await p.close()
    assert srv.requests == [(0, b"a 1"), (0, b"b 2"), (1, b"b 2")]


TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("when", ["with the answer", "while idle"])
async def test_unasked_408_before_idle_close_is_not_taken_for_an_answer(
        raw: StartRaw, when: str) -> None:
    # Some servers write a 408 on a kept-alive connection before closing it for idleness; it
    # must not be read as the answer to the next request.
    def behave(conn: int, n: int, body: bytes) -> bytes | None:
        return OK + TIMEOUT_408 if (conn, when) == (0, "with the answer") else OK

    srv = await raw(behave)
    p = HttpPoster(srv.url)
    try:
        assert (await p.post("/api/v2/write", b"a 1", HEADERS, 5)).status == 204
        if when == "while idle":
            srv.writers[0].write(TIMEOUT_408)  # and the connection stays open
            await asyncio.sleep(0.2)  # let it arrive
        assert (await p.post("/api/v2/write", b"b 2", HEADERS, 5)).status == 204
    finally:
        await p.close()
    assert srv.requests == [(0, b"a 1"), (1, b"b 2")]


async def test_fresh_connection_closed_without_answer_is_an_error_not_a_resend(
        raw: StartRaw) -> None:
    srv = await raw(lambda conn, n, body: None)
    p = HttpPoster(srv.url)
    try:
        with pytest.raises(HttpError, match=f"{srv.url}: the server closed the connection "
                                            "without answering"):
            await p.post("/api/v2/write", b"a 1", HEADERS, 5)
    finally:
        await p.close()
    assert srv.requests == [(0, b"a 1")], "sent once: only a reused connection is resent on"


async def test_answer_that_is_not_http_names_the_url(raw: StartRaw) -> None:
    srv = await raw(lambda conn, n, body: b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n")
    p = HttpPoster(srv.url + "/")
    try:
        with pytest.raises(HttpError, match=f"{srv.url}: the answer is not HTTP"):
            await p.post("/api/v2/write", LINES, HEADERS, 5)
    finally:
        await p.close()


async def test_silent_server_times_out_and_the_next_post_starts_afresh(raw: StartRaw) -> None:
    def behave(conn: int, n: int, body: bytes) -> bytes | None:
        if conn == 0:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"  # never finished
        return OK

    srv = await raw(behave)
    p = HttpPoster(srv.url)
    try:
        with pytest.raises(TimeoutError):
            await p.post("/api/v2/write", b"a 1", HEADERS, 0.3)
        assert (await p.post("/api/v2/write", b"b 2", HEADERS, 5)).status == 204
    finally:
        await p.close()
    assert srv.requests == [(0, b"a 1"), (1, b"b 2")], "the half-read answer's connection is " \
                                                        "not used again"


async def test_refused_connection_is_an_http_error_marked_not_sent() -> None:
    p = HttpPoster("http://admin:s3cret@127.0.0.1:9")
    with pytest.raises(HttpError, match=r"http://127\.0\.0\.1:9: cannot connect") as info:
        await p.post("/api/v2/write", LINES, HEADERS, 5)
    assert not info.value.sent
    assert "s3cret" not in str(info.value), "a password in the URL is not repeated in errors"


# ---------------------------------------------------------------------------- TLS


@pytest.fixture
async def tls_server(tls_files: TlsFiles) -> AsyncIterator[Web]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files.cert, tls_files.key)

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    w, runner = await _serve(answer, ssl_context=ctx)
    yield w
    await runner.cleanup()


async def test_https_with_an_untrusted_certificate_is_refused(tls_server: Web) -> None:
    # The server's certificate is signed by a test CA the system does not trust.
    p = HttpPoster(tls_server.url)
    with pytest.raises(HttpError, match="certificate verify failed") as info:
        await p.post("/api/v2/write", LINES, HEADERS, 5)
    assert tls_server.url in str(info.value) and not info.value.sent
    assert tls_server.seen == [], "nothing was sent to an unverified server"


async def test_https_works_once_the_ca_is_trusted(tls_server: Web, tls_files: TlsFiles,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # SSL_CERT_FILE is how a site adds its own CA to the default context's trust store.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    p = HttpPoster(tls_server.url.replace("127.0.0.1", "localhost"))
    try:
        assert (await p.post("/api/v2/write", LINES, HEADERS, 5)).status == 204
    finally:
        await p.close()
    assert [body for _, _, body in tls_server.seen] == [LINES]
