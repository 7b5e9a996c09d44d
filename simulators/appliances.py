"""Appliances a scenario can plug into a simulated room (the ``load`` pseudo-point).

The figures follow the three dormitory load families of ``../shared/domain.md``: resistive
heating (PF near 1, the "malicious loads" dorm controllers cut), switch-mode electronics (PF about
0.5-0.7) and inductive motors (current lags). An e-bike charger is a non-resistive 60-250 W load
that falls in steps: constant current, then constant voltage, then float.

| name             | power                          | PF    | family                      |
|------------------|--------------------------------|-------|-----------------------------|
| kettle           | 1800 W                         | 1.00  | resistive                   |
| heater           | 1200 W                         | 1.00  | resistive (space heater)    |
| immersion_heater | 1000 W                         | 1.00  | resistive ("hot fast" 热得快)|
| hair_straightener| 500 W                          | 1.00  | resistive                   |
| rice_cooker      | 700 W                          | 0.98  | resistive                   |
| laptop           | 65 W                           | 0.60  | switch-mode                 |
| phone_charger    | 10 W                           | 0.55  | switch-mode                 |
| desktop_pc       | 150 W                          | 0.65  | switch-mode                 |
| fan              | 45 W                           | 0.80  | inductive                   |
| ebike_charger    | 200 W CC → 110 W CV → 60 W float | 0.65 | switch-mode, stepped       |

Parameters (``load: {kettle: {power_w: 2000}}``): ``power_w`` and ``pf`` for any appliance;
``charge_s`` (whole CC+CV time, default 3 h) for ``ebike_charger``: CC for the first 60 % of it,
CV for the remaining 40 %, float afterwards until unplugged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# name: (watts, power factor)
APPLIANCES: dict[str, tuple[float, float]] = {
    "kettle": (1800.0, 1.0),
    "heater": (1200.0, 1.0),
    "immersion_heater": (1000.0, 1.0),
    "hair_straightener": (500.0, 1.0),
    "rice_cooker": (700.0, 0.98),
    "laptop": (65.0, 0.6),
    "phone_charger": (10.0, 0.55),
    "desktop_pc": (150.0, 0.65),
    "fan": (45.0, 0.8),
    "ebike_charger": (200.0, 0.65),
}

EBIKE_STEPS = ((0.6, 1.0), (1.0, 0.55))  # (end as a fraction of charge_s, share of CC power)
EBIKE_FLOAT_SHARE = 0.3
EBIKE_DEFAULT_CHARGE_S = 3 * 3600.0
PARAMS = {"power_w", "pf", "charge_s"}


@dataclass
class Appliance:
    name: str
    power_w: float
    pf: float
    started: float
    charge_s: float = EBIKE_DEFAULT_CHARGE_S

    def pq(self, now: float) -> tuple[float, float]:
        """Active and reactive power drawn at ``now`` (seconds on the model's clock)."""
        p = self.power_w
        if self.name == "ebike_charger":
            frac = (now - self.started) / self.charge_s if self.charge_s > 0 else 1.0
            share = EBIKE_FLOAT_SHARE
            for end, s in EBIKE_STEPS:
                if frac < end:
                    share = s
                    break
            p *= share
        q = p * math.tan(math.acos(min(max(self.pf, 0.01), 1.0)))
        return p, q


def make_appliance(name: str, params: Mapping[str, object], now: float) -> Appliance:
    """An appliance by name; raises ValueError naming the known ones."""
    if name not in APPLIANCES:
        raise ValueError(
            f"unknown appliance {name!r}; known: {', '.join(sorted(APPLIANCES))}"
        )
    unknown = set(params) - PARAMS
    if unknown:
        raise ValueError(
            f"appliance {name!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(PARAMS))}"
        )
    watts, pf = APPLIANCES[name]
    out = Appliance(name=name, power_w=watts, pf=pf, started=now)
    for key, conv in (("power_w", "power_w"), ("pf", "pf"), ("charge_s", "charge_s")):
        if key in params:
            val = params[key]
            if isinstance(val, bool) or not isinstance(val, int | float) or val < 0:
                raise ValueError(f"appliance {name!r}: {key} must be a number >= 0, not {val!r}")
            setattr(out, conv, float(val))
    if not 0 < out.pf <= 1:
        raise ValueError(f"appliance {name!r}: pf must be in (0, 1], not {out.pf}")
    return out


def parse_load(value: object, now: float) -> list[Appliance]:
    """The ``load`` pseudo-point: a name, a list of names, or a mapping name → parameters."""
    if isinstance(value, str):
        return [make_appliance(value, {}, now)]
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(parse_load(item, now))
        return out
    if isinstance(value, Mapping):
        out = []
        for name, params in value.items():
            if params is None:
                params = {}
            if not isinstance(params, Mapping):
                raise ValueError(f"appliance {name!r}: parameters must be a mapping")
            out.append(make_appliance(str(name), params, now))
        return out
    raise ValueError(
        f"load must be an appliance name, a list of names or a mapping, not {value!r}"
    )


def parse_unload(value: object) -> list[str] | None:
    """The ``unload`` pseudo-point: names to unplug; ``all`` (returned as None) unplugs all."""
    if value == "all":
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"unload must be an appliance name, a list of names or 'all': {value!r}")
    for n in names:
        if n not in APPLIANCES:
            raise ValueError(f"unknown appliance {n!r}; known: {', '.join(sorted(APPLIANCES))}")
    return list(names)
