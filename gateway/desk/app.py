"""The desk's web page (Starlette, Jinja2 templates, static files shipped in the package).

Why it is built this way:
- an anonymous browser gets the login form and nothing else: every page and the event stream
  check the session first;
- the session is a signed cookie (Starlette's ``SessionMiddleware`` on itsdangerous) that
  expires after ``desk.session_max_age_s``, is ``HttpOnly``, ``SameSite=strict`` and ``Secure``
  unless the configuration says otherwise; its key is made once in ``data_dir``;
- every form that changes something carries the session's CSRF token, compared in constant
  time; a forged or missing one is refused and nothing changes;
- acknowledging and closing need the ``operator`` role; a close needs a category and a note and
  an alarm that has cleared (the gateway would refuse it anyway: the desk says why at once);
- the alarm list updates live over server-sent events: the stream only says *what* changed
  (``alarms`` or ``fleet``) and the page fetches the rows again, so one slow browser never holds
  a copy of the whole campus in a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.desk.auth import AuthError, Throttle, check_login, role_at_least, same
from gateway.desk.bus import DeskBus, silent
from gateway.desk.config import DeskConfig
from gateway.desk.store import DeskStore
from rules.severity import BY_NAME, SILENT_ZH, label_zh

log = logging.getLogger("firegate.desk.web")

# The categories of the two-monthly review (gateway.alarms.ledger.CATEGORIES, checked equal by
# tests/unit/test_desk.py): a real fire or fault, a false alarm, a test, a device fault, a
# duplicate of another alarm.
CATEGORIES: dict[str, str] = {"real": "真实警情 real", "false_alarm": "误报 false alarm",
                              "test": "测试 test", "device_fault": "设备故障 device fault",
                              "duplicate": "重复 duplicate"}
STATE_ZH = {"raised": "未确认", "acknowledged": "已确认", "cleared": "已恢复", "closed": "已销号"}
CST = timezone(timedelta(hours=8))
STATIC = Path(__file__).with_name("static")


class Hub:
    """Tells every open page what changed, at most twice a second (each tells the page to
    fetch its rows again: with 1,000 open alarms that is the desk's main cost)."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[str]] = set()
        self.dirty: set[str] = set()

    def changed(self, what: str) -> None:
        self.dirty.add(what)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if not self.dirty:
                continue
            kinds, self.dirty = self.dirty, set()
            for q in list(self.queues):
                for k in kinds:
                    if q.qsize() < 16:
                        q.put_nowait(k)


def _when(ts: Any, tz: timezone = CST) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return ""
    return datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M:%S")


def _ago(ts: Any) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "never"
    s = max(0, int(time.time() - ts))
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"


class Refused(Exception):
    """A request the desk will not carry out; ``status`` and ``message`` go to the browser."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_app(cfg: DeskConfig, store: DeskStore, bus: DeskBus | None, hub: Hub,
              secret_key: str, *, now: Callable[[], float] = time.time) -> Starlette:
    desk = cfg.desk
    throttle = Throttle(desk.login_attempts, desk.login_window_s)
    env = Environment(loader=PackageLoader("gateway.desk", "templates"),
                      autoescape=select_autoescape(["html"]))
    tz = timezone(timedelta(hours=desk.utc_offset_h))
    env.filters["when"] = lambda ts: _when(ts, tz)
    env.filters["ago"] = _ago
    env.filters["sev_zh"] = label_zh
    env.filters["sev_colour"] = lambda s: BY_NAME[s].colour if s in BY_NAME else "orange"
    env.globals.update(CATEGORIES=CATEGORIES, STATE_ZH=STATE_ZH, SILENT_ZH=SILENT_ZH)

    def render(request: Request, template: str, status: int = 200,
               **ctx: Any) -> HTMLResponse:
        user = _user(request)
        body = env.get_template(template).render(
            user=user, role=request.session.get("role"), csrf=_csrf(request),
            broker_ok=bus is None or bus.connected.is_set(),
            broker_error=bus.last_error if bus is not None else "", **ctx)
        return HTMLResponse(body, status_code=status, headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})

    def _csrf(request: Request) -> str:
        tok = request.session.get("csrf")
        if not isinstance(tok, str):
            tok = secrets.token_urlsafe(32)
            request.session["csrf"] = tok
        return tok

    def _user(request: Request) -> str | None:
        user = request.session.get("user")
        at = request.session.get("login_at")
        if not isinstance(user, str) or not isinstance(at, int | float):
            return None
        if now() - at > desk.session_max_age_s:
            return None
        return user

    def need(request: Request, role: str = "viewer") -> str:
        user = _user(request)
        if user is None:
            expired = "login_at" in request.session
            raise Refused(401, "your session has expired: log in again" if expired
                          else "log in first")
        if not role_at_least(str(request.session.get("role")), role):
            raise Refused(403, f"{user} may not do this: it needs the {role} role")
        return user

    async def form_with_csrf(request: Request) -> dict[str, str]:
        form = await request.form()
        tok = form.get("csrf")
        sess = request.session.get("csrf")
        if not isinstance(tok, str) or not isinstance(sess, str) or not same(tok, sess):
            raise Refused(403, "the form's security token (CSRF) does not match this session: "
                          "reload the page and try again; nothing was changed")
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def refused(request: Request, exc: Refused) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                    request.client.host if request.client else "?", exc.message)
        if exc.status == 401 and request.method == "GET" and request.url.path != "/events":
            return RedirectResponse("/login?" + urlencode({"why": exc.message}), 303)
        return render(request, "refused.html", exc.status, message=exc.message)

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            try:
                resp: Response = await handler(request)
                return resp
            except Refused as exc:
                return refused(request, exc)
        return wrapped

    # ------------------------------------------------------------------ login
    async def login_page(request: Request) -> Response:
        why = request.query_params.get("why", "")
        if desk.secure_cookies and request.url.scheme != "https" and request.headers.get(
                "x-forwarded-proto") != "https":
            # The browser would drop the HTTPS-only session cookie and every login would fail
            # its CSRF check: say why instead.
            why = ("open the desk with https:// — its session cookies are sent over HTTPS only "
                   "(desk.tls_cert, or a TLS proxy)")
        return render(request, "login.html", why=why)

    async def login(request: Request) -> Response:
        form = await form_with_csrf(request)
        name = form.get("name", "")[:64]
        address = request.client.host if request.client else "?"
        try:
            role = check_login(store, name, form.get("password", ""), address, throttle)
        except AuthError as exc:
            return render(request, "login.html", 401, why=str(exc), name=name)
        request.session.clear()
        request.session.update({"user": name.strip(), "role": role, "login_at": now(),
                                "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse("/", 303)

    async def logout(request: Request) -> Response:
        await form_with_csrf(request)
        request.session.clear()
        return RedirectResponse("/login", 303)

    # ------------------------------------------------------------------ pages
    def filters(request: Request) -> dict[str, Any]:
        q = request.query_params
        floor = q.get("floor", "")
        return {"campus": q.get("campus") or None, "building": q.get("building") or None,
                "floor": int(floor) if floor.lstrip("-").isdigit() else None,
                "rule": q.get("rule") or None, "state": q.get("state") or None}

    def rows_ctx(request: Request) -> dict[str, Any]:
        f = filters(request)
        alarms = store.open_alarms(**f)
        pend: dict[tuple[str, str, str], list[str]] = {}
        for c in store.pending():
            pend.setdefault((c.site, c.gateway, c.alarm_id), []).append(c.kind)
        silent = {(g["site"], g["gateway"]) for g in store.gateways() if _silent(g)}
        return {"alarms": alarms, "pending": pend, "silent": silent, "filters": f,
                "facets": store.facets(), "query": request.url.query}

    def _silent(g: dict[str, Any]) -> bool:
        return silent(g, now(), desk.silent_after_s)

    async def index(request: Request) -> Response:
        need(request)
        return render(request, "alarms.html", **rows_ctx(request))

    async def alarm_rows(request: Request) -> Response:
        need(request)
        return render(request, "alarm_rows.html", **rows_ctx(request))

    async def alarm_page(request: Request) -> Response:
        need(request)
        site, gw, aid = (request.path_params[k] for k in ("site", "gateway", "alarm_id"))
        alarm = store.alarm(site, gw, aid)
        if alarm is None:
            raise Refused(404, f"no alarm {aid} of gateway {site}/{gw} is known to the desk")
        grafana = None
        if desk.grafana_url:
            grafana = (desk.grafana_url.rstrip("/") + "/d/firegate-building/building?" +
                       urlencode({"var-campus": alarm.get("campus", ""),
                                  "var-building": alarm.get("building", "")}))
        return render(request, "alarm.html", alarm=alarm, history=store.history(site, gw, aid),
                      pending=store.pending_for(site, gw, aid), grafana=grafana,
                      gateway=store.gateway(site, gw), msg=request.query_params.get("msg", ""))

    async def fleet(request: Request) -> Response:
        need(request)
        return render(request, "fleet.html", gateways=_fleet())

    async def fleet_rows(request: Request) -> Response:
        need(request)
        return render(request, "fleet_rows.html", gateways=_fleet())

    def _fleet() -> list[dict[str, Any]]:
        out = []
        for g in store.gateways():
            h = g["health"]
            runtime = h.get("runtime") if isinstance(h.get("runtime"), dict) else {}
            outbox = h.get("outbox") if isinstance(h.get("outbox"), dict) else {}
            out.append({**g, "silent": _silent(g), "devices": runtime.get("devices"),
                        "devices_online": runtime.get("devices_online"),
                        "backlog": outbox.get("pending"), "version": g.get("version") or ""})
        return out

    async def log_page(request: Request) -> Response:
        need(request, "admin")
        logins = [dict(r) for r in store.db.execute(
            "SELECT * FROM logins ORDER BY ts DESC LIMIT 200")]
        return render(request, "log.html", logins=logins, commands=store.commands())

    # ------------------------------------------------------------------ commands
    def _target(request: Request) -> tuple[str, str, str, dict[str, Any]]:
        site, gw, aid = (request.path_params[k] for k in ("site", "gateway", "alarm_id"))
        alarm = store.alarm(site, gw, aid)
        if alarm is None:
            raise Refused(404, f"no alarm {aid} of gateway {site}/{gw} is known to the desk")
        return site, gw, aid, alarm

    async def ack(request: Request) -> Response:
        user = need(request, "operator")
        form = await form_with_csrf(request)
        site, gw, aid, alarm = _target(request)
        if alarm.get("state") == "closed" or alarm.get("acked_by"):
            raise Refused(409, f"alarm {aid} is already {alarm.get('state')}; nothing to "
                          "acknowledge")
        if store.pending_for(site, gw, aid):
            raise Refused(409, f"a command for alarm {aid} is already waiting for the gateway")
        note = form.get("note", "").strip()[:500]
        store.add_command(site=site, gateway=gw, alarm_id=aid, kind="ack",
                          seq=int(alarm.get("seq") or 1),
                          category=None, note=f"{user} (desk)" + (f": {note}" if note else ""),
                          user=user)
        log.info("%s acknowledges %s/%s %s at the desk", user, site, gw, aid)
        if bus is not None:
            bus.submit()
        hub.changed("alarms")
        return _back(request, site, gw, aid, "acknowledgement sent; pending until the gateway "
                     "confirms")

    async def close(request: Request) -> Response:
        user = need(request, "operator")
        form = await form_with_csrf(request)
        site, gw, aid, alarm = _target(request)
        category = form.get("category", "")
        note = form.get("note", "").strip()
        if category not in CATEGORIES:
            raise Refused(400, "choose a category to close an alarm (" +
                          ", ".join(CATEGORIES) + "); nothing was changed")
        if not note:
            raise Refused(400, "write a note of what was found and what was done; nothing was "
                          "changed")
        if len(note) > 1000:
            raise Refused(400, "the note is longer than 1,000 characters; nothing was changed")
        if alarm.get("state") == "closed":
            raise Refused(409, f"alarm {aid} is already closed")
        if alarm.get("active", True):
            raise Refused(409, f"alarm {aid} is still present at the device: it can be closed "
                          "once it has cleared; nothing was changed")
        if store.pending_for(site, gw, aid):
            raise Refused(409, f"a command for alarm {aid} is already waiting for the gateway")
        store.add_command(site=site, gateway=gw, alarm_id=aid, kind="close",
                          seq=int(alarm.get("seq") or 1), category=category,
                          note=f"{note} — {user} (desk)", user=user)
        log.info("%s closes %s/%s %s as %s at the desk", user, site, gw, aid, category)
        if bus is not None:
            bus.submit()
        hub.changed("alarms")
        return _back(request, site, gw, aid, "close sent; pending until the gateway confirms")

    def _back(request: Request, site: str, gw: str, aid: str, msg: str) -> Response:
        return RedirectResponse(f"/alarm/{site}/{gw}/{aid}?" + urlencode({"msg": msg}), 303)

    # ------------------------------------------------------------------ live
    async def events(request: Request) -> Response:
        need(request)
        q: asyncio.Queue[str] = asyncio.Queue()
        hub.queues.add(q)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                while True:
                    try:
                        kind = await asyncio.wait_for(q.get(), 15)
                        yield f"event: {kind}\ndata: {kind}\n\n".encode()
                    except TimeoutError:
                        yield b": keepalive\n\n"
            finally:
                hub.queues.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def healthz(request: Request) -> Response:
        ok = bus is None or bus.connected.is_set()
        return PlainTextResponse("ok" if ok else "broker unreachable",
                                 status_code=200 if ok else 503)

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", guarded(login), methods=["POST"]),
        Route("/logout", guarded(logout), methods=["POST"]),
        Route("/", guarded(index)),
        Route("/alarms/rows", guarded(alarm_rows)),
        Route("/alarm/{site}/{gateway}/{alarm_id}", guarded(alarm_page)),
        Route("/alarm/{site}/{gateway}/{alarm_id}/ack", guarded(ack), methods=["POST"]),
        Route("/alarm/{site}/{gateway}/{alarm_id}/close", guarded(close), methods=["POST"]),
        Route("/fleet", guarded(fleet)),
        Route("/fleet/rows", guarded(fleet_rows)),
        Route("/log", guarded(log_page)),
        Route("/events", guarded(events)),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SessionMiddleware, secret_key=secret_key,
                             session_cookie="firegate_desk", max_age=desk.session_max_age_s,
                             same_site="strict", https_only=desk.secure_cookies)]
    return Starlette(routes=routes, middleware=middleware)


def session_key(data_dir: Path) -> str:
    """The cookie signing key: made once, kept in ``data_dir`` (0600), so a restart of the desk
    does not log everyone out."""
    path = data_dir / "session.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = path.open("x", encoding="ascii")
            with fd:
                path.chmod(0o600)
                fd.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


__all__ = ["CATEGORIES", "Hub", "build_app", "session_key"]
