"""Smoke test of the benchmark kit (no timing asserted): the fleet builder serves 5 devices in
their own process, the bare pymodbus loop reads them with firegate's planned requests, and the
figures come out in the shape the report reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.bare_pymodbus import plan_jobs
from bench.fleet import Fleet, Sims, firegate_config, sim_spec
from bench.procs import REPO, cores
from bench.systems import bare
from gateway.config.models import load_config


def test_fleet_and_bare_loop_make_firegates_planned_requests(tmp_path: Path) -> None:
    fleet = Fleet(5, 12, "shared", servers=2)
    me, other = cores()
    with Sims(sim_spec(fleet, tmp_path), other) as sims:
        assert set(sims.ports) == {"s0", "s1"}
        cfg_path = firegate_config(fleet, tmp_path, sims.ports, None, name="check.yaml")
        jobs = plan_jobs(load_config(cfg_path))
        # 12 contiguous registers: firegate plans one request per device, as the bare loop does.
        assert sorted(len(j.requests) for js in jobs.values() for j in js) == [1] * 5
        res = bare(fleet, tmp_path / "bare", sims, me, window_s=1.5, warmup_s=0.5)
    assert res["requests"] > 0
    assert res["polled_points"] == res["requests"] * 12
    for key in ("cpu_s", "cpu_ms_per_request", "cpu_ms_per_polled_point", "peak_rss_mb",
                "requests_per_cycle"):
        assert key in res


def test_bare_loop_command_line_reports_counts(tmp_path: Path) -> None:
    fleet = Fleet(5, 4, "per_device")
    _, other = cores()
    with Sims(sim_spec(fleet, tmp_path), other) as sims:
        cfg = firegate_config(fleet, tmp_path, sims.ports, None)
        out = subprocess.run([sys.executable, "-m", "bench.bare_pymodbus", "-c", str(cfg),
                              "--for", "1.5"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["planned_requests_per_cycle"] == 5
    assert counts["requests"] >= 5 and counts["errors"] == 0
    assert counts["registers"] == 4 * counts["requests"]


def test_desk_bench_runs_and_reports_its_figures(tmp_path: Path) -> None:
    """bench.desk at a tenth of its size: the desk takes the publishers' traffic and shows every
    open alarm; the figures come out (their values are the benchmark's business)."""
    out = tmp_path / "desk.json"
    subprocess.run([sys.executable, "-m", "bench.desk", "--gateways", "5", "--devices", "10",
                    "--transitions", "5", "--health-s", "1", "--seconds", "1", "--warmup",
                    "1", "--pages", "2", "--open", "50", "--json", str(out)], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    res = json.loads(out.read_text())
    assert res["gateways_shown"] == 5 and res["open_alarms_shown"] == 50
    assert res["transitions_stored"] > 0
    for key in ("cpu_no_page_pct", "cpu_one_live_page_pct"):
        assert res[key] >= 0
    assert res["page_ms"]["p50"] > 0
