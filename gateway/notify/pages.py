"""One page, one SMS: a template per rule id that says where, what and what to do.

A page is read on a phone by the duty electrician or the security officer, often at night. It
says, in this order and once each: the severity (the four-level scale of rules/severity.py), where
(campus, building, then the zone's or door's label, or floor and room), what (the measured value
with its unit, and the limit with its unit), one short line of what to do, and the code to reply
with::

    【特急】北校区3号宿舍楼 3层东侧走廊 火警，立即核实，确认后拨119。回复"1 4821"确认

A UCS2 SMS holds 70 characters in one part and 67 per part when split (GSM 03.40 / 3GPP TS
23.040 user data of 140 octets, 6 of them a concatenation header). Every rule of the example
building fits one part; a text that cannot is shortened in this order: campus name dropped, the
action line dropped, then it goes as two parts — where and the code are never cut.

No device id is written: a device without a place in the configuration is named by its building.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config.places import spot
from gateway.records import AlarmTransition
from rules.severity import label_zh

ONE_PART = 70
"""UCS2 characters in a single SMS."""
TWO_PARTS = 2 * 67
"""UCS2 characters in two concatenated parts."""


@dataclass(frozen=True, slots=True)
class Names:
    """The campus and building as people say them (``gateway.campus_name``/``building_name``),
    falling back to the ids. ``building_id`` is the id they name: a transition of another
    building (a desk, a shared notifier) is named by its own ids instead."""

    campus: str = ""
    building: str = ""
    building_id: str = ""

    @classmethod
    def of(cls, identity: Any) -> Names:
        return cls(str(getattr(identity, "campus_name", "") or getattr(identity, "campus", "")),
                   str(getattr(identity, "building_name", "")
                       or getattr(identity, "building", "")),
                   str(getattr(identity, "building", "")))

    def for_(self, t: AlarmTransition) -> Names:
        b = t.building
        if not b or not self.building_id or b == self.building_id:
            return self
        return Names(t.campus, b, b)


def _n(v: Any, digits: int = 0) -> str:
    """A number without trailing zeros: 1800, 68.2, 0.5."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float):
        text = f"{float(v):.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(v)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TRIP = {"over_current": "过流", "residual_current": "漏电", "over_temperature": "过温",
         "overload": "过载", "over_voltage": "过压", "under_voltage": "欠压",
         "remote": "远程分闸", "none": "原因不明"}
_PANEL = {"fault": "故障", "supervisory": "监管报警", "shielded": "屏蔽",
          "main_power_fault": "主电故障", "backup_power_fault": "备电故障",
          "bus_fault": "总线故障", "power_fault": "电源故障"}


def _overload(t: AlarmTransition) -> str:
    v, th = t.value, t.threshold
    if t.channel == "power" and _num(v) and _num(th):
        return f"用电{_n(v)}W超限额{_n(th)}W"
    if _num(v) and _num(th):
        return f"电流{_n(v, 1)}A超额定{_n(th)}A"
    return "线路过载"


def _residual(t: AlarmTransition) -> str:
    v, th = t.value, t.threshold
    return f"漏电{_n(v)}mA超设定{_n(th)}mA" if _num(v) and _num(th) else "剩余电流报警"


def _temperature(t: AlarmTransition) -> str:
    v, th = t.value, t.threshold
    return f"线缆{_n(v, 1)}℃超设定{_n(th)}℃" if _num(v) and _num(th) else "探测器报温度过高"


def _rise(t: AlarmTransition) -> str:
    v, th = t.value, t.threshold
    return f"温升{_n(v, 1)}℃/分超{_n(th)}℃/分" if _num(v) and _num(th) else "温度快速上升"


def _malicious(t: AlarmTransition) -> str:
    v = t.value
    if t.channel == "controller":  # the dorm controller decided and cut the socket itself
        return "宿舍控制器识别恶性负载并已断电"
    return f"疑似违规电热器具{_n(v)}W" if _num(v) else "疑似违规电热器具"


def _ebike(t: AlarmTransition) -> str:
    v = t.value
    if t.channel == "controller":
        return "宿舍控制器识别电动车充电并已断电"
    return f"疑似电动车电池充电约{_n(v)}W" if _num(v) else "疑似电动车电池充电"


def _trip(t: AlarmTransition) -> str:
    reason = str(t.value or "none")
    return f"断路器跳闸（{_TRIP.get(reason, reason)}）"


def _fire(t: AlarmTransition) -> str:
    return "火警" if t.channel else "火灾报警控制器报火警"


def _panel(t: AlarmTransition) -> str:
    key = str(t.channel or "")
    name = key.partition("@")[0]
    return f"消防主机{_PANEL.get(name, '故障')}"


def _door(t: AlarmTransition) -> str:
    if "故障" in t.message_zh:
        return "防火门故障"
    v = t.value
    if "常开防火门" in t.message_zh:  # magnet-held door the fire linkage did not close
        return f"火警{_n(v)}秒后常开防火门未关闭" if _num(v) else "火警后常开防火门未关闭"
    return f"常闭防火门开启{_n(v)}秒" if _num(v) else "常闭防火门开启"


def _exit(t: AlarmTransition) -> str:
    v = t.value
    return f"疏散通道被占用{_n(v)}秒" if _num(v) else "疏散通道被占用"


def _comm(t: AlarmTransition) -> str:
    v = t.value
    return f"设备通信中断（{_n(v)}次无应答）" if _num(v) else "设备通信中断"


_SENSOR_ZH = {"short": "短路", "open": "开路", "overload": "过载", "fault": "故障"}


def _sensor(t: AlarmTransition) -> str:
    # What the electrician should bring: the loop's fault as the device names it, or the raw
    # code a reading carried (0xffff: a probe that fell off), never a long description.
    v = "" if t.value is None else str(t.value)
    raw = re.search(r"raw (0x[0-9a-f]+)", v)
    detail = _SENSOR_ZH.get(v) or (f"读数{raw.group(1).upper().replace('0X', '0x')}" if raw
                                   else "")
    return f"传感器{detail}，监测失效" if detail else "传感器故障，监测失效"


@dataclass(frozen=True, slots=True)
class Template:
    """What happened (from the transition, with units) and one line of what to do (a text, or
    a function of the transition when it depends on it)."""

    what: Callable[[AlarmTransition], str]
    action: str | Callable[[AlarmTransition], str]

    def act(self, t: AlarmTransition) -> str:
        return self.action if isinstance(self.action, str) else self.action(t)


def _fire_action(t: AlarmTransition) -> str:
    """A zone names where the fire is; the panel's own bit only says there is one somewhere,
    so the page sends someone to read the panel, not to the control room as the fire's place."""
    return "立即核实，确认后拨119" if t.channel else "立即到控制器查看火警部位"


TEMPLATES: dict[str, Template] = {
    "fire_alarm": Template(_fire, _fire_action),
    "panel_fault": Template(_panel, "通知消防维保"),
    "arc_fault": Template(lambda t: "故障电弧", "断电查线后现场复位"),
    "residual_current": Template(_residual, "查该回路绝缘"),
    "over_temperature": Template(_temperature, "减载并查接头"),
    "temperature_rise": Template(_rise, "到场查发热点"),
    "overload": Template(_overload, "断开大功率电器"),
    "breaker_trip": Template(_trip, "查明原因再合闸"),
    "malicious_load": Template(_malicious, "到场核查收缴"),
    "ebike_charging": Template(_ebike, "到场核查移出"),
    "fire_door_open": Template(_door, "关闭防火门"),
    "blocked_exit": Template(_exit, "立即清理通道"),
    "comm_loss": Template(_comm, "查总线和电源"),
    "sensor_fault": Template(_sensor, "安排检修"),
}
"""Every rule id of the rules engine; a rule missing here gets :func:`_fallback`."""


def _fallback(t: AlarmTransition) -> str:
    """A rule without a template: its own Chinese message, after the place."""
    msg = t.message_zh or t.rule or "告警"
    _, sep, rest = msg.partition("：")
    return (rest if sep else msg).split("｜")[0]


def template(rule: str) -> Template:
    return TEMPLATES.get(rule, Template(_fallback, "到场查看"))


def severity_tag(t: AlarmTransition) -> str:
    return f"【{label_zh(t.severity or 'major')}】"


def location(t: AlarmTransition) -> str:
    """Where in the building: the transition's ``location`` (the label the gateway put there),
    else floor and room."""
    return t.location or spot(t.floor, t.room)


def where(t: AlarmTransition, names: Names, *, campus: bool = True) -> str:
    names = names.for_(t)
    head = (names.campus if campus else "") + names.building
    loc = location(t)
    return f"{head} {loc}".strip() if loc else head


def what(t: AlarmTransition) -> str:
    return template(t.rule).what(t)


def reply(code: str) -> str:
    return f"回复\"1 {code}\"确认"


def page(t: AlarmTransition, code: str, names: Names, *, tag: str | None = None,
         again: str = "") -> str:
    """The text of one page: one SMS part where it fits, never more than two. ``tag``
    replaces the severity tag (the administrative chain's 【重复告警】); ``again`` follows what
    happened (再次报警(第2次): a new occurrence of an alarm still open)."""
    tpl = template(t.rule)
    tag, w, act = tag or severity_tag(t), what(t), tpl.act(t)
    if again:
        w = f"{w}，{again}"
    for campus, action in ((True, act), (False, act), (False, "")):
        text = _join(tag, where(t, names, campus=campus), w, action, code)
        if len(text) <= ONE_PART:
            return text
    text = _join(tag, where(t, names), w, act, code)
    if len(text) <= TWO_PARTS:
        return text
    # Only an absurdly long label gets here: keep the head of where, what, and the code.
    room = TWO_PARTS - len(tag) - len(w) - len(reply(code)) - 3
    return _join(tag, where(t, names)[:max(8, room)], w, "", code)


def _join(tag: str, where_: str, what_: str, action: str, code: str) -> str:
    body = f"{what_}，{action}" if action else what_
    return f"{tag}{where_} {body}。{reply(code)}"


def sms_parts(text: str) -> int:
    """How many UCS2 parts a text takes (the modem sends anything non-GSM as UCS2)."""
    n = len(text.encode("utf-16-be")) // 2
    return 1 if n <= ONE_PART else -(-n // 67)


__all__ = ["ONE_PART", "TEMPLATES", "TWO_PARTS", "Names", "page", "sms_parts", "template",
           "what", "where"]
