"""The guarded inbound path: what an outside message must pass before the gateway acts on it.

Why each step, in order (issue 15, every one reproduced as an attack):
1. **size before parsing**: a 10 MB payload is refused by its length, never decoded or logged
   whole;
2. **bounded parsing**: ``json.loads`` recurses once per nesting level, so 1,000 bytes of ``[``
   raised ``RecursionError`` and ended the MQTT task; brackets are counted before parsing and
   anything deeper than ``max_depth`` is refused;
3. **schema**: the fields of ``gateway/schemas/cmd_ack.json`` / ``cmd_action.json``, checked
   strictly by hand (jsonschema is only a test dependency; pydantic is not loaded at run time);
4. **clean text**: no control characters (a newline in an ``alarm_id`` forged a log line; escape
   codes reached terminals), no lone surrogates (``\\ud800`` in a reason made the audit insert
   fail after the device had been written), and a length limit on every string;
5. **who**: the operator bound to the MQTT login when the message came on ``cmd/{login}/…``,
   and listed in ``outputs.mqtt.operators`` in every case;
6. **fresh and one-shot**: ``ts`` within ``max_age_s`` in the past and ``max_future_s`` in the
   future, an ``id`` never seen before (a replayed ``cut_socket`` is refused).

Every refusal is logged (untrusted text quoted and truncated), counted and handed to the audit
callback; nothing here raises to the caller but :class:`Refusal`, and :meth:`Guard.accept`
catches even that.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

log = logging.getLogger("firegate.inbound")

# C0 and C1 controls, DEL, zero-width and bidirectional controls, line/paragraph separators, BOM
# and every surrogate code point (a str holding one cannot be encoded as UTF-8).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
                     "\ud800-\udfff]")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")


def _escape_one(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control, invisible-direction character and surrogate written as a
    visible escape: safe to print on a terminal or in a log line."""
    return _UNSAFE.sub(_escape_one, text)


def shown(value: object, limit: int = 80) -> str:
    """An untrusted value for a log line: quoted, control characters escaped, at most ``limit``
    characters (with how many were left out), so it can neither forge a line nor flood a log."""
    text = value if isinstance(value, str) else repr(value)
    more = len(text) - limit
    body = escape_controls(text[:limit]).replace('"', '\\"')
    return f'"{body}"' + (f" (+{more} characters)" if more > 0 else "")


class Refusal(ValueError):
    """An inbound message the gateway will not act on; the message says why, in words."""

    def __init__(self, reason: str, *, cmd_id: str | None = None,
                 operator: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cmd_id = cmd_id
        self.operator = operator


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """Bounds of the guarded path (``outputs.mqtt.commands`` in the configuration)."""

    max_bytes: int = 64 * 1024
    max_depth: int = 8
    max_age_s: float = 60.0
    max_future_s: float = 10.0


# Longest accepted text per field, in characters. Ids are short by design (an alarm id is
# A + date + counter); a reason or a note is a sentence or a short paragraph for the review.
TEXT_LIMITS = {"id": 64, "operator": 64, "alarm_id": 32, "device": 64, "action": 64,
               "rule": 64, "category": 32, "reason": 500, "note": 1000}


def clean_text(value: object, field: str, max_len: int | None = None) -> str:
    """``value`` as text fit to store, log and show, or :class:`Refusal` naming the field."""
    if not isinstance(value, str):
        raise Refusal(f"{field} must be text")
    limit = TEXT_LIMITS.get(field, 200) if max_len is None else max_len
    if len(value) > limit:
        raise Refusal(f"{field} is {len(value)} characters long; at most {limit} are accepted")
    bad = _UNSAFE.search(value)
    if bad is not None:
        raise Refusal(f"{field} holds a control character or a lone surrogate "
                      f"({_escape_one(bad)} at position {bad.start()}); refused")
    return value


def parse_json(payload: bytes | bytearray | str, limits: InboundLimits) -> Any:
    """The payload as JSON, checked for size (before anything else), UTF-8 and nesting depth
    (before ``json.loads`` can recurse), or :class:`Refusal`."""
    if isinstance(payload, str):
        size = len(payload.encode("utf-8", "surrogatepass"))
    elif isinstance(payload, bytes | bytearray):
        size = len(payload)
    else:
        raise Refusal(f"payload of type {type(payload).__name__} is not a message")
    if size > limits.max_bytes:
        raise Refusal(f"payload of {size} bytes is larger than the limit of {limits.max_bytes}")
    try:
        text = payload if isinstance(payload, str) else bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(f"payload is not UTF-8 (byte {exc.start})") from None
    depth = _depth(text)
    if depth > limits.max_depth:
        raise Refusal(f"JSON nested {depth} levels deep; at most {limits.max_depth} accepted")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Refusal(f"not JSON ({str(exc)[:100]})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` outside strings. An unterminated string hides what
    follows it, which is then not JSON anyway."""
    brackets = _BRACKETS.sub("", _STRINGS.sub("", text))
    depth = deepest = 0
    for c in brackets:
        if c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


# --------------------------------------------------------------------------- commands
# Checked by hand rather than with pydantic: the running gateway does not load pydantic
# (gateway/config/plain.py says why), and five flat commands need a handful of strict checks.
# Strict as the schemas are: no coercion ("3" is not a seq, true is not a time), unknown keys
# ignored (a newer desk may send more), "kind" if present must be the topic's.

_NUMBER = (int, float)
MAX_SEQ = 2**53  # the largest integer a JSON number carries exactly


@dataclass(frozen=True, slots=True)
class _Spec:
    """One field: the types it accepts, whether it is required, its bounds."""

    types: tuple[type, ...]
    required: bool = True
    default: Any = None
    min_length: int = 0
    ge: float | None = None
    gt: float | None = None
    le: float | None = None


def _text(required: bool = True, default: Any = None, min_length: int = 1) -> _Spec:
    return _Spec((str,), required, default, min_length)


_COMMON = {"id": _text(), "ts": _Spec(_NUMBER), "operator": _text(required=False)}
_SUPPRESS = {**_COMMON, "device": _text(),
             "for_s": _Spec(_NUMBER, required=False, gt=0, le=366 * 86400),
             "reason": _text(required=False, default="", min_length=0),
             "end": _Spec((bool,), required=False, default=False)}
_SPECS: dict[str, dict[str, _Spec]] = {
    "ack": {**_COMMON, "alarm_id": _text(), "seq": _Spec((int,), ge=1, le=MAX_SEQ),
            "note": _text(required=False, min_length=0)},
    "close": {**_COMMON, "alarm_id": _text(),
              "seq": _Spec((int,), required=False, ge=1, le=MAX_SEQ),
              "note": _text(), "category": _text()},
    "action": {**_COMMON, "device": _text(), "action": _text(), "reason": _text(min_length=0)},
    "shelve": {**_SUPPRESS, "rule": _text()},
    "maintenance": {**_SUPPRESS, "rule": _text(required=False)},
}


def _field(name: str, spec: _Spec, data: dict[str, Any]) -> Any:
    if name not in data:
        if spec.required:
            raise Refusal(f"{name}: field required")
        return spec.default
    value = data[name]
    if value is None and not spec.required and spec.default is None:
        return None
    # bool is an int to Python, never a number or a count to an operator's message
    if (isinstance(value, bool) and bool not in spec.types) or not isinstance(value, spec.types):
        want = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
        raise Refusal(f"{name}: must be {want[spec.types[-1]]}, not {shown(value, 40)}")
    if isinstance(value, str) and len(value) < spec.min_length:
        raise Refusal(f"{name}: must not be empty")
    if isinstance(value, int | float) and not _within(value, spec):
        low = f"at least {_n(spec.ge)}" if spec.ge is not None else f"more than {_n(spec.gt)}"
        raise Refusal(f"{name}: must be {low} and at most {_n(spec.le)}, not {value!r}")
    return value


def _n(x: float | None) -> str:
    return str(int(x)) if x is not None and x == int(x) else str(x)


def _within(value: float, spec: _Spec) -> bool:
    return ((spec.ge is None or value >= spec.ge) and (spec.gt is None or value > spec.gt)
            and (spec.le is None or value <= spec.le))


def _parse(kind: str, data: dict[str, Any]) -> Command:
    if data.get("kind", kind) != kind:
        raise Refusal(f"kind: {shown(data['kind'], 20)} sent on the {kind} topic")
    values = {name: _field(name, spec, data) for name, spec in _SPECS[kind].items()}
    return _CLASSES[kind](**values)


@dataclass(frozen=True, slots=True)
class _Base:
    id: str  # unique per command: a replay of a seen id is refused
    ts: float  # when the operator sent it, seconds since the epoch
    operator: str | None


@dataclass(frozen=True, slots=True)
class AckCommand(_Base):
    """``cmd/ack``: acknowledge the occurrence ``seq`` of an alarm (``schemas/cmd_ack.json``)."""

    alarm_id: str
    seq: int  # the alarm's seq as the operator saw it (events, alarms/)
    note: str | None = None
    kind: Literal["ack"] = "ack"


@dataclass(frozen=True, slots=True)
class CloseCommand(_Base):
    """``cmd/{login}/close``: close a cleared alarm with a note and a review category, as the
    desk sends it (``schemas/cmd_close.json`` when the desk documents one)."""

    alarm_id: str
    seq: int | None
    note: str
    category: str
    kind: Literal["close"] = "close"


@dataclass(frozen=True, slots=True)
class ActionCommand(_Base):
    """``cmd/action``: ask for a named action of a device (``schemas/cmd_action.json``)."""

    device: str
    action: str
    reason: str
    kind: Literal["action"] = "action"


@dataclass(frozen=True, slots=True)
class _Suppress(_Base):
    device: str
    for_s: float | None  # how long; the gateway caps and expires it
    reason: str  # required to start (the gateway says so), not to end
    end: bool


@dataclass(frozen=True, slots=True)
class ShelveCommand(_Suppress):
    """``cmd/shelve``: shelve one rule of a device for a while (``schemas/cmd_shelve.json``)."""

    rule: str
    kind: Literal["shelve"] = "shelve"


@dataclass(frozen=True, slots=True)
class MaintenanceCommand(_Suppress):
    """``cmd/maintenance``: a device in maintenance for a while
    (``schemas/cmd_maintenance.json``)."""

    rule: str | None
    kind: Literal["maintenance"] = "maintenance"


Command = AckCommand | CloseCommand | ActionCommand | ShelveCommand | MaintenanceCommand
_CLASSES: dict[str, type[Command]] = {"ack": AckCommand, "close": CloseCommand,
                                      "action": ActionCommand, "shelve": ShelveCommand,
                                      "maintenance": MaintenanceCommand}
Audit = Callable[[dict[str, Any]], None]


class Guard:
    """One per channel (the MQTT sink holds one). :meth:`accept` returns the command to apply,
    or None after logging, counting and auditing why not."""

    def __init__(self, limits: InboundLimits, operators: Iterable[str], *,
                 logins: dict[str, str] | None = None, audit: Audit | None = None,
                 seen: Iterable[tuple[str, float]] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.operators = frozenset(operators)
        self.logins = dict(logins or {})
        self.audit = audit
        self.clock = clock
        self._seen: dict[str, float] = {}
        for cmd_id, at in seen:
            self._seen[cmd_id] = at
        self.accepted = 0
        self.refused = 0

    def accept(self, channel: str, kind: str, payload: object, *, retained: bool = False,
               login: str | None = None, where: str = "") -> Command | None:
        """Check one message; ``kind`` is ``ack`` or ``action``, ``login`` the MQTT login the
        topic binds (``cmd/{login}/…``), None on the shared topics."""
        try:
            cmd = self._check(kind, payload, retained, login)
        except Refusal as exc:
            self._refuse(channel, kind, exc, where)
            return None
        except Exception as exc:  # the guard itself must never end the caller's task
            log.exception("inbound %s message on %s could not be checked; dropped", kind,
                          shown(where))
            self._refuse(channel, kind, Refusal(f"internal error while checking "
                                                f"({type(exc).__name__})"), where)
            return None
        self.accepted += 1
        return cmd

    def _check(self, kind: str, payload: object, retained: bool,
               login: str | None) -> Command:
        if retained:
            raise Refusal("a retained command is never applied: commands are one-shot (publish "
                          "with retain false)")
        if kind not in _SPECS:
            raise Refusal(f"no command {shown(kind)}")
        data = parse_json(payload if isinstance(payload, bytes | bytearray | str) else
                          b"" if payload is None else payload, self.limits)  # type: ignore[arg-type]
        if not isinstance(data, dict):
            raise Refusal(f"a {kind} command is a JSON object, not {type(data).__name__}")
        cmd_id = data.get("id") if isinstance(data.get("id"), str) else None
        for name, value in data.items():
            if isinstance(value, str) and name in TEXT_LIMITS:
                try:
                    clean_text(value, name)
                except Refusal as exc:
                    raise Refusal(exc.reason, cmd_id=cmd_id if name != "id" else None) from None
        try:
            cmd = _parse(kind, data)
        except Refusal as exc:
            raise Refusal(exc.reason, cmd_id=cmd_id) from None
        operator = self._operator(cmd, login)
        self._fresh(cmd, operator)
        return replace(cmd, operator=operator)

    def _operator(self, cmd: Command, login: str | None) -> str:
        if login is not None:
            clean_text(login, "operator")
            bound = self.logins.get(login, login)
            if cmd.operator is not None and cmd.operator != bound:
                raise Refusal(f"operator {shown(cmd.operator)} in the message is not the "
                              f"operator bound to MQTT login {shown(login)} ({shown(bound)})",
                              cmd_id=cmd.id, operator=bound)
            operator = bound
        elif cmd.operator is None:
            raise Refusal("operator: field required", cmd_id=cmd.id)
        else:
            operator = cmd.operator
        if operator not in self.operators:
            raise Refusal(f"operator {shown(operator)} is not listed in outputs.mqtt.operators",
                          cmd_id=cmd.id, operator=operator)
        return operator

    def _fresh(self, cmd: Command, operator: str) -> None:
        now = self.clock()
        lim = self.limits
        if not math.isfinite(cmd.ts):
            raise Refusal("ts is not a time", cmd_id=cmd.id, operator=operator)
        if now - cmd.ts > lim.max_age_s:
            raise Refusal(f"stale: sent {now - cmd.ts:.0f} s ago, more than {lim.max_age_s:g} s",
                          cmd_id=cmd.id, operator=operator)
        if cmd.ts - now > lim.max_future_s:
            raise Refusal(f"dated {cmd.ts - now:.0f} s in the future (more than "
                          f"{lim.max_future_s:g} s ahead of this gateway's clock)",
                          cmd_id=cmd.id, operator=operator)
        horizon = now - lim.max_age_s - lim.max_future_s
        if len(self._seen) > 1024:
            self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
        if cmd.id in self._seen:
            raise Refusal(f"replay: command id {shown(cmd.id)} was already received",
                          cmd_id=cmd.id, operator=operator)
        self._seen[cmd.id] = now

    def _refuse(self, channel: str, kind: str, exc: Refusal, where: str) -> None:
        self.refused += 1
        log.warning("refused a %s command on %s: %s", kind, shown(where, 120), exc.reason)
        if self.audit is None:
            return
        try:
            self.audit({"ts": self.clock(), "channel": channel, "kind": kind,
                        "cmd_id": exc.cmd_id, "operator": exc.operator, "outcome": "refused",
                        "detail": exc.reason})
        except Exception as err:  # an audit that cannot be written must not end the task
            log.error("cannot audit the refused %s command: %s", kind, err)
