"""Message text: Chinese first and short, so a page fits one or two SMS.

One alarm:  ``【火警】东校区 1号楼 3层 305室 烟感报警 值0.8 阈值0.5 11-29 20:03 回复"1 4821"确认``
A group:    ``【告警3条】1号楼: 305室 温度过高(4821); 306室 漏电(1234)... 回复"1 代码"确认``
A summary:  ``【告警汇总】另有12条告警未逐条发送, 最近: 1号楼 3层 ... 请查看值班室屏幕``

Providers cannot take free text (templates are approved in advance), so each message also has
template parameters: what, where, value, time, code.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.notify.storm import OutMessage, PageItem
from gateway.records import AlarmTransition

SEVERITY_ZH = {"critical": "紧急", "major": "重要", "high": "重要", "warning": "一般",
               "minor": "一般", "low": "提示", "info": "提示"}
EVENT_ZH = {"clear": "已恢复", "update": "更新"}


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.3g}"
    return str(v)


def where(t: AlarmTransition, *, campus: bool = True) -> str:
    parts = []
    if campus and t.campus:
        parts.append(t.campus)
    if t.building:
        parts.append(t.building)
    if t.floor is not None:
        parts.append(f"{t.floor}层")
    if t.room:
        parts.append(t.room if t.room.endswith("室") else f"{t.room}室")
    return " ".join(parts) or t.device


def what(t: AlarmTransition) -> str:
    return t.message_zh or t.message_en or t.rule or "告警"


def value(t: AlarmTransition) -> str:
    v, th = t.value, t.threshold
    out = []
    if v is not None:
        out.append(f"值{_num(v)}")
    if th is not None:
        out.append(f"阈值{_num(th)}")
    return " ".join(out)


def when(t: AlarmTransition, tz: timezone) -> str:
    return datetime.fromtimestamp(t.ts, UTC).astimezone(tz).strftime("%m-%d %H:%M")


def tag(item: PageItem) -> str:
    if item.level < 0:  # the administrative chain, told of a repeat
        return "重复告警"
    if item.transition.rule == "fire_alarm":
        return "火警"
    return SEVERITY_ZH.get(item.transition.severity, "告警")


def again(item: PageItem) -> str:
    """``第2次`` for a new occurrence of an open alarm; for the administration, how many times
    the hazard came back within the repeat window."""
    t = item.transition
    if item.level < 0:
        return f"近期第{t.repeat_count + 1}次"
    return f"再次报警(第{t.occurrence}次)" if t.occurrence > 1 else ""


def single(item: PageItem, tz: timezone) -> str:
    t = item.transition
    head = f"【{tag(item)}】"
    body = " ".join(x for x in (where(t), what(t), again(item), value(t), when(t, tz)) if x)
    return f"{head}{body} 回复\"1 {item.code}\"确认"


def group(items: list[PageItem], tz: timezone) -> str:
    crit = sum(1 for i in items if i.critical)
    head = f"【告警{len(items)}条" + (f",紧急{crit}" if crit else "") + "】"
    buildings = Counter(i.transition.building for i in items)
    lines = []
    for i in items[:4]:
        t = i.transition
        lines.append(f"{where(t, campus=False)} {what(t)}({i.code})")
    more = f" 等{len(items)}条" if len(items) > 4 else ""
    first = when(items[0].transition, tz)
    bld = buildings.most_common(1)[0][0]
    return f"{head}{bld} {first}: " + "; ".join(lines) + more + " 回复\"1 代码\"确认"


def summary(items: list[PageItem], window_s: float, tz: timezone) -> str:
    minutes = max(1, round(window_s / 60))
    kinds = Counter(what(i.transition) for i in items)
    top = ", ".join(f"{k}{n}条" for k, n in kinds.most_common(3))
    last = items[-1].transition
    return (f"【告警汇总】{minutes}分钟内另有{len(items)}条告警未逐条发送: {top}. "
            f"最近: {where(last, campus=False)} {when(last, tz)} 请查看值班室屏幕")


def compose(msg: OutMessage, window_s: float, tz: timezone) -> tuple[str, dict[str, str]]:
    """Text for a modem, template parameters for a provider."""
    items = msg.items
    if msg.kind == "single":
        text = single(items[0], tz)
        t = items[0].transition
        params = {"what": f"{tag(items[0])}:{what(t)}", "where": where(t), "value": value(t),
                  "time": when(t, tz), "code": items[0].code}
    elif msg.kind == "group":
        text = group(items, tz)
        t = items[0].transition
        params = {"what": f"告警{len(items)}条", "where": where(t, campus=False),
                  "value": what(t), "time": when(t, tz),
                  "code": ",".join(i.code for i in items[:3])}
    else:
        text = summary(items, window_s, tz)
        t = items[-1].transition
        params = {"what": f"另有{len(items)}条告警", "where": where(t, campus=False),
                  "value": "", "time": when(t, tz), "code": ""}
    return text, params


def confirmation(code: str, who: str, t: AlarmTransition) -> str:
    return f"已确认{code}: {where(t, campus=False)} {what(t)} (确认人 {who})"


def local_tz(offset_h: float) -> timezone:
    return timezone(timedelta(hours=offset_h))
