"""Staff sign-in pages: "Logga in" and "Logga ut".

The sign-in form has no session yet, so its CSRF token comes from a cookie on the form's
own path and must come back in the form's field. A staff session's cookie ends with the
browser; the server ends it after inactivity.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vardmote.accounts.service import (
    WRONG_CREDENTIALS,
    authenticate,
    end_session,
    start_session,
)
from vardmote.context import Context
from vardmote.errors import NotSignedIn, TooManyAttempts
from vardmote.lib.tokens import new_token
from vardmote.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    Db,
    PageSession,
    checked_form,
    client_address,
    safe_next,
    set_signin_csrf_cookie,
    signin_csrf_ok,
    text,
)
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request,
    ctx: Context,
    status: int = 200,
    error: str = "",
    username: str = "",
    nasta: str = "/kalender",
) -> Response:
    token = new_token()
    response = render(
        request,
        "login.html",
        status,
        error=error,
        username=username,
        login_csrf=token,
        nasta=nasta,
        demo=ctx.settings.demo,
    )
    set_signin_csrf_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, "/logga-in")
    return response


@router.get("/logga-in")
def login_form(request: Request, ctx: Ctx, nasta: str = "/kalender") -> Response:
    return _login_page(request, ctx, nasta=safe_next(nasta))


@router.post("/logga-in")
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    username, password = text(form, "username"), text(form, "password")
    nasta = safe_next(text(form, "nasta"))
    if not signin_csrf_ok(request, form, LOGIN_CSRF_COOKIE):
        return _login_page(
            request, ctx, 400, "Sidan har varit öppen för länge. Försök igen.", username, nasta
        )
    if not username or not password:
        return _login_page(request, ctx, 422, "Fyll i användarnamn och lösenord.", username, nasta)
    address = client_address(request)

    def sign_in() -> str | Response:
        """The password check (argon2) and the database work, in the thread pool."""
        with ctx.db.session() as s:
            try:
                user = authenticate(ctx, s, username[:200], password[:1000], address)
                token, _ = start_session(ctx, s, user)
            except TooManyAttempts as e:
                response = _login_page(request, ctx, 429, e.message, username, nasta)
                response.headers["Retry-After"] = str(e.retry_after)
                return response
            except NotSignedIn:
                s.commit()
                return _login_page(request, ctx, 401, WRONG_CREDENTIALS, username, nasta)
            return token

    token = await run_in_threadpool(sign_in)
    if isinstance(token, Response):
        return token
    response = RedirectResponse(nasta, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
    )  # no max_age: it ends with the browser; the server ends it after inactivity
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/logga-in")
    return response


@router.post("/logga-ut")
async def logout(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    await checked_form(request, row)
    await run_in_threadpool(end_session, ctx, s, row)
    response = RedirectResponse("/logga-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
