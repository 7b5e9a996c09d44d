"""The rules engine: snapshots in, events out, deterministic (time comes with the samples).

Each device gets, once, the checkers its kind needs with its merged settings, so a poll only
runs the rules that can apply to it and each rule only looks up the keys it uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from rules.comm import CommLoss
from rules.context import Checker, Clock, DeviceContext, Premises
from rules.events import Event, EventKind
from rules.kinds import KINDS
from rules.model import DeviceInfo, Snapshot, split_key
from rules.settings import RuleSet, RulesSettings

KIND_KEYS: dict[str, tuple[str, ...]] = {k.name: k.keys for k in KINDS.values()}
"""Point keys of each kind as the built-in profiles define them; ``DeviceInfo.points`` wins."""


def _enabled(rules: RuleSet, ids: Iterable[str]) -> bool:
    return any(getattr(rules, r).enabled for r in ids)


# Restatements (shelved, maintenance) are appended after these, replacing an earlier one.
_SEP_ZH = "｜"
_SEP_EN = " | "


class _Device:
    __slots__ = ("checkers", "comm", "ctx", "known", "last_ts")

    def __init__(self, ctx: DeviceContext, checkers: list[Checker], comm: CommLoss | None,
                 known: set[str] | None = None):
        self.ctx = ctx
        self.checkers = checkers
        self.comm = comm
        self.last_ts = 0.0
        self.known = known  # keys seen so far, for a device with open channels

    def learn(self, keys: Iterable[str]) -> None:
        known = self.known
        if known is None:
            return
        for k in keys:
            if k not in known:
                known.add(k)
                for c in self.checkers:
                    c.learn(k)


class Engine:
    """``Engine(settings, devices)``; call :meth:`feed` with every snapshot, failed ones too."""

    def __init__(self, settings: RulesSettings, devices: Mapping[str, DeviceInfo]) -> None:
        self.settings = settings
        self.clock = Clock(settings)
        self.premises = Premises()
        self._devs: dict[str, _Device] = {}
        for dev_id, info in devices.items():
            ctx = DeviceContext(info, settings, self.clock, self.premises)
            keys = frozenset(info.points or KIND_KEYS.get(info.kind, ()))
            checkers: list[Checker] = []
            kind = KINDS.get(info.kind)
            for use in kind.rules if kind is not None else ():
                if _enabled(ctx.rules, use.ids):
                    c = use.checker(ctx, keys)
                    if getattr(c, "active", True) or info.open_channels:
                        checkers.append(c)
            comm = CommLoss(ctx, keys) if ctx.rules.comm_loss.enabled else None
            self._devs[dev_id] = _Device(ctx, checkers, comm,
                                         set(keys) if info.open_channels else None)

    def feed(self, snap: Snapshot) -> list[Event]:
        """Events this snapshot causes, in a stable order. Unknown devices give none."""
        dev = self._devs.get(snap.device)
        out: list[Event] = []
        if dev is None:
            return out
        dev.last_ts = snap.ts
        if snap.labels:
            dev.ctx.labels.update(snap.labels)
        if dev.known is not None:
            dev.learn(snap.values)
        ctx = dev.ctx
        if ctx.shelved or ctx.maintenance_until is not None:
            # before the rules, so this very poll is judged unsuppressed and what is still up
            # re-raises
            self._expire(dev, snap.ts, out)
        if dev.comm is not None:
            dev.comm.feed(snap, out)
        if snap.ok:
            ctx = dev.ctx
            if ctx.info.kind == "fire_panel":
                running = snap.values.get("running")
                if running is not None:  # GB/T 26875.3 bit 0: 1 running, 0 test
                    ctx.testing = not running
            for c in dev.checkers:
                c.feed(snap, out)
            if ctx.info.kind == "fire_panel":
                self._fires(dev, snap.ts)
        return out

    # ------------------------------------------------------------------ operator controls
    def shelve(self, device: str, rule: str, until_ts: float) -> list[Event]:
        """Keep (device, rule) alarms from paging until ``until_ts``; they are still recorded,
        marked ``suppressed="shelved"``. Returns the restated open alarms. Whether a rule may
        be shelved at all (never a live fire alarm) is the caller's decision."""
        dev = self._require(device)
        dev.ctx.shelved[rule] = until_ts
        return self._restate(dev, lambda r: r == rule, "已搁置", "shelved")

    def unshelve(self, device: str, rule: str) -> list[Event]:
        """End a shelving early: what is still up is raised again, unsuppressed."""
        dev = self._require(device)
        if dev.ctx.shelved.pop(rule, None) is None:
            return []
        return self._restate(dev, lambda r: r == rule, "搁置已解除，报警仍存在",
                             "shelving ended, alarm still present", kind="raise")

    def set_maintenance(self, device: str, on: bool,
                        until_ts: float | None = None) -> list[Event]:
        """Maintenance mode until ``until_ts`` (or, with None, until switched off): the
        device's alarms are recorded as ``suppressed="maintenance"`` and page nobody. Ending it
        raises again whatever is still present, unsuppressed."""
        dev = self._require(device)
        ctx = dev.ctx
        was = ctx.suppression("", dev.last_ts) == "maintenance"
        if on:
            if until_ts is None:
                ctx.maintenance = True
            else:
                ctx.maintenance_until = until_ts
            if was:
                return []
            return self._restate(dev, lambda r: True, "设备维护中，报警已抑制",
                                 "device in maintenance, alarm suppressed")
        ctx.maintenance = False
        ctx.maintenance_until = None
        if not was:
            return []
        return self._restate(dev, lambda r: True, "维护结束，报警仍存在",
                             "maintenance ended, alarm still present", kind="raise")

    def rule_ids(self, device: str) -> set[str]:
        """The rules that can raise an alarm on ``device`` (for validating a request)."""
        dev = self._require(device)
        ids = {r for r, _ in dev.ctx.conds}
        if dev.comm is not None:
            ids.add("comm_loss")
        return ids

    def reset(self, device: str, rule: str, channel: str = "") -> list[Event]:
        """An operator's reset of a latched gateway alarm after the device was reset on site.
        If the device still reports the condition, the next poll raises it again."""
        dev = self._require(device)
        out: list[Event] = []
        for r, cond in dev.ctx.conds:
            last = cond.last
            if r == rule and last is not None and last.channel == channel and cond.force_clear():
                out.append(dataclasses.replace(
                    last, kind="clear", ts=dev.last_ts,
                    message_zh=f"{last.message_zh.split(_SEP_ZH)[0]}{_SEP_ZH}人工复位",
                    message_en=f"{last.message_en.split(_SEP_EN)[0]}{_SEP_EN}reset by operator"))
                cond.last = out[-1]
        return out

    def restore(self, open_alarms: Iterable[Event]) -> int:
        """After a restart: the alarms the ledger still has up (``Ledger.active_events()``)
        start up here too, so one that ended while the gateway was down clears at the next
        poll, and one still present is not raised a second time. Returns how many matched."""
        n = 0
        for ev in open_alarms:
            dev = self._devs.get(ev.device)
            if dev is None:
                continue
            if dev.known is not None and ev.channel:
                # A channel the device named before the restart: watch it again now, so the
                # alarm clears when the device next reports it clear.
                dev.learn((ev.channel, f"{ev.rule}@{ev.channel}"))
                ch = split_key(ev.channel)[1] or ev.channel
                if ev.location and ev.location != dev.ctx.info.location and (
                        "@" in ev.channel or ev.rule != "panel_fault"):
                    dev.ctx.labels.setdefault(ch, ev.location)
            for rule, cond in dev.ctx.conds:
                if rule == ev.rule and cond.channel == ev.channel:
                    cond.restore(ev)
                    n += 1
                    break
        return n

    def active(self, device: str) -> list[Event]:
        """The last event of every alarm of ``device`` that is currently up."""
        dev = self._require(device)
        return [c.last for _, c in dev.ctx.conds if c.level and c.last is not None]

    # ------------------------------------------------------------------ internals
    def _fires(self, dev: _Device, ts: float) -> None:
        """Keep the building's fire state (what fire doors must answer) from this panel's
        fire alarms: up since the first of them was raised, down once all are reset. A panel
        in test raises none."""
        ctx = dev.ctx
        up = [c.last.ts for r, c in ctx.conds
              if r == "fire_alarm" and c.level and c.last is not None and not c.last.test]
        fires = self.premises.fires.setdefault(ctx.info.building, {})
        if up:
            since = fires.get(ctx.info.id)
            if since is None:
                fires[ctx.info.id] = min(up)
            elif since > ts:  # the clock stepped back (NTP): fire doors count from the step
                fires[ctx.info.id] = ts
        else:
            fires.pop(ctx.info.id, None)

    def _require(self, device: str) -> _Device:
        dev = self._devs.get(device)
        if dev is None:
            raise KeyError(f"device {device!r} is not configured; known devices: "
                           f"{', '.join(sorted(self._devs)[:20])}")
        return dev

    def _restate(self, dev: _Device, which: Callable[[str], bool], zh: str,
                 en: str, kind: EventKind = "update") -> list[Event]:
        out: list[Event] = []
        ctx = dev.ctx
        for rule, cond in ctx.conds:
            last = cond.last
            if cond.level and last is not None and which(rule):
                ev = dataclasses.replace(
                    last, kind=kind, ts=max(dev.last_ts, last.ts),
                    suppressed=ctx.suppression(rule, dev.last_ts),
                    message_zh=f"{last.message_zh.split(_SEP_ZH)[0]}{_SEP_ZH}{zh}",
                    message_en=f"{last.message_en.split(_SEP_EN)[0]}{_SEP_EN}{en}")
                cond.last = ev
                out.append(ev)
        return out

    def _expire(self, dev: _Device, ts: float, out: list[Event]) -> None:
        """Maintenance and shelving that ran out: what is still up is raised again at once."""
        ctx = dev.ctx
        if ctx.maintenance_until is not None and ts >= ctx.maintenance_until:
            ctx.maintenance_until = None
            if not ctx.maintenance:
                out.extend(self._restate(dev, lambda r: True, "维护到期，报警仍存在",
                                         "maintenance expired, alarm still present",
                                         kind="raise"))
        expired = [r for r, until in ctx.shelved.items() if ts >= until]
        for r in expired:
            del ctx.shelved[r]
        if expired:
            gone = set(expired)
            out.extend(self._restate(dev, gone.__contains__, "搁置到期，报警仍存在",
                                     "shelving expired, alarm still present", kind="raise"))
