"""A ledger of generated alarms for trying the two-monthly review, and the review itself.

    .venv/bin/python scripts/review_sample.py --ledger /tmp/rv/ledger.sqlite [--alarms 1000]
        [--days 60] [--seed 14] [--html docs/review/review-sample.html]
        [--csv docs/review/review-sample.csv]
        [--png docs/img/review-sample.png]

Every alarm goes through the real :class:`~gateway.alarms.ledger.Ledger` (raise, acknowledge,
clear, close with a category, assign with a deadline), over three buildings on two campuses, with
a mix of rules and outcomes of the kind a dormitory sees (many forbidden loads, few fires, most
fire alarms false). ``--png`` renders the HTML with headless Chromium (Debian's ``chromium``).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.alarms.ledger import Ledger  # noqa: E402
from gateway.alarms.review import build, write_csv, write_html  # noqa: E402
from rules.events import Event  # noqa: E402

BUILDINGS = [("north", "dorm-1", "1号宿舍楼"), ("north", "dorm-3", "3号宿舍楼"),
             ("south", "dorm-5", "南5号宿舍楼")]
# rule: (weight, severity, {category: weight}, where it happens)
RULES: dict[str, tuple[int, str, dict[str, int], str]] = {
    "malicious_load": (30, "major", {"real": 80, "false_alarm": 12, "duplicate": 8}, "room"),
    "overload": (16, "major", {"real": 70, "false_alarm": 20, "duplicate": 10}, "room"),
    "ebike_charging": (8, "minor", {"real": 75, "false_alarm": 25}, "room"),
    "blocked_exit": (10, "major", {"real": 85, "false_alarm": 15}, "exit"),
    "fire_door_open": (12, "major", {"real": 90, "device_fault": 10}, "door"),
    "residual_current": (6, "major", {"real": 55, "false_alarm": 25, "device_fault": 20},
                         "loop"),
    "over_temperature": (3, "major", {"real": 60, "false_alarm": 30, "test": 10}, "loop"),
    "comm_loss": (8, "major", {"device_fault": 90, "test": 10}, "device"),
    "fire_alarm": (4, "critical", {"false_alarm": 60, "test": 30, "real": 10}, "zone"),
    "arc_fault": (1, "critical", {"real": 60, "false_alarm": 40}, "loop"),
    "panel_fault": (2, "major", {"device_fault": 80, "test": 20}, "device"),
}
PLACES = {"exit": ["东侧1层安全出口", "西楼梯间1层通道", "东侧2层走廊"],
          "door": ["东楼梯间2层防火门", "西楼梯间3层防火门", "东楼梯间5层防火门"],
          "loop": ["配电间2层插座回路", "配电间3层插座回路", "配电间总进线端子"],
          "zone": ["3层东侧走廊", "1层大厅及走廊", "5层走廊"],
          "device": ["东侧安全出口", "1层消防控制室", "配电间"]}
PEOPLE = ["王师傅", "张师傅", "李科长", "赵主任", "宿管陈老师"]
NOTES = {"real": "已到场处理，收缴违规电器并登记", "false_alarm": "现场核实无异常，为误报",
         "test": "维保测试", "device_fault": "设备故障，已报修更换",
         "duplicate": "与同时段报警重复"}


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate(path: Path, alarms: int = 1000, days: float = 60.0, seed: int = 14,
             end: float | None = None) -> tuple[float, float]:
    """Write ``alarms`` alarms first raised over ``days`` days before ``end``; returns the
    period (start, end)."""
    rng = random.Random(seed)
    end = time.time() if end is None else end
    start = end - days * 86400.0
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    names = list(RULES)
    weights = [RULES[r][0] for r in names]
    times = sorted(rng.uniform(start, end - 3600.0) for _ in range(alarms))
    # A few rooms that keep bringing kettles back: repeat rooms for the review.
    habitual = [(b, f"{f}{n:02d}") for b in BUILDINGS for f, n in ((3, 5), (4, 12), (2, 8))]
    with Ledger(path) as led:
        for i, ts in enumerate(times):
            rule = rng.choices(names, weights=weights)[0]
            _, severity, cats, kind = RULES[rule]
            campus, building, _ = rng.choice(BUILDINGS)
            floor: int | None = None
            room: str | None = None
            location = ""
            if kind == "room":
                if rule == "malicious_load" and rng.random() < 0.25:
                    (campus, building, _), room = rng.choice(habitual)
                else:
                    room = f"{rng.randint(1, 6)}{rng.randint(1, 25):02d}"
                floor = int(room[0])
                location = f"{floor}层{room}室"
            else:
                location = rng.choice(PLACES[kind])
            device = f"{kind}-{building}-{i}"  # one alarm per device: no re-raise merging
            ev = Event(kind="raise", rule=rule, device=device, channel="", severity=severity,
                       ts=ts, value=None, threshold=None, message_zh=f"{location}：{rule}",
                       message_en=rule, site="vc", campus=campus, building=building,
                       floor=floor, room=room, location=location)
            [tr] = led.apply(ev)
            aid = tr.id
            age = end - ts
            ack_after = min(rng.lognormvariate(5.5, 1.0), age * 0.5)  # ~4 min median
            led.ack(aid, rng.choice(PEOPLE), via=rng.choice(["sms", "cli", "desk"]),
                    ts=ts + ack_after)
            clear_after = ack_after + rng.lognormvariate(7.0, 1.0)
            if clear_after < age:
                led.apply(Event(**{**ev.as_dict(), "kind": "clear", "ts": ts + clear_after}))
            fix_days = rng.choice([1, 3, 7])
            if rng.random() < 0.2 or age < 2 * 86400:
                # Handed to someone with a deadline; some are never done in time.
                led.assign(aid, rng.choice(PEOPLE), due=ts + fix_days * 86400.0,
                           who="保卫处值班员", ts=ts + ack_after + 60)
                if rng.random() < 0.35:
                    continue  # still open: overdue once its deadline passes
            close_after = clear_after + rng.lognormvariate(10.0, 1.0)  # ~6 h median
            if clear_after < age and close_after < age:
                cat = _pick(rng, cats)
                led.close(aid, rng.choice(PEOPLE), NOTES[cat], ts=ts + close_after,
                          category=cat)
        for a in led.overdue(end):
            if rng.random() < 0.5:
                led.escalated(a.id, 1, ["宿管中心主任"], ts=(a.due_at or end) + 3600)
    return start, end


def page_height(html: str) -> int:
    """Pixels the report needs at 900 px wide: the charts' own heights, about 21 px a table
    row, and the headings (so the screenshot holds the whole report and little blank)."""
    charts = sum(int(h) for h in re.findall(r'<svg [^>]*height="(\d+)"', html))
    return 260 + charts + 21 * html.count("<tr") + 70 * html.count("<h2") + \
        40 * html.count('class="legend"')


def render_png(html_path: Path, png_path: Path, width: int = 900, height: int = 3200) -> None:
    """Headless Chromium screenshot of the report (A4 width at 96 dpi is 794 px)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium is not installed: run scripts/setup (Debian's chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}",
                        f"--screenshot={png_path.resolve()}", html_path.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    try:  # a quarter of the size for the repository, the same picture (Pillow, a dev dep)
        from PIL import Image
    except ImportError:
        return
    with Image.open(png_path) as im:
        small = im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
    small.save(png_path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ledger", type=Path, required=True)
    ap.add_argument("--alarms", type=int, default=1000)
    ap.add_argument("--days", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--html", type=Path)
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--height", type=int, help="screenshot height in pixels (default: what "
                    "the report needs)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    start, end = generate(args.ledger, args.alarms, args.days, args.seed)
    print(f"{args.alarms} alarms over {args.days:g} days written to {args.ledger} in "
          f"{time.perf_counter() - t0:.1f} s")
    tz = timezone(timedelta(hours=8))
    with Ledger(args.ledger) as led:
        rv = build(led.list(since=start, until=end + 1), led.open_alarms(), start, end + 1,
                   end, tz, names={b: n for _, b, n in BUILDINGS})
    if args.csv:
        with args.csv.open("w", encoding="utf-8", newline="") as f:
            print(f"{write_csv(rv, f)} rows: {args.csv}")
    html_path = args.html
    if args.png and html_path is None:
        html_path = args.png.with_suffix(".html")
    if html_path:
        with html_path.open("w", encoding="utf-8") as f:
            write_html(rv, f)
        print(f"html: {html_path} ({html_path.stat().st_size} bytes)")
    if args.png and html_path:
        height = args.height or page_height(html_path.read_text(encoding="utf-8"))
        render_png(html_path, args.png, height=height)
        print(f"png: {args.png} ({args.png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
