"""Address facts the configuration checks need (kept apart so every config module can use it
without importing the others)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for addresses that never leave this machine: credentials may travel in clear."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
