"""GB/T 26875.3 codec: frames written by an independent encoder (built here from the standard's
field tables, sharing no code with drivers/gbt26875) decode as expected; round trips; the stream
reader's resynchronisation and bounds; the mapping onto points; the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gbt26875 import frame as fr
from drivers.gbt26875 import units as u
from drivers.gbt26875.points import DeviceState
from gateway.config.models import ConfigError, load_config
from rules.engine import Engine
from rules.model import DeviceInfo, Snapshot
from rules.settings import RulesSettings

# --------------------------------------------------------------------------- independent encoder
# The control unit and the data unit objects, field by field (name, bytes), as the standard's
# tables list them. Integers are little-endian ("low byte first"); the description is GB18030.
CONTROL = [("serial", 2), ("version_main", 1), ("version_user", 1), ("second", 1),
           ("minute", 1), ("hour", 1), ("day", 1), ("month", 1), ("year", 1), ("source", 6),
           ("destination", 6), ("length", 2), ("command", 1)]
TIME = [("second", 1), ("minute", 1), ("hour", 1), ("day", 1), ("month", 1), ("year", 1)]
OBJECTS: dict[int, list[tuple[str, int]]] = {
    1: [("system_type", 1), ("system_address", 1), ("status", 2)],
    2: [("system_type", 1), ("system_address", 1), ("component_type", 1),
        ("component_address", 4), ("status", 2), ("description", 31)],
    3: [("system_type", 1), ("system_address", 1), ("component_type", 1),
        ("component_address", 4), ("analog_type", 1), ("value", -2)],  # -2: signed
    4: [("system_type", 1), ("system_address", 1), ("flags", 1), ("operator", 1)],
    21: [("status", 1)],
    24: [("flags", 1), ("operator", 1)],
}


def field_bytes(value: Any, size: int) -> bytes:
    if isinstance(value, bytes):
        assert len(value) == size
        return value
    if isinstance(value, str):  # description: GB18030, padded with spaces to its width
        b = value.encode("gb18030")
        return b + b" " * (size - len(b))
    return int(value).to_bytes(abs(size), "little", signed=size < 0)


def write_fields(fields: list[tuple[str, int]], values: dict[str, Any]) -> bytes:
    return b"".join(field_bytes(values[name], size) for name, size in fields)


def independent_frame(control: dict[str, Any], type_flag: int,
                      objects: list[dict[str, Any]]) -> bytes:
    data = bytes([type_flag, len(objects)]) + b"".join(
        write_fields(OBJECTS[type_flag] + TIME, o) for o in objects)
    body = write_fields(CONTROL, {**control, "length": len(data)}) + data
    total = 0
    for b in body:
        total = (total + b) % 256
    return b"\x40\x40" + body + bytes([total]) + b"\x23\x23"


WHEN = {"second": 30, "minute": 15, "hour": 21, "day": 3, "month": 12, "year": 26}
CTRL = {"serial": 0x1234, "version_main": 1, "version_user": 2, **WHEN,
        "source": bytes.fromhex("010000000000"), "destination": bytes(6), "command": 2}


def test_a_component_status_frame_from_the_independent_encoder_decodes_as_written() -> None:
    raw = independent_frame(CTRL, 2, [
        {"system_type": 1, "system_address": 1, "component_type": 42,
         "component_address": 2 << 16 | 17, "status": 0b11, "description": "三层东侧走廊感烟",
         **WHEN},
        {"system_type": 1, "system_address": 1, "component_type": 23,
         "component_address": 1 << 16 | 3, "status": 0b101, "description": "", **WHEN}])
    f = fr.decode(raw)
    assert (f.serial, f.command, f.version) == (0x1234, 2, (1, 2))
    assert fr.address_text(f.source) == "000000000001" and f.destination == bytes(6)
    assert str(f.time) == "2026-12-03 21:15:30"
    unit = u.decode(f.data)
    assert isinstance(unit, u.DataUnit) and unit.type_flag == 2 and len(unit.objects) == 2
    smoke, call = unit.objects
    assert isinstance(smoke, u.ComponentStatus) and isinstance(call, u.ComponentStatus)
    assert (smoke.loop, smoke.point, smoke.component_type) == (2, 17, 42)
    assert smoke.text == "三层东侧走廊感烟" and smoke.status == 0b11
    assert (call.loop, call.point, call.text, call.status) == (1, 3, "", 0b101)
    reading = DeviceState().read(unit)
    assert reading.values["fire_alarm@2-17"] is True and reading.values["fault@2-17"] is False
    assert reading.values["fault@1-3"] is True
    assert reading.labels["2-17"] == "三层东侧走廊感烟"


@pytest.mark.parametrize(("type_flag", "obj", "expect"), [
    (1, {"system_type": 1, "system_address": 1, "status": 1 << 1 | 1 << 8 | 1},
     {"running": True, "fire_alarm": True, "main_power_fault": True, "fault": False}),
    (1, {"system_type": 23, "system_address": 2, "status": 1 << 2},
     {"fault@sys23.2": True, "running@sys23.2": False}),
    (3, {"system_type": 1, "system_address": 1, "component_type": 18,
         "component_address": 3 << 16 | 5, "analog_type": 3, "value": -125},
     {"temperature_c@3-5": -12.5}),
    (3, {"system_type": 1, "system_address": 1, "component_type": 17,
         "component_address": 1 << 16 | 1, "analog_type": 8, "value": 2302},
     {"voltage_v@1-1": 230.2}),
    (21, {"status": 1 | 1 << 3}, {"running@utd": True, "main_power_fault@utd": True}),
])
def test_status_and_analog_frames_from_the_independent_encoder_map_onto_points(
        type_flag: int, obj: dict[str, Any], expect: dict[str, Any]) -> None:
    raw = independent_frame(CTRL, type_flag, [{**obj, **WHEN}])
    reading = DeviceState().read(u.decode(fr.decode(raw).data))
    assert {k: reading.values[k] for k in expect} == expect


@pytest.mark.parametrize(("type_flag", "obj", "what", "system"), [
    (4, {"system_type": 1, "system_address": 1, "flags": 0b1, "operator": 7}, ("reset",), ""),
    (4, {"system_type": 1, "system_address": 1, "flags": 0b10010, "operator": 7},
     ("silence", "self_test"), ""),
    (24, {"flags": 0b10000, "operator": 2}, ("self_test",), "utd"),
])
def test_operation_records_from_the_independent_encoder(type_flag: int, obj: dict[str, Any],
                                                        what: tuple[str, ...],
                                                        system: str) -> None:
    raw = independent_frame(CTRL, type_flag, [{**obj, **WHEN}])
    reading = DeviceState().read(u.decode(fr.decode(raw).data))
    assert [(o.what, o.operator, o.system) for o in reading.operations] == \
        [(what, obj["operator"], system)]


def test_a_reset_ends_every_components_latched_states() -> None:
    state = DeviceState()
    fire = u.ComponentStatus(1, 1, 42, 2 << 16 | 17, 0b11, b"", u.NO_TIME)
    state.read(u.DataUnit(2, (fire,)))
    reset = state.read(u.DataUnit(4, (u.OperationRecord(1, 1, 1, 3),)))
    assert reset.values["fire_alarm@2-17"] is False
    assert "fault@2-17" not in reset.values  # a fault stays until the panel says otherwise


def test_a_device_cannot_make_the_gateway_track_components_without_end() -> None:
    state = DeviceState(max_components=3)
    objs = tuple(u.ComponentStatus(1, 1, 42, 1 << 16 | i, 0b11, b"", u.NO_TIME)
                 for i in range(5))
    reading = state.read(u.DataUnit(2, objs))
    assert sorted(state.components) == ["1-0", "1-1", "1-2"] and state.dropped == 2
    assert "fire_alarm@1-4" not in reading.values


# --------------------------------------------------------------------------- bounds
def _good() -> bytes:
    return independent_frame(CTRL, 21, [{"status": 1, **WHEN}])


@pytest.mark.parametrize(("damage", "words"), [
    (lambda b: b[:-3] + bytes([(b[-3] + 1) % 256]) + b[-2:], "checksum"),
    (lambda b: b[:-2] + b"#!", "instead of 2323"),
    (lambda b: b[:24] + (2000).to_bytes(2, "little") + b[26:], "over 1024"),
    (lambda b: b[:24] + (12).to_bytes(2, "little") + b[26:], "declared data length 12"),
    (lambda b: b[:20], "shorter"),
    (lambda b: b"!@" + b[2:], "instead of 4040"),
])
def test_a_broken_frame_says_what_is_wrong(damage: Any, words: str) -> None:
    with pytest.raises(fr.FrameError, match=words):
        fr.decode(damage(_good()))


def test_a_data_unit_whose_count_does_not_match_its_bytes_is_refused() -> None:
    data = bytes([1, 2]) + bytes(10)  # two system status objects declared, one present
    with pytest.raises(u.UnitError, match="2 object"):
        u.decode(data)
    with pytest.raises(u.UnitError, match="count of 0"):
        u.decode(bytes([2, 0]))
    assert isinstance(u.decode(bytes([61, 1, 1, 1])), u.RawUnit)  # unknown types kept whole


def test_the_reader_cuts_a_stream_split_anywhere_and_skips_garbage() -> None:
    a, b = _good(), independent_frame({**CTRL, "serial": 9}, 1, [
        {"system_type": 1, "system_address": 1, "status": 3, **WHEN}])
    bad = a[:-3] + bytes([(a[-3] + 1) % 256]) + a[-2:]
    stream = b"junk@" + a + b"\x00\x01" + bad + a[:20] + b + b"@"
    for cut in range(1, len(stream)):
        reader = fr.FrameReader()
        items = list(reader.feed(stream[:cut])) + list(reader.feed(stream[cut:]))
        frames = [i.serial for i in items if isinstance(i, fr.Frame)]
        assert frames == [0x1234, 9], cut
        errors = [str(i) for i in items if isinstance(i, fr.FrameError)]
        assert any("checksum" in e for e in errors)
        assert any("truncated" in e or "never completed" in e for e in errors)


def test_the_reader_never_holds_more_than_one_frame_of_junk() -> None:
    reader = fr.FrameReader()
    for _ in range(100):
        list(reader.feed(b"@" * 999 + b"x"))
        list(reader.feed(bytes(range(256)) * 4))
        assert len(reader._buf) <= fr.MAX_FRAME


# --------------------------------------------------------------------------- round trips
BYTE = st.integers(0, 255)
TIMES = st.builds(fr.TimeLabel, BYTE, BYTE, BYTE, BYTE, BYTE, BYTE)
ADDR4 = st.integers(0, 0xFFFFFFFF)
DESC = st.text(st.characters(codec="gb18030", min_codepoint=0x21, exclude_categories=(
    "Cc", "Cs", "Zs", "Zl", "Zp")), max_size=10).map(lambda t: t.encode("gb18030")[:31]) \
    .filter(lambda b: _decodes(b))


def _decodes(b: bytes) -> bool:
    try:
        b.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return not b.endswith((b" ", b"\0"))


OBJS = {
    1: st.builds(u.SystemStatus, BYTE, BYTE, st.integers(0, 0xFFFF), TIMES),
    2: st.builds(u.ComponentStatus, BYTE, BYTE, BYTE, ADDR4, st.integers(0, 0xFFFF), DESC,
                 TIMES),
    3: st.builds(u.AnalogValue, BYTE, BYTE, BYTE, ADDR4, BYTE, st.integers(-0x8000, 0x7FFF),
                 TIMES),
    4: st.builds(u.OperationRecord, BYTE, BYTE, BYTE, BYTE, TIMES),
    21: st.builds(u.DeviceRunState, BYTE, TIMES),
    24: st.builds(u.DeviceOperation, BYTE, BYTE, TIMES),
}
UNITS = st.sampled_from(sorted(OBJS)).flatmap(
    lambda t: st.lists(OBJS[t], min_size=1, max_size=5).map(
        lambda objs: u.DataUnit(t, tuple(objs))))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(UNITS)
def test_data_units_round_trip(unit: u.DataUnit) -> None:
    assert u.decode(u.encode(unit)) == unit


ADDR6 = st.binary(min_size=6, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 0xFFFF), st.sampled_from(list(fr.Command)), ADDR6, ADDR6,
       st.binary(max_size=fr.MAX_DATA), TIMES, st.tuples(BYTE, BYTE), st.integers(1, 64))
def test_frames_round_trip_through_the_stream_reader(serial: int, command: int, src: bytes,
                                                     dst: bytes, data: bytes,
                                                     time: fr.TimeLabel,
                                                     version: tuple[int, int],
                                                     chunk: int) -> None:
    f = fr.Frame(serial, command, src, dst, data, time, version)
    raw = f.encode()
    assert fr.decode(raw) == f
    reader = fr.FrameReader()
    got = [i for n in range(0, len(raw) * 2, chunk) for i in reader.feed((raw * 2)[n:n + chunk])]
    assert got == [f, f]


def test_an_oversized_description_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="at most 31"):
        u.encode_description("一" * 16)  # 32 bytes in GB18030
    assert len(u.encode_description("一" * 15)) == 31


# --------------------------------------------------------------------------- rules, config
def test_components_reported_on_the_way_get_their_own_alarm_and_location() -> None:
    info = DeviceInfo("fas-1", "fire_panel", "fire_panel", "gbt26875", building="dorm-9",
                      points=("fire_alarm", "fault"), open_channels=True)
    eng = Engine(RulesSettings(), {"fas-1": info})
    out = eng.feed(Snapshot("fas-1", 1000.0, True, {"fire_alarm@2-17": True},
                            labels={"2-17": "三层东侧走廊感烟"}))
    assert [(e.kind, e.rule, e.channel, e.location) for e in out] == \
        [("raise", "fire_alarm", "2-17", "三层东侧走廊感烟")]
    assert "三层东侧走廊感烟" in out[0].message_zh
    # the label stays for later snapshots that do not repeat it
    out = eng.feed(Snapshot("fas-1", 1001.0, True, {"fault@3-5": True}))
    assert [(e.rule, e.channel) for e in out] == [("panel_fault", "fault@3-5")]
    out = eng.feed(Snapshot("fas-1", 1002.0, True, {"fire_alarm@2-17": False}))
    assert [(e.kind, e.location) for e in out] == [("clear", "三层东侧走廊感烟")]


def test_a_polled_panel_does_not_learn_channels_it_was_not_given() -> None:
    info = DeviceInfo("p", "fire_panel", "fire_panel", "fire_panel", points=("fire_alarm",))
    eng = Engine(RulesSettings(), {"p": info})
    assert eng.feed(Snapshot("p", 1000.0, True, {"fire_alarm@9": True})) == []


def _cfg(tmp_path: Path, device: str) -> Path:
    p = tmp_path / "gw.yaml"
    p.write_text(f"""gateway: {{id: gw, site: s, campus: c, building: b}}
buses:
  - {{id: fas, type: gbt26875, host: 0.0.0.0, port: 9001}}
  - {{id: lan, type: tcp, host: 127.0.0.1}}
devices:
  {device}
""", encoding="utf-8")
    return p


def test_the_configuration_of_a_fire_panel_over_gbt26875(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, '- {id: fas-1, profile: gbt26875, bus: fas, '
                                     'address: "000000000001", floor: 1, room: "101"}'))
    assert cfg.devices[0].address == "000000000001"
    with pytest.raises(ConfigError) as exc:
        load_config(_cfg(tmp_path, "- {id: fas-1, profile: gbt26875, bus: fas}"))
    assert "gw.yaml:6: devices[1] (fas-1).address: is required on a gbt26875 bus" in \
        str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(_cfg(tmp_path, '- {id: m, profile: ddsu666, bus: lan}'))
    assert "devices[1] (m).unit: is required" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(_cfg(tmp_path, '- {id: fas-1, profile: gbt26875, bus: fas, '
                                   'address: "12345"}'))
    assert "address" in str(exc.value)
    bad_relay = _cfg(tmp_path, '- {id: fas-1, profile: gbt26875, bus: fas, '
                               'address: "000000000001"}')
    bad_relay.write_text(bad_relay.read_text().replace("port: 9001}",
                                                       "port: 9001, relay_to: 'c:70000'}"))
    with pytest.raises(ConfigError) as exc:
        load_config(bad_relay)
    assert "buses[1] (fas).relay_to" in str(exc.value) and "1-65535" in str(exc.value)
    bad_relay.write_text(bad_relay.read_text().replace("relay_to: 'c:70000'",
                                                       "allow_from: [10.20.3.300]"))
    with pytest.raises(ConfigError) as exc:
        load_config(bad_relay)
    assert "buses[1] (fas).allow_from" in str(exc.value) and "10.20.3.300" in str(exc.value)
