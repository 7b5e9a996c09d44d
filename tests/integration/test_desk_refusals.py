"""Bad input at the desk is refused with a clear message and changes nothing: no command leaves
for a gateway, the desk's command list stays empty, the alarm stays as it was.

The desk runs as a process on real Mosquitto; the alarm it shows is published the way a gateway
publishes it (retained ``alarms/{id}`` built from the typed :class:`AlarmTransition`, birth on
``state``), by this test standing in for the gateway, so that every command the desk might send
would be seen here on ``cmd/#``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from itsdangerous import TimestampSigner

from gateway.records import AlarmTransition
from tests.support.desk_kit import SITE, Browser, Desk
from tests.support.servers import Mosquitto
from tests.support.waiting import wait_for

GW = "gw-r"
ALARM = "A261203001"


async def _publish(mosq: Mosquitto, msgs: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", mosq.port, identifier="stand-in-gateway") as c:
        for topic, payload in msgs:
            await c.publish(topic, payload, qos=1, retain=True)


def _alarm(active: bool) -> bytes:
    now = time.time()
    tr = AlarmTransition(event="raise" if active else "clear", ts=now, id=ALARM,
                         device="panel", rule="fire_alarm", severity="critical",
                         state="raised", seq=1 if active else 2, active=active, raised_at=now,
                         first_raised_at=now, updated_at=now, message_zh="火警 fire",
                         site=SITE, campus="north", building="dorm-9", floor=1)
    return json.dumps({"gateway": GW, "site": SITE, **tr.to_json()}).encode()


class CmdWatcher:
    """Every message on the gateway's ``cmd/#`` while the test runs."""

    def __init__(self, mosq: Mosquitto) -> None:
        self.mosq = mosq
        self.seen: list[str] = []

    async def run(self, ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", self.mosq.port) as c:
            await c.subscribe(f"firegate/{SITE}/{GW}/cmd/#", qos=1)
            ready.set()
            async for m in c.messages:
                self.seen.append(str(m.topic))


@pytest.fixture
def desk(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Desk]:
    d = Desk(tmp_path / "desk", mosquitto.url, extra={"login_attempts": 3})
    d.add_user("wang", "operator")
    d.add_user("li", "viewer")
    d.add_user("zhao", "operator")
    d.start()
    yield d
    d.stop()


async def test_bad_input_is_refused_and_changes_nothing(desk: Desk, mosquitto: Mosquitto) -> None:
    watcher = CmdWatcher(mosquitto)
    ready = asyncio.Event()
    task = asyncio.create_task(watcher.run(ready))
    await ready.wait()
    prefix = f"firegate/{SITE}/{GW}"
    await _publish(mosquitto, [(f"{prefix}/state", b"online"),
                               (f"{prefix}/alarms/{ALARM}", _alarm(active=True))])

    def run(fn, *a):  # the browser stand-in is synchronous (requests)
        return asyncio.to_thread(fn, *a)

    # Anonymous: the login form, never alarm data.
    anon = Browser(desk)
    r = await run(anon.get, "/")
    assert r.url.endswith("/login?why=log+in+first") and ALARM not in r.text
    for path in ("/alarms/rows", f"/alarm/{SITE}/{GW}/{ALARM}", "/fleet/rows"):
        r = await run(lambda p=path: anon.get(p, allow_redirects=False))
        assert r.status_code in (303, 401) and ALARM not in r.text and GW not in r.text

    # A wrong password.
    r = await run(anon.login, "wang", "not the password")
    assert r.status_code == 401 and "wrong name or password" in r.text
    # Repeated failures lock the name out for the window, even with the right password.
    for _ in range(3):
        await run(anon.login, "zhao", "guess")
    r = await run(anon.login, "zhao", "correct horse battery")
    assert r.status_code == 401 and "too many failed logins" in r.text

    me = Browser(desk)
    assert (await run(me.login, "wang")).status_code == 303
    await asyncio.to_thread(wait_for, "the alarm at the desk",
                            lambda: any(a == ALARM for _g, a, _r in me.alarms()), 10)

    # A forged CSRF token.
    path = f"/alarm/{SITE}/{GW}/{ALARM}"
    r = await run(me.post, path + "/ack", {"csrf": "forged-token", "note": ""})
    assert r.status_code == 403 and "CSRF" in r.text and "nothing was changed" in r.text

    # An expired session: signed with the desk's own key, but the login is nine hours old.
    key = (desk.dir / "data" / "session.key").read_text().strip()
    csrf = "known-token"
    stale = {"user": "wang", "role": "operator", "login_at": time.time() - 9 * 3600,
             "csrf": csrf}
    cookie = TimestampSigner(key).sign(base64.b64encode(json.dumps(stale).encode())).decode()
    old = Browser(desk)
    old.s.cookies.set("firegate_desk", cookie)
    r = await run(old.post, path + "/ack", {"csrf": csrf, "note": ""})
    assert r.status_code == 401 and "session has expired" in r.text

    # A viewer may look but not acknowledge.
    viewer = Browser(desk)
    assert (await run(viewer.login, "li")).status_code == 303
    assert ALARM in (await run(viewer.get, path)).text
    r = await run(viewer.ack, GW, ALARM)
    assert r.status_code == 403 and "needs the operator role" in r.text

    # Close without a category; close while the fire is still present.
    r = await run(me.close, GW, ALARM, "", "checked, smoke from cooking")
    assert r.status_code == 400 and "choose a category" in r.text
    r = await run(me.close, GW, ALARM, "false_alarm", "checked, smoke from cooking")
    assert r.status_code == 409 and "still present" in r.text

    # Nothing changed: no command left for the gateway, none is pending, the alarm as it was.
    await asyncio.sleep(1.5)
    task.cancel()
    assert watcher.seen == []
    with desk.db() as db:
        assert db.execute("SELECT count(*) FROM commands").fetchone()[0] == 0
        fails = db.execute("SELECT count(*) FROM logins WHERE ok = 0").fetchone()[0]
    assert fails == 5  # wang's wrong password, zhao's three guesses and the throttled try
    page = await run(me.alarm_page, GW, ALARM)
    assert 'data-state="raised"' in page and "待网关确认" not in page
    await _publish(mosquitto, [(f"{prefix}/alarms/{ALARM}", b""), (f"{prefix}/state", b"")])
