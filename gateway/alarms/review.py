"""The two-monthly review of the ledger (双月督查点评, 挂账销号): what the security office reads.

``firegate alarms review -c CONFIG [--from DATE] [--to DATE] [--building ID] --format csv|html``

Figures, per building and rule, over alarms first raised in [from, to):

- counts by category of close (real, false_alarm, test, device_fault, duplicate; open alarms
  and alarms closed without a category are counted as such);
- the false-alarm rate: false_alarm / (real + false_alarm + device_fault), that is among closed
  alarms that were about the building (a test and a duplicate say nothing of the detector);
- mean and 90th percentile (nearest rank) of the time from raise to acknowledge and to close;
- overdue items: open alarms whose deadline (整改期限) has passed, as of now;
- repeat rooms: rooms with two or more forbidden-load alarms (a kettle, an e-bike battery).

The CSV is one table with a header row (see :data:`CSV_COLUMNS`, documented in
gateway/alarms/README.md): a row per building and rule, a row per building with rule ``*`` and
a last row for all buildings. The HTML is one self-contained file (inline CSS and SVG charts, no
scripts, fonts or images fetched) laid out for A4 paper.
"""

from __future__ import annotations

import csv
import html
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO

from gateway.alarms.ledger import CATEGORIES, CATEGORY_ZH, Alarm, by_severity
from gateway.config.places import spot
from rules.severity import BY_NAME, label_zh

FORBIDDEN_LOADS = ("malicious_load", "ebike_charging")
"""Rules that mean a forbidden appliance in a room (dorm rules ban both)."""

RULE_ZH = {
    "fire_alarm": "火警", "panel_fault": "消防主机故障", "arc_fault": "故障电弧",
    "residual_current": "剩余电流", "over_temperature": "线缆超温", "temperature_rise": "温升过快",
    "overload": "过载/超限额", "breaker_trip": "断路器跳闸", "malicious_load": "违规电器",
    "ebike_charging": "电动车充电", "fire_door_open": "防火门常开", "blocked_exit": "通道堵塞",
    "comm_loss": "通信中断", "sensor_fault": "传感器故障",
}

BUCKETS = (*CATEGORIES, "open", "uncategorised")
"""Where an alarm counts: its close category, still open, or closed without one."""

CSV_COLUMNS = (
    "campus", "building", "rule", "alarms", "open", "closed", *CATEGORIES, "uncategorised",
    "false_alarm_rate", "mean_time_to_ack_s", "p90_time_to_ack_s", "mean_time_to_close_s",
    "p90_time_to_close_s", "overdue", "repeat_rooms",
)

_COLOURS = {"real": "#d32f2f", "false_alarm": "#f9a825", "test": "#1976d2",
            "device_fault": "#7b1fa2", "duplicate": "#9e9e9e", "open": "#ef6c00",
            "uncategorised": "#bdbdbd"}
_SEV_HEX = {"red": "#d32f2f", "orange": "#ef6c00", "yellow": "#f9a825", "blue": "#1976d2",
            "text": "#616161"}


def bucket(a: Alarm) -> str:
    if a.state != "closed":
        return "open"
    return a.category if a.category in CATEGORIES else "uncategorised"


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank (the smallest value with 90 % at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(slots=True)
class Group:
    """Figures of a set of alarms (one building and rule, one building, or all)."""

    alarms: list[Alarm] = field(default_factory=list)
    overdue: int = 0
    repeat_rooms: int = 0

    def counts(self) -> Counter[str]:
        return Counter(bucket(a) for a in self.alarms)

    def false_alarm_rate(self) -> float | None:
        c = self.counts()
        base = c["real"] + c["false_alarm"] + c["device_fault"]
        return c["false_alarm"] / base if base else None

    def ack_times(self) -> list[float]:
        return [a.acked_at - a.first_raised_at for a in self.alarms if a.acked_at is not None]

    def close_times(self) -> list[float]:
        return [a.closed_at - a.first_raised_at for a in self.alarms if a.closed_at is not None]


@dataclass(slots=True)
class RepeatRoom:
    campus: str
    building: str
    floor: int | None
    room: str
    alarms: list[Alarm]


@dataclass(slots=True)
class Review:
    """Everything the report shows; built by :func:`build`."""

    start: float
    end: float
    now: float
    tz: timezone
    alarms: list[Alarm]
    overdue: list[Alarm]
    repeat_rooms: list[RepeatRoom]
    names: dict[str, str] = field(default_factory=dict)  # building id -> display name

    def buildings(self) -> list[tuple[str, str]]:
        return sorted({(a.campus, a.building) for a in self.alarms}
                      | {(a.campus, a.building) for a in self.overdue})

    def group(self, building: tuple[str, str] | None = None, rule: str | None = None) -> Group:
        sel = [a for a in self.alarms if (building is None or (a.campus, a.building) == building)
               and (rule is None or a.rule == rule)]
        over = [a for a in self.overdue if (building is None or (a.campus, a.building) ==
                                            building) and (rule is None or a.rule == rule)]
        rooms = [r for r in self.repeat_rooms
                 if building is None or (r.campus, r.building) == building]
        if rule is not None:
            rooms = [r for r in rooms if any(a.rule == rule for a in r.alarms)]
        return Group(sel, len(over), len(rooms))

    def rules(self, building: tuple[str, str] | None = None) -> list[str]:
        return sorted({a.rule for a in self.alarms
                       if building is None or (a.campus, a.building) == building},
                      key=lambda r: (-max(BY_NAME.get(a.severity, BY_NAME["major"]).rank
                                          for a in self.alarms if a.rule == r), r))

    def local(self, ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "" if ts is None else datetime.fromtimestamp(ts, self.tz).strftime(fmt)

    def building_name(self, building: str) -> str:
        return self.names.get(building, building)


def build(alarms: Iterable[Alarm], open_alarms: Iterable[Alarm], start: float, end: float,
          now: float, tz: timezone, building: str | None = None,
          names: dict[str, str] | None = None) -> Review:
    """``alarms``: those first raised in [start, end); ``open_alarms``: every open alarm (an
    overdue one raised before the period is still overdue)."""
    sel = [a for a in alarms if building is None or a.building == building]
    overdue = [a for a in open_alarms if (building is None or a.building == building)
               and a.due_at is not None and a.due_at < now and a.state != "closed"]
    rooms: dict[tuple[str, str, str], list[Alarm]] = defaultdict(list)
    for a in sel:
        if a.rule in FORBIDDEN_LOADS and a.room:
            rooms[(a.campus, a.building, a.room)].append(a)
    repeat = [RepeatRoom(c, b, items[0].floor, r, sorted(items, key=lambda a: a.first_raised_at))
              for (c, b, r), items in sorted(rooms.items()) if len(items) >= 2]
    repeat.sort(key=lambda r: -len(r.alarms))
    return Review(start, end, now, tz, sel, sorted(overdue, key=lambda a: a.due_at or 0.0),
                  repeat, names or {})


# --------------------------------------------------------------------------- CSV


def _r(v: float | None, digits: int = 1) -> float | str:
    return "" if v is None else round(v, digits)


def csv_rows(rv: Review) -> list[dict[str, object]]:
    rows = []

    def row(campus: str, building: str, rule: str, g: Group) -> dict[str, object]:
        c = g.counts()
        acks, closes = g.ack_times(), g.close_times()
        return {"campus": campus, "building": building, "rule": rule, "alarms": len(g.alarms),
                "open": c["open"], "closed": len(g.alarms) - c["open"],
                **{k: c[k] for k in CATEGORIES}, "uncategorised": c["uncategorised"],
                "false_alarm_rate": _r(g.false_alarm_rate(), 4),
                "mean_time_to_ack_s": _r(mean(acks)), "p90_time_to_ack_s": _r(p90(acks)),
                "mean_time_to_close_s": _r(mean(closes)), "p90_time_to_close_s": _r(p90(closes)),
                "overdue": g.overdue, "repeat_rooms": g.repeat_rooms}

    for b in rv.buildings():
        for rule in rv.rules(b):
            rows.append(row(b[0], b[1], rule, rv.group(b, rule)))
        rows.append(row(b[0], b[1], "*", rv.group(b)))
    rows.append(row("*", "*", "*", rv.group()))
    return rows


def write_csv(rv: Review, out: IO[str]) -> int:
    w = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    rows = csv_rows(rv)
    w.writerows(rows)
    return len(rows)


# --------------------------------------------------------------------------- HTML

_CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC",
       sans-serif; font-size: 10pt; color: #212121; margin: 0 auto; max-width: 186mm; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; border-bottom: 1.5pt solid #37474f; }
h3 { font-size: 11pt; margin: 4mm 0 1.5mm; }
p.meta { color: #555; margin: 0 0 3mm; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 0.5pt solid #9e9e9e; padding: 0.8mm 1.2mm; text-align: right;
         font-size: 8.5pt; }
th { background: #eceff1; font-weight: 600; white-space: nowrap; }
td { white-space: nowrap; }
td.l, th.l { text-align: left; }
tr.total td { font-weight: 700; background: #fafafa; }
.kpi { display: flex; gap: 3mm; margin: 2mm 0 3mm; }
.kpi div { flex: 1; border: 0.5pt solid #9e9e9e; padding: 2mm; }
.kpi b { display: block; font-size: 15pt; }
.sev { display: inline-block; padding: 0 1.5mm; color: #fff; border-radius: 1mm; }
.building { page-break-inside: avoid; }
.legend span { display: inline-block; margin-right: 3mm; }
.legend i { display: inline-block; width: 3mm; height: 3mm; margin-right: 1mm; }
svg { display: block; }
@media print { h2 { page-break-after: avoid; } }
"""


def _e(v: object) -> str:
    return html.escape(str(v))


def _dur(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 3600:
        return f"{s / 60:.0f} 分"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} 时"
    return f"{s / 86400:.1f} 天"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _chart(rv: Review, b: tuple[str, str]) -> str:
    """Horizontal stacked bars: alarms per rule, by category (inline SVG)."""
    rules = rv.rules(b)
    width, left, bar_h, gap = 680, 110, 14, 6
    groups = [(r, rv.group(b, r).counts()) for r in rules]
    top = max((sum(c.values()) for _, c in groups), default=1) or 1
    scale = (width - left - 40) / top
    height = len(groups) * (bar_h + gap) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="按规则和类别的报警数">']
    for i, (rule, c) in enumerate(groups):
        y = 4 + i * (bar_h + gap)
        out.append(f'<text x="{left - 6}" y="{y + bar_h - 3}" font-size="11" '
                   f'text-anchor="end">{_e(RULE_ZH.get(rule, rule))}</text>')
        x = float(left)
        for k in BUCKETS:
            n = c[k]
            if not n:
                continue
            w = n * scale
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="{_COLOURS[k]}"><title>{_e(k)} {n}</title></rect>')
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 3}" font-size="11">'
                   f'{sum(c.values())}</text>')
    out.append("</svg>")
    return "".join(out)


def _legend() -> str:
    names = {**CATEGORY_ZH, "open": "未销号", "uncategorised": "未分类"}
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{_COLOURS[k]}"></i>{_e(names[k])}</span>'
        for k in BUCKETS) + "</p>"


def _sev(severity: str) -> str:
    lv = BY_NAME.get(severity)
    colour = _SEV_HEX.get(lv.colour if lv else "orange", "#ef6c00")
    return f'<span class="sev" style="background:{colour}">{_e(label_zh(severity))}</span>'


def _summary_table(rv: Review, b: tuple[str, str]) -> str:
    head = ("规则", "报警", "真实", "误报", "测试", "设备<br>故障", "重复", "未<br>分类",
            "未<br>销号", "误报率", "确认<br>均值", "确认<br>P90", "销号<br>均值", "销号<br>P90",
            "超期")
    rows = [f"<tr>{''.join(f'<th class=l>{h}</th>' if i == 0 else f'<th>{h}</th>' for i, h in enumerate(head))}</tr>"]  # noqa: E501

    def tr(label: str, g: Group, cls: str = "") -> str:
        c = g.counts()
        acks, closes = g.ack_times(), g.close_times()
        cells = [len(g.alarms), c["real"], c["false_alarm"], c["test"], c["device_fault"],
                 c["duplicate"], c["uncategorised"], c["open"], _pct(g.false_alarm_rate()),
                 _dur(mean(acks)), _dur(p90(acks)), _dur(mean(closes)), _dur(p90(closes)),
                 g.overdue]
        return (f'<tr class="{cls}"><td class=l>{_e(label)}</td>'
                + "".join(f"<td>{_e(v)}</td>" for v in cells) + "</tr>")

    for rule in rv.rules(b):
        rows.append(tr(RULE_ZH.get(rule, rule), rv.group(b, rule)))
    rows.append(tr("合计", rv.group(b), "total"))
    return "<table>" + "".join(rows) + "</table>"


def write_html(rv: Review, out: IO[str], title: str = "消防与用电安全报警 双月复盘") -> None:
    total = rv.group()
    c = total.counts()
    acks, closes = total.ack_times(), total.close_times()
    period = f"{rv.local(rv.start, '%Y-%m-%d')} 至 {rv.local(rv.end - 1, '%Y-%m-%d')}"
    parts = [
        "<!DOCTYPE html><html lang=zh-CN><head><meta charset=utf-8>",
        f"<title>{_e(title)} {period}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">统计期 {period}（按首次报警时间）· 生成于 {rv.local(rv.now)} · '
        f"{len(rv.buildings())} 栋楼 · firegate alarms review</p>",
        '<div class="kpi">'
        f"<div>报警总数<b>{len(rv.alarms)}</b></div>"
        f"<div>误报率<b>{_pct(total.false_alarm_rate())}</b></div>"
        f"<div>确认用时 均值/P90<b>{_dur(mean(acks))} / {_dur(p90(acks))}</b></div>"
        f"<div>销号用时 均值/P90<b>{_dur(mean(closes))} / {_dur(p90(closes))}</b></div>"
        f"<div>超期未整改<b>{len(rv.overdue)}</b></div>"
        f"<div>未销号<b>{c['open']}</b></div></div>",
        '<p class="meta">误报率 = 误报 /（真实 + 误报 + 设备故障）；测试与重复不计。'
        "P90：90% 的报警在此时间内完成。</p>",
    ]
    for b in rv.buildings():
        parts.append(f'<section class="building"><h2>{_e(rv.building_name(b[1]))}'
                     f"（{_e(b[0])}/{_e(b[1])}）</h2>")
        parts.append(_chart(rv, b))
        parts.append(_legend())
        parts.append(_summary_table(rv, b))
        parts.append("</section>")
    parts.append("<h2>超期未整改（已过整改期限、尚未销号）</h2>")
    if rv.overdue:
        parts.append("<table><tr><th class=l>报警号</th><th class=l>级别</th>"
                     "<th class=l>楼栋</th><th class=l>位置</th><th class=l>内容</th>"
                     "<th class=l>责任人</th><th class=l>整改期限</th><th>超期</th>"
                     "<th class=l>已上报至</th></tr>")
        for a in by_severity(rv.overdue):
            parts.append(
                f"<tr><td class=l>{_e(a.id)}</td><td class=l>{_sev(a.severity)}</td>"
                f"<td class=l>{_e(rv.building_name(a.building))}</td>"
                f"<td class=l>{_e(a.location or a.room or '')}</td>"
                f"<td class=l>{_e(RULE_ZH.get(a.rule, a.rule))}</td>"
                f"<td class=l>{_e(a.assignee or '')}</td>"
                f"<td class=l>{rv.local(a.due_at, '%Y-%m-%d')}</td>"
                f"<td>{_dur(rv.now - (a.due_at or rv.now))}</td>"
                f"<td class=l>{'第' + str(a.overdue_level) + '级' if a.overdue_level else '–'}"
                "</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>无。</p>")
    parts.append("<h2>重复违规房间（统计期内违规电器/电动车充电 2 次及以上）</h2>")
    if rv.repeat_rooms:
        parts.append("<table><tr><th class=l>楼栋</th><th class=l>房间</th><th>次数</th>"
                     "<th class=l>违规类型</th><th class=l>日期</th></tr>")
        for r in rv.repeat_rooms:
            kinds = Counter(RULE_ZH.get(a.rule, a.rule) for a in r.alarms)
            dates = "、".join(rv.local(a.first_raised_at, "%m-%d") for a in r.alarms[:8])
            more = " 等" if len(r.alarms) > 8 else ""
            parts.append(f"<tr><td class=l>{_e(rv.building_name(r.building))}</td>"
                         f"<td class=l>{_e(spot(r.floor, r.room))}</td><td>{len(r.alarms)}</td>"
                         f"<td class=l>{_e('、'.join(f'{k}×{n}' for k, n in kinds.items()))}"
                         f"</td><td class=l>{_e(dates)}{more}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>无。</p>")
    parts.append("</body></html>\n")
    out.write("".join(parts))


__all__ = ["CSV_COLUMNS", "FORBIDDEN_LOADS", "Review", "build", "p90", "write_csv",
           "write_html"]
