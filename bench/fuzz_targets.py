"""Fuzz targets: every parser of data from outside the gateway, each as ``target(data: bytes)``.

A target turns the fuzzer's bytes into one input for one parser and checks the parser's contract:
the only exceptions allowed are the ones its callers handle (a Modbus reply: what
``drivers.transport.Link`` maps to ``BadReply``; a configuration: ``ConfigError`` with a line; a
scenario: ``ScenarioError``; a PDU: ``PduError``), and nothing is lost (every point of a reply is
either decoded or reported failed; every modem line lands somewhere; every MQTT command is either
applied or counted as ignored). A broken contract raises :class:`ContractBroken`; any other
exception escaping a target is a crash. The same targets run under hypothesis in
``tests/test_fuzz*.py`` (bounded) and under ``python -m bench.fuzz`` (long runs, atheris when it is
installed).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import struct
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


class ContractBroken(AssertionError):
    """The parser answered, but not the way its callers rely on."""


def _rng(data: bytes) -> random.Random:
    return random.Random(data)


# --------------------------------------------------------------------------- Modbus replies


@cache
def _modbus() -> tuple[Any, Any, list[Any]]:
    from pymodbus.framer import FramerRTU, FramerSocket
    from pymodbus.pdu import DecodePDU

    from drivers.device import DeviceReader
    from drivers.profiles import load_profiles

    profiles = load_profiles()
    readers = [DeviceReader(p, prof, 1) for p, prof in sorted(profiles.items())]
    return FramerRTU(DecodePDU(False)), FramerSocket(DecodePDU(False)), readers


# What drivers.transport.Link.read turns into BadReply / ReplyTimeout / ExceptionReply.
def _link_maps(exc: BaseException) -> bool:
    from pymodbus.exceptions import ModbusException

    return isinstance(exc, ModbusException | ValueError | IndexError | struct.error)


def modbus_frame(data: bytes) -> None:
    """Raw bytes on the wire into pymodbus' client framers (RTU and TCP), then, for a register
    reply, the registers into the gateway's decoding of a planned read."""
    rtu, sock, readers = _modbus()
    if not data:
        return
    framer = rtu if data[0] & 1 else sock
    try:
        _used, pdu = framer.handleFrame(data[1:], 0, 0)
    except Exception as exc:
        if not _link_maps(exc):
            raise
        return
    regs = getattr(pdu, "registers", None) if pdu is not None else None
    if regs:
        _decode_words(readers[data[0] % len(readers)], [int(w) & 0xFFFF for w in regs])


def modbus_rtu_reply(data: bytes) -> None:
    """A well-framed RTU reply (right CRC) with a fuzzed function code, byte count and body, so
    the input gets past the CRC into pymodbus' PDU decoder and the gateway's decoding."""
    from pymodbus.framer import FramerRTU

    if len(data) < 2:
        return
    fc = (1, 2, 3, 4, 5, 6, 15, 16, 0x83, 0x84, data[0])[data[0] % 11]
    body = data[2:]
    count = data[1] if data[1] & 1 else len(body)
    frame = bytes([1, fc, count & 0xFF]) + body
    frame += FramerRTU.compute_CRC(frame).to_bytes(2, "big")
    modbus_frame(b"\x01" + frame)


def modbus_words(data: bytes) -> None:
    """Register words straight into ``DeviceReader._decode`` for every planned read of every
    built-in profile: each point decoded or reported failed, never an exception."""
    _rtu, _sock, readers = _modbus()
    if len(data) < 2:
        return
    words = list(struct.unpack(f">{len(data) // 2}H", data[:len(data) // 2 * 2]))
    _decode_words(readers[data[0] % len(readers)], words)


def _decode_words(reader: Any, words: list[int]) -> None:
    from drivers.model import PollResult

    for cls, reads in reader.plans.items():
        for pr in reads:
            need = pr.request.count
            chunk = (words * (need // max(len(words), 1) + 1))[:need] if words else [0] * need
            data: list[int] | list[bool] = chunk
            if pr.request.table.is_bit:
                data = [bool(w & 1) for w in chunk]
            result = PollResult(reader.device_id, 0.0, cls)
            reader._decode(result, pr, data)
            keys = {p.key for p, _ in pr.points}
            got = set(result.values) | set(result.failed) | set(result.bad)  # bad: not readings
            if got != keys:
                raise ContractBroken(f"{reader.profile.profile}: points lost in decoding: "
                                     f"{sorted(keys - got)}")
            if result.failed and not result.error:
                raise ContractBroken("failed points without an error saying why")
            for k, v in result.values.items():
                if isinstance(v, float) and math.isnan(v) and k.endswith("_alarm"):
                    raise ContractBroken(f"{k}: an alarm bit decoded as NaN")


# --------------------------------------------------------------------------- configuration

_TOKENS = [
    "-1", "0", "1e309", "-1e309", ".nan", ".inf", "null", "~", "[]", "{}", "''", "yes", "no",
    "0x1F", "0o17", "99999999999999999999", '"${NOPE_NOT_SET}"', '"${file:/nonexistent}"',
    '"${HOME}"', "&a [1, *a]", "*undefined", "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=", "2024-13-45", '"\\u0000"', "'💥 火灾'", "x" * 300, "- a", "? k",
    "{a: 1, a: 2}", "@", "`", "|", ">", "%YAML 1.1", "---", "...", "tcp", "rtu", "lx47le",
    "dorm_controller", "cut_socket", "restore_socket", "malicious_load", "true", "false",
]


@cache
def _config_seeds() -> list[str]:
    # The demo building and a small file with every section; the 150-room campus example is
    # left out because pure-Python YAML makes each input cost 60 ms there.
    seeds = [(ROOT / "gateway" / "defaults" / "demo-building.yaml").read_text(encoding="utf-8")]
    seeds.append("""gateway: {id: gw-f, site: vc, campus: n, building: b, data_dir: data}
buses:
  - {id: bus, type: tcp, host: 127.0.0.1, port: 1502, timeout_s: 0.5}
  - {id: line, type: rtu, port: /dev/ttyS0, baudrate: 9600}
devices:
  - id: room-1
    profile: dorm_controller
    bus: bus
    unit: 1
    room: "101"
    ratings: {power_limit_w: 1200}
    actions:
      cut_socket: {auto: [malicious_load], hold_s: 10}
      restore_socket: {}
  - {id: brk-1, profile: lx47le, bus: line, unit: 2, actions: {trip: {}, close: {}}}
actions: {dry_run: false, max_per_device_per_hour: 6, operators: [alice]}
outputs:
  mqtt: {url: "mqtt://127.0.0.1:1883", username: gw, password: "${FIREGATE_FUZZ_PW:-pw}",
         operators: [alice]}
rules:
  defaults:
    malicious_load: {on_delay_s: 3}
""")
    return seeds


def mutate_text(seed: str, data: bytes, tokens: list[str]) -> str:
    """A handful of line-level and byte-level mutations of ``seed``, chosen by ``data``."""
    rng = _rng(data)
    lines = seed.splitlines()
    raw = data.decode("utf-8", "replace")
    for _ in range(1 + rng.randrange(4)):
        if not lines:
            lines = [raw]
        i = rng.randrange(len(lines))
        op = rng.randrange(9)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3 and ":" in lines[i]:
            key = lines[i].rsplit(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(tokens)}"
        elif op == 4:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + raw[:40] + lines[i][pos:]
        elif op == 5:
            lines[i] = " " * rng.randrange(6) + lines[i].lstrip()
        elif op == 6:
            lines = lines[:i]
        elif op == 7:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(tokens) + lines[i][pos:]
        else:
            lines[i] = lines[i].replace(":", rng.choice([" :", "::", "", ": :"]), 1)
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


@cache
def _fast_profiles() -> None:
    """The profiles are not what is fuzzed here: read them once, not for every input."""
    import gateway.config.models as gc
    from drivers.profiles import load_profiles

    cached = cache(load_profiles)
    gc.load_profiles = cached  # type: ignore[attr-defined]


@cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="firegate-fuzz-"))


def config_file(data: bytes) -> None:
    """A mutated configuration file into ``load_config``: a Config or a ConfigError whose every
    problem has a line, nothing else."""
    from gateway.config.models import ConfigError, load_config

    _fast_profiles()
    seeds = _config_seeds()
    text = mutate_text(seeds[data[0] % len(seeds)] if data else seeds[0], data[1:], _TOKENS)
    path = _workdir() / "gateway.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except ConfigError as exc:
        if not exc.problems:
            raise ContractBroken("ConfigError without problems") from exc
        for p in exc.problems:
            if p.line is None or not p.message:
                raise ContractBroken(f"a problem without a line or message: {p}") from exc


# --------------------------------------------------------------------------- scenarios


@cache
def _scenario_world() -> tuple[Any, list[str]]:
    from gateway.config.models import load_config
    from gateway.demo.simulate import spec_from_config

    cfg = load_config(ROOT / "gateway" / "defaults" / "demo-building.yaml")
    seeds = [(ROOT / "gateway" / "defaults" / "demo-scenario.yaml").read_text(encoding="utf-8")]
    return spec_from_config(cfg), seeds


def scenario_file(data: bytes) -> None:
    """A mutated scenario into ``load_scenario``: a Scenario or a ScenarioError only."""
    from simulators.scenario import ScenarioError, load_scenario

    spec, seeds = _scenario_world()
    tokens = [*_TOKENS, "room-101", "fire-panel", "offline", "slow", "garbage", "exception",
              "kettle", "power_w", "fire_alarm@3", "{load: kettle}", "-5", "1e9"]
    text = mutate_text(seeds[0], data, tokens)
    try:
        load_scenario("fuzz.yaml", spec, text=text)
    except ScenarioError:
        pass


# --------------------------------------------------------------------------- MQTT commands

_loop: asyncio.AbstractEventLoop | None = None


def _run(coro: Any) -> Any:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


@cache
def _sink() -> tuple[Any, list[dict[str, Any]]]:
    from gateway.config.models import GatewayIdentity
    from gateway.outputs.config import MqttConfig
    from gateway.outputs.mqtt_sink import MqttSink

    applied: list[dict[str, Any]] = []
    cfg = MqttConfig(url="mqtt://127.0.0.1:1883", operators=["alice", "控制室"])
    ident = GatewayIdentity(id="gw-f", site="vc", campus="n", building="b")
    return MqttSink(cfg, ident, outbox=None, on_command=applied.append), applied  # type: ignore[arg-type]


def _json_from(data: bytes) -> bytes:
    """A command-shaped payload: the fields a command has (id, ts, seq, operator, …) with
    values from the fuzzer, including the attacks of issue 15: deep nesting, lone surrogates,
    control characters, huge strings, stale and future times, repeated ids."""
    rng = _rng(data)
    text = data.decode("utf-8", "replace")
    now = time.time()
    keys = ["id", "ts", "seq", "operator", "device", "action", "reason", "alarm_id", "note",
            "command", "rule", "for_s", "end", "category", ""]
    vals: list[Any] = ["alice", "mallory", "控制室", "room-1", "cut_socket", "", None, 0, -1,
                       1, 2**63, 1e308, True, [], {}, ["alice"], {"operator": "alice"},
                       "A251129001", text, "\ud800", "A1\nINFO forged", "\x1b[2J",
                       "x" * rng.choice((64, 65, 1000, 1001, 70_000)), now, now - 61,
                       now + 11, now - rng.random() * 50, "yesterday", float("nan"),
                       f"id-{rng.randrange(50)}"]
    obj: dict[str, Any] = {}
    if rng.random() < 0.7:  # mostly well-formed around the edges
        obj = {"id": f"id-{rng.randrange(1 << 30)}", "ts": now - rng.random() * 5,
               "operator": rng.choice(["alice", "控制室", "mallory"]), "alarm_id": "A1",
               "seq": rng.randrange(1, 5), "device": "room-1", "action": "cut_socket",
               "reason": "fuzz", "rule": "malicious_load", "for_s": 600,
               "note": "fuzz", "category": "false_alarm"}
    for _ in range(rng.choice((0, 0, 1, 2, 5))):
        obj[rng.choice(keys)] = rng.choice(vals)
    try:
        out = json.dumps(obj, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    except (ValueError, TypeError):
        out = "{}"
    shape = rng.random()
    if shape < 0.05:
        out = "[" * rng.randrange(1, 5000) + out
    elif shape < 0.08:
        out = '{"a":' * rng.randrange(1, 2000) + out
    return out.encode("utf-8", "surrogatepass")


_APPLIED_IDS: set[str] = set()


def mqtt_command(data: bytes) -> None:
    """A message on ``cmd/{ack,action,shelve,maintenance}`` or ``cmd/{login}/…``, retained or
    not: applied
    (only for a listed operator, with clean, bounded text, fresh, never the same id twice) or
    counted as ignored; never an exception out of the sink."""
    from gateway.inbound.guard import _UNSAFE, TEXT_LIMITS

    sink, applied = _sink()
    kinds = ("ack", "action", "shelve", "maintenance", "close")
    kind = kinds[(data[0] ^ (data[-1] << 1)) % len(kinds)] if data else "ack"
    login = ("alice", "mallory", "控制室", "a/b")[data[1] % 4] if len(data) > 1 and \
        data[0] & 4 else None
    topic = f"{sink.prefix}/cmd/{login + '/' if login else ''}{kind}"
    flags = data[0] if data else 0
    payload = data[2:] if len(data) > 2 and flags & 0x22 == 0x22 else _json_from(data)
    retained = flags & 0x18 == 0x18
    before = (sink.commands_applied, sink.commands_ignored, len(applied))
    _run(sink.handle_command(topic, payload, retained=retained))
    a, i, n = sink.commands_applied, sink.commands_ignored, len(applied)
    if (a - before[0]) + (i - before[1]) != 1:
        raise ContractBroken("a command was neither applied nor counted as ignored")
    if n != before[2] + (a - before[0]):
        raise ContractBroken("applied count and commands passed on disagree")
    if n > before[2]:
        cmd = applied[-1]
        if retained:
            raise ContractBroken("a retained command was applied")
        if cmd["operator"] not in sink.cfg.operators:
            raise ContractBroken(f"passed on a command from {cmd['operator']!r}")
        need = {"action": ("device", "action"), "ack": ("alarm_id", "seq"),
                "shelve": ("device", "rule"), "maintenance": ("device",),
                "close": ("alarm_id", "note", "category")}[cmd["command"]]
        if cmd["command"] == "close" and login is None:
            raise ContractBroken("a close was taken from a shared topic")
        if not all(cmd.get(k) for k in need):
            raise ContractBroken(f"passed on an incomplete command: {cmd}")
        for k, v in cmd.items():
            if isinstance(v, str) and (_UNSAFE.search(v) or len(v) > TEXT_LIMITS.get(k, 200)):
                raise ContractBroken(f"passed on unclean or unbounded text in {k}")
        if not abs(time.time() - float(cmd["ts"])) <= 61:
            raise ContractBroken(f"passed on a command that is not fresh: ts {cmd['ts']}")
        if cmd["id"] in _APPLIED_IDS:
            raise ContractBroken(f"applied command id {cmd['id']!r} twice")
        _APPLIED_IDS.add(cmd["id"])
        del applied[:]


# --------------------------------------------------------------------------- SMS replies

WANG = "+8613800000001"


@cache
def _notifier() -> tuple[Any, list[tuple[str, str, str]]]:
    from gateway.notify.config import NotifyConfig
    from gateway.notify.notifier import Notifier

    acks: list[tuple[str, str, str]] = []

    def ledger_ack(alarm_id: str, who: str, via: str) -> bool:
        acks.append((alarm_id, who, via))
        return True

    cfg = NotifyConfig.model_validate({
        "enabled": True,
        "providers": [{"type": "aliyun", "endpoint": "http://127.0.0.1:9/", "access_key_id": "k",
                       "access_key_secret": "s", "sign_name": "学院", "template_code": "T"}],
        "rota": {"people": {"wang": {"phone": WANG}}, "levels": [["wang"]]}})

    class Ident:
        id, site, campus, building = "gw-f", "vc", "n", "b"
        data_dir = _workdir()

    n = Notifier(cfg, ledger_ack, Ident(), data_dir=_workdir())
    return n, acks


def sms_reply(data: bytes) -> None:
    """An SMS reply (sender, text) into ``Notifier.handle_reply``: an outcome in words; an
    acknowledgement only from a number on the rota with the code of an open alarm."""
    from gateway.records import AlarmTransition

    n, acks = _notifier()
    rng = _rng(data)
    if rng.random() < 0.3:
        aid = f"A{len(n.alarms):06d}"
        n.on_transition(AlarmTransition(id=aid, seq=1, device="d", rule="overload",
                                        severity="major", state="raised", event="raise",
                                        ts=0.0))
    sender = rng.choice([WANG, "+8613999999999", "", "13800000001", data[:12].decode(
        "latin-1")])
    codes = list(n.codes)
    text = data.decode("utf-8", "replace")
    if codes and rng.random() < 0.5:
        text = rng.choice(["1 ", "确认", "ok#", "ACK:", "1"]) + rng.choice(codes) + text[:2]
    before = len(acks)
    outcome = n.handle_reply(sender, text)
    if not isinstance(outcome, str) or not outcome:
        raise ContractBroken("handle_reply must say what it did")
    if len(acks) > before and n.rota.who_has(sender) is None:
        raise ContractBroken(f"acknowledged from {sender!r}, who is not on the rota")
    if len(n.replies) > 1000:
        del n.replies[:]


# --------------------------------------------------------------------------- modem


@cache
def _at() -> Any:
    from drivers.sms.at import AtChannel

    return AtChannel("/dev/fuzz")


def at_lines(data: bytes) -> None:
    """Bytes from a modem into the AT channel's line parser, with and without a command
    waiting: every non-empty line is an answer line, a final result or unsolicited."""
    from drivers.sms.at import _Pending

    ch = _at()
    loop = _run_loop()
    ch._buf.clear()
    while not ch.unsolicited.empty():
        ch.unsolicited.get_nowait()
    pending = None
    if data[:1] and data[0] & 1:
        pending = _Pending("AT+CMGL=4", [], loop.create_future(),
                           loop.create_future() if data[0] & 2 else None)
    ch._pending = pending
    body = data[1:]
    for i in range(0, len(body), 7):
        ch._buf.extend(body[i:i + 7])
        ch._parse()
    lines = ch.unsolicited.qsize()
    if pending is not None:
        lines += len(pending.lines) + (1 if pending.done.done() else 0)
    expected = [x for x in body.replace(b"\r", b"\n").split(b"\n")[:-1]
                if x.decode("ascii", "replace").strip()]
    if pending is None and lines != len(expected):
        raise ContractBroken(f"{len(expected)} lines from the modem, {lines} accounted for")
    ch._pending = None


def _run_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop


@cache
def _pdu_seeds() -> list[str]:
    from datetime import UTC, datetime

    from drivers.sms.pdu import encode_deliver, encode_submit

    ts = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    seeds = [encode_deliver(WANG, "1 4821", ts), encode_deliver("10086", "余额不足，请充值", ts),
             encode_deliver(WANG, "ok " + "x" * 100, ts)]
    seeds += [p.hex for p in encode_submit(WANG, "火警 fire alarm room 305 " * 5, reference=7)]
    return seeds


def pdu(data: bytes) -> None:
    """A PDU the modem hands over (``+CMGR``/``+CMGL``) into ``decode_pdu``: a message or a
    PduError, nothing else."""
    from drivers.sms.pdu import PduError, decode_pdu

    seeds = _pdu_seeds()
    if data[:1] and data[0] & 1:
        text = data[1:].hex()
    elif data:
        seed = bytearray(bytes.fromhex(seeds[data[0] % len(seeds)]))
        rng = _rng(data)
        for _ in range(1 + rng.randrange(4)):
            if not seed:
                break
            i = rng.randrange(len(seed))
            op = rng.randrange(3)
            if op == 0:
                seed[i] = rng.randrange(256)
            elif op == 1:
                del seed[i:i + rng.randrange(1, 8)]
            else:
                seed[i:i] = data[1:1 + rng.randrange(1, 8)]
        text = seed.hex()
    else:
        text = ""
    try:
        d = decode_pdu(text)
    except PduError:
        return
    if not isinstance(d.text, str):
        raise ContractBroken("decoded text is not text")


# --------------------------------------------------------------------------- GB/T 26875.3


@cache
def _gbt_seeds() -> list[bytes]:
    """Valid frames of every data unit type the gateway decodes: mutations of these get past the
    checksum and the length bounds, into the data units."""
    from drivers.gbt26875 import frame as fr
    from drivers.gbt26875 import units as u

    t = fr.TimeLabel(5, 4, 3, 2, 1, 26)
    objs: list[u.DataUnit | u.RawUnit] = [
        u.DataUnit(1, (u.SystemStatus(1, 1, 0x0003, t),)),
        u.DataUnit(2, (u.ComponentStatus(1, 1, 42, 2 << 16 | 17, 0x0003,
                                         "三层东侧走廊感烟".encode("gb18030"), t),
                       u.ComponentStatus(1, 1, 23, 1 << 16 | 3, 0x0005, b"", t))),
        u.DataUnit(3, (u.AnalogValue(1, 1, 18, 3 << 16 | 5, 3, -125, t),)),
        u.DataUnit(4, (u.OperationRecord(1, 1, 0x01, 7, t),)),
        u.DataUnit(21, (u.DeviceRunState(0x01, t),)),
        u.DataUnit(24, (u.DeviceOperation(0x10, 2, t),)),
        u.RawUnit(61, 1, b"\x01\x01"),
    ]
    src, dst = bytes.fromhex("010000000000"), bytes(6)
    return [fr.Frame(i + 1, 2, src, dst, u.encode(o), t).encode() for i, o in enumerate(objs)]


def _gbt_check(items: list[Any], reader: Any) -> None:
    from drivers.gbt26875 import frame as fr
    from drivers.gbt26875 import units as u
    from drivers.gbt26875.points import DeviceState

    if len(reader._buf) > fr.MAX_FRAME:
        raise ContractBroken(f"stream reader holds {len(reader._buf)} bytes, over one frame")
    state = DeviceState()
    for item in items:
        if isinstance(item, fr.FrameError):
            continue
        if not isinstance(item, fr.Frame):
            raise ContractBroken(f"reader yielded {type(item).__name__}")
        if item.encode() != fr.decode(item.encode()).encode():
            raise ContractBroken("a decoded frame does not encode back to itself")
        try:
            unit = u.decode(item.data)
        except u.UnitError:
            continue
        reading = state.read(unit)
        for ch, label in reading.labels.items():
            if not isinstance(label, str) or any(ord(c) < 0x20 for c in label):
                raise ContractBroken(f"label of {ch} has control characters: {label!r}")
        if isinstance(unit, u.DataUnit) and u.encode(unit) != item.data and \
                unit.type_flag != u.COMPONENT_STATUS:
            raise ContractBroken(f"type {unit.type_flag} unit does not encode back as sent")


def gbt26875_stream(data: bytes) -> None:
    """Bytes from a transmission device's TCP connection, cut at random points, into the frame
    reader, then every frame into the data units and the point mapping: only FrameError and
    UnitError, the reader never holds more than one maximal frame, every good frame round-trips.
    Half the inputs are mutations of valid frames (right checksum recomputed half the time)."""
    from drivers.gbt26875 import frame as fr

    rng = _rng(data)
    if data[:1] and data[0] & 1:
        seeds = _gbt_seeds()
        buf = bytearray(b"".join(rng.choice(seeds) for _ in range(1 + rng.randrange(3))))
        for _ in range(1 + rng.randrange(4)):
            i = rng.randrange(len(buf))
            op = rng.randrange(3)
            if op == 0:
                buf[i] = data[rng.randrange(len(data))]
            elif op == 1:
                del buf[i:i + rng.randrange(1, 8)]
            else:
                buf[i:i] = data[1:1 + rng.randrange(1, 16)]
        if rng.random() < 0.5 and len(buf) >= fr.OVERHEAD and buf[:2] == fr.START:
            n = min(len(buf) - fr.OVERHEAD, fr.MAX_DATA)
            buf[24], buf[25] = n & 0xFF, n >> 8
            end = fr.HEADER + n
            buf[end] = fr.checksum(bytes(buf[2:end]))
            buf[end + 1:end + 3] = fr.END
        stream = bytes(buf)
    else:
        stream = data[1:]
    reader = fr.FrameReader()
    items: list[Any] = []
    pos = 0
    while pos < len(stream):
        step = 1 + rng.randrange(64)
        items.extend(reader.feed(stream[pos:pos + step]))
        pos += step
    _gbt_check(items, reader)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "modbus_frame": modbus_frame,
    "modbus_rtu_reply": modbus_rtu_reply,
    "modbus_words": modbus_words,
    "config_file": config_file,
    "scenario_file": scenario_file,
    "mqtt_command": mqtt_command,
    "sms_reply": sms_reply,
    "at_lines": at_lines,
    "pdu": pdu,
    "gbt26875_stream": gbt26875_stream,
}
