"""``python -m bench.desk [--gateways 100] [--devices 200] [--seconds 30] [--json FILE]``: what the
control room's desk costs.

1. **Traffic**: a real Mosquitto on loopback and the desk as its own process (``firegate desk``);
   a publisher process plays ``--gateways`` gateways, each with one MQTT connection, a birth
   message, retained health every ``--health-s`` and alarm transitions of its ``--devices``
   devices (raise → ack → clear → close, each an ``events`` message and a retained
   ``alarms/{id}``, in the gateway's own format) at ``--transitions`` per second in all. The
   desk's CPU (user + system, psutil) is measured over ``--seconds`` of that steady traffic, once
   with no page open and once with one page open on the alarm list (its live updates fetch the
   rows again). Goal: < 20 % of a core.
2. **The open-alarm page**: 1,000 open alarms across the gateways, then the alarm list (``/``,
   logged in, as a browser asks for it) fetched ``--pages`` times. Goal: < 300 ms.

Traffic sizing: 100 gateways × 200 devices = 20,000 devices. A campus sees a few alarm
transitions per device per day; 40 transitions/s (3.5 million a day, one every ~8 minutes per
device) is far beyond that, and health every 5 s is six times the gateway's default (30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml

from gateway.records import AlarmTransition

SITE = "bench"
PASSWORD = "bench password 123"
CPU_GOAL = 20.0
PAGE_GOAL_MS = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port}")


# ---------------------------------------------------------------------------- publishers


def _alarm(gw: str, dev: int, n: int, event: str, now: float) -> dict[str, Any]:
    state = {"raise": "raised", "ack": "acknowledged", "clear": "acknowledged",
             "close": "closed"}[event]
    seq = {"raise": 1, "ack": 2, "clear": 3, "close": 4}[event]
    sev = "critical" if dev % 50 == 0 else "major" if dev % 5 == 0 else "minor"
    tr = AlarmTransition(
        event=event, ts=now, id=f"A{dev:03d}{n:04d}", device=f"dev-{dev:03d}",
        rule="fire_alarm" if sev == "critical" else "overload", severity=sev, state=state,
        seq=seq, active=event in ("raise", "ack"), raised_at=now, first_raised_at=now,
        updated_at=now, acked_by="desk" if event != "raise" else None,
        message_zh="告警 alarm", site=SITE, campus=f"c{dev % 2}", building=gw,
        floor=1 + dev % 6, room=f"{100 + dev}")
    return {"gateway": gw, "site": SITE, **tr.to_json()}


async def publishers(port: int, gateways: int, devices: int, rate: float, health_s: float,
                     seconds: float, open_alarms: int) -> None:
    """Play the gateways. With ``open_alarms`` > 0: publish that many open alarms (retained)
    and return; otherwise play traffic for ``seconds``."""
    import aiomqtt

    names = [f"gw-{i:03d}" for i in range(gateways)]
    clients: dict[str, aiomqtt.Client] = {}
    async with contextlib.AsyncExitStack() as stack:
        for g in names:
            c = aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{g}", keepalive=30,
                               will=aiomqtt.Will(f"firegate/{SITE}/{g}/state", b"offline",
                                                 qos=1, retain=True))
            clients[g] = await stack.enter_async_context(c)
            await c.publish(f"firegate/{SITE}/{g}/state", b"online", qos=1, retain=True)
        if open_alarms:
            now = time.time()
            for i in range(open_alarms):
                g = names[i % gateways]
                a = _alarm(g, (i // gateways) % devices, 9000 + i, "raise", now - i)
                await clients[g].publish(f"firegate/{SITE}/{g}/alarms/{a['id']}",
                                         json.dumps(a).encode(), qos=1, retain=True)
            return

        async def health(g: str) -> None:
            c = clients[g]
            await asyncio.sleep(random.random() * health_s)
            while True:
                body = {"gateway": g, "site": SITE, "campus": "c0", "building": g,
                        "ts": time.time(), "version": "bench", "keepalive_s": 30,
                        "health_interval_s": health_s,
                        "runtime": {"devices": devices, "devices_online": devices - 1,
                                    "poll_cycle_ms": 800.0, "polls_late": 0,
                                    "requests": 123456},
                        "outbox": {"pending": 3, "delivered": 99999, "shed": 0},
                        "sinks": {"mqtt": {"state": "connected"}}}
                await c.publish(f"firegate/{SITE}/{g}/health", json.dumps(body).encode(),
                                qos=1, retain=True)
                await asyncio.sleep(health_s)

        async def alarms() -> None:
            n = 0
            life = ("raise", "ack", "clear", "close")
            live: list[tuple[str, int, int, int]] = []  # gateway, device, number, step
            step_s = 1.0 / rate
            nxt = time.monotonic()
            while True:
                now = time.time()
                if len(live) < 200 or random.random() < 0.25:
                    g = random.choice(names)
                    live.append((g, random.randrange(devices), n, 0))
                    n += 1
                    i = len(live) - 1
                else:
                    i = random.randrange(len(live))
                g, d, k, s = live[i]
                a = _alarm(g, d, k, life[s], now)
                c = clients[g]
                await c.publish(f"firegate/{SITE}/{g}/events", json.dumps(a).encode(), qos=1)
                await c.publish(f"firegate/{SITE}/{g}/alarms/{a['id']}",
                                b"" if s == 3 else json.dumps(a).encode(), qos=1, retain=True)
                if s == 3:
                    live.pop(i)
                else:
                    live[i] = (g, d, k, s + 1)
                nxt += step_s
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))

        tasks = [asyncio.create_task(health(g)) for g in names]
        tasks.append(asyncio.create_task(alarms()))
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------- the desk


class Bench:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        self.root = root
        self.mqtt_port = _free_port()
        self.web_port = _free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bin = Path(sys.executable).parent / "firegate"

    def start(self) -> psutil.Process:
        conf = self.root / "mosquitto.conf"
        conf.write_text(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\n"
                        f"max_queued_messages 100000\nlog_dest none\n")
        self.procs.append(subprocess.Popen(["mosquitto", "-c", str(conf)]))
        _wait_port(self.mqtt_port)
        cfg = self.root / "desk.yaml"
        cfg.write_text(yaml.safe_dump({
            "desk": {"listen": f"127.0.0.1:{self.web_port}", "data_dir": str(self.root / "d"),
                     "secure_cookies": False},
            "mqtt": {"url": f"mqtt://127.0.0.1:{self.mqtt_port}"}}))
        subprocess.run([str(self.bin), "desk", "user", "add", "bench", "--role", "viewer",
                        "-c", str(cfg)], input=PASSWORD.encode() + b"\n", check=True,
                       capture_output=True)
        log = (self.root / "desk.log").open("wb")
        desk = subprocess.Popen([str(self.bin), "desk", "-c", str(cfg)], stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(desk)
        _wait_port(self.web_port)
        return psutil.Process(desk.pid)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def session(self) -> requests.Session:
        s = requests.Session()
        base = f"http://127.0.0.1:{self.web_port}"
        m = re.search(r'name="csrf" value="([^"]+)"', s.get(base + "/login").text)
        assert m
        r = s.post(base + "/login", data={"csrf": m.group(1), "name": "bench",
                                          "password": PASSWORD}, allow_redirects=False)
        assert r.status_code == 303, r.text
        return s


def _publish(port: int, args: argparse.Namespace, seconds: float, open_alarms: int) -> None:
    """The publishers in their own process, so their CPU is not the desk's."""
    cmd = [sys.executable, "-m", "bench.desk", "--publish", str(port), "--gateways",
           str(args.gateways), "--devices", str(args.devices), "--transitions",
           str(args.transitions), "--health-s", str(args.health_s), "--seconds", str(seconds),
           "--open-alarms", str(open_alarms)]
    subprocess.run(cmd, check=True)


def _cpu_during(desk: psutil.Process, port: int, args: argparse.Namespace,
                page: requests.Session | None, base: str) -> float:
    pub = subprocess.Popen([sys.executable, "-m", "bench.desk", "--publish", str(port),
                            "--gateways", str(args.gateways), "--devices", str(args.devices),
                            "--transitions", str(args.transitions), "--health-s",
                            str(args.health_s), "--seconds", str(args.seconds + args.warmup
                                                                  + 30)])
    stop = False

    def live_page() -> None:
        # What desk.js does: on each "alarms"/"fleet" event, fetch the rows again.
        assert page is not None
        with page.get(base + "/events", stream=True, timeout=60) as r:
            for line in r.iter_lines():
                if stop:
                    return
                if line.startswith(b"event: "):
                    page.get(base + "/alarms/rows", timeout=10)

    import threading

    th = threading.Thread(target=live_page, daemon=True) if page is not None else None
    if th is not None:
        th.start()
    time.sleep(args.warmup)  # connections made, retained state taken in
    t0, c0 = time.monotonic(), desk.cpu_times()
    time.sleep(args.seconds)
    t1, c1 = time.monotonic(), desk.cpu_times()
    stop = True
    pub.terminate()
    pub.wait(30)
    return 100.0 * ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    out: dict[str, Any] = {"gateways": args.gateways, "devices": args.devices,
                           "transitions_per_s": args.transitions, "health_s": args.health_s,
                           "seconds": args.seconds}
    b = Bench(root / "traffic")
    try:
        desk = b.start()
        base = f"http://127.0.0.1:{b.web_port}"
        out["cpu_no_page_pct"] = round(_cpu_during(desk, b.mqtt_port, args, None, base), 1)
        out["cpu_one_live_page_pct"] = round(
            _cpu_during(desk, b.mqtt_port, args, b.session(), base), 1)
        import sqlite3

        with contextlib.closing(sqlite3.connect(b.root / "d" / "desk.sqlite")) as db:
            out["transitions_stored"] = db.execute("SELECT count(*) FROM history").fetchone()[0]
            out["gateways_shown"] = db.execute("SELECT count(*) FROM gateways").fetchone()[0]
    finally:
        b.stop()
    b = Bench(root / "page")  # a fresh broker and desk: exactly 1,000 open alarms
    try:
        b.start()
        base = f"http://127.0.0.1:{b.web_port}"
        _publish(b.mqtt_port, args, 0, args.open)
        s = b.session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = s.get(base + "/alarms/rows").text.count('class="alarm ')
            if n >= args.open:
                break
            time.sleep(0.5)
        out["open_alarms_shown"] = n
        times = []
        for _ in range(args.pages):
            t = time.perf_counter()
            r = s.get(base + "/", headers={"Accept": "text/html"})
            r.raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out["page_ms"] = {"p50": round(statistics.median(times), 1),
                          "p95": round(times[int(0.95 * (len(times) - 1))], 1),
                          "max": round(times[-1], 1), "bytes": len(r.content)}
    finally:
        b.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.desk", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateways", type=int, default=100)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--transitions", type=float, default=40.0,
                    help="alarm transitions per second, all gateways together")
    ap.add_argument("--health-s", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=6.0,
                    help="seconds of traffic before the measurement starts")
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--open", type=int, default=1000, help="open alarms for the page figure")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--publish", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--open-alarms", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.publish:
        asyncio.run(publishers(args.publish, args.gateways, args.devices, args.transitions,
                               args.health_s, args.seconds, args.open_alarms))
        return 0
    res = run(args)
    print(json.dumps(res, indent=2))
    ok_cpu = res["cpu_no_page_pct"] < CPU_GOAL
    ok_page = res["page_ms"]["p95"] < PAGE_GOAL_MS
    print(f"desk CPU {res['cpu_no_page_pct']} % of a core (goal < {CPU_GOAL:.0f} %): "
          f"{'met' if ok_cpu else 'missed'}; open-alarm page with {res['open_alarms_shown']} "
          f"alarms p95 {res['page_ms']['p95']} ms (goal < {PAGE_GOAL_MS:.0f} ms): "
          f"{'met' if ok_page else 'missed'}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
