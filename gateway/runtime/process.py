"""Running a gateway as a process: signals, live view, outputs, summary at exit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from drivers.profiles import Profile
from gateway.config.models import Config
from gateway.runtime import systemd
from gateway.runtime.gateway import Gateway
from gateway.runtime.liveview import live_view
from gateway.runtime.wiring import Services, start_services

Extra = Callable[[Gateway], list[Coroutine[Any, Any, object]]]
OnSummary = Callable[[Services, dict[str, object]], None]
EXIT_CRASHED = 70  # EX_SOFTWARE: an internal error; systemd's Restart=always restarts it
log = logging.getLogger("firegate")


async def _systemd_watchdog(gw: Gateway) -> None:
    """Tell systemd we are up, then ping its watchdog while the pollers make progress.

    A gateway whose pollers stopped (no poll result, not even a failed one, in a whole interval)
    stops pinging, so systemd restarts it: a hung process is worse than a restarted one for a
    safety monitor. Devices that are all offline still produce failed results, so a cut cable
    does not cause a restart loop.
    """
    systemd.ready()
    interval = systemd.watchdog_interval()
    if not interval:
        return
    last = -1
    while True:
        await asyncio.sleep(interval)
        if gw.polls != last:
            systemd.watchdog()
            last = gw.polls
        systemd.status(f"{sum(1 for h in gw.health.values() if h.online)}/{len(gw.devices)} "
                       f"devices online, {gw.requests} requests")


def write_summary(path: Path, summary: Mapping[str, object]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


async def run_gateway(
    cfg: Config,
    *,
    for_s: float | None = None,
    summary: Path | None = None,
    view: bool = True,
    extras: Extra | None = None,
    on_summary: OnSummary | None = None,
    profiles: dict[str, Profile] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM or ``for_s`` seconds; write the summary; return an exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with Gateway(cfg, profiles=profiles) as gw:
        services = start_services(gw)
        coros = list(services.coroutines)
        if extras:
            coros.extend(extras(gw))
        coros.append(live_view(gw, stop, interactive=None if view else False,
                               extra=services.view_extra))
        coros.append(_systemd_watchdog(gw))
        if for_s is not None:
            loop.call_later(for_s, stop.set)
        try:
            await gw.run(stop, extra=coros)
        except Exception as exc:
            # A service task the gateway needs has crashed. Never stay half alive (polling
            # without outputs, or the reverse): stop with a non-zero status so systemd restarts
            # the whole process; the MQTT sink dropped its link so the broker sent the will.
            log.critical("a service task of the gateway crashed (%s); stopping with status %d "
                         "so the service manager restarts it", _first(exc), EXIT_CRASHED,
                         exc_info=exc)
            crashed = True
        else:
            crashed = False
        result = gw.summary()
        result.update(services.summary())
        if on_summary:
            on_summary(services, result)
        if summary:
            write_summary(summary, result)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
    return EXIT_CRASHED if crashed else 0


def _first(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc)[:200]}"
