"""Request dependencies: the context, a database session, the signed-in staff member, CSRF.

Staff are recognised by the ``vm_session`` cookie (pages and the browser's API
calls) or by ``Authorization: Bearer <token>`` (scripts). A request signed in
by cookie must prove it comes from our own pages before it changes anything:
forms carry the session's CSRF token in a ``csrf`` field, API calls in the
``X-CSRF-Token`` header. Bearer requests need no CSRF token, since a browser
never adds that header on its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import require_session, resolve_session
from vardmote.context import Context
from vardmote.errors import Forbidden

SESSION_COOKIE = "vm_session"
LOGIN_CSRF_COOKIE = "vm_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FAILED = "Sidan har varit öppen för länge eller kom inte härifrån. Ladda om sidan och försök igen."


def get_ctx(request: Request) -> Context:
    """get_ctx returns the process's Context."""
    ctx: Context = request.app.state.ctx
    return ctx


def db_session(ctx: Annotated[Context, Depends(get_ctx)]) -> Iterator[Session]:
    """db_session yields one transaction per request: committed on success."""
    with ctx.db.session() as s:
        yield s


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


def client_address(request: Request) -> str:
    """client_address is the peer's address, for throttling and the audit."""
    return request.client.host if request.client else "okänd"


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


def check_csrf(row: StaffSession, given: str | None) -> None:
    """check_csrf raises Forbidden unless given is the session's CSRF token."""
    if not given or not hmac.compare_digest(given.encode(), row.csrf_token.encode()):
        raise Forbidden(CSRF_FAILED)


def staff(row: Annotated[StaffSession, Depends(staff_session)]) -> User:
    """staff returns the signed-in user."""
    return row.user


def admin(user: Annotated[User, Depends(staff)]) -> User:
    """admin requires an administrator."""
    if not user.is_admin:
        raise Forbidden("Bara administratörer får göra det här.")
    return user


Staff = Annotated[User, Depends(staff)]
StaffRow = Annotated[StaffSession, Depends(staff_session)]
Admin = Annotated[User, Depends(admin)]
