"""Pages that say where, what and what to do: names and labels from the configuration, one
template per rule id, one UCS2 SMS where possible and never more than two."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.models import ConfigError, load_config
from gateway.config.places import Places, PlacesError, load_point_map
from gateway.notify.pages import ONE_PART, TEMPLATES, TWO_PARTS, Names, page, sms_parts
from gateway.records import AlarmTransition
from rules.engine import KIND_RULES
from rules.events import Event

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "deploy" / "examples" / "demo-building.yaml"


def tr(**kw: object) -> AlarmTransition:
    base: dict[str, object] = {"event": "raise", "ts": 1772416800.0, "id": "A1",
                               "device": "d", "state": "raised", "building": "dorm-1"}
    return AlarmTransition.from_json({**base, **kw})


@pytest.fixture(scope="module")
def demo() -> tuple[Places, Names, list[str]]:
    cfg = load_config(DEMO)
    return Places.from_config(cfg), Names.of(cfg.gateway), [d.id for d in cfg.devices]


def test_every_rule_id_of_the_engine_has_a_template() -> None:
    rule_ids = {r for kinds in KIND_RULES.values() for ids, _ in kinds for r in ids}
    assert rule_ids | {"comm_loss"} <= set(TEMPLATES)


def test_every_page_of_the_demo_building_is_one_sms_without_a_device_id(
        demo: tuple[Places, Names, list[str]]) -> None:
    """The generated table in gateway/notify/README.md, checked the way a phone counts."""
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "page_texts.py")],
                         capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split(" | ") for line in res.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) >= len(TEMPLATES)
    _, _, ids = demo
    for row in rows:
        text, chars, parts = row[2], int(row[3]), int(row[4].rstrip(" |"))
        assert chars == len(text) <= ONE_PART and parts == 1, text
        assert text.startswith(("【特急】", "【严重】", "【一般】", "【提示】")), text
        assert "北校区1号宿舍楼 " in text and text.endswith('回复"1 4821"确认'), text
        assert not any(i in text for i in ids), text
    readme = (ROOT / "gateway" / "notify" / "README.md").read_text(encoding="utf-8")
    assert res.stdout.strip().split("\n", 2)[2] in readme, "README table is stale: run " \
        "scripts/page_texts.py --write"


def test_fire_names_the_zone_not_the_panel_room(demo: tuple[Places, Names, list[str]]) -> None:
    places, names, _ = demo
    t = tr(rule="fire_alarm", channel="3", severity="critical", value=1, threshold=1,
           location=places.location("fire-panel", "fire_alarm", "3"))
    text = page(t, "0042", names)
    assert text == ('【特急】北校区1号宿舍楼 3层东侧走廊 火警，立即核实，确认后拨119。'
                    '回复"1 0042"确认')
    assert "消防控制室" not in text


def test_values_carry_units(demo: tuple[Places, Names, list[str]]) -> None:
    places, names, _ = demo
    t = tr(rule="residual_current", channel="3", severity="major", value=480.0,
           threshold=300.0, location=places.location("rcm-1", "residual_current", "3"))
    assert "漏电480mA超设定300mA" in page(t, "1", names)
    t = tr(rule="overload", channel="power", severity="major", value=1850.4, threshold=1200.0,
           floor=3, room="305")
    assert "3层305室 用电1850W超限额1200W" in page(t, "1", names)


def test_a_long_place_drops_campus_then_action_then_takes_two_parts_never_losing_where() -> None:
    names = Names("北校区", "3号宿舍楼")
    loc = "东楼梯间与西楼梯间之间的三层公共活动区北侧消防通道尽头"
    t = tr(rule="blocked_exit", channel="1", severity="critical", value=40.0, location=loc)
    text = page(t, "4821", names)
    assert len(text) <= ONE_PART and "北校区" not in text and loc in text
    t = dataclasses.replace(t, location=loc * 2)
    text = page(t, "4821", names)
    assert ONE_PART < len(text) <= TWO_PARTS and sms_parts(text) == 2
    assert loc * 2 in text and '回复"1 4821"确认' in text
    t = dataclasses.replace(t, location=loc * 8)  # absurd: still two parts, still the code
    text = page(t, "4821", names)
    assert len(text) <= TWO_PARTS and text.endswith('回复"1 4821"确认')


def test_an_unknown_rule_pages_its_own_message_after_the_place() -> None:
    t = tr(rule="new_rule", severity="minor", message_zh="1号宿舍楼 1层101室：新的隐患", floor=1,
           room="101")
    assert page(t, "7", Names("", "1号宿舍楼")).startswith("【一般】1号宿舍楼 1层101室 新的隐患，")


def test_events_get_the_label_and_lose_the_device_id(
        demo: tuple[Places, Names, list[str]]) -> None:
    places, _, _ = demo
    ev = Event(kind="raise", rule="fire_door_open", device="doors-east", channel="1",
               severity="major", ts=0.0, value=20.0, threshold=5.0,
               message_zh="dorm-1 东楼梯间 doors-east：1号门：常闭防火门处于开启状态 20 秒",
               message_en="x", building="dorm-1")
    out = places.enrich(ev)
    assert out.location == "东楼梯间1层防火门"
    assert out.message_zh == "1号宿舍楼 东楼梯间1层防火门：1号门：常闭防火门处于开启状态 20 秒"


def test_a_panel_component_is_named_by_the_point_table_else_by_its_own_description(
        demo: tuple[Places, Names, list[str]]) -> None:
    """GB/T 26875.3 components arrive as ``loop-address`` with the panel's description."""
    places, _, _ = demo

    def fire(channel: str, own: str) -> Event:
        return Event(kind="raise", rule="fire_alarm", device="fas-1", channel=channel,
                     severity="critical", ts=0.0, value=1, threshold=1,
                     message_zh=f"dorm-1 1F 消防控制室 2号火灾报警控制器：火灾报警（{own}，"
                                f"部件 {channel}）",
                     message_en="x", building="dorm-1", location=own)

    named = places.enrich(fire("2-17", "三层东侧走廊感烟"))
    assert named.location == "3层东侧走廊"  # the installer's table
    assert named.message_zh.startswith("1号宿舍楼 3层东侧走廊：火灾报警")
    assert places.enrich(fire("1.5-9", "五层活动室感烟")).location == "五层活动室感烟"
    assert places.enrich(fire("1.2-18", "x")).location == "3层西侧走廊"  # system 1, loop 2


def test_point_map_is_read_from_the_installers_csv(tmp_path: Path) -> None:
    pts = load_point_map(ROOT / "deploy" / "examples" / "demo-panel-points.csv")
    assert pts[(2, 17)].location == "3层东侧走廊" and pts[(2, 17)].kind == "点型感烟火灾探测器"
    gb = tmp_path / "gb.csv"  # as Excel saves it on a Chinese Windows
    gb.write_bytes("控制器号,回路号,部位号,部件类型,位置\n1,2,7,手动报警按钮,2层西侧楼梯口\n"
                   .encode("gb18030"))
    assert load_point_map(gb)[(2, 7)].location == "2层西侧楼梯口"


@pytest.mark.parametrize(("text", "error"), [
    ("控制器号,回路号,部件类型,位置\n", "lacks 部位号"),
    ("控制器号,回路号,部位号,部件类型,位置\n1,x,3,烟感,走廊\n", ":2: 回路号 'x' is not a whole"),
    ("控制器号,回路号,部位号,部件类型,位置\n1,1,3,烟感,\n", ":2: 位置 is empty"),
    ("控制器号,回路号,部位号,部件类型,位置\n1,1,3,烟感,a\n1,1,3,烟感,b\n", ":3: loop 1 address 3 "
     "is listed twice"),
])
def test_a_bad_point_table_names_file_line_and_column(tmp_path: Path, text: str,
                                                      error: str) -> None:
    p = tmp_path / "points.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(PlacesError, match=error):
        load_point_map(p)


def test_config_check_reports_a_bad_point_table_and_a_bad_label(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("控制器号,回路号,部位号,部件类型,位置\n1,1,1,烟感,\n",
                                    encoding="utf-8")
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("gateway: {id: gw, site: s, campus: north, campus_name: 北校区, building: b1}\n"
                   "buses:\n  - {id: l1, type: rtu, port: /dev/ttyS1}\n"
                   "devices:\n"
                   "  - {id: fp, profile: fire_panel, bus: l1, unit: 1, points_csv: p.csv}\n"
                   "  - {id: dr, profile: fire_door, bus: l1, unit: 2,\n"
                   "     labels: {gate: {1: 东门}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    text = str(exc.value)
    assert "gw.yaml:7: devices[2] (dr).labels.gate: Input should be 'zone', 'door'" in text
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("{gate:", "{door:"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gw.yaml:5: devices\[1\] \(fp\).points_csv: .*p.csv"
                       r":2: 位置 is empty"):
        load_config(cfg)


def test_a_storm_digest_stays_a_digest_within_two_parts() -> None:
    from gateway.notify.storm import OutMessage, PageItem
    from gateway.notify.text import compose, local_tz

    items = [PageItem(f"a{i}", f"{1000 + i}", tr(
        rule="malicious_load", severity="major", value=1800.0 + i, floor=3, room=f"3{i:02d}"),
        False) for i in range(8)]
    text, params = compose(OutMessage("p", items, "group"), 600, local_tz(8),
                           Names("北校区", "1号宿舍楼", "dorm-1"))
    assert text.startswith("【告警8条】1号宿舍楼 03-02 10:00: 3层300室 疑似违规电热器具1800W(1000)")
    assert text.endswith(' 等8条 回复"1 代码"确认') and sms_parts(text) == 2
    assert "(1001)" in text and "dorm-1" not in text
    assert params["where"].startswith("北校区1号宿舍楼")


def test_influxdb_alarm_line_carries_the_location_field() -> None:
    from types import SimpleNamespace

    from gateway.outputs.lineproto import LineBuilder

    b = LineBuilder(SimpleNamespace(site="s", campus="north", building="dorm-1", id="gw"))
    out: list[str] = []
    b.alarm(tr(device="fire-panel", rule="fire_alarm", channel="3", severity="critical",
               value=1, threshold=1, location="3层东侧走廊",
               message_zh="1号宿舍楼 3层东侧走廊：火灾报警"), out)
    assert 'location="3层东侧走廊"' in out[0] and out[0].startswith("alarm,")
