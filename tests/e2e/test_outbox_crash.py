"""The outbox survives SIGKILL of its writer at any instant: nothing lost, nothing corrupted."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.outputs.outbox import Outbox

BATCH = 40

WRITER = textwrap.dedent(f"""
    import sys
    from gateway.outputs.outbox import Outbox
    from gateway.records import AlarmTransition, TelemetryRecord
    ob = Outbox(sys.argv[1], budget_bytes=200_000_000, sinks=["fast", "offline"])
    n = int(sys.argv[2])
    while True:
        if n % 5 == 0:
            ob.put_alarm(AlarmTransition(id=f"A{{n}}", seq=1, state="raised", ts=float(n),
                                         event="raise", device="d", rule="r", severity="major"))
        ob.put_telemetry([TelemetryRecord(device="d", ts=float(n), measurement="m",
                                          fields={{"v": 1.5, "i": i}})
                          for i in range({BATCH})])
        b = ob.fetch("fast", 70)
        ob.ack("fast", b)
        print(n, flush=True)
        n += 1
""")


def _run_and_kill(path: Path, start: int, after: int, rng: random.Random) -> int:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(start)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert proc.stdout is not None
    last = start - 1
    for _ in range(after):
        line = proc.stdout.readline()
        if not line:
            break
        last = int(line)
    time.sleep(rng.random() * 0.05)  # land somewhere inside a transaction or between them
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for line in proc.stdout.read().split():
        last = int(line)  # completed before the kill; the pipe still held it
    return last


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_outbox_survives_sigkill_of_writer(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "outbox.sqlite"
    confirmed = -1
    for _round in range(3):
        confirmed = _run_and_kill(path, confirmed + 1, rng.randint(5, 60), rng)
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tel = db.execute("SELECT count(*), min(id), max(id) FROM telemetry").fetchone()
        db.close()
        assert tel[0] % BATCH == 0, "a poll cycle's batch is stored whole or not at all"
        assert tel[2] - tel[1] + 1 == tel[0], "ids stay contiguous"
        with Outbox(path, budget_bytes=200_000_000, sinks=["fast", "offline"]) as ob:
            s = ob.stats()
            stored_cycles = s["sinks"]["offline"]["pending"] - s["sinks"]["offline"][
                "pending_alarms"]
            # every put that returned is there; at most one more (killed after commit, before
            # it printed)
            assert stored_cycles // BATCH in (confirmed + 1, confirmed + 2)
            confirmed = stored_cycles // BATCH - 1
            # the delivered counter moved with the cursor, in the same transaction
            fast = s["sinks"]["fast"]
            assert fast["delivered"] + fast["pending"] == s["sinks"]["offline"]["pending"]
            alarms = {r.id for r in ob.fetch("offline", 1_000_000).alarms}
            # every alarm put before a confirmed cycle is there (put again at most once)
            assert {f"A{n}" for n in range(0, confirmed + 1, 5)} <= alarms
            assert alarms <= {f"A{n}" for n in range(0, confirmed + 2, 5)}
