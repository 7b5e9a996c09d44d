"""A minimal HTTP/1.1 POST over one kept-alive asyncio connection, for the InfluxDB sink.

Why not a library: the sink makes one kind of request (POST a body of line protocol, read a
status, a Retry-After and a short error body). influxdb-client's async client costs ~47 MB of
RSS on a gateway (it pulls in aiohttp, urllib3, dateutil, reactivex and its generated API
models), aiohttp alone ~13 MB; this costs nothing beyond asyncio and ssl, which the gateway has
loaded anyway. Measured with ``resource.getrusage`` peak RSS after the import; see
docs/benchmarks.md. TLS (``https``) uses the default context: the server's certificate is
verified.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_BODY = 1 << 20  # an error body beyond this is cut: only its start is ever shown


class HttpError(OSError):
    """The connection failed or the server's answer was not HTTP."""


@dataclass(slots=True)
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


class HttpPoster:
    """``await HttpPoster(base_url).post(path, body, headers, timeout_s)``; ``close()`` at the
    end. Reconnects when the server closed the connection; one request at a time."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._writer is not None and self._reader is not None and \
                not self._writer.is_closing() and not self._reader.at_eof():
            return self._reader, self._writer
        await self.close()
        ctx = ssl.create_default_context() if self.https else None
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, ssl=ctx)
        return self._reader, self._writer

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            try:
                await w.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    async def post(self, path: str, body: bytes, headers: dict[str, str],
                   timeout_s: float) -> Reply:
        async with self._lock:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self._post(path, body, headers)
            except BaseException:
                await self.close()  # a half-read answer must not be read as the next one's
                raise

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        for attempt in (0, 1):
            reader, writer = await self._connect()
            head = [f"POST {self.base_path}{path} HTTP/1.1", f"Host: {self.host_header}",
                    f"Content-Length: {len(body)}", "Connection: keep-alive",
                    *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            try:
                await writer.drain()
                line = await reader.readline()
            except (ConnectionError, ssl.SSLError):
                line = b""
            if line:
                return await self._reply(reader, line)
            # A kept-alive connection the server had closed: one fresh try.
            await self.close()
            if attempt:
                break
        raise HttpError(f"{self.host}:{self.port} closed the connection without an answer")

    async def _reply(self, reader: asyncio.StreamReader, status_line: bytes) -> Reply:
        try:
            _version, code, *reason = status_line.decode("latin-1").split(" ", 2)
            reply = Reply(int(code), (reason[0] if reason else "").strip())
        except ValueError as exc:
            raise HttpError(f"not an HTTP answer: {status_line[:80]!r}") from exc
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            reply.headers[name.strip().lower()] = value.strip()
        if reply.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            reply.body = b"".join(chunks)[:MAX_BODY]
        elif "content-length" in reply.headers:
            reply.body = (await reader.readexactly(int(reply.headers["content-length"])))
        elif reply.status not in (204, 304) and reply.status >= 200:
            reply.body = await reader.read(MAX_BODY)  # ends with the connection
            await self.close()
        if reply.headers.get("connection", "").lower() == "close":
            await self.close()
        return reply
