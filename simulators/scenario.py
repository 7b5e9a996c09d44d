"""Scenario files (design contract 3): timed steps played against a running simulation.

    - {at: 5,  device: room-101, set: {load: kettle}}
    - {at: 20, device: room-101, set: {power_w: 1500, reactive_power_var: 0}}
    - {at: 30, device: panel-1,  fault: offline, for: 10}
    - {at: 40, device: efd-1,    fault: slow, for: 5, delay_s: 0.4}

``at`` is seconds from the start. ``set`` takes point keys of the device's profile or the
pseudo-points of its kind (``load``, ``unload``, ``trace``, ``arcs``, ``clear``; see
``simulators/device.py``); ``{at: 0, device: room-101, set: {trace: room-101.csv}}`` plays a
building's own recording (a path relative to the scenario file) into that meter. ``fault`` is
offline, slow, exception or garbage; ``for`` is its
duration in seconds (omit it for "until the end"); ``delay_s`` (slow), ``code`` (exception)
and ``mode`` (garbage: corrupt, truncate, noise) tune it. The file may also be a mapping with
the list under ``steps:``. An extension: ``{at, bus: BUS_ID, fault: KIND, for: SECONDS}`` holds
a whole line (a cut RS-485 pair is ``offline``, a noisy one ``garbage``). Every problem is
reported with the step number, its line and the field, before anything runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from simulators.device import DeviceModel, make_model
from simulators.faults import DEFAULT_SLOW_S, FAULT_KINDS, GARBAGE_MODES
from simulators.spec import SimSpec

if TYPE_CHECKING:
    from simulators import Simulation

log = logging.getLogger(__name__)

STEP_KEYS = {"at", "device", "bus", "set", "fault", "for", "delay_s", "code", "mode"}
FAULT_OPTIONS = {"for", "delay_s", "code", "mode"}


class ScenarioError(ValueError):
    """A scenario that cannot be played; the message names the file, step, line and field."""


@dataclass
class Step:
    number: int
    at: float
    device: str  # "" for a bus step
    set: dict[str, Any] | None = None
    fault: str | None = None
    for_s: float | None = None
    delay_s: float = DEFAULT_SLOW_S
    code: int = 4
    mode: str = "corrupt"
    line: int | None = None
    bus: str | None = None


@dataclass
class Scenario:
    steps: list[Step] = field(default_factory=list)
    source: str = "<scenario>"

    @property
    def duration_s(self) -> float:
        return max((s.at + (s.for_s or 0.0) for s in self.steps), default=0.0)


def load_scenario(
    source: Path | str, spec: SimSpec, *, text: str | None = None
) -> Scenario:
    """Read and check a scenario file (or ``text``) against the simulated devices of ``spec``."""
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{name}: cannot read the scenario: {exc}") from exc
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{name}: not valid YAML: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # an impossible date such as 2024-13-45 (fuzzing)
        raise ScenarioError(f"{name}: a value YAML reads as a date is not one ({exc}); put it "
                            "in quotes") from exc
    lines: list[int | None] = []
    if isinstance(data, Mapping) and "steps" in data:
        data = data["steps"]
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == "steps":
                    node = v
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ScenarioError(f"{name}: a scenario is a list of steps (or steps: [...])")
    if isinstance(node, yaml.SequenceNode):
        lines = [item.start_mark.line + 1 for item in node.value]
    models = {d.id: make_model(d) for d in spec.devices}
    buses = {b.id for b in spec.buses}
    steps = [
        _step(name, i, raw, lines[i - 1] if i <= len(lines) else None, models, buses)
        for i, raw in enumerate(data, 1)
    ]
    return Scenario(steps=steps, source=name)


def _step(
    source: str,
    number: int,
    raw: Any,
    line: int | None,
    models: Mapping[str, DeviceModel],
    buses: set[str],
) -> Step:
    where = f"{source}: step {number}" + (f" (line {line})" if line else "")

    def fail(fieldname: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{where}: {fieldname}: {msg}" if fieldname else f"{where}: {msg}")

    if not isinstance(raw, Mapping):
        raise fail("", "a step is a mapping like {at: 5, device: ID, set: {POINT: VALUE}}")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise fail(
            sorted(unknown)[0], f"unknown field; a step has {', '.join(sorted(STEP_KEYS))}"
        )
    at = raw.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
        raise fail("at", f"seconds from the start (a number >= 0) is required, not {at!r}")
    has_set, has_fault = "set" in raw, "fault" in raw
    if has_set == has_fault:
        raise fail("", "a step has either set: or fault:, exactly one of them")
    if "bus" in raw:
        if "device" in raw:
            raise fail("bus", "a step is about a device or a whole bus, not both")
        if has_set:
            raise fail("set", "a bus step takes fault:, values are set on devices")
        bus = raw["bus"]
        if bus not in buses:
            raise fail("bus", f"no bus {bus!r} in the simulation; buses: "
                       f"{', '.join(sorted(buses)) or 'none'}")
        step = Step(number=number, at=float(at), device="", line=line, bus=str(bus))
        return _fault_options(step, raw, fail)
    dev = raw.get("device")
    if not isinstance(dev, str):
        raise fail("device", "the id of a simulated device is required")
    model = models.get(dev)
    if model is None:
        raise fail("device", f"no device {dev!r} in the simulation; devices: "
                   f"{', '.join(sorted(models)) or 'none'}")
    step = Step(number=number, at=float(at), device=dev, line=line)
    if has_set:
        extra = FAULT_OPTIONS & set(raw)
        if extra:
            raise fail(sorted(extra)[0], "only a fault step takes this field")
        values = raw["set"]
        if not isinstance(values, Mapping) or not values:
            raise fail("set", "a mapping of POINT: VALUE with at least one entry is required")
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key == "trace":  # a recording next to the scenario file
                value = _beside(source, value)
            try:
                checked[str(key)] = model.check(str(key), value)
            except ValueError as exc:
                raise fail(f"set.{key}", str(exc)) from None
        step.set = checked
        return step
    return _fault_options(step, raw, fail)


def _beside(source: str, value: Any) -> Any:
    """A relative trace path is read from the scenario file's folder."""
    if not isinstance(value, str) or value == "none" or Path(value).is_absolute():
        return value
    folder = Path(source).parent
    return str(folder / value) if folder.is_dir() and source != "<scenario>" else value


def _fault_options(
    step: Step, raw: Mapping[str, Any], fail: Callable[[str, str], ScenarioError]
) -> Step:
    kind = raw["fault"]
    if kind not in FAULT_KINDS:
        raise fail("fault", f"{kind!r} is not one of {', '.join(FAULT_KINDS)}")
    step.fault = kind
    if "for" in raw:
        dur = raw["for"]
        if isinstance(dur, bool) or not isinstance(dur, int | float) or dur < 0:
            raise fail("for", f"a duration in seconds >= 0 is required, not {dur!r}")
        step.for_s = float(dur)
    if "delay_s" in raw:
        d = raw["delay_s"]
        if kind != "slow":
            raise fail("delay_s", "only a slow fault takes a delay")
        if isinstance(d, bool) or not isinstance(d, int | float) or d < 0:
            raise fail("delay_s", f"a delay in seconds >= 0 is required, not {d!r}")
        step.delay_s = float(d)
    if "code" in raw:
        c = raw["code"]
        if kind != "exception":
            raise fail("code", "only an exception fault takes a code")
        if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 11:
            raise fail("code", f"a Modbus exception code 1-11 is required, not {c!r}")
        step.code = c
    if "mode" in raw:
        m = raw["mode"]
        if kind != "garbage":
            raise fail("mode", "only a garbage fault takes a mode")
        if m not in GARBAGE_MODES:
            raise fail("mode", f"{m!r} is not one of {', '.join(GARBAGE_MODES)}")
        step.mode = m
    return step


class ScenarioPlayer:
    """Applies each step at its time relative to the start (``time_scale`` < 1 plays faster:
    tests use it; durations of faults scale too)."""

    def __init__(self, scenario: Scenario, sim: Simulation, time_scale: float = 1.0) -> None:
        self.scenario = scenario
        self.sim = sim
        self.time_scale = time_scale
        self.applied: list[Step] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for step in sorted(self.scenario.steps, key=lambda s: s.at):
            delay = t0 + step.at * self.time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                self.apply(step)
            except (ValueError, KeyError) as exc:  # validated already; keep playing
                log.error("scenario %s step %d not applied: %s", self.scenario.source,
                          step.number, exc)
            self.applied.append(step)

    def apply(self, step: Step) -> None:
        dur = None if step.for_s is None else step.for_s * self.time_scale
        if step.bus is not None and step.fault is not None:
            self.sim.bus_fault(step.bus, step.fault, dur, delay_s=step.delay_s, code=step.code,
                               mode=step.mode)
            return
        dev = self.sim.device(step.device)
        if step.set is not None:
            dev.set(step.set)
        elif step.fault is not None:
            dev.fault(step.fault, dur, delay_s=step.delay_s, code=step.code, mode=step.mode)
