"""A test-only output: every record appended to a JSON-lines file, acknowledged once written.

It is exactly what docs/extending.md asks of a new sink: one module (a settings model, a class
with ``name``, ``run``, ``wait_ready``, ``send``, ``health``, and a ``make_sink`` factory) plus
one entry in ``gateway.outputs.config.SINK_TYPES``; the tests add the entry with
``monkeypatch.setitem`` (:data:`ENTRY`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

from gateway.outputs.config import SinkConfig, SinkType
from gateway.outputs.delivery import SinkContext
from gateway.outputs.outbox import Batch


class JsonlConfig(SinkConfig):
    type: Literal["jsonl"] = "jsonl"
    path: Path


class JsonlSink:
    name = "jsonl"

    def __init__(self, cfg: JsonlConfig) -> None:
        self.path = cfg.path
        self.written = 0

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to keep open; cancelled at stop

    async def wait_ready(self) -> None:
        return None

    async def send(self, batch: Batch) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            for rec in batch.records:
                f.write(json.dumps({"lane": batch.lane, **rec.to_json()},
                                   ensure_ascii=False) + "\n")
        self.written += len(batch)

    def health(self) -> dict[str, object]:
        return {"state": "connected", "written": self.written}


def make_sink(cfg: SinkConfig, ctx: SinkContext) -> JsonlSink:
    assert isinstance(cfg, JsonlConfig)
    return JsonlSink(cfg)


ENTRY = SinkType(JsonlConfig, "tests.support.jsonl_sink:make_sink")


def read(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
