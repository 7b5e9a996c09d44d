"""``python -m bench.report``: write ``docs/benchmarks.md`` and its charts from the results.

Reads ``bench/results/full.json`` and ``bench/results/quick.json`` (whichever exist; the full run
leads), plus ``bench/results/profile.json`` when a goal is missed, and draws the charts under
``docs/img/`` with matplotlib (Agg, no display needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.procs import REPO

RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "benchmarks.md"
IMG = REPO / "docs" / "img"

# Where the time goes and what would close a missed goal (from the profile and the figures).
MISSED = {
    "CPU per delivered point vs ThingsBoard (per-device topics)": (
        "firegate reads a 20-register device in one request where ThingsBoard makes twenty, but "
        "with firegate's default per-device topics every device poll is one QoS 1 publish and "
        "one PUBACK, where ThingsBoard's gateway API bundles devices into one message. Done: "
        "stored rows published as they are, one PUBACK window per batch, the window's PUBLISH "
        "packets framed by the gateway and written at once (paho's per-message path 18.8 µs, "
        "now 7.3 µs: `python -m bench.mqtt_publish`), PUBACKs and socket reads without paho's "
        "per-packet objects, decode plans, line protocol layouts (0.198x two reports ago; one "
        "server per device: met). Rounds of this machine swing by ±10 % (the bare loop itself "
        "measured 0.177 and 0.193 ms per request in two full runs), more than the last steps "
        "gained. What is left is spread over per-record work, none large alone (cProfile of "
        "a running gateway: JSON into the outbox ~7 µs a record, the InfluxDB sink's decode "
        "~5 µs and line protocol ~6 µs, the poller, reader and transport a few µs each); "
        "closing it means records that skip the JSON round trip for the InfluxDB sink, or "
        "`outputs.mqtt.telemetry_bundle: true`, which a site can choose today."),
    "Peak RSS with MQTT, InfluxDB and SMS configured, 100 devices": (
        "The running gateway no longer loads pydantic, YAML or importlib.metadata: the "
        "configuration is validated in a short-lived child and handed over as plain objects "
        "(gateway/config/plain.py; 55.5 MB in the last report). What is left is imported code: "
        "the interpreter 11 MB, asyncio with ssl +9 MB, pymodbus, paho/aiomqtt, SQLite, serial "
        "and h11 ~7 MB, firegate's own modules and state the rest."),
    "Peak RSS vs ThingsBoard (same run)": (
        "The running gateway no longer loads pydantic, YAML or importlib.metadata (55.5 MB in "
        "the last report): the configuration is validated in a short-lived child and handed "
        "over as plain objects (gateway/config/plain.py). What is left is imported code: the "
        "interpreter 11 MB, asyncio with ssl +9 MB, pymodbus, paho/aiomqtt, SQLite, serial and "
        "h11 ~7 MB, firegate's own modules and state the rest. Below 0.5x would need the "
        "runtime without ssl (libcrypto alone is 3.5 MB of RSS) when no TLS is configured, but "
        "asyncio, pymodbus and aiomqtt import it whatever the configuration, and a broker off "
        "the gateway needs TLS anyway (TLS outside loopback)."),
    "CPU per request vs bare pymodbus loop (per-device topics)": (
        "The bare loop only asks pymodbus for registers; per request firegate also decodes the "
        "points, runs the rules, stores a telemetry row in the SQLite outbox, publishes it "
        "with QoS 1 on its device's topic and writes it to InfluxDB (1.93x three reports ago, "
        "1.76x two ago). The framed publisher cut 9 % of firegate's CPU per request in A/B "
        "rounds (`python -m bench.cpu --rounds 5 --window 15 --baseline DIR`: 0.273 vs 0.300 "
        "ms); see the first line for what is left and what would close it."),
    "RTU poll cycle vs the wire's minimum (worst of 9600, 19200 baud)": (
        "Time between frames beyond the 3.5-character gap (the client's own scheduling)."),
    "Fire bit at the panel → `events` p99 (worst scale step)": (
        "The panel's alarm bits are polled in the `fire` class (0.25 s); a change waits up to "
        "one fire period to be read, then the alarm is stored and published at once."),
    "Fire bit at the panel → PDU at the modem p99 (worst scale step)": (
        "The page goes to the modem as soon as the alarm is on the ledger; the modem here is a "
        "pty that answers at once, a real module takes 1–5 s more to reach the network."),
    "1,000 devices × 20 points at 1 s on one core": (
        "See the scale table: the step where the period was not held and the CPU it used."),
}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{nd}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def _compare_chart(comp: dict[str, Any], path: Path) -> None:
    systems = ["firegate", "thingsboard", "bare_pymodbus"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    metrics = [("cpu_ms_per_polled_point", "CPU ms per polled point"),
               ("peak_rss_mb", "peak RSS (MB)"), ("requests_per_cycle", "requests per poll cycle")]
    layouts = list(comp)
    width = 0.8 / max(len(layouts), 1)
    for ax, (key, title) in zip(axes, metrics, strict=True):
        for i, layout in enumerate(layouts):
            vals = [comp[layout]["median"][s].get(key) or 0 for s in systems]
            ax.bar([x + i * width for x in range(len(systems))], vals, width,
                   label=layout.replace("_", " "))
        ax.set_xticks([x + width * (len(layouts) - 1) / 2 for x in range(len(systems))])
        ax.set_xticklabels(["firegate", "ThingsBoard", "bare pymodbus"])
        ax.set_title(title)
    axes[0].legend(title="layout", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _wire_chart(wire: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    labels = [f"{w['baud']} baud" for w in wire]
    xs = range(len(wire))
    ax.bar([x - 0.2 for x in xs], [w["minimum_cycle_s"] for w in wire], 0.4,
           label="wire minimum")
    ax.bar([x + 0.2 for x in xs], [w["cycle_s"] or 0 for w in wire], 0.4, label="firegate")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels)
    ax.set_ylabel("poll cycle (s)")
    ax.set_title(f"{wire[0]['devices']} devices × {wire[0]['registers_per_device']} registers "
                 "on one RS-485 line")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _scale_chart(scale: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    n = [s["devices"] for s in scale]
    ax.plot(n, [s["points_asked_per_s"] for s in scale], "--", color="grey", label="asked")
    ax.plot(n, [s["points_per_s"] for s in scale], "o-", label="delivered to MQTT")
    ax.set_xlabel("devices × 20 registers at 1 s")
    ax.set_ylabel("points per second")
    ax2 = ax.twinx()
    ax2.plot(n, [s["cpu_pct"] for s in scale], "s:", color="tab:red", label="CPU % of one core")
    ax2.set_ylabel("CPU % of one core")
    ax2.set_ylim(0, 110)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _latency_chart(scale: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for s in scale:
        xs = s.get("alarm_latencies_ms") or []
        if xs:
            ax.hist(xs, bins=20, range=(0, 600), alpha=0.6, label=f"{s['devices']} devices")
    ax.axvline(400, color="red", linestyle="--", label="goal: p99 ≤ 400 ms (fire class)")
    ax.set_xlabel("fire bit set at the simulator → events message on MQTT (ms)")
    ax.set_ylabel("alarms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _section(res: dict[str, Any], tag: str, lines: list[str]) -> None:
    m = res["machine"]
    lines += [f"## {res['mode'].capitalize()} run: `{res['command']}`", "",
              f"Started {res['started']}, took {res['duration_s']} s on {m['cpus']} CPUs "
              f"({m['platform']}, Python {m['python']}); measured system pinned to core(s) "
              f"{m['measured_on_cores']}, simulators, Mosquitto and the counting subscriber on "
              f"{m['others_on_cores']}. Raw figures: `bench/results/{res['mode']}.json`.", ""]
    lines += ["### Goals", "", "| goal | target | figure | met | command |",
              "|---|---|---|---|---|"]
    for g in res["goals"]:
        met = ("by test" if g.get("shown_by") else
               {True: "**met**", False: "**missed**", None: "not measured"}[g["met"]])
        lines.append(f"| {g['goal']} | {g['target']} | {g['figure']} | {met} | "
                     f"`{g['command']}` |")
    lines.append("")
    comp = res.get("compare") or {}
    if comp:
        _compare_chart(comp, IMG / f"bench-{tag}-compare.png")
        lines += ["### firegate, ThingsBoard IoT Gateway 3.8.5 and a bare pymodbus loop", "",
                  "Same fleet, same period, same broker, one after another in the same run "
                  "(medians of the rounds). Points are counted at the broker; requests at the "
                  "simulators; CPU and peak RSS (VmHWM) of the system's own process. firegate "
                  "runs as a building would: MQTT with its default one message per device poll "
                  "on `telemetry/{device}` (QoS 1), an InfluxDB output (VictoriaMetrics, "
                  "`/api/v2/write`) and SMS paging through a GSM modem on a pty; ThingsBoard's "
                  "gateway publishes to MQTT only (its gateway API bundles devices).", ""]
        cols = [("cpu_ms_per_point", "CPU ms / delivered point"),
                ("cpu_ms_per_polled_point", "CPU ms / polled point"),
                ("cpu_ms_per_request", "CPU ms / request"), ("cpu_pct", "CPU %"),
                ("peak_rss_mb", "peak RSS MB"), ("requests_per_cycle", "requests / cycle"),
                ("points_per_s", "points/s at broker"),
                ("achieved_period_s", "achieved period s")]
        for layout, c in comp.items():
            lines += [f"**{c['fleet']}**, period {c['period_s']:g} s, {len(c['rounds'])} "
                      f"round(s):", "", "| system | " + " | ".join(h for _, h in cols) + " |",
                      "|---|" + "---|" * len(cols)]
            for system, vals in c["median"].items():
                lines.append(f"| {system.replace('_', ' ')} | " +
                             " | ".join(_f(vals.get(k)) for k, _ in cols) + " |")
            r = c["ratios"]
            lines += ["", "| firegate against | ratio |", "|---|---|"]
            lines += [f"| {k.replace('_', ' ')} | {_f(v)} |" for k, v in r.items()]
            lines.append("")
            del layout
        lines += [f"![compare](img/bench-{tag}-compare.png)", ""]
        lines += ["Issue 2's figures (gateway against the bare loop making the same requests) "
                  "are the `polled point`, `requests / cycle` and `peak RSS` columns and the "
                  "`vs bare pymodbus` ratios above.", ""]
    wire = res.get("wire") or []
    if wire:
        _wire_chart(wire, IMG / f"bench-{tag}-wire.png")
        lines += ["### The wire's limit (RS-485 emulated on a pty)", "",
                  "Minimum = Σ over one round of the same requests of (request + reply bytes) × "
                  "11 bits / baud + 3.5-character gap + device turnaround + 3.5-character gap "
                  "(`simulators.pty.cycle_s`).", "",
                  "| baud | devices | requests / cycle | turnaround s | firegate cycle s | "
                  "minimum s | ratio |", "|---|---|---|---|---|---|---|"]
        for w in wire:
            lines.append(f"| {w['baud']} | {w['devices']} | {w['requests_per_cycle']} | "
                         f"{w['turnaround_s']} | {_f(w['cycle_s'], 4)} | "
                         f"{_f(w['minimum_cycle_s'], 4)} | {_f(w['ratio'])} |")
        lines += ["", f"![wire](img/bench-{tag}-wire.png)", ""]
    scale = res.get("scale") or []
    if scale:
        _scale_chart(scale, IMG / f"bench-{tag}-scale.png")
        _latency_chart(scale, IMG / f"bench-{tag}-latency.png")
        lines += ["### Scale on one core, and alarm latency", "",
                  "firegate alone on one core, devices × 20 registers at 1 s behind servers of "
                  "up to 100 units, delivering to MQTT and paging through a GSM modem on a pty; "
                  "two fire panels' fire bits (in the `fire` poll class, 0.25 s) raised and "
                  "reset at the simulator during the window, timed to the `events` message and "
                  "to the page's first PDU at the modem. The fire class's cost is in the CPU "
                  "column; its requests are the `fire req/s` column (share of all requests).",
                  "", "| devices | points/s asked | points/s delivered | period s | CPU % | "
                  "peak RSS MB | alarm p50 ms | alarm p99 ms | page p50 ms | page p99 ms | "
                  "clear p50 ms | samples | fire req/s (share) | held |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in scale:
            lines.append(
                f"| {s['devices']} | {_f(s['points_asked_per_s'])} | {_f(s['points_per_s'])} | "
                f"{_f(s['achieved_period_s'])} | {_f(s['cpu_pct'])} | {_f(s['peak_rss_mb'])} | "
                f"{_f(s.get('alarm_latency_ms_p50'))} | {_f(s.get('alarm_latency_ms_p99'))} | "
                f"{_f(s.get('page_latency_ms_p50'))} | {_f(s.get('page_latency_ms_p99'))} | "
                f"{_f(s.get('clear_latency_ms_p50'))} | {s.get('alarm_samples', 0)} | "
                f"{_f(s.get('fire_requests_per_s'))} ({_f(s.get('fire_request_share'))}) | "
                f"{_f(s['held'])} |")
        lines += ["", f"![scale](img/bench-{tag}-scale.png)",
                  f"![latency](img/bench-{tag}-latency.png)", ""]
    missed = [g for g in res["goals"] if g["met"] is False]
    if missed:
        lines += ["### Where the time goes (missed goals)", ""]
        for g in missed:
            lines += [f"- **{g['goal']}** ({g['figure']}, target {g['target']}): "
                      f"{MISSED.get(g['goal'], '')}"]
        lines.append("")


def write() -> Path:
    IMG.mkdir(parents=True, exist_ok=True)
    lines = [
        "# firegate benchmarks", "",
        "Generated by `python -m bench.report` from `bench/results/*.json`; do not edit by hand.",
        "", "Run them: after the README set-up, `.venv/bin/python -m bench --quick` (under 3 "
        "minutes) or `.venv/bin/python -m bench` (the full suite, about 20 minutes). The "
        "ThingsBoard peer gets its own `.peer-venv` on first use (the peer kit in "
        "`../shared/peers/thingsboard-gateway/`). The machine is shared and its speed wanders: "
        "compare ratios from the same run, not absolute figures across runs. Quote the full "
        "run: the quick run's 12 s windows measure a few hundred ms of CPU at 10 ms "
        "resolution, so its ratios wander by a fifth from run to run.", ""]
    for name in ("full", "quick"):
        res = _load(name)
        if res is not None:
            _section(res, name, lines)
    prof = _load("profile")
    if prof is not None:
        lines += ["## Profile: where firegate's CPU goes", "",
                  f"`{prof['command']}` ({prof['fleet']}, py-spy sampling the running gateway "
                  f"after start-up; {prof['samples']} non-idle samples). Share of samples per "
                  "part (inclusive; the first part found in a stack):", "",
                  "| part | % of samples |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in prof["parts_pct"].items()]
        lines += ["", "Top functions by own time:", "", "| function | % |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in list(prof["top_self_pct"].items())[:12]]
        lines.append("")
    gbt = _load("gbt26875")
    if gbt is not None:
        lines += _gbt_section(gbt, _load("fuzz-gbt26875"))
    DOC.write_text("\n".join(lines), encoding="utf-8")
    return DOC


def _gbt_section(res: dict[str, Any], fuzz: dict[str, Any] | None) -> list[str]:
    """Fire panels over GB/T 26875.3: frame → alarm latency (and the codec's fuzz run)."""
    a, c = res["alarm_ms"], res["confirm_ms"]
    out = ["## Fire panel over GB/T 26875.3: frame → alarm", "",
           f"`{res['command']}`: a real gateway (rules, ledger and outbox on disk) as the "
           "monitoring centre, the transmission device simulator dialing it over loopback TCP, "
           f"{res['alarms']} fires at as many components, one after another. Both ends share "
           "one process, so the figures are an upper bound for the gateway.", "",
           "| from the frame written to | p50 ms | p95 ms | max ms |", "|---|---|---|---|",
           f"| the alarm on the ledger, handed to the outputs | {a['p50']} | {a['p95']} | "
           f"{a['max']} |",
           f"| the confirm frame back at the device | {c['p50']} | {c['p95']} | {c['max']} |",
           "", f"Goal: alarm within {res['goal_ms']:g} ms of the frame: "
           f"{'met' if res['met'] else 'missed'}.", ""]
    if fuzz is not None:
        out += [f"The frame codec and data units fuzzed with `python -m bench.fuzz --targets "
                f"gbt26875_stream`: {fuzz['inputs']:,} inputs, {fuzz['crashes']} crash(es).",
                ""]
    return out


if __name__ == "__main__":
    print(write())
