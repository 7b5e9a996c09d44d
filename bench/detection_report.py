"""docs/detection.md from the figures of ``python -m bench.detection``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.detection import GOALS, NOISE


def _s(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.0f} s"


def _p(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f} %"


def goals(res: dict[str, Any]) -> list[tuple[str, str, bool, str]]:
    """(goal, measured, met, what would close a miss)."""
    r, e, c = res["resistive"], res["ebike"], res["cycling"]
    return [
        ("forbidden resistive loads ≥ 98 % recall within 30 s", _p(r["recall_within"]),
         r["recall_within"] >= GOALS["resistive_recall_30s"],
         "the misses are small elements (blankets, straighteners under 100 W) stepping in "
         "while another load moves, and induction cookers pulsing at low settings whose "
         "pulses fall between polls: a 1 s poll class for room meters, or judging a pulse "
         "train (repeated equal steps) instead of one held step"),
        ("e-bike chargers ≥ 95 % recall within 10 min of plug-in", _p(e["recall_within"]),
         e["recall_within"] >= GOALS["ebike_recall_10min"],
         "most misses are chargers plugged in while a desktop PC or a gaming laptop wanders "
         "in the same room: the room is too rough to tell a smooth charger from a "
         "computer's excursion, so no verdict is given (room_rough_ratio); the others "
         "coincide with another load switching during the watch (a fridge's compressor, a "
         "laptop). Closing it needs the charger's own signature below the computer's "
         "wander: a meter that reports harmonics (a charger's current spectrum differs from "
         "a PFC PC's), re-judging once the computer stops, or a longer watch that outlasts "
         "the coincidence"),
        ("false alarms ≤ 1 per 100 room-days", f"{res['false_per_100']:.2f}",
         res["false_per_100"] <= GOALS["false_per_100"],
         "the false alarms are two smooth allowed loads switched on within seconds of each "
         "other (a laptop and a fridge's compressor) that add up to charger size: a longer "
         "watch (min_duration_s) or a higher min_w trades them against small chargers"),
        ("thermostat cycling ≤ 1 alarm per plug-in", f"{c['mean']:.2f} mean, {c['max']} max",
         c["max"] <= GOALS["alarms_per_cycling_plugin"],
         "a small blanket (about 60 W) beside a load that wanders by half as much (a gaming "
         "laptop) looks switched off at some polls while it heats; the baseline then "
         "takes it in and its next cycle is a new plug-in. Judging presence on a minute's "
         "mean instead of each poll, or remembering the element's (ΔP, ΔN) to re-identify "
         "it, would hold the alarm"),
    ]


def confusion(res: dict[str, Any]) -> list[str]:
    rows = ["| appliance (class) | plug-ins | raised malicious_load | raised ebike_charging | "
            "raised nothing |", "|---|---:|---:|---:|---:|"]
    by = res["by_name"]

    def cls(row: dict[str, int]) -> str:
        return next((k[4:] for k in row if k.startswith("cls_")), "?")

    for name in sorted(by, key=lambda k: (cls(by[k]) != "resistive", cls(by[k]) != "ebike", k)):
        row = by[name]
        rows.append(f"| {name} ({cls(row)}) | {row['n']} | {row['malicious_load']} | "
                    f"{row['ebike_charging']} | {row['nothing']} |")
    return rows


HOW = [
    "## How the rules decide (rules/loads.py; thresholds and sources in rules/settings.py)",
    "",
    "- Both rules keep the room's baseline (P, N) and its roughness (mean |ΔP| poll to "
    "poll) and watch a new step against them, so what already runs does not matter.",
    "- malicious_load: a step ≥ 600 W at PF ≥ 0.95 is heating after 2 s (≥ 1000 W at "
    "PF 0.88–0.985: an induction cooker); 300–600 W must be flat for 8 s at PF ≥ 0.985 "
    "(a PFC computer is 0.95–0.98 and wanders); 50–300 W (blankets) flat for 16 s. Once "
    "raised it holds through thermostat off periods (off_delay_s 600) and the baseline "
    "follows the room while the element rests: one alarm per plug-in.",
    "- ebike_charging: a non-resistive step of 90–600 W that stays smooth (adds < 1 % "
    "roughness) for min_duration_s (300 s) after plug-in, not starting with a motor's "
    "surge; minor by day, major at night or once the CV taper shows.",
    "- appliance_policy (rules: appliance_policy): forbidden families (heating, cooker, "
    "ebike), allowed windows with a power and a duration limit (hair dryers in the "
    "morning), and the room power limit.",
    "",
]
"""The closing section: how the rules decide (kept beside the figures it explains)."""


def per_class(res: dict[str, Any]) -> list[str]:
    """The per-class table, false alarms and thermostat cycling."""
    r, e = res["resistive"], res["ebike"]
    return [
        "## Per class",
        "",
        "| class | plug-ins | recall | recall within goal time | precision of the rule | "
        "median time to detect | p90 time to detect |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| resistive forbidden load (malicious_load) | {r['n']} | {_p(r['recall'])} | "
        f"{_p(r['recall_within'])} (30 s) | {_p(r['precision'])} | {_s(r['median_s'])} | "
        f"{_s(r['p90_s'])} |",
        f"| e-bike charger (ebike_charging) | {e['n']} | {_p(e['recall'])} | "
        f"{_p(e['recall_within'])} (10 min) | {_p(e['precision'])} | {_s(e['median_s'])} | "
        f"{_s(e['p90_s'])} |",
        "| benign (no forbidden load) | – | – | – | – | – | – |",
        "",
        f"False alarms: {res['false']} in {res['room_days']} room-days = "
        f"**{res['false_per_100']:.2f} per 100 room-days** "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['false_by_rule'].items())) or 'none'})."
        f" Thermostat-cycling appliances (space heaters, blankets, rice cooker keep-warm; "
        f"{res['cycling']['n']} plug-ins): {res['cycling']['mean']:.2f} alarms per plug-in on "
        f"average, at most {res['cycling']['max']}.",
        "",
    ]


def tuned_vs_held(res: dict[str, Any]) -> list[str]:
    """The same figures on the room-days the thresholds were tuned on, for comparison."""
    t = res.get("tuned")
    if not t:
        return []
    rows = ["### Tuned-on room-days (seeds 0–499) against the held-out ones above", "",
            "| set | resistive recall ≤ 30 s | e-bike recall ≤ 10 min | false alarms / 100 "
            "room-days | max alarms per cycling plug-in |", "|---|---:|---:|---:|---:|"]
    for name, r in (("tuned on", t), ("held out", res)):
        rows.append(f"| {name} | {_p(r['resistive']['recall_within'])} | "
                    f"{_p(r['ebike']['recall_within'])} | {r['false_per_100']:.2f} | "
                    f"{r['cycling']['max']} |")
    return [*rows, ""]


def write_report(res: dict[str, Any], out: Path, command: str) -> None:
    lines = [
        "# Load detection: measured on simulated room-days",
        "",
        f"Generated by `{command}` (run it at low priority: `nice -n 10`). "
        f"{res['room_days']} room-days of 24 h (seeds {res['seeds'][0]}–{res['seeds'][1] - 1}"
        f"{', held out: the thresholds were tuned on seeds 0–499' if res.get('tuned') else ''}"
        f"), one poll every {res['period']:g} s (a pass "
        "over a 30-meter RS-485 line at 9600 baud takes 2–3 s), "
        f"{res['episodes']} plug-ins, played through the rules on their defaults in "
        f"{res['elapsed_s']:.0f} s (both sets).",
        "",
        "Each room-day: a base load that follows the day (simulators/device.py "
        f"`daily_base_w`, scaled 0.6–1.4, flicker ±{NOISE[0] * 100:g}–{NOISE[1] * 100:g} % "
        "per poll), mains voltage wandering ±2–3 V with 0.6 V noise, a random mix of allowed "
        "appliances from the library (laptops, phone chargers, PCs with and without PFC and "
        "their monitors, gaming laptops, fans, mini fridges) and, in 75 % of rooms, one "
        "forbidden appliance: half resistive or an induction cooker (kettle, immersion "
        "heater, hair dryer, hair straightener, rice cooker, electric blanket, space heater, "
        "induction cooker at random power and settings), half an e-bike charger (48/60/72 V, "
        "lead-acid or lithium, 2/3/5 A, with or without PFC, at any state of charge). "
        "Plug-in times follow the appliance (blankets at night, chargers mostly afternoon to "
        "night). The appliance models and their sources are in simulators/appliances.py.",
        "",
        *per_class(res),
        "A raise counts for a plug-in when it comes between plug-in and unplug (plus the "
        "rule's off-delay); any other raise is a false alarm, listed in the confusion table "
        "against the allowed appliance that was switched on last. Time to detect is from "
        "plug-in to the raise.",
        "",
        *tuned_vs_held(res),
        "## Confusion table",
        "",
        *confusion(res),
        "",
        "## Goals",
        "",
        "| goal | measured | met | what would close a miss |",
        "|---|---|---|---|",
        *[f"| {g} | {m} | {'yes' if ok else '**no**'} | {'' if ok else fix} |"
          for g, m, ok, fix in goals(res)],
        "",
    ]
    if res.get("replay"):
        secs, transitions, shown = res["replay"]
        lines += [
            "## `firegate rules replay` on a 24 h trace",
            "",
            f"`{shown}` on a CSV of 86 400 rows (1 s, one simulated room-day): "
            f"**{secs:.1f} s** wall time including start-up (best of 3), {transitions} "
            "transitions printed (the demo building's settings: its malicious_load clears 5 s "
            "after the element rests, so a space heater's thermostat cycles each show). Goal: "
            "well under 10 s.",
            "",
        ]
    lines += HOW
    out.write_text("\n".join(lines), encoding="utf-8")
