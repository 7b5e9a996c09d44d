"""Message text: Chinese first and short, so a page fits one SMS (see gateway/notify/pages.py).

One alarm:  ``【严重】北校区3号宿舍楼 3层305室 线缆68.2℃超设定55℃，减载并查接头。回复"1 4821"确认``
A group:    ``【告警3条】3号宿舍楼 11-29 20:03: 305室 ...(4821); 306室 ...(1234) 回复"1 代码"确认``
A summary:  ``【告警汇总】另有12条告警未逐条发送, 最近: 1号楼 3层 ... 请查看值班室屏幕``

Providers cannot take free text (templates are approved in advance), so each message also has
template parameters: what, where, value, time, code.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.notify import pages
from gateway.notify.pages import Names
from gateway.notify.storm import OutMessage, PageItem
from gateway.records import AlarmTransition


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.3g}"
    return str(v)


def where(t: AlarmTransition, *, campus: bool = True, names: Names | None = None) -> str:
    """Where, once, in the names people use (see :mod:`gateway.notify.pages`)."""
    return pages.where(t, names or _names_of(t), campus=campus)


def _names_of(t: AlarmTransition) -> Names:
    return Names(t.campus, t.building, t.building)


def what(t: AlarmTransition) -> str:
    return pages.what(t)


def value(t: AlarmTransition) -> str:
    """Value and limit as the provider's ``value`` parameter (the page itself writes units)."""
    v, th = t.value, t.threshold
    out = []
    if v is not None:
        out.append(f"值{_num(v)}")
    if th not in (None, ""):
        out.append(f"阈值{_num(th)}")
    return " ".join(out)


def when(t: AlarmTransition, tz: timezone) -> str:
    if not t.ts:
        return ""
    return datetime.fromtimestamp(t.ts, UTC).astimezone(tz).strftime("%m-%d %H:%M")


def tag(item: PageItem) -> str:
    """The severity's Chinese label (rules/severity.py), without brackets; for the
    administrative chain told of a repeat, 重复告警."""
    if item.level < 0:
        return "重复告警"
    return pages.severity_tag(item.transition)[1:-1]


def again(item: PageItem) -> str:
    """``再次报警(第2次)`` for a new occurrence of an open alarm; for the administration, how
    many times the hazard came back within the repeat window."""
    t = item.transition
    if item.level < 0:
        return f"近期第{t.repeat_count + 1}次"
    return f"再次报警(第{t.occurrence}次)" if t.occurrence > 1 else ""


def single(item: PageItem, tz: timezone, names: Names | None = None) -> str:
    t = item.transition
    return pages.page(t, item.code, names or _names_of(t), tag=f"【{tag(item)}】",
                      again=again(item))


def group(items: list[PageItem], tz: timezone, names: Names | None = None) -> str:
    """A digest of pages that came together: each line is where (no building: the head says
    it), what, and its own code."""
    nm = names or _names_of(items[0].transition)
    crit = sum(1 for i in items if i.critical)
    head = f"【告警{len(items)}条" + (f",特急{crit}" if crit else "") + "】"
    first = when(items[0].transition, tz)
    tail = " 回复\"1 代码\"确认"
    lines: list[str] = []
    for i in items:
        t = i.transition
        line = f"{pages.location(t) or nm.building} {what(t)}({i.code})"
        more = f" 等{len(items)}条" if len(lines) + 1 < len(items) else ""
        text = f"{head}{nm.building} {first}: " + "; ".join([*lines, line]) + more + tail
        if lines and len(text) > pages.TWO_PARTS:
            break  # a digest stays within two SMS parts; the screen has the rest
        lines.append(line)
    more = f" 等{len(items)}条" if len(lines) < len(items) else ""
    return f"{head}{nm.building} {first}: " + "; ".join(lines) + more + tail


def summary(items: list[PageItem], window_s: float, tz: timezone,
            names: Names | None = None) -> str:
    minutes = max(1, round(window_s / 60))
    kinds = Counter(what(i.transition) for i in items)
    top = ", ".join(f"{k}{n}条" for k, n in kinds.most_common(3))
    last = items[-1].transition
    nm = names or _names_of(last)
    return (f"【告警汇总】{minutes}分钟内另有{len(items)}条告警未逐条发送: {top}. "
            f"最近: {where(last, campus=False, names=nm)} {when(last, tz)} 请查看值班室屏幕")


def _short_where(t: AlarmTransition, names: Names, limit: int = 20) -> str:
    """``where`` for a provider variable (Tencent takes 20 characters, Aliyun 35): the whole
    place when it fits, else without the campus, else the place in the building alone."""
    for text in (where(t, names=names), where(t, campus=False, names=names), pages.location(t)):
        if text and len(text) <= limit:
            return text
    return pages.location(t) or names.building


def compose(msg: OutMessage, window_s: float, tz: timezone,
            names: Names | None = None) -> tuple[str, dict[str, str]]:
    """Text for a modem, template parameters for a provider (where and what first: a
    provider's template is approved with them leading, and its variables are cut at 20 or 35
    characters, so the place and the hazard are never what is lost)."""
    items = msg.items
    nm = names or _names_of(items[0].transition)
    if msg.kind == "single":
        text = single(items[0], tz, nm)
        t = items[0].transition
        params = {"where": _short_where(t, nm), "what": f"{tag(items[0])}:{what(t)}",
                  "value": value(t), "time": when(t, tz), "code": items[0].code}
    elif msg.kind == "group":
        text = group(items, tz, nm)
        t = items[0].transition
        params = {"where": _short_where(t, nm), "what": f"告警{len(items)}条",
                  "value": what(t), "time": when(t, tz),
                  "code": ",".join(i.code for i in items[:3])}
    else:
        text = summary(items, window_s, tz, nm)
        t = items[-1].transition
        params = {"where": _short_where(t, nm), "what": f"另有{len(items)}条告警",
                  "value": "", "time": when(t, tz), "code": ""}
    return text, params


def confirmation(code: str, who: str, t: AlarmTransition, names: Names | None = None) -> str:
    nm = names or _names_of(t)
    return f"已确认{code}: {where(t, campus=False, names=nm)} {what(t)} (确认人 {who})"


def overdue_text(t: AlarmTransition, now: float, tz: timezone, names: Names | None = None) -> str:
    """To the administrative chain: an alarm past its deadline (整改期限) and not closed."""
    nm = names or _names_of(t)
    due = t.due_at
    days = (now - due) / 86400.0 if due is not None else 0.0
    day = datetime.fromtimestamp(due, UTC).astimezone(tz).strftime("%m-%d") \
        if due is not None else "?"
    return (f"【超期未整改】{where(t, campus=False, names=nm)} {what(t)}，整改期限{day}已过"
            f"{days:.0f}天，责任人{t.assignee or '未指定'}，报警号{t.id}")


def local_tz(offset_h: float) -> timezone:
    return timezone(timedelta(hours=offset_h))
