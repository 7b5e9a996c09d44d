"""Talk to systemd's service manager without a dependency: readiness, watchdog pings, status.

``firegate.service`` is ``Type=notify`` with ``WatchdogSec``: systemd waits for ``READY=1``
before it calls the service started, and kills and restarts it when ``WATCHDOG=1`` stops
arriving (a hung event loop). Outside systemd (a terminal, the demo, tests) ``NOTIFY_SOCKET`` is
unset and every call does nothing, so the runtime can call these unconditionally.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "ready", "status", "stopping", "watchdog", "watchdog_interval"]


def _address(raw: str) -> str | bytes:
    # A name starting with "@" is in Linux's abstract namespace: its first byte is NUL.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``, ``"WATCHDOG=1\\nSTATUS=polling"``) to systemd.

    Returns True when it was sent, False when there is no service manager to tell. Never raises:
    a gateway must not stop alarming because systemd's socket went away.
    """
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw or state == "":
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(raw))
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def ready(status_text: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status_text}" if status_text else ""))


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """One line shown by ``systemctl status firegate``."""
    return notify("STATUS=" + text.replace("\n", " "))


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """How often to ping, in seconds: half of ``WatchdogSec``, or None when there is no watchdog
    for this process (``WATCHDOG_PID`` names another process, e.g. a ``firegate check`` child)."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
