"""Long fuzz runs of every parser of outside data: ``python -m bench.fuzz [--inputs N]``.

    python -m bench.fuzz --inputs 100000                # random + mutation engine, all targets
    python -m bench.fuzz --engine atheris --inputs 200000 --targets pdu at_lines
    python -m bench.fuzz --list

The targets and their contracts are in ``bench/fuzz_targets.py`` (the test suite runs the same
targets, bounded, under hypothesis). The ``random`` engine feeds each target random byte strings
and mutations of earlier ones; the ``atheris`` engine (coverage-guided libFuzzer, installed with
``pip install -e .[fuzz]``) runs each target in its own process, its modules instrumented. An
input that takes longer than ``--hang-s`` counts as a hang. Every crash or hang is written to
``--crashes DIR`` for replay (``--replay FILE --targets NAME``); the totals go to stdout and, with
``--json``, to a file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
# Inputs per target relative to the others: the YAML targets cost ~5 ms an input, the rest µs.
WEIGHTS = {"config_file": 0.25, "scenario_file": 0.25}


class Hang(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise Hang("input took too long")


def share(total: int, names: list[str]) -> dict[str, int]:
    w = {n: WEIGHTS.get(n, 1.0) for n in names}
    s = sum(w.values())
    out = {n: max(1, int(total * w[n] / s)) for n in names}
    out[names[0]] += total - sum(out.values())
    return out


def _save(crashes: Path, name: str, data: bytes) -> Path:
    crashes.mkdir(parents=True, exist_ok=True)
    path = crashes / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    return path


def run_random(name: str, n: int, seed: int, hang_s: float, crashes: Path) -> dict[str, Any]:
    from bench.fuzz_targets import TARGETS

    target = TARGETS[name]
    rng = random.Random(f"{seed}-{name}")
    pool: list[bytes] = [b""]
    found: list[dict[str, Any]] = []
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    for i in range(n):
        if pool and rng.random() < 0.5:
            buf = bytearray(rng.choice(pool))
            for _ in range(1 + rng.randrange(4)):
                op = rng.randrange(4)
                pos = rng.randrange(len(buf) + 1)
                if op == 0 or not buf:
                    buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
                elif op == 1:
                    buf[min(pos, len(buf) - 1)] = rng.randrange(256)
                elif op == 2:
                    del buf[pos:pos + rng.randrange(1, 9)]
                else:
                    buf += buf[:rng.randrange(len(buf) + 1)]
            data = bytes(buf[:1024])
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        signal.setitimer(signal.ITIMER_REAL, hang_s)
        try:
            target(data)
        except Hang:
            found.append({"kind": "hang", "input": str(_save(crashes, name, data))})
        except Exception as exc:
            found.append({"kind": type(exc).__name__, "message": str(exc)[:300],
                          "where": traceback.extract_tb(exc.__traceback__)[-1].filename,
                          "input": str(_save(crashes, name, data))})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if i % 64 == 0 and len(pool) < 256:
            pool.append(data)
    return {"target": name, "engine": "random", "inputs": n, "crashes": found,
            "seconds": round(time.monotonic() - started, 1)}


def run_atheris(name: str, n: int, hang_s: float, crashes: Path) -> dict[str, Any]:
    """One target in a child process under atheris; libFuzzer stops at the first crash."""
    crashes.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", "--_atheris-child", name, "--inputs", str(n),
         "--hang-s", str(hang_s), "--crashes", str(crashes)],
        cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stderr[-4000:]
    m = re.search(r"Done (\d+) runs", proc.stderr)
    done = int(m.group(1)) if m else 0
    if not m:
        runs = re.findall(r"^#(\d+)", proc.stderr, re.MULTILINE)
        done = int(runs[-1]) if runs else 0
    found = [] if proc.returncode == 0 else [{"kind": "crash", "message": tail[-1500:]}]
    return {"target": name, "engine": "atheris", "inputs": done, "crashes": found,
            "seconds": round(time.monotonic() - started, 1)}


def atheris_child(name: str, n: int, hang_s: float, crashes: Path) -> None:
    import atheris

    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["drivers", "gateway", "simulators", "bench",
                                             "pymodbus", "yaml"]):
        import pymodbus.framer

        import drivers.codecs
        import drivers.device
        import drivers.sms.at
        import drivers.sms.pdu
        import gateway.config.models
        import gateway.notify.notifier
        import gateway.outputs.mqtt_sink
        import simulators.scenario
        from bench.fuzz_targets import TARGETS
    del drivers, gateway, pymodbus, simulators
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], f"-runs={n}", "-max_len=512", f"-timeout={max(1, int(hang_s))}",
                   f"-artifact_prefix={crashes}/{name}-"], target)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    from bench.fuzz_targets import TARGETS

    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=100_000, help="inputs in all (default 100000)")
    ap.add_argument("--targets", nargs="*", default=None, help="default: every target")
    ap.add_argument("--engine", choices=("random", "atheris"), default="random")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang-s", type=float, default=5.0, help="an input slower than this hangs")
    ap.add_argument("--crashes", type=Path, default=ROOT / "bench" / "results" / "fuzz-crashes")
    ap.add_argument("--json", type=Path, help="write the totals here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--replay", type=Path, help="run one saved input against --targets NAME")
    ap.add_argument("--_atheris-child", dest="child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        atheris_child(args.child, args.inputs, args.hang_s, args.crashes)
        return 0
    if args.list:
        for name, fn in TARGETS.items():
            print(f"{name:18} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target(s) {unknown}; see --list", file=sys.stderr)
        return 2
    logging.disable(logging.CRITICAL)  # rejected inputs are logged by design
    if args.replay:
        TARGETS[names[0]](args.replay.read_bytes())
        print(f"{args.replay}: no crash in {names[0]}")
        return 0
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed: pip install -e .[fuzz] (or use --engine random)",
                  file=sys.stderr)
            return 2
    results = []
    for name, n in share(args.inputs, names).items():
        res = (run_atheris(name, n, args.hang_s, args.crashes) if args.engine == "atheris"
               else run_random(name, n, args.seed, args.hang_s, args.crashes))
        results.append(res)
        print(f"{name:18} {res['engine']:8} {res['inputs']:>9,} inputs {res['seconds']:>7.1f} s "
              f"{len(res['crashes'])} crash(es)", flush=True)
        for c in res["crashes"][:5]:
            print(f"    {c['kind']}: {c.get('message', '')[:200]} {c.get('input', '')}")
    total = sum(r["inputs"] for r in results)
    bad = sum(len(r["crashes"]) for r in results)
    print(f"{'total':18} {args.engine:8} {total:>9,} inputs, {bad} crash(es)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"inputs": total, "crashes": bad, "targets": results},
                                        indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
