"""Warnings for a configuration that is valid but would see a hazard late, or page nobody.

``firegate check`` prints them (exit 0: a site may mean it) and ``firegate run`` logs them once at
start. Where a setting can only be wrong it is refused by the models instead; here are the
settings a site might choose on purpose (a staffed control room without SMS, a panel still being
installed), which must not pass unremarked. Each warning is ``(field path, message)``; the loader
turns the path into the file's line.

Figures (../shared/domain.md): a fire alarm must reach the monitoring centre within 10 s and any
other panel status change within 100 s (GB 50116 / GB/T 26875.3), so fire bits are polled every
1-2 s; a residual current alarm within 30 s (GB 14287.2), a cable temperature alarm within 40 s
(GB 14287.3), an arc fault alarm within 30 s (GB 14287.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rules.kinds import KINDS
from rules.settings import LIFE_SAFETY_RULES

if TYPE_CHECKING:
    from drivers.profiles import Profile
    from gateway.config.models import Config
    from gateway.notify.config import RotaConfig

Loc = tuple[str | int, ...]
Warning_ = tuple[Loc, str]

FIRE_POLL_S = 2.0
PANEL_STATUS_S = 100.0
# point name -> (longest poll period in s, why)
POLL_LIMITS: dict[str, tuple[float, str]] = {
    "fire_alarm": (FIRE_POLL_S, "a fire alarm must reach the monitoring centre within 10 s "
                   "(GB 50116 / GB/T 26875.3), so fire bits are polled every 1-2 s"),
    "residual_current_ma": (30.0, "a residual current alarm must be given within 30 s "
                            "(GB 14287.2)"),
    "temperature_c": (40.0, "a cable temperature alarm must be given within 40 s (GB 14287.3)"),
    "arc_count": (30.0, "an arc fault alarm must be given within 30 s (GB 14287.4)"),
    "arc_alarm": (30.0, "an arc fault alarm must be given within 30 s (GB 14287.4)"),
}

_WHY = {
    "fire_alarm": "a fire on it would raise no alarm and page nobody",
    "comm_loss": "a dead or unplugged device would go unnoticed, its hazards with it",
    "blocked_exit": "a blocked exit would raise no alarm",
    "fire_door_open": "a fire door held open would raise no alarm",
    "arc_fault": "arcing, a cause of electrical fires, would raise no alarm",
    "residual_current": "leakage that can start a fire would raise no alarm",
    "over_temperature": "an overheating cable would raise no alarm",
}


# life-safety rule -> the points (any of) it reads: a rule of the kind whose points the
# profile lacks watches nothing on that device (a room meter's residual current cut)
_READS = {
    "fire_alarm": ("fire_alarm",),
    "residual_current": ("residual_current_ma", "residual_alarm"),
    "over_temperature": ("temperature_c", "temperature_alarm"),
    "arc_fault": ("arc_count", "arc_alarm"),
    "fire_door_open": ("door_open",),
    "blocked_exit": ("obstructed",),
}


def _watched(prof: Profile | None) -> tuple[str, ...]:
    """The life-safety rules that watch a device of this profile, and comm_loss when there is
    any: a silent detector is a detector that sees nothing."""
    if prof is None:
        return ()
    k = KINDS.get(prof.kind)
    names = {p.name for p in prof.expanded}
    rules = tuple(r for r in (k.rule_ids if k else ()) if r in LIFE_SAFETY_RULES
                  and names.intersection(_READS.get(r, (r,))))
    return (*rules, "comm_loss") if rules else ()


def advice(cfg: Config, profiles: Mapping[str, Profile]) -> list[Warning_]:
    out: list[Warning_] = []
    out += _paging(cfg, profiles)
    out += _disabled(cfg, profiles)
    out += _slow_polls(cfg, profiles)
    if cfg.notify.enabled and cfg.notify.rota is not None:
        out += _rota_gaps(cfg.notify.rota)
    return out


def _kind(d_profile: str, profiles: Mapping[str, Profile]) -> str:
    prof = profiles.get(d_profile)
    return prof.kind if prof is not None else ""


def _paging(cfg: Config, profiles: Mapping[str, Profile]) -> list[Warning_]:
    if cfg.notify.enabled:
        return []
    fire = [(i, d) for i, d in enumerate(cfg.devices) if d.enabled
            and "fire_alarm" in _watched(profiles.get(d.profile))]
    if not fire:
        return []
    loc: Loc = ("notify", "enabled") if "notify" in cfg.model_fields_set else \
        ("devices", fire[0][0])
    names = ", ".join(repr(d.id) for _, d in fire)
    return [(loc, f"paging is off (notify.enabled is not true) but {names} raise fire alarms: "
             "a fire would reach nobody by SMS from this gateway; set notify: enabled: true "
             "with a modem or a provider and a rota (gateway/notify/README.md), unless the "
             "fire control room watches this gateway around the clock")]


def _rule_loc(cfg: Config, device: str, kind: str, rule: str) -> Loc:
    """The most specific ``rules`` block that sets ``rule``'s ``enabled``."""
    for level, key in (("devices", device), ("kinds", kind)):
        block = getattr(cfg.rules, level).get(key)
        if block is not None and rule in block.model_fields_set and \
                "enabled" in getattr(block, rule).model_fields_set:
            return ("rules", level, key, rule)
    return ("rules", "defaults", rule)


def _disabled(cfg: Config, profiles: Mapping[str, Profile]) -> list[Warning_]:
    out: list[Warning_] = []
    off: dict[tuple[Loc, str], list[str]] = {}
    for i, d in enumerate(cfg.devices):
        kind = _kind(d.profile, profiles)
        watched = _watched(profiles.get(d.profile))
        if not watched:
            continue
        if not d.enabled:
            out.append((("devices", i, "enabled"),
                        f"device {d.id!r} is disabled: it is not polled, so its alarms "
                        f"({', '.join(r for r in watched if r != 'comm_loss')}) would never "
                        "be raised; remove enabled: false once it is installed (for "
                        "work on it, 'firegate alarms maintenance' ends by itself)"))
            continue
        if d.maintenance and "fire_alarm" not in watched:  # a fire raiser is refused
            out.append((("devices", i, "maintenance"),
                        f"device {d.id!r} is in maintenance by configuration: its alarms "
                        f"({', '.join(r for r in watched if r != 'comm_loss')}) are recorded "
                        "but page nobody, and this never ends; remove maintenance: true and "
                        "use 'firegate alarms maintenance', which expires"))
        rs = cfg.rules.for_device(d.id, kind)
        for rule in watched:
            if not getattr(rs, rule).enabled:
                off.setdefault((_rule_loc(cfg, d.id, kind, rule), rule), []).append(d.id)
    for (loc, rule), ids in off.items():
        out.append((loc, f"rule {rule} is off for {', '.join(ids)}: {_WHY[rule]}; remove "
                    "enabled: false (to quiet one alarm for a while, 'firegate alarms shelve' "
                    "ends by itself)"))
    return out


def _slow_polls(cfg: Config, profiles: Mapping[str, Profile]) -> list[Warning_]:
    out: list[Warning_] = []
    seen: set[Loc] = set()
    for i, d in enumerate(cfg.devices):
        prof = profiles.get(d.profile)
        if prof is None or not d.enabled or cfg.bus(d.bus).type == "gbt26875":
            continue  # a gbt26875 device sends frames: nothing is polled
        classes = {p.poll for p in prof.expanded}
        for name, (limit, why) in POLL_LIMITS.items():
            for cls in sorted({p.poll for p in prof.expanded if p.name == name}):
                period = cfg.period(d, cls)
                if period <= limit:
                    continue
                loc: Loc = ("devices", i, "poll", cls) if cls in d.poll else \
                    ("poll_classes", cls, "period_s")
                if loc in seen:
                    continue
                seen.add(loc)
                out.append((loc, f"{name} of {d.id!r} is polled every {period:g} s (class "
                            f"{cls!r}): {why}; write {limit:g} or less"))
        kind = _kind(d.profile, profiles)
        if "fire_alarm" in _watched(prof) and classes:
            cl = cfg.rules.for_device(d.id, kind).comm_loss
            fastest = min(cfg.period(d, c) for c in classes)
            after = cl.on_delay_s + cl.polls * fastest
            if cl.enabled and after > PANEL_STATUS_S:
                loc = _comm_loc(cfg, d.id, kind)
                out.append((loc, f"a lost fire panel {d.id!r} would be noticed only after "
                            f"about {after:g} s (comm_loss on_delay_s {cl.on_delay_s:g} + "
                            f"{cl.polls} polls × {fastest:g} s): a panel status change must "
                            f"reach the monitoring centre within {PANEL_STATUS_S:g} s "
                            "(GB 50116 / GB/T 26875.3); shorten on_delay_s or polls"))
    return out


def _comm_loc(cfg: Config, device: str, kind: str) -> Loc:
    for level, key in (("devices", device), ("kinds", kind)):
        block = getattr(cfg.rules, level).get(key)
        if block is not None and "comm_loss" in block.model_fields_set:
            return ("rules", level, key, "comm_loss")
    return ("rules", "defaults", "comm_loss")


def _rota_gaps(rota: RotaConfig) -> list[Warning_]:
    """Hours of a week (and each listed holiday) at which level 1 has nobody: it has no
    default people and no shift covers the hour. A fire still pages level 2 at once, but any
    other alarm waits ``waits_s[1]`` before it reaches anyone."""
    from gateway.notify.rota import Rota

    if rota.levels[0]:
        return []
    r = Rota(rota)
    # a week without a listed holiday, at the rota's local midnight; then each holiday
    monday = datetime(2024, 1, 1, tzinfo=r.tz)
    while any((monday + timedelta(days=n)).date() in rota.holidays for n in range(7)):
        monday += timedelta(days=7)
    days = [(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[n], monday + timedelta(days=n))
            for n in range(7)]
    days += [(f"holiday {h.isoformat()}", datetime(h.year, h.month, h.day, tzinfo=r.tz))
             for h in rota.holidays]
    gaps: dict[tuple[int, int], list[str]] = {}
    for label, midnight in days:
        start = None
        base = midnight.astimezone(UTC).timestamp()
        for m in range(24 * 60 + 1):
            empty = m < 24 * 60 and not r.level(0, base + 60 * m)
            if empty and start is None:
                start = m
            elif not empty and start is not None:
                gaps.setdefault((start, m), []).append(label)
                start = None
    if not gaps:
        return []
    text = "; ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d} on "
                     f"{', '.join(labels)}" for (s, e), labels in sorted(gaps.items())[:6])
    wait = rota.waits_s[1] if len(rota.waits_s) > 1 else 0
    return [(("notify", "rota", "levels"),
             f"level 1 has no default people and its shifts leave {text} uncovered: an alarm "
             f"then reaches nobody at level 1 and level 2 only after {wait:g} s; give level 1 "
             "default people (e.g. the security duty office) or close the gap")]
