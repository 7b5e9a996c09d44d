"""``python -m bench.profile [--devices 100] [--points 20] [--for 20]``: where firegate's time goes.

Runs firegate on the comparison fleet as the compare phase configures it (MQTT per-device
topics, InfluxDB on VictoriaMetrics, the SMS modem; simulators, Mosquitto and VictoriaMetrics on
the other core) under py-spy
(``py-spy record --format raw``, the dev extra), then folds the sampled stacks into the share of
samples spent in each part of the gateway (inclusive) and in each function (self). Writes
``bench/results/profile.json`` and prints the top of both lists; the report quotes them where a
goal is missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, Sims, firegate_config, sim_spec
from bench.meter import FIREGATE, Meter
from bench.procs import PY, REPO, Mosquitto, VictoriaMetrics, cores, pin, stop

# Inclusive buckets: the first marker found in a stack (innermost first) names the part.
WARMUP_S = 5.0
IDLE_POOL = "_worker (concurrent/futures/thread.py"
PARTS = [
    ("outbox (SQLite, JSON)", "gateway/outputs/outbox.py"),
    ("InfluxDB line protocol", "gateway/outputs/lineproto.py"),
    ("InfluxDB sink (HTTP)", "gateway/outputs/influx_sink.py"),
    ("MQTT sink (JSON, aiomqtt/paho)", "gateway/outputs/mqtt_sink.py"),
    ("delivery loop", "gateway/outputs/delivery.py"),
    ("rules engine", "rules/"),
    ("decode (codecs)", "drivers/codecs.py"),
    ("Modbus client (pymodbus)", "pymodbus/"),
    ("device reader", "drivers/device.py"),
    ("runtime data path", "gateway/runtime/gateway.py"),
    ("poller", "gateway/runtime/poller.py"),
    ("paho-mqtt", "paho/"),
    ("event loop waiting in epoll", "EpollSelector.select"),
    ("asyncio event loop", "asyncio/"),
]


def fold(raw: Path) -> dict[str, Any]:
    parts: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        if IDLE_POOL in frames[-1]:
            continue  # a thread-pool worker waiting for work: py-spy cannot tell it is idle
        total += count
        selfs[frames[-1].strip()] += count
        for name, marker in PARTS:
            if any(marker in f for f in frames):
                parts[name] += count
                break
        else:
            parts["other"] += count
    pct = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {"samples": total,
            "parts_pct": {k: pct(v) for k, v in parts.most_common()},
            "top_self_pct": {k: pct(v) for k, v in selfs.most_common(25)}}


def profile(devices: int, points: int, seconds: float, run: Path) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
    me, other = cores()
    fleet = Fleet(devices, points, "shared")
    run.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(run / "mqtt")
    broker.start(other)
    influx = VictoriaMetrics(run / "victoria")
    raw = run / "firegate.pyspy.txt"
    try:
        influx.start(other)
        with Sims(sim_spec(fleet, run), other, modem_log=run / "modem.jsonl") as sims, \
                Meter(broker.port) as meter:
            cfg = firegate_config(fleet, run, sims.ports, broker.port, influx_url=influx.url,
                                  modem=sims.modem)
            with (run / "profile.log").open("ab") as log:
                gw = subprocess.Popen([PY, "-m", "gateway.cli.main", "run", "-c", str(cfg),
                                       "--no-view"], cwd=REPO, stdout=log,
                                      stderr=subprocess.STDOUT)
                try:
                    pin(gw.pid, me)
                    time.sleep(WARMUP_S)  # start-up (imports, config) is not what we look at
                    pin(gw.pid, me)
                    subprocess.run([spy, "record", "--format", "raw", "--rate", "250",
                                    "-o", str(raw), "--duration", str(int(seconds)),
                                    "--pid", str(gw.pid)],
                                   stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 30)
                finally:
                    stop(gw)
            delivered = meter.count(FIREGATE)
    finally:
        influx.stop()
        broker.stop()
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote no profile; see {run}/profile.log")
    out = fold(raw)
    out.update({"fleet": fleet.label(), "seconds": seconds, "points_delivered": delivered,
                "command": f"python -m bench.profile --devices {devices} --points {points} "
                           f"--for {seconds:g}"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--for", dest="seconds", type=float, default=20.0)
    a = ap.parse_args()
    run = REPO / "bench" / "runs" / f"profile-{time.strftime('%Y%m%d-%H%M%S')}"
    res = profile(a.devices, a.points, a.seconds, run)
    out = REPO / "bench" / "results" / "profile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: res[k] for k in ("samples", "parts_pct")}, indent=1))
    for k, v in list(res["top_self_pct"].items())[:15]:
        print(f"{v:6.1f} %  {k}")


if __name__ == "__main__":
    main()
