"""Drain at stop: a demo delivering to a real Mosquitto and a real VictoriaMetrics ends with
nothing pending, and every numeric point it published is in the database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mqtt_helpers import Watcher
from tests.support.servers import Mosquitto, Victoria, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_demo_ends_with_nothing_pending_and_every_point_in_the_database(
        tmp_path: Path, mosquitto: Mosquitto, make_victoria: Callable[[], Victoria]) -> None:
    victoria = make_victoria()  # its own: the demo's series must not meet other tests' queries
    summary = tmp_path / "s.json"
    async with Watcher(mosquitto, topic="firegate/#") as watcher:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli.main", "demo", "--for", "15", "--no-view",
            "--summary", str(summary), "--mqtt", f"mqtt://127.0.0.1:{mosquitto.port}",
            "--influx", victoria.url, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        log = out.decode(errors="replace")
        assert proc.returncode == 0, log[-3000:]
        await asyncio.sleep(0.5)  # the last QoS 1 messages reach the watcher
    s = json.loads(summary.read_text())
    assert s["outbox"]["pending"] == 0, s["outbox"]
    assert "not delivered" not in log
    # Every numeric field of every telemetry message MQTT carried is a sample in the database
    # (VictoriaMetrics names an InfluxDB field ``{measurement}_{field}``, times in ms).
    published: set[tuple[str, str, int]] = set()
    for topic, payload, _ in watcher.got:
        if "/telemetry/" not in topic:
            continue
        rec = json.loads(payload)
        for k, v in rec["fields"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                field = k.split("@")[0]
                published.add((rec["device"], f"{rec['measurement']}_{field}",
                               round(float(rec["ts"]) * 1000)))
    assert len(published) > 500, len(published)
    stored: set[tuple[str, str, int]] = set()
    for series in victoria.export():
        for t in series.timestamps:
            stored.add((series.metric.get("device", ""), series.metric["__name__"], t))
    missing = published - stored
    assert not missing, sorted(missing)[:10]


@pytest.mark.slow
def test_demo_whose_broker_is_gone_keeps_its_records_and_says_where() -> None:
    """Nothing listens at the MQTT address: after the grace the demo stops, and its temporary
    data directory, which holds the undelivered records, is kept and named."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--for", "4", "--no-view",
         "--mqtt", f"mqtt://127.0.0.1:{free_port()}"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "undelivered" in log and "were not delivered in time" in log, log[-2000:]
    kept = Path(log.split("kept in ")[1].split()[0])
    assert kept.name == "outbox.sqlite" and kept.is_file()
    shutil.rmtree(kept.parents[1])
