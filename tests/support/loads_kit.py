"""Rooms built from the appliance library, played into the rules at 1 s polls."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from simulators.appliances import make_appliance
from tests.support.rules_kit import Rig


def meter(p: float, n: float, v: float = 230.0) -> dict[str, float]:
    """What a room meter shows for total active power ``p`` and non-active power ``n``."""
    s = math.hypot(p, n)
    return {"power_w": p, "reactive_power_var": n, "power_factor": p / s if s else 1.0,
            "voltage_v": v, "current_a": s / v}


class Room:
    """A room on a rules rig: a base load with noise, and appliances plugged in and out at
    given seconds. ``play(until)`` feeds the rig one poll per ``period`` seconds."""

    def __init__(self, rig: Rig, start: float, *, base_w: float = 60.0, noise: float = 0.02,
                 seed: int = 1, device: str = "room-301", period: float = 1.0) -> None:
        self.rig, self.start, self.base_w, self.noise = rig, start, base_w, noise
        self.rng = random.Random(seed)
        self.device, self.period = device, period
        self.t = 0.0
        self.plugged: list[tuple[Any, float, float]] = []

    def plug(self, name: str, at: float, until: float = math.inf,
             **params: Any) -> None:
        self.plugged.append((make_appliance(name, params, at), at, until))

    def unplug(self, name: str, at: float) -> None:
        self.plugged = [(a, on, at if a.name == name and off > at else off)
                        for a, on, off in self.plugged]

    def values(self, t: float) -> Mapping[str, float]:
        v = 230.0 + 2.0 * math.sin(t / 600.0) + self.rng.gauss(0.0, 0.6)
        p = self.base_w * (1.0 + self.noise * (2.0 * self.rng.random() - 1.0))
        n = p * 0.48
        for a, on, off in self.plugged:
            if on <= t < off:
                ap, an = a.pq(t, v)
                p, n = p + ap, n + an
        return meter(p, n, v)

    def play(self, until: float) -> None:
        while self.t < until:
            self.rig.at(self.start + self.t, self.device, **self.values(self.t))
            self.t += self.period

    def raised(self, rule: str) -> list[tuple[float, str]]:
        """(seconds from the start, severity) of each raise of ``rule``."""
        return [(e.ts - self.start, e.severity) for e in self.rig.events
                if e.rule == rule and e.kind == "raise"]
