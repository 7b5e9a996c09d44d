"""One run of ``firegate demo --for 120`` per test session, shared by every test that needs it
(the demo's summary, its ledger, and the line protocol the dashboards are checked against).
Running it once keeps the suite inside its time budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIREGATE = [sys.executable, "-m", "gateway.cli.main"]


@dataclass
class DemoRun:
    summary: dict[str, Any]
    log: str
    data_dir: Path
    line_protocol: Path


def start_demo(tmp: Path, seconds: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*FIREGATE, "demo", "--for", str(seconds), "--no-view", "--summary",
         str(tmp / f"s{seconds}.json"), "--data-dir", str(tmp / f"d{seconds}"), *extra],
        cwd=ROOT, stdout=(tmp / f"demo{seconds}.log").open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish_demo(tmp: Path, seconds: int, proc: subprocess.Popen[bytes]) -> DemoRun:
    rc = proc.wait(timeout=seconds + 120)
    log = (tmp / f"demo{seconds}.log").read_text(errors="replace")
    assert rc == 0, f"demo --for {seconds} exited {rc}:\n{log[-3000:]}"
    return DemoRun(json.loads((tmp / f"s{seconds}.json").read_text()), log,
                   tmp / f"d{seconds}", tmp / f"d{seconds}.lp")


@pytest.fixture(scope="session")
def demo_procs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Any]]:
    """Both demo runs the issues name, started together the first time either is needed: they
    share nothing but the machine, and waiting for them one after the other costs 45 s."""
    tmp = tmp_path_factory.mktemp("demos")
    return {
        45: (tmp, start_demo(tmp, 45)),
        120: (tmp, start_demo(tmp, 120, "--line-protocol", str(tmp / "d120.lp"), "--modem",
                              "--sms-log", str(tmp / "sms.jsonl"))),
    }


@pytest.fixture(scope="session")
def demo_45(demo_procs: dict[int, tuple[Path, Any]]) -> DemoRun:
    tmp, proc = demo_procs[45]
    return finish_demo(tmp, 45, proc)


@pytest.fixture(scope="session")
def demo_120(demo_procs: dict[int, tuple[Path, Any]]) -> DemoRun:
    tmp, proc = demo_procs[120]
    return finish_demo(tmp, 120, proc)
