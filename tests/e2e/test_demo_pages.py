"""Every SMS of a demo run, decoded PDU by PDU with an independent decoder (smspdudecoder), says
where (the building and the place as people name it), what, and the code to reply with; no
device id reaches a phone; a page is one SMS part (two at most)."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from smspdudecoder.fields import SMSSubmit

from gateway.config.models import load_config
from gateway.config.places import Places, load_point_map
from tests.support.demo_kit import DemoRun

ROOT = Path(__file__).parents[2]
BUILDING = "北校区1号宿舍楼"
PAGE = re.compile(r'^【(特急|严重|一般|提示)】(?P<where>北校区1号宿舍楼 \S+|1号宿舍楼 \S+) '
                  r'(?P<what>[^，。]+)(，[^。]+)?。回复"1 (?P<code>\d{4,8})"确认$')
DIGEST = re.compile(r"^【告警(?P<n>\d+)条(,特急\d+)?】1号宿舍楼 ")


def _decode_all(path: Path) -> list[dict[str, Any]]:
    """Whole messages from the modem's PDUs: parts joined by their concatenation header."""
    singles: list[dict[str, Any]] = []
    parts: dict[tuple[str, int], dict[int, str]] = {}
    totals: dict[tuple[str, int], int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        sms = SMSSubmit.decode(StringIO(rec["pdu_hex"]))
        number = sms["recipient"]["number"]
        assert sms["dcs"]["encoding"] == "ucs2", sms["dcs"]
        ud = sms["user_data"]
        concat = next((e["data"] for e in (ud["header"] or {}).get("elements", [])
                       if e["iei"] in (0, 8)), None)
        if concat is None:
            singles.append({"number": number, "text": ud["data"], "parts": 1})
            continue
        key = (number, concat["reference"])
        parts.setdefault(key, {})[concat["part_number"]] = ud["data"]
        totals[key] = concat["parts_count"]
    for key, got in parts.items():
        assert sorted(got) == list(range(1, totals[key] + 1)), f"missing parts of {key}"
        singles.append({"number": key[0], "text": "".join(got[i] for i in sorted(got)),
                        "parts": totals[key]})
    return singles


@pytest.mark.slow
def test_every_sms_of_the_demo_says_where_what_and_the_code(demo_120: DemoRun) -> None:
    cfg = load_config(ROOT / "deploy" / "examples" / "demo-building.yaml")
    places = Places.from_config(cfg)
    ids = [d.id for d in cfg.devices]
    known_places = {places.location(d.id, "", "") for d in cfg.devices} | {
        label for d in cfg.devices for names in d.labels.values() for label in names.values()} \
        | {p.location for d in cfg.devices if d.points_csv
           for p in load_point_map(d.points_csv).values()}
    messages = _decode_all(demo_120.line_protocol.parent / "sms.jsonl")
    pages = [m for m in messages if m["text"].startswith("【") and
             not m["text"].startswith(("【告警", "【告警汇总"))]
    assert len(pages) >= 4, [m["text"] for m in messages]
    for m in messages:
        text = m["text"]
        assert not [i for i in ids if i in text], f"a device id reached a phone: {text}"
        assert "dorm-1" not in text and "north" not in text, text
    for m in pages:
        text = m["text"]
        match = PAGE.match(text)
        assert match, f"not severity, where, what, action, code: {text}"
        where = match["where"].split(" ", 1)[1]
        assert where in known_places, f"{where!r} is not a place of the building: {text}"
        assert match["what"] and match["code"]
        assert m["parts"] == 1 and len(text) <= 70, f"{m['parts']} parts: {text}"
    # Pages that came together go as one digest: each entry is where, what and its own code.
    digests = [m for m in messages if DIGEST.match(m["text"])]
    for m in digests:
        body = m["text"].split(": ", 1)[1].rsplit(' 回复"1 代码"确认', 1)[0]
        entries = re.sub(r" 等\d+条$", "", body).split("; ")
        assert len(entries) >= 2 and m["parts"] <= 2, m["text"]
        for entry in entries:
            item = re.fullmatch(r"(?P<where>\S+) (?P<what>.+)\((?P<code>\d{4,8})\)", entry)
            assert item and item["where"] in known_places and item["what"], entry
    whats = {PAGE.match(m["text"])["what"] for m in pages}  # type: ignore[index]
    fire = [m for m in pages if PAGE.match(m["text"])["what"] == "火警"]  # type: ignore[index]
    assert fire and all("3层东侧走廊" in m["text"] for m in fire), [m["text"] for m in fire]
    assert "故障电弧" in whats, whats
