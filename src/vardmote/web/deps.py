"""Request dependencies and helpers shared by the pages and the API.

The context, a database session, the signed-in staff member (API and pages), CSRF, reading
a posted form's fields, the Swedish field errors, admin-only pages and a safe "nasta" path.

Staff are recognised by the ``vm_session`` cookie (pages and the browser's API
calls) or by ``Authorization: Bearer <token>`` (scripts). A request signed in
by cookie must prove it comes from our own pages before it changes anything:
forms carry the session's CSRF token in a ``csrf`` field, API calls in the
``X-CSRF-Token`` header. Bearer requests need no CSRF token, since a browser
never adds that header on its own.

The patient inbox has its own session cookie and table, but the same CSRF check: its
forms go through :func:`checked_form` with the patient's session, and both sign-in
forms (which have no session yet) through :func:`signin_csrf_ok`.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, Protocol, TypeVar

import anyio
from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection

from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import require_session, resolve_session
from vardmote.context import Context
from vardmote.errors import Forbidden, InvalidInput

SESSION_COOKIE = "vm_session"
LOGIN_CSRF_COOKIE = "vm_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
P = ParamSpec("P")
T = TypeVar("T")
CSRF_FAILED = "Sidan har varit öppen för länge eller kom inte härifrån. Ladda om sidan och försök igen."


# The dependencies that do no I/O are ``async def``: FastAPI runs every plain ``def``
# dependency in the thread pool, and each such hop costs more than the work itself.


async def get_ctx(request: Request) -> Context:
    """get_ctx returns the process's Context."""
    ctx: Context = request.app.state.ctx
    return ctx


async def db_session(ctx: Annotated[Context, Depends(get_ctx)]) -> AsyncIterator[Session]:
    """db_session yields one transaction per request: committed on success, rolled back on error.

    The request first waits for one of the database's request slots (Database.request_slots:
    as many as pooled connections), on the event loop, so that a worker thread never waits
    for a connection. Making the session does no I/O (it connects at its first query, in
    whichever route or dependency runs it in the thread pool), so only the end, the commit
    or rollback, takes a trip to the thread pool; shielded, so that a client going away
    cannot leave the connection checked out."""
    async with ctx.db.request_slots():
        s = ctx.db.open_session()
        try:
            yield s
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(ctx.db.finish, s, commit=False)
            raise
        if ctx.db.finished(s):
            s.close()  # committed already (see committed): nothing left that needs I/O
            return
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(ctx.db.finish, s, commit=True)


async def committed(s: Session, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """committed runs work and then commits s, in one trip to the thread pool, and returns
    work's result: for an ``async def`` route whose database work is all in work, so that
    the request takes no trip of its own for the commit (db_session then only closes the
    session). If work or the commit fails, nothing is committed and db_session rolls back."""

    def work_and_commit() -> T:
        result = work(*args, **kwargs)
        s.commit()
        return result

    return await run_in_threadpool(work_and_commit)


Ctx = Annotated[Context, Depends(get_ctx)]
# scope="function": the transaction is committed when the endpoint returns, before the
# response is sent. With the default ("request") FastAPI commits after sending, so a
# client could act on an answer (a new session, a cancelled meeting) before it is stored.
Db = Annotated[Session, Depends(db_session, scope="function")]


def session_token(request: Request) -> tuple[str | None, bool]:
    """session_token returns the token and whether it came by Bearer header."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), True
    return request.cookies.get(SESSION_COOKIE), False


def client_address(request: HTTPConnection) -> str:
    """client_address is the client's address, for throttling and the audit (a request or a
    WebSocket).

    It is the peer's address, unless the peer is one of the trusted proxies
    (``VARDMOTE_TRUSTED_PROXIES``): then it is the rightmost address in ``X-Forwarded-For``
    that is not a trusted proxy, since each proxy appends the address it was reached from
    and everything left of that may have been written by the client itself. uvicorn's own
    proxy_headers stay off (cli.py): it would trust every peer's header."""
    peer = request.client.host if request.client else "okänd"
    trusted = request.app.state.ctx.settings.trusted_proxies
    if not trusted or not _among(peer, trusted):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # not written by a proxy of ours: nothing further left can be trusted
        if not _among(hop, trusted):
            return hop
        peer = hop
    return peer


def _among(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in networks)


def optional_staff(request: Request, ctx: Ctx, s: Db) -> StaffSession | None:
    """optional_staff returns the signed-in session, or None."""
    token, _ = session_token(request)
    return resolve_session(ctx, s, token)


def staff_session(request: Request, ctx: Ctx, s: Db) -> StaffSession:
    """staff_session requires a signed-in staff member and, for changes by
    cookie, a matching CSRF header (API) — forms check their field themselves."""
    token, bearer = session_token(request)
    row = require_session(ctx, s, token)
    if (
        request.method not in {"GET", "HEAD", "OPTIONS"}
        and not bearer
        and request.url.path.startswith("/api/")
    ):
        check_csrf(row, request.headers.get(CSRF_HEADER))
    return row


def set_signin_csrf_cookie(ctx: Context, response: Response, name: str, token: str, path: str) -> None:
    """set_signin_csrf_cookie gives a sign-in form's CSRF token to the browser as a cookie on the form's
    own path; the post must carry the same token in its field (there is no session yet)."""
    response.set_cookie(
        name, token, httponly=True, samesite="strict", secure=ctx.settings.cookie_secure, path=path
    )


class CsrfBound(Protocol):
    """CsrfBound is a signed-in session with its CSRF token: a staff member's or a patient's."""

    @property
    def csrf_token(self) -> str: ...


def check_csrf(row: CsrfBound, given: str | None) -> None:
    """check_csrf raises Forbidden unless given is the session's CSRF token."""
    if not given or not hmac.compare_digest(given.encode(), row.csrf_token.encode()):
        raise Forbidden(CSRF_FAILED)


async def staff(row: Annotated[StaffSession, Depends(staff_session)]) -> User:
    """staff returns the signed-in user (loaded with the session: no I/O)."""
    return row.user


async def admin(user: Annotated[User, Depends(staff)]) -> User:
    """admin requires an administrator."""
    if not user.is_admin:
        raise Forbidden("Bara administratörer får göra det här.")
    return user


Staff = Annotated[User, Depends(staff)]
StaffRow = Annotated[StaffSession, Depends(staff_session)]
Admin = Annotated[User, Depends(admin)]


# --- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageUser:
    """PageUser is what templates show of the signed-in user.

    A plain copy, not the database row: when a request fails, its transaction
    is rolled back (expiring every row) before the error page is rendered.
    """

    username: str
    display_name: str
    is_admin: bool


def page_session(request: Request, ctx: Ctx, s: Db) -> StaffSession:
    """page_session requires sign-in and makes the user and CSRF token known to templates."""
    token, _ = session_token(request)
    row = require_session(ctx, s, token)
    request.state.user = PageUser(row.user.username, row.user.display_name, row.user.is_admin)
    request.state.csrf = row.csrf_token
    return row


PageSession = Annotated[StaffSession, Depends(page_session)]


async def checked_form(request: Request, row: CsrfBound) -> FormData:
    """checked_form reads a posted form and checks its CSRF token against the session's
    (a staff member's on the staff pages, a patient's in the inbox)."""
    form = await request.form()
    value = form.get("csrf")
    check_csrf(row, value if isinstance(value, str) else None)
    return form


def text(form: FormData, name: str) -> str:
    """text is a form field as text; files and missing fields are empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def signin_csrf_ok(request: Request, form: FormData, cookie: str) -> bool:
    """signin_csrf_ok tells whether a posted sign-in form's CSRF field matches the token the
    form's page set in the cookie (see :func:`set_signin_csrf_cookie`). Each sign-in page
    answers a mismatch with its own form and message."""
    expected = request.cookies.get(cookie, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), text(form, "csrf").encode())


def field_errors(e: InvalidInput) -> dict[str, str]:
    """field_errors maps each field to its first Swedish message, as the forms show them."""
    out: dict[str, str] = {}
    for f in e.fields:
        out.setdefault(f.field, f.message)
    return out


def require_admin(row: StaffSession) -> None:
    """require_admin raises Forbidden unless the signed-in user is an administrator."""
    if not row.user.is_admin:
        raise Forbidden("Bara administratörer får se den här sidan.")


def safe_next(target: str) -> str:
    """safe_next is where to go after sign-in: only our own paths, never an absolute or
    scheme-relative address; otherwise the calendar."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/kalender"
