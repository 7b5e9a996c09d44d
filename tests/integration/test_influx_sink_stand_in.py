"""InfluxDB answers VictoriaMetrics never gives (it accepts any token, org and bucket): an HTTP
stand-in plays InfluxDB's 401/403/404 and 429/503 + Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from gateway.outputs.config import InfluxConfig, OutputsConfig
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from tests.support.outputs_helpers import Ident, drained, tele
from tests.support.servers import free_port
from tests.support.waiting import until


@dataclass
class StandIn:
    url: str = ""
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 204
    seen: list[tuple[float, str, bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    s = StandIn()

    async def write(request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp has undone the gzip Content-Encoding
        if body.startswith(b"gateway_health,"):
            return web.Response(status=204)  # periodic health, not part of these stories
        s.seen.append((time.monotonic(), request.path_qs, body, dict(request.headers)))
        status, headers = s.answers.pop(0) if s.answers else (s.default, {})
        return web.Response(status=status, headers=headers,
                            text="" if status == 204 else '{"code":"x","message":"stand-in"}',
                            content_type=None if status == 204 else "application/json")

    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    s.url = f"http://127.0.0.1:{port}"
    yield s
    await runner.cleanup()


def cfg_for(url: str) -> OutputsConfig:
    return OutputsConfig(batch_size=100, max_age_s=0.1, influx=InfluxConfig.model_validate(
        {"url": url, "org": "campus", "bucket": "firegate", "token": "t", "auth_retry_s": 0.5,
         "health_interval_s": 3600}))


@pytest.mark.parametrize(("status", "words"), [(401, "token was refused"),
                                                (403, "write permission"),
                                                (404, "org or bucket does not exist")])
async def test_influx_stand_in_auth_errors_keep_data_and_resume(
        tmp_path: Path, stand_in: StandIn, status: int, words: str) -> None:
    stand_in.default = status
    cfg = cfg_for(stand_in.url)
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=cfg.sinks()) as ob:
        ob.put_telemetry([tele(f"d{i}", 1_700_000_000.0) for i in range(10)])
        outputs = Outputs(cfg, ob, Ident())
        task = asyncio.create_task(outputs.run())
        await until(lambda: len(stand_in.seen) >= 2, what="a retry after the auth error")
        h = outputs.health().sinks["influx"]
        assert h["state"] == "error"
        assert words in h["last_error"] and "the data waits" in h["last_error"]
        assert ob.pending("influx") == 10, "nothing is dropped while the server refuses"
        stand_in.default = 204  # the admin fixed the token / bucket
        await drained(ob, "influx")
        assert outputs.health().sinks["influx"]["state"] == "connected"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert stand_in.seen[-1][2] == stand_in.seen[0][2], "the same lines, sent again"
    assert "org=campus" in stand_in.seen[0][1] and "bucket=firegate" in stand_in.seen[0][1]


@pytest.mark.parametrize("status", [429, 503])
async def test_influx_stand_in_busy_honours_retry_after(tmp_path: Path, stand_in: StandIn,
                                                         status: int) -> None:
    stand_in.answers = [(status, {"Retry-After": "1"})]
    cfg = cfg_for(stand_in.url)
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=cfg.sinks()) as ob:
        ob.put_telemetry([tele(f"d{i}", 1_700_000_000.0, power_w=100.0 + i) for i in range(5)])
        task = asyncio.create_task(Outputs(cfg, ob, Ident()).run())
        await drained(ob, "influx")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(stand_in.seen) == 2
    (t1, _, body1, headers), (t2, _, body2, _) = stand_in.seen
    assert body1 == body2
    assert t2 - t1 >= 1.0, "the retry waited as long as the server asked"
    assert headers.get("Content-Encoding") == "gzip"
    assert headers.get("Authorization") == "Token t"
    assert b"power_w=104.0 1700000000000" in body1


@pytest.mark.parametrize("status", [400, 422])
async def test_influx_stand_in_rejected_lines_are_counted_and_not_resent(
        tmp_path: Path, stand_in: StandIn, status: int) -> None:
    stand_in.answers = [(status, {})]
    cfg = cfg_for(stand_in.url)
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=cfg.sinks()) as ob:
        ob.put_telemetry([tele(f"bad{i}", 1_700_000_000.0) for i in range(3)])
        outputs = Outputs(cfg, ob, Ident())
        task = asyncio.create_task(outputs.run())
        await drained(ob, "influx")
        ob.put_telemetry([tele("good", 1_700_000_001.0, power_w=5.0)])
        await drained(ob, "influx")
        h = outputs.health().sinks["influx"]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert h["rejected"] == 3, "the refused batch is counted"
    assert len(stand_in.seen) == 2, "the refused lines are not sent again; later ones go"
    assert b"good" in stand_in.seen[1][2]
