"""The gateway runtime: wires drivers → rules → ledger → notifier and telemetry → outbox.

Everything runs in one asyncio task group: a poller per bus, the telemetry flusher, the outputs
(MQTT, InfluxDB) and the notifier. Data flows one way; the only path back is an operator's
acknowledgement, which goes through the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from drivers.device import DeviceReader
from drivers.model import PollResult, Value
from drivers.profiles import Profile
from drivers.transport import Line, LinkSpec
from gateway.aio.tasks import cancel_all, wait_writable
from gateway.alarms.ledger import Alarm, Ledger, Suppression
from gateway.alarms.recovery import republish_unsent
from gateway.alarms.suppression import Suppressions
from gateway.config.models import (
    Config,
    Device,
    GatewayIdentity,
    Gbt26875Bus,
    RtuBus,
    device_profile,
    load_profiles_for,
)
from gateway.config.places import Places
from gateway.inbound.guard import shown
from gateway.outputs.outbox import Outbox
from gateway.records import AlarmTransition, GatewayHealth, HealthRecord, TelemetryRecord
from gateway.runtime.poller import BackoffPolicy, BusPoller, DeviceHealth, Job
from gateway.security import (
    install_redaction,
    prepare_data_dir,
    secret_values,
    tighten_data_dir,
)
from rules.engine import Engine
from rules.events import Event
from rules.model import DeviceInfo, Snapshot

log = logging.getLogger("firegate")
DRAIN_STALL_S = 3.0
"""At a stop, how long the outputs may deliver nothing before the drain gives up (a sink that
is down); a connected broker empties thousands of records in that time."""

TransitionListener = Callable[[AlarmTransition], None]

MAX_HELD_RECORDS = 60_000  # telemetry held in memory while the outbox cannot be written
# The longest the event loop ever waits for a store's lock held by another process (a shell
# ``alarms ack``, a backup): past it the records wait in memory and polling goes on. Waiting
# for the lock to come free is done in a thread (:func:`wait_writable`).
STORE_WAIT_S = 0.05
RECORD_AT_STOP_S = 5.0
"""At a stop, how long alarm events held in memory may wait for the ledger to take them: a lock
held by a backup or a shell command is gone in that time; a stop must still complete."""


def link_spec(bus: Any) -> LinkSpec:  # any bus model of gateway.config.models
    if isinstance(bus, RtuBus):
        return LinkSpec(kind="rtu", port=bus.port, baudrate=bus.baudrate, bytesize=bus.bytesize,
                        parity=bus.parity, stopbits=bus.stopbits, timeout_s=bus.timeout_s,
                        retries=bus.retries, pause_s=bus.pause_s,
                        local_echo=bus.local_echo)
    return LinkSpec(kind=bus.type, host=bus.host, port=bus.port,
                    baudrate=getattr(bus, "baudrate", 9600), timeout_s=bus.timeout_s,
                    retries=bus.retries, pause_s=bus.pause_s)


def device_info(cfg: Config, d: Device, prof: Profile) -> DeviceInfo:
    g = cfg.gateway
    # A panel over GB/T 26875.3 names its components as they report: open channels.
    open_channels = prof.open_channels or isinstance(cfg.bus(d.bus), Gbt26875Bus)
    return DeviceInfo(id=d.id, kind=prof.kind, family=prof.family, profile=prof.profile,
                      site=g.site, campus=g.campus, building=g.building, floor=d.floor,
                      room=d.room, location=d.location, name=d.name, ratings=dict(d.ratings),
                      maintenance=d.maintenance, points=tuple(prof.by_key),
                      open_channels=open_channels)


def device_tags(cfg: Config, d: Device) -> dict[str, str]:
    g = cfg.gateway
    tags = {"site": g.site, "campus": g.campus, "building": g.building, "gateway": g.id,
            "device": d.id}
    if d.floor is not None:
        tags["floor"] = str(d.floor)
    if d.room:
        tags["room"] = d.room
    return tags


class Gateway:
    """One building's gateway: ``with Gateway(cfg) as gw: await gw.run(stop)``. Entering opens
    the stores (ledger, outbox) under the data directory; leaving flushes and closes them."""

    def __init__(self, cfg: Config, *, profiles: dict[str, Profile] | None = None,
                 with_outputs: bool = True) -> None:
        self.cfg = cfg
        self.profiles = profiles or load_profiles_for(cfg)
        self.devices = {d.id: d for d in cfg.devices if d.enabled}
        self.info = {i: device_info(cfg, d, self.profiles[d.profile])
                     for i, d in self.devices.items()}
        self.tags = {i: device_tags(cfg, d) for i, d in self.devices.items()}
        self.health = {i: DeviceHealth() for i in self.devices}
        self.latest: dict[str, dict[str, Value]] = {i: {} for i in self.devices}
        gbt = {b.id for b in cfg.buses if isinstance(b, Gbt26875Bus)}
        self.readers = {i: DeviceReader(i, device_profile(d, self.profiles), d.unit, d.gap_fill)
                        for i, d in self.devices.items() if d.bus not in gbt}
        self.engine = Engine(cfg.rules, self.info)
        self.places = Places.from_config(cfg)
        self.with_outputs = with_outputs
        self.listeners: list[TransitionListener] = []
        self.started = time.time()
        self.requests = 0
        self.points = 0
        self.polls = 0
        self.alarm_ids: dict[str, None] = {}  # alarms this run touched, in order
        self._telemetry: list[TelemetryRecord] = []
        self._published: set[tuple[str, int]] = set()
        self._unrecorded: list[Event] = []  # rule events the ledger could not take yet
        self._unqueued: list[AlarmTransition] = []  # transitions the outbox could not take yet
        self._ledger_failing = False
        self._ledger_failing_since: float | None = None
        self._outbox_failing = False
        self._history_tail = 0
        self._stack = contextlib.ExitStack()
        self.ledger: Ledger
        self.outbox: Outbox
        self.pollers: list[BusPoller] = []
        self.frame_listeners: list[Any] = []  # runtime.gbtlisten.Gbt26875Listener per bus
        self.lines: dict[str, Line] = {}  # bus id → the Line its poller uses
        self.suppressions = Suppressions(self)  # maintenance and shelving, with expiry

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Gateway:
        data = Path(self.cfg.gateway.data_dir)
        install_redaction(secret_values(self.cfg))
        prepare_data_dir(data)
        rules = self.cfg.rules
        self.ledger = self._stack.enter_context(Ledger(
            data / "ledger.sqlite", repeat_window_s=rules.repeat_window_h * 3600,
            utc_offset_h=rules.utc_offset_h, repeats=rules.repeats,
            busy_timeout_s=STORE_WAIT_S))
        # Alarms open before a restart stay open; the rules pick them up so that one that ended
        # while the gateway was down clears at the next poll instead of staying up for ever.
        self.engine.restore(self.ledger.active_events())
        self._history_tail = self.ledger.last_history_rowid()
        self.outbox = self._stack.enter_context(Outbox(
            data / "outbox.sqlite",
            budget_bytes=int(self.cfg.gateway.store_budget_mb * 1024 * 1024),
            sinks=self.sink_names(), busy_timeout_s=STORE_WAIT_S,
        ))
        # A kill between the ledger's commit and the outbox's would leave a transition that is
        # never published; the difference is exact, so send it now.
        if n := republish_unsent(self.ledger, self.outbox):
            log.warning("%d alarm transition(s) recorded before the last stop had not been "
                        "queued for MQTT/InfluxDB; queued now", n)
        self.suppressions.restore()  # after the outbox: it may restate open alarms
        for note in tighten_data_dir(data):
            log.warning("%s", note)
        return self

    def __exit__(self, *exc: object) -> None:
        self._record_at_stop()
        self._flush_at_stop()
        self._stack.close()

    def _record_at_stop(self) -> None:
        """Alarm events still waiting in memory for the ledger (locked by another process, a
        full disk) when the gateway stops: wait up to ``RECORD_AT_STOP_S`` for the ledger to
        take them, so a raise is not dropped with the process (the device may no longer show
        it after the restart: a panel reset, a breaker trip). What is still left is said."""
        deadline = time.monotonic() + RECORD_AT_STOP_S
        while self._unrecorded:
            self.record_events()
            left = deadline - time.monotonic()
            if not self._unrecorded or left <= 0:
                break
            wait_writable(self.ledger.path, min(left, 1.0))
        if self._unrecorded:
            log.error("stopping: %d alarm event(s) could not be recorded on the ledger in %s "
                      "and are lost: %s", len(self._unrecorded), self.cfg.gateway.data_dir,
                      "; ".join(f"{e.kind} {e.rule} {e.device} {e.channel}".rstrip()
                                for e in self._unrecorded))

    def sink_names(self) -> list[str]:
        return self.cfg.outputs.sinks() if self.with_outputs else []

    # ------------------------------------------------------------------ the read-only view
    @property
    def identity(self) -> GatewayIdentity:
        return self.cfg.gateway

    def open_alarms(self) -> list[Alarm]:
        return self.ledger.open_alarms()

    def active_suppressions(self) -> list[Suppression]:
        """Maintenance and shelving in force: alarms recorded, nobody paged."""
        return self.ledger.suppressions("active")

    def local_time(self, ts: float | None) -> str:
        """``ts`` as the building's local time (``rules.utc_offset_h``)."""
        return self.ledger.local(ts)

    def outbox_stats(self) -> Mapping[str, object]:
        return self.outbox.stats()

    def subscribe(self, listener: TransitionListener) -> None:
        """``listener(transition)`` after every alarm transition is recorded and queued; it
        runs in the data path, so it must be quick and must not raise (it is logged if it
        does)."""
        self.listeners.append(listener)

    def remember(self, device_id: str, key: str, value: Value) -> None:
        """A value read outside the pollers (an action's read-back) as the latest known."""
        self.latest.setdefault(device_id, {})[key] = value

    def build_pollers(self) -> list[BusPoller]:
        cfg = self.cfg
        policy = BackoffPolicy(cfg.backoff.initial_s, cfg.backoff.max_s, cfg.backoff.factor)
        pollers = []
        for bus in cfg.buses:
            devs = [d for d in self.devices.values() if d.bus == bus.id]
            if not devs or isinstance(bus, Gbt26875Bus):
                continue
            jobs = [
                Job(d.id, cls, cfg.period(d, cls), cfg.poll_classes[cls].priority)
                for d in devs for cls in self.profiles[d.profile].poll_classes
            ]
            line = Line(link_spec(bus), getattr(bus, "max_concurrency", 1))
            self.lines[bus.id] = line
            pollers.append(BusPoller(line, {d.id: self.readers[d.id] for d in devs}, jobs,
                                     self.on_result, policy, self.health))
        self.pollers = pollers
        from gateway.runtime.linebudget import warnings

        for w in warnings(cfg, self.profiles):
            log.warning("%s", w)
        return pollers

    def build_frame_listeners(self) -> list[Any]:
        """A listener per GB/T 26875.3 bus: devices that send frames instead of being polled.
        Their frames come in through :meth:`on_result` like any poll."""
        from gateway.runtime.gbtlisten import Gbt26875Listener

        out = []
        for bus in self.cfg.buses:
            devs = [d for d in self.devices.values() if d.bus == bus.id]
            if not devs or not isinstance(bus, Gbt26875Bus):
                continue
            silent = {d.id: list(self.profiles[d.profile].by_key) for d in devs}
            out.append(Gbt26875Listener(bus, devs, self.on_result, self.health,
                                        self.on_operation, silent))
        self.frame_listeners = out
        return out

    def on_operation(self, device_id: str, op: Any, ts: float) -> None:
        """An operation at a panel (reset, silence, self-test …, GB/T 26875.3 types 4 and 24)
        goes on the ledger's record of actions, next to the gateway's own."""
        from drivers.gbt26875.points import OPERATIONS_ZH

        what = "+".join(op.what) or "operation"
        try:
            self.ledger.record_action(
                who=f"operator {op.operator}", via="panel", device=device_id, action=what,
                params={"system": op.system or "fire_alarm", "operator": op.operator,
                        "zh": "、".join(OPERATIONS_ZH.get(w, w) for w in op.what)},
                result="done at the panel", ts=ts)
        except Exception as exc:
            log.error("cannot record the operation %s at %s on the ledger: %s", what,
                      device_id, exc)
        log.info("%s: %s by operator %d at the panel", device_id, what, op.operator)

    def line_for(self, device_id: str) -> Line:
        """The bus line a device's poller uses: a write takes a link from it like a read does,
        so a serial line still has one request in flight."""
        if not self.pollers:
            self.build_pollers()
        return self.lines[self.devices[device_id].bus]

    # ------------------------------------------------------------------ data path
    def on_result(self, r: PollResult) -> None:
        """Called by the pollers for every poll, failed ones too. Must stay cheap."""
        self.polls += 1
        self.requests += r.requests
        if r.values:
            self.points += len(r.values)
            self.latest[r.device_id].update(r.values)
            info = self.info[r.device_id]
            self._telemetry.append(TelemetryRecord.of_poll(r, info.family,
                                                           self.tags[r.device_id]))
        if not r.values and not r.failed and not r.bad and r.error is None:
            # Nothing was asked: every point of this poll class is one the device refuses
            # (listed in its health) and none is due for a retry. Not silence: fed as a failed
            # poll, a class polled more often than the device's others raised comm_loss and
            # cleared it on every good poll.
            return
        # A device that answered with nothing but bad readings (sentinels) is not silent: its
        # sensors are at fault, which the rules say as sensor_fault, not comm_loss.
        events = self.engine.feed(Snapshot(r.device_id, r.ts, bool(r.values) or bool(r.bad),
                                           r.values, r.failed, r.poll_class, r.bad, r.stuck,
                                           r.labels, r.error, r.error_kind, r.error_code))
        if events:
            # Names people use (a zone's label, the room) replace ids before anything records
            # or pages the event.
            self._unrecorded.extend(self.places.enrich(ev) for ev in events)
        # While the ledger fails (locked by another process, disk full) only the flusher tries
        # again, after a thread saw the lock free: a poll never waits for the ledger.
        if self._unrecorded and not self._ledger_failing:
            self.record_events()

    def record(self, events: Sequence[Event]) -> None:
        """Rule events from outside the pollers (maintenance or shelving began or ended) onto
        the ledger, after any still waiting."""
        self._unrecorded.extend(events)
        self.record_events()

    def record_events(self) -> None:
        """Put rule events on the ledger, in order. One that cannot be written (a full disk, a
        broken file) stays in memory and is tried again at every flush, so no alarm is lost
        because the disk was full for a while."""
        while self._unrecorded:
            ev = self._unrecorded[0]
            try:
                transitions = self.ledger.apply(ev)
            except Exception as exc:
                if not self._ledger_failing:
                    hint = ("another process holds its lock" if "locked" in str(exc) else
                            "free space there")
                    log.error("cannot record alarms on the ledger in %s (%s): %d event(s) kept "
                              "in memory and retried; %s", self.cfg.gateway.data_dir, exc,
                              len(self._unrecorded), hint)
                    self._ledger_failing_since = time.time()
                self._ledger_failing = True
                return
            self._unrecorded.pop(0)
            if self._ledger_failing:
                log.warning("the ledger takes writes again; recorded the alarms held in memory")
                self._ledger_failing = False
                self._ledger_failing_since = None
            for tr in transitions:
                self.publish_transition(tr)

    def publish_transition(self, tr: AlarmTransition) -> None:
        self._published.add((tr.id, tr.seq))
        self.alarm_ids.setdefault(tr.id)
        try:
            if self._unqueued:
                raise sqlite3.OperationalError("earlier transitions still wait")
            self.outbox.put_alarm(tr)
        except Exception:
            # The ledger has it; the outbox takes it at the next flush, in order.
            self._unqueued.append(tr)
        for listener in self.listeners:
            try:
                listener(tr)
            except Exception:  # a listener must never stop the data path
                log.exception("alarm listener failed for %s", tr.id)

    def acknowledge(self, alarm_id: str, who: str, via: str, seq: int | None = None) -> bool:
        """Acknowledge from any channel (CLI, MQTT cmd, SMS reply); False if unknown/closed,
        or when ``seq`` names an earlier occurrence than the alarm's current one."""
        try:
            transitions = self.ledger.ack(alarm_id, who=who, via=via, ts=time.time(), seq=seq)
        except (KeyError, ValueError, sqlite3.Error) as exc:
            log.warning("acknowledgement of %s by %s via %s refused: %s", shown(alarm_id),
                        shown(who), via, shown(str(exc), 300))
            return False
        for tr in transitions or []:
            self.publish_transition(tr)
        return True

    async def acknowledge_soon(self, alarm_id: str, who: str, via: str, seq: int | None = None,
                               wait_s: float = 10.0) -> bool:
        """:meth:`acknowledge`, waiting up to ``wait_s`` (in a thread, never on the loop) while
        another process (a shell ``alarms ack``, a backup) holds the ledger's lock, so an
        operator's acknowledgement is not lost to a lock held for a moment."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                transitions = self.ledger.ack(alarm_id, who=who, via=via, ts=time.time(),
                                              seq=seq)
            except sqlite3.OperationalError as exc:
                if time.monotonic() < deadline:
                    await asyncio.to_thread(wait_writable, self.ledger.path, 1.0)
                    continue
                log.warning("acknowledgement of %s by %s via %s not recorded: %s",
                            shown(alarm_id), shown(who), via, exc)
                return False
            except (KeyError, ValueError, sqlite3.Error) as exc:
                log.warning("acknowledgement of %s by %s via %s refused: %s", shown(alarm_id),
                            shown(who), via, shown(str(exc), 300))
                return False
            for tr in transitions or []:
                self.publish_transition(tr)
            return True

    def close_alarm(self, alarm_id: str, who: str, note: str,
                    category: str | None = None) -> bool:
        """Close a cleared alarm with a note (销号) and a review category, and publish the
        transition."""
        try:
            transitions = self.ledger.close(alarm_id, who=who, note=note, ts=time.time(),
                                            category=category)
        except (KeyError, ValueError, sqlite3.Error) as exc:
            log.warning("closing %s by %s refused: %s", shown(alarm_id), shown(who),
                        shown(str(exc), 300))
            return False
        for tr in transitions:
            self.publish_transition(tr)
        return True

    def flush(self) -> None:
        while self._unqueued:
            self.outbox.put_alarm(self._unqueued[0])
            self._unqueued.pop(0)
        if self._telemetry:
            batch, self._telemetry = self._telemetry, []
            try:
                self.outbox.put_telemetry(batch)
            except Exception:
                # Keep it for the next try, but never more than a minute of a big building's
                # polls: past that the oldest go, as the outbox's own budget would shed them.
                self._telemetry = (batch + self._telemetry)[-MAX_HELD_RECORDS:]
                raise

    def _flush_at_stop(self) -> None:
        """The last telemetry into the outbox; a full or failing disk at this point is said,
        not raised, so the stop (and the ledger's clean close) always completes."""
        try:
            self.flush()
        except Exception as exc:
            log.error("stopping: %d telemetry record(s) could not be written to the outbox in "
                      "%s (%s); they are lost, alarms are on the ledger", len(self._telemetry),
                      self.cfg.gateway.data_dir, exc)
            self._telemetry = []

    def health_records(self) -> list[HealthRecord]:
        now = time.time()
        return [HealthRecord(device=i, ts=now, tags=self.tags[i], online=h.online,
                             response_ms=h.response_ms, errors=sum(h.errors.values()),
                             requests=h.requests, unreadable_points=len(h.unreadable))
                for i, h in self.health.items()]

    def publish_external(self) -> int:
        """Publish ledger transitions another process wrote (a shell ``alarms ack`` or
        ``close``), so MQTT, the outbox and the notifier learn of them. Returns how many."""
        n = 0
        for rowid, tr in self.ledger.history_since(self._history_tail):
            self._history_tail = rowid
            key = (tr.id, tr.seq)
            if key in self._published:
                self._published.discard(key)
                continue
            self.publish_transition(tr)
            self._published.discard(key)
            n += 1
        return n

    def gateway_health(self) -> GatewayHealth:
        """The gateway's own polling health (``gateway_health`` in InfluxDB, ``health`` on
        MQTT); runtime.wiring adds paging when it is on. Alarm transitions waiting in memory for
        a store (locked by another process, a full disk), and for how long, show a store
        problem to the control room."""
        return GatewayHealth(
            devices=len(self.devices),
            devices_online=sum(1 for h in self.health.values() if h.online),
            poll_cycle_ms=round(max((p.lag_s for p in self.pollers), default=0.0) * 1000, 1),
            polls_late=sum(p.cycles_late for p in self.pollers),
            requests=self.requests,
            ledger_held=len(self._unrecorded),
            ledger_blocked_s=round(time.time() - self._ledger_failing_since, 1)
            if self._ledger_failing_since is not None else 0.0,
            outbox_held=len(self._unqueued) + len(self._telemetry))

    async def _flusher(self, interval_s: float = 0.25, health_every_s: float = 10.0) -> None:
        next_health = time.monotonic() + 2.0
        while True:
            await asyncio.sleep(interval_s)
            if time.monotonic() >= next_health:
                self._telemetry.extend(h.as_telemetry() for h in self.health_records())
                next_health = time.monotonic() + health_every_s
            if self._ledger_failing and self._unrecorded:
                await asyncio.to_thread(wait_writable, self.ledger.path, 1.0)
            self.record_events()
            if self._outbox_failing:
                await asyncio.to_thread(wait_writable, self.outbox.path, 1.0)
            try:
                self.suppressions.poll()
            except Exception:  # never stop the data path; the next flush tries again
                log.exception("maintenance/shelving requests could not be processed")
            try:
                self.flush()
                self.publish_external()
                if self._outbox_failing:
                    log.warning("the outbox at %s takes writes again", self.cfg.gateway.data_dir)
                    self._outbox_failing = False
            except Exception as exc:
                # The batch stays in memory (flush puts it back) and is written next time.
                if not self._outbox_failing:
                    hint = ("another process holds its lock" if "locked" in str(exc) else
                            "free space there")
                    log.error("cannot write to the outbox in %s (%s): telemetry and alarm "
                              "records are held in memory and retried; %s",
                              self.cfg.gateway.data_dir, exc, hint)
                self._outbox_failing = True

    async def run(self, stop: asyncio.Event,
                  extra: Sequence[Coroutine[Any, Any, object]] = ()) -> None:
        """Run until ``stop`` is set. ``extra`` are coroutines to run alongside (outputs, SMS)."""
        pollers = self.pollers or self.build_pollers()
        listeners = self.frame_listeners or self.build_frame_listeners()
        async with asyncio.TaskGroup() as tg:
            producers = [tg.create_task(p.run()) for p in pollers]
            producers += [tg.create_task(li.run()) for li in listeners]
            producers.append(tg.create_task(self._flusher()))
            others = [tg.create_task(coro) for coro in extra]
            await stop.wait()
            # Stop reading first, put what is held into the outbox, then give the outputs their
            # grace to deliver it (the live view keeps showing the count going down).
            await cancel_all(producers)
            self._flush_at_stop()
            await self._drain(others)
            await cancel_all(others)
        self._flush_at_stop()

    async def _drain(self, services: Sequence[asyncio.Task[Any]]) -> None:
        """Let the outputs deliver what is pending for up to ``outputs.stop_grace_s``.

        The delivery loops already send alarms before telemetry, so a short grace spends itself
        on alarms first. A grace is only worth waiting while it delivers: once nothing has left
        the outbox for ``DRAIN_STALL_S`` (a broker or database that is down), the stop goes on,
        so a restart by systemd is not held up. Nothing is lost either way: what is left stays
        in the outbox and is sent at the next start.
        """
        if not self.sink_names():
            return
        grace = self.cfg.outputs.stop_grace_s
        loop = asyncio.get_running_loop()
        started = progress_at = loop.time()
        pending = self.outbox.stats().get("pending", 0)
        if pending:
            log.info("stopping: delivering %d pending record(s), up to %.0f s", pending, grace)
        # Waiting is pointless once the services (the outputs among them) have ended.
        while (pending and loop.time() < started + grace
               and loop.time() < progress_at + DRAIN_STALL_S
               and not all(s.done() for s in services)):
            await asyncio.sleep(0.1)
            now_pending = self.outbox.stats().get("pending", 0)
            if now_pending < pending:
                progress_at = loop.time()
            pending = now_pending
        if pending:
            st = self.outbox.stats()
            log.warning("stopping with %d record(s) undelivered (%d alarm, %d telemetry) after "
                        "%.1f s; they stay in %s and are sent at the next start", pending,
                        st.get("pending_alarms", 0), st.get("pending_telemetry", 0),
                        loop.time() - started, Path(self.cfg.gateway.data_dir) / "outbox.sqlite")

    # ------------------------------------------------------------------ reporting
    def summary(self) -> dict[str, object]:
        alarms = []
        for aid in self.alarm_ids:
            a = self.ledger.get(aid)
            if a is None:
                continue
            alarms.append({"id": a.id, "device": a.device, "rule": a.rule,
                           "severity": a.severity, "state": a.state, "raised_at": a.raised_at,
                           "cleared_at": a.cleared_at})
        st = self.outbox.stats()
        out: dict[str, object] = {
            "duration_s": round(time.time() - self.started, 1),
            "devices": len(self.devices),
            "devices_online": sum(1 for h in self.health.values() if h.online),
            "requests": self.requests,
            "points": self.points,
            "alarms": alarms,
            "outbox": {k: st.get(k, 0) for k in ("pending", "delivered", "shed")},
        }
        return out

