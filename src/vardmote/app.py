"""App: builds the ASGI application from settings.

At start-up the meeting-type table gets any missing default rows and, in demo
mode, the demo data. Migrations are not run here (``vardmote migrate`` and
``vardmote serve`` do that), so tests and several processes can share one
database without racing on the schema.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vardmote import __version__
from vardmote.accounts.models import Role
from vardmote.accounts.service import resolve_session_user
from vardmote.audit.log import carry_on
from vardmote.cluster.bus import RedisEventRelay
from vardmote.cluster.meetings import SharedLiveMeetings
from vardmote.context import Context
from vardmote.demo import load_demo
from vardmote.invitations.outbox import OutboxWorker
from vardmote.invitations.templates import ensure_templates
from vardmote.media.embedded import EmbeddedJanus
from vardmote.media.placement import placement_from_settings
from vardmote.media.plane import MediaPlane
from vardmote.media.relay import EmbeddedRelay
from vardmote.media.relay_access import RelayAccess, relay_access_from_settings
from vardmote.meetings.types import ensure_meeting_types
from vardmote.retention import keep_purging
from vardmote.rooms.registry import LiveMeetings
from vardmote.settings import Settings
from vardmote.web import (
    admin_clients,
    admin_pages,
    admin_skype,
    admin_templates,
    api,
    calendar_pages,
    connection_test,
    fhir_api,
    inbox_pages,
    meeting_pages,
    metrics_page,
    oauth,
    problems,
    public_pages,
    sending_pages,
    signalling,
    signin_pages,
)
from vardmote.web.body_limits import BodyLimits
from vardmote.web.deps import client_address, session_token
from vardmote.web.live_booking import (
    apply_here,
    booking_change,
    follow_the_booking,
    follow_the_booking_shared,
    room_policy_reader,
    watch_accounts,
)
from vardmote.web.signalling import audit_sink
from vardmote.web.week import WeekShortcut

log = logging.getLogger("vardmote")

STATIC = Path(__file__).parent / "web" / "static"

# Everything the pages use is served from here: no CDN, no inline script.
# 'wasm-unsafe-eval' lets pages compile WebAssembly (the background effects' mediapipe model
# runs in it); it does not allow eval() or new Function(), which stay blocked, and mediapipe
# needs neither, nor workers or blob: scripts. media-src blob: plays back a recording made in
# the page itself (the microphone test).
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
        "img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # The meeting page's camera, microphone and screen sharing, for the service's own pages
    # only; every other powerful feature for no one.
    "Permissions-Policy": (
        "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), "
        "usb=(), serial=(), bluetooth=(), hid=(), midi=(), accelerometer=(), gyroscope=(), "
        "magnetometer=(), publickey-credentials-get=(), screen-wake-lock=(), xr-spatial-tracking=()"
    ),
}
HSTS = "max-age=31536000"
"""Strict-Transport-Security when the public URL is https: a year, for this host name only
(not includeSubDomains: the region's other hosts are not ours to decide for)."""


_SECURITY_HEADER_LIST = [(name.lower().encode(), value.encode()) for name, value in _SECURITY_HEADERS.items()]
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """SecurityHeaders adds the headers above and keeps pages out of caches.

    A plain ASGI middleware (not BaseHTTPMiddleware, which runs every request's app in a
    task of its own and streams its body through memory channels): it adds to the
    response's start message each header the response did not set itself, and
    Cache-Control: no-store to everything outside /static/. WebSockets pass untouched.
    With hsts (the public URL is https), Strict-Transport-Security too."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.headers = _SECURITY_HEADER_LIST + (
            [(b"strict-transport-security", HSTS.encode())] if hsts else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if not cacheable and _NO_STORE[0] not in present:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class VendorFiles(StaticFiles):
    """VendorFiles serves one pinned npm package: cached for a week, and the model files
    (.tflite, .binarypb, .data), which have no registered type, as application/octet-stream."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=604800"
        if response.headers.get("content-type", "").startswith("text/plain"):
            response.headers["content-type"] = "application/octet-stream"
        return response


def _mount_selfie_segmentation(app: FastAPI, settings: Settings) -> None:
    """_mount_selfie_segmentation serves node_modules/@mediapipe/selfie_segmentation, and only
    that folder, at /static/vendor/selfie_segmentation/ (mounted before /static so it wins).
    Without it the pages still work; the background effects then report that they cannot load."""
    folder = settings.vendor_dir / "@mediapipe" / "selfie_segmentation" if settings.vendor_dir else None
    if folder is None or not folder.is_dir():
        log.warning(
            "background effects off: %s not found (run npm ci --omit=dev or set VARDMOTE_VENDOR_DIR)",
            folder or "node_modules/@mediapipe/selfie_segmentation",
        )
        return
    app.mount("/static/vendor/selfie_segmentation", VendorFiles(directory=folder), name="selfie_segmentation")


async def _stopping(what: str, stop: Awaitable[None]) -> None:
    """_stopping awaits one part's stop at shutdown (or after a failed start), logging an
    error instead of raising it, so that the parts after it are stopped too."""
    try:
        await stop
    except Exception:
        log.exception("stopping %s failed", what)


def create_app(settings: Settings, ctx: Context | None = None) -> FastAPI:
    """create_app builds the app; ctx may be given to share a database with a test."""
    context = ctx or Context.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with context.db.session() as s:
            ensure_meeting_types(s)
            ensure_templates(s)
        with context.db.session() as s:
            if carry_on(s):  # a chain begun before the audit key: keyed from here on
                log.info("audit log: keyed from now on (marker written)")
        if settings.demo:
            with context.db.session() as s:
                load_demo(context, s)
        embedded: EmbeddedJanus | None = None
        embedded_relay: EmbeddedRelay | None = None
        relay_access: RelayAccess | None = None
        account_watch: asyncio.Task[None] | None = None
        mail_worker: OutboxWorker | None = None
        purging: asyncio.Task[None] | None = None
        # One try from the first start on: whatever fails to start, or fails to stop, everything
        # started before it is stopped (Janus and coturn run in sessions of their own and would
        # outlive this process).
        try:
            if settings.media:
                if not settings.janus_nodes:
                    embedded = EmbeddedJanus(settings)
                    app.state.embedded_janus = embedded
                    await embedded.start()
                if settings.turn == "embedded":
                    embedded_relay = EmbeddedRelay(settings)
                    app.state.embedded_relay = embedded_relay
                    await embedded_relay.start()
                relay_access = relay_access_from_settings(
                    settings, embedded_relay.secret if embedded_relay else None
                )
                app.state.relay = relay_access
                placement = placement_from_settings(settings, embedded.node if embedded else None)

                async def audit(meeting_id: str, actor: str, action: str, details: Mapping[str, Any]) -> None:
                    await audit_sink(context, meeting_id, actor, action, details)

                if settings.redis_url:
                    shared = SharedLiveMeetings(
                        settings.redis_url,
                        MediaPlane(placement, relay=relay_access),
                        audit,
                        policy_of=room_policy_reader(context),
                        booking_change=booking_change(context),
                        host_left_seconds=settings.host_left_seconds,
                        reconnect_seconds=settings.reconnect_seconds,
                        lobby_limit=settings.lobby_limit,
                    )
                    relay = RedisEventRelay(settings.redis_url, shared.relay_booking)
                    app.state.live, app.state.bus_relay = shared, relay
                    await shared.start()
                    await relay.start()
                    follow_the_booking_shared(context, relay)
                    account_watch = asyncio.create_task(watch_accounts(context, shared, shared.relay_booking))
                else:
                    app.state.live = LiveMeetings(
                        MediaPlane(placement, relay=relay_access),
                        audit,
                        host_left_seconds=settings.host_left_seconds,
                        reconnect_seconds=settings.reconnect_seconds,
                        lobby_limit=settings.lobby_limit,
                    )
                    follow_the_booking(context, app.state.live, asyncio.get_running_loop())
                    account_watch = asyncio.create_task(
                        watch_accounts(context, app.state.live, apply_here(context, app.state.live))
                    )
            mail_worker = OutboxWorker(context.db, settings)
            mail_worker.subscribe(context.events)
            mail_worker.start()
            app.state.mail_worker = mail_worker
            purging = asyncio.create_task(keep_purging(context))  # retention.py
            yield
        finally:
            if purging is not None:
                purging.cancel()
            if mail_worker is not None:
                await _stopping("the outbox worker", mail_worker.stop())
            if account_watch is not None:
                account_watch.cancel()
            if app.state.bus_relay is not None:
                await _stopping("the event relay", app.state.bus_relay.close())
            await _stopping("the connection tests", connection_test.end_all(app))
            if app.state.live is not None:
                await _stopping("the live meetings", app.state.live.close())
            if embedded is not None:
                await _stopping("the embedded Janus", embedded.stop())
            if embedded_relay is not None:
                await _stopping("the embedded relay", embedded_relay.stop())
            if ctx is None:
                context.db.dispose()

    app = FastAPI(
        title="Vårdmöte API",
        version=__version__,
        lifespan=lifespan,
        description="Skyddade videomöten i vården: bokning, mötestyper, länkar och kalender.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.ctx = context
    app.state.live = None
    app.state.bus_relay = None
    app.state.embedded_janus = None
    app.state.embedded_relay = None
    app.state.relay = None
    app.add_middleware(BodyLimits)  # bodies bounded before any form or JSON is parsed
    app.add_middleware(WeekShortcut, ctx=context)  # inside SecurityHeaders: its answers get them too
    app.add_middleware(SecurityHeaders, hsts=settings.effective_public_url.startswith("https://"))
    problems.install(app)
    app.include_router(api.router)
    app.include_router(public_pages.router)
    app.include_router(signin_pages.router)
    app.include_router(calendar_pages.router)
    app.include_router(meeting_pages.router)
    app.include_router(sending_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(inbox_pages.router)
    app.include_router(admin_templates.router)
    app.include_router(admin_skype.router)
    app.include_router(admin_clients.router)
    app.include_router(signalling.router)
    app.include_router(connection_test.router)
    app.include_router(metrics_page.router)
    app.include_router(oauth.router)
    app.include_router(fhir_api.router)
    _mount_selfie_segmentation(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def database_up() -> bool:
        try:
            with context.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception as e:  # the answer must come even when the database is down
            log.warning("health check: database unreachable: %s", type(e).__name__)
            return False

    @app.get("/livez", tags=["operations"])
    async def livez() -> JSONResponse:
        """Whether this process answers at all (its event loop runs): what a load balancer checks.
        Nothing shared is probed, so that a database or Janus outage, which every process shares,
        does not take every process out of the load balancer."""
        return JSONResponse({"status": "ok"})

    def is_admin(token: str) -> bool:
        with context.db.session() as s:
            user = resolve_session_user(context, s, token)
            return user is not None and user.role == Role.ADMIN.value

    async def sees_details(request: Request) -> bool:
        # Janus's address and version and the database engine help an attacker more than a
        # load balancer: only a client on this machine and a signed-in administrator see them.
        try:
            if ipaddress.ip_address(client_address(request)).is_loopback:
                return True
        except ValueError:
            pass
        token, _ = session_token(request)
        return token is not None and await run_in_threadpool(is_admin, token)

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        """Health of the service, its database, Janus and the relay, as JSON; 503 when the database
        or Janus is down (the relay is only reported in the details). Everyone gets the status;
        only loopback clients and administrators the details."""
        database = {"engine": context.db.engine.dialect.name, "ok": await run_in_threadpool(database_up)}
        janus: dict[str, object] = {"mode": "off"}
        if app.state.embedded_janus is not None:
            janus = app.state.embedded_janus.status()
        elif app.state.live is not None:
            plane: MediaPlane = app.state.live.plane
            nodes = [{"url": n.url, "up": await plane.node_up(n)} for n in plane.placement.nodes]
            janus = {"mode": "external", "nodes": nodes, "up": all(n["up"] for n in nodes)}
        relay: dict[str, object] = {"mode": "off"}
        if app.state.embedded_relay is not None:
            relay = app.state.embedded_relay.status()
        elif app.state.relay is not None:
            relay = {"mode": "external", "urls": list(app.state.relay.urls)}
        # The relay is reported, not counted: a restarting relay (a second or two) must not take
        # the web out of a load balancer. Its "up" is in the details.
        ok = bool(database["ok"]) and janus.get("up", True) is not False
        body: dict[str, object] = {"status": "ok" if ok else "down"}
        if await sees_details(request):
            body |= {"version": __version__, "database": database, "janus": janus, "relay": relay}
        return JSONResponse(body, status_code=200 if ok else 503)

    return app
