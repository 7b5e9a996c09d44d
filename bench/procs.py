"""Processes under measurement: start, pin to a core, and read their CPU and memory.

Every system measured (firegate, ThingsBoard's gateway, the bare pymodbus loop) runs in its own
process pinned to one core, and everything that serves it (simulators, Mosquitto, the counting
subscriber) on the other cores, so the CPU a system burns is its own and the simulators never
compete with it. On a one-core machine nothing is pinned and the report says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def cores() -> tuple[set[int], set[int]]:
    """(the measured system's core, the others' cores); both all cores on a one-core box."""
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) < 2:
        return set(avail), set(avail)
    return {avail[0]}, set(avail[1:])


def pin(pid: int, cpus: set[int]) -> None:
    """Pin a process and its threads (pymodbus and paho start threads)."""
    with contextlib.suppress(OSError, psutil.Error):
        for t in psutil.Process(pid).threads():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(t.id, cpus)
        os.sched_setaffinity(pid, cpus)



def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None,
              timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before "
                               f"it listened on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g} s")


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None,
         timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not go: only the process we started, by its id."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Usage:
    cpu_s: float  # user + system, the process and its children
    wall: float

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s - other.cpu_s, self.wall - other.wall)


def usage(pid: int) -> Usage:
    """CPU seconds so far of ``pid`` and its live children."""
    total = 0.0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return Usage(0.0, time.monotonic())
    for q in procs:
        with contextlib.suppress(psutil.Error):
            t = q.cpu_times()
            total += t.user + t.system
    return Usage(total, time.monotonic())


def peak_rss_mb(pid: int) -> float:
    """VmHWM (the kernel's peak resident set) of ``pid`` plus its children, in MB."""
    total = 0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for q in procs:
        with contextlib.suppress(OSError, psutil.Error):
            for line in Path(f"/proc/{q.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
    return total / 1e6


class Mosquitto:
    """A private Mosquitto on a free loopback port (the broker both systems publish to)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        conf = workdir / "mosquitto.conf"
        conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
            f"log_dest file {self.log}", "log_type error", "log_type warning",
            "max_queued_messages 100000", "max_inflight_messages 100"]) + "\n")
        self.conf = conf
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, cpus: set[int]) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        pin(self.proc.pid, cpus)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        stop(self.proc)


class VictoriaMetrics:
    """A private VictoriaMetrics single node: the InfluxDB v2 write endpoint firegate's InfluxDB
    output delivers to in the benchmark (Debian's ``victoria-metrics``)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cpus: set[int]) -> None:
        self.proc = subprocess.Popen(
            ["victoria-metrics", f"-storageDataPath={self.dir / 'data'}",
             f"-httpListenAddr=127.0.0.1:{self.port}", "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        pin(self.proc.pid, cpus)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        stop(self.proc)
