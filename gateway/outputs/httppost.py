"""POST a body over one kept-alive HTTP connection, for the InfluxDB sink, with aiohttp.

Why aiohttp and not influxdb-client: the sink makes one kind of request (POST a body of line
protocol, read a status, a Retry-After and a short error body), and the outbox and
:mod:`gateway.outputs.delivery` already do the batching and retrying that the client library
adds. influxdb-client's async client costs ~47 MB of RSS on a gateway (aiohttp, urllib3,
dateutil, reactivex and its generated API models); aiohttp alone ~13 MB (issue 17 measured
both, ``resource.getrusage`` peak RSS after the import; docs/benchmarks.md). aiohttp is imported
only when an InfluxDB URL is configured. TLS (``https``) uses the default context: the server's
certificate is verified.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

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
    end. One session, one kept-alive connection; one request at a time."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1), raise_for_status=False)
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str],
                   timeout_s: float) -> Reply:
        import aiohttp

        async with self._lock:
            session = self._open()
            try:
                async with asyncio.timeout(timeout_s), session.post(
                        self.base_url + path, data=body, headers=headers) as resp:
                    data = await resp.content.read(MAX_BODY)
                    return Reply(resp.status, resp.reason or "",
                                 {k.lower(): v for k, v in resp.headers.items()}, data)
            except aiohttp.ClientError as exc:
                await self.close()  # a half-read answer must not be read as the next one's
                raise HttpError(f"{self.base_url}: {exc}") from exc
            except BaseException:
                await self.close()
                raise
