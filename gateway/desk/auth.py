"""Who may use the desk: argon2id password hashes (argon2-cffi), roles, and login throttling.

Roles, each including the one before: ``viewer`` sees alarms and the fleet; ``operator`` also
acknowledges and closes; ``admin`` also sees the login log and the command log. Failed logins
are written to the ``logins`` table and to the log; ``login_attempts`` failures for a name (or
four times as many from one address) within ``login_window_s`` refuse further tries (even a
right password) until the window has passed, so a password cannot be guessed at the speed of the
network.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.desk.store import ROLES, DeskStore

log = logging.getLogger("firegate.desk.auth")
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = _hasher.hash("firegate-desk-no-such-user")
MIN_PASSWORD = 10
# A control room's browsers often share one address (NAT): an address gets more tries than a name.
ADDRESS_FACTOR = 4


class AuthError(ValueError):
    """A refused login or a refused user change; the message is shown as it is."""


def role_at_least(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def add_user(store: DeskStore, name: str, password: str, role: str) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(
            ".", "").isalnum():
        raise AuthError(f"bad user name {name!r}: letters, digits, '-', '_' and '.', at most 64")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password is too short: at least {MIN_PASSWORD} characters")
    store.add_user(name, _hasher.hash(password), role)


@dataclass(frozen=True, slots=True)
class Throttle:
    attempts: int
    window_s: float


def check_login(store: DeskStore, name: str, password: str, address: str,
                throttle: Throttle) -> str:
    """The user's role when ``password`` is right; raises :class:`AuthError` otherwise. Every
    attempt is logged with its outcome."""
    name = name.strip()
    by_name, by_address = store.failed_logins(name, address, time.time() - throttle.window_s)
    if by_name >= throttle.attempts or by_address >= ADDRESS_FACTOR * throttle.attempts:
        store.log_login(name, address, False, "throttled")
        log.warning("login of %r from %s refused: too many failed attempts", name[:64], address)
        raise AuthError(f"too many failed logins; try again in {int(throttle.window_s / 60)} "
                        "minutes")
    found = store.user(name)
    try:
        _hasher.verify(found[0] if found else _DUMMY, password)
        ok = found is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None:
        store.log_login(name, address, False, "wrong name or password")
        log.warning("failed login of %r from %s", name[:64], address)
        raise AuthError("wrong name or password")
    if _hasher.check_needs_rehash(found[0]):
        store.set_hash(name, _hasher.hash(password))
    store.log_login(name, address, True, "ok")
    log.info("login of %s (%s) from %s", name, found[1], address)
    return found[1]


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())
