"""What the dashboards read from the line protocol the gateway writes: an alarm's label, message
and raise time; the gateway's heartbeat time as a value; display names as tags."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.outputs.lineproto import LineBuilder
from gateway.records import AlarmTransition


@dataclass(frozen=True)
class Identity:
    id: str = "gw-s7"
    site: str = "vc"
    campus: str = "south"
    building: str = "dorm-7"
    campus_name: str = ""
    building_name: str = ""


def _alarm(**extra: object) -> AlarmTransition:
    return AlarmTransition.from_json({
            "id": "A261203002", "device": "dorm-7-fap", "rule": "fire_alarm", "channel": "5",
            "event": "raise", "severity": "critical", "state": "raised", "seq": 1,
            "ts": 1796278547.25, "raised_at": 1796278547.25,
            "message_zh": "火灾报警（5号防区），请立即核实",
            "campus": "south", "building": "dorm-7", "floor": 1, **extra})


def test_an_alarm_carries_its_label_message_and_raise_time() -> None:
    out: list[str] = []
    LineBuilder(Identity()).alarm(_alarm(location="5号防区 一层东侧走廊"), out)
    line = out[0]
    assert line.startswith("alarm,") and ",channel=5," in line
    assert 'location="5号防区 一层东侧走廊"' in line
    assert 'message_zh="火灾报警（5号防区），请立即核实"' in line
    assert "raised_ms=1796278547250.0" in line


def test_an_alarm_without_a_label_writes_no_empty_location() -> None:
    out: list[str] = []
    LineBuilder(Identity()).alarm(_alarm(location=""), out)
    assert "location=" not in out[0]


def test_the_heartbeat_carries_its_own_time_as_a_value() -> None:
    line = LineBuilder(Identity()).gateway_health({"outbox_pending": 3}, 1796278547.0)
    assert line.startswith("gateway_health,")
    assert "ts_ms=1796278547000.0" in line and line.endswith(" 1796278547000")


def test_display_names_are_tags_when_configured() -> None:
    named = LineBuilder(Identity(campus_name="南校区", building_name="7号宿舍楼"))
    line = named.gateway_health({"outbox_pending": 3}, 1796278547.0)
    assert ",building_name=7号宿舍楼," in line and ",campus_name=南校区," in line
    plain = LineBuilder(Identity()).gateway_health({"outbox_pending": 3}, 1796278547.0)
    assert "_name=" not in plain


def test_telemetry_lines_follow_each_polls_own_keys_values_and_tags() -> None:
    """A device's key layout is worked out once and reused: a later poll with other keys,
    another room or values that cannot be written must still produce its own lines."""
    from gateway.records import TelemetryRecord

    lb = LineBuilder(Identity())

    def lines(fields: dict[str, object], room: str = "301") -> list[str]:
        out: list[str] = []
        lb.telemetry(TelemetryRecord(device="m1", ts=1796278547.25, measurement="electrical",
                                     tags={"room": room},
                                     fields=fields), out)  # type: ignore[arg-type]
        return out

    first = lines({"voltage_v": 230.2, "current_a@2": 3, "breaker_closed": True})
    assert first == [
        "electrical,building=dorm-7,campus=south,device=m1,gateway=gw-s7,room=301,site=vc "
        "voltage_v=230.2,breaker_closed=true 1796278547250",
        "electrical,building=dorm-7,campus=south,channel=2,device=m1,gateway=gw-s7,room=301,"
        "site=vc current_a=3.0 1796278547250"]
    assert lines({"voltage_v": 230.2, "current_a@2": 3, "breaker_closed": True}) == first
    again = lines({"voltage_v": float("nan"), "current_a@2": 4, "breaker_closed": False})
    assert again == [first[0].replace("voltage_v=230.2,breaker_closed=true",
                                      "breaker_closed=false"),
                     first[1].replace("current_a=3.0", "current_a=4.0")]
    moved = lines({"voltage_v": 229.9, "trip_reason": 'over "load"'}, room="302")
    assert moved == ["electrical,building=dorm-7,campus=south,device=m1,gateway=gw-s7,room=302,"
                     'site=vc voltage_v=229.9,trip_reason="over \\"load\\"" 1796278547250']
