"""``python -m tests.support.outputs_proc OUTBOX CONFIG_JSON``: the outputs alone in their own
process, so a test can SIGKILL them (a dead gateway, a cut power line)."""

from __future__ import annotations

import asyncio
import json
import sys

from gateway.outputs.config import OutputsConfig
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from tests.support.outputs_helpers import Ident


async def main(path: str, cfg_json: str) -> None:
    cfg = OutputsConfig.model_validate(json.loads(cfg_json))
    with Outbox(path, budget_bytes=50_000_000, sinks=cfg.sinks()) as ob:
        await Outputs(cfg, ob, Ident()).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
