"""Staff sign-in pages: "Logga in" (a password, or the region's identity provider) and "Logga ut".

The sign-in form has no session yet, so its CSRF token comes from a cookie on the form's
own path and must come back in the form's field. A staff session's cookie ends with the
browser; the server ends it after inactivity.

With the region's identity provider configured (``staff_oidc_*``) the page's first choice
is its button (``staff_oidc_label``, "Logga in med SITHS"): ``/logga-in/oidc/start`` sends
the browser to the provider with a sealed state cookie on ``/logga-in/oidc``, and
``/logga-in/oidc/klar`` checks its answer, finds or makes the account and starts the same
session as a password does (:mod:`vardmote.accounts.staff_oidc`). The password form shows
only while local sign-in is on; when it is off, the break-glass administrator's form sits
behind a discreet link (``/logga-in?reserv=1``). Signing out of a session that came from
the provider goes on (by way of ``/utloggad``, for the browser that just signed out) to the
provider's end-session endpoint, so that its session ends too.

Every refusal is the sign-in page with a Swedish message and its status (400 refused or
cancelled, 403 deactivated, 502 the provider does not answer), counted for the address and
audited (a flood from one address once; past the limit 429 before anything else:
:mod:`vardmote.accounts.oidc_throttle`); never a token or what the provider wrote. The
provider's HTTP and the database work run in the thread pool.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vardmote.accounts import oidc_throttle, staff_oidc
from vardmote.accounts.models import SigninMethod
from vardmote.accounts.service import (
    authenticate,
    end_session,
    start_session,
)
from vardmote.context import Context
from vardmote.errors import NotFound, NotSignedIn, TooManyAttempts
from vardmote.lib.oidc import delete_state_cookie, set_state_cookie
from vardmote.lib.tokens import new_token
from vardmote.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    Db,
    PageSession,
    checked_form,
    client_address,
    committed,
    safe_next,
    set_signin_csrf_cookie,
    signin_csrf_ok,
    text,
)
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)

NOT_CONFIGURED = "Inloggning via inloggningstjänsten är inte inställd här."
SIGNED_OUT = "/utloggad"
"""The page after signing out of a session from the identity provider."""
SIGNED_OUT_COOKIE = "vm_utloggad"
"""Set by signing out for the way on to the provider (see :func:`signed_out`)."""
SIGNED_OUT_SECONDS = 60


def _login_page(
    request: Request,
    ctx: Context,
    status: int = 200,
    error: str = "",
    username: str = "",
    nasta: str = "/kalender",
    reserve: bool = False,
) -> Response:
    settings = ctx.settings
    token = new_token()
    oidc_on = staff_oidc.enabled(ctx)
    glass = bool(settings.break_glass_admin) and not settings.local_signin
    next_query = {} if nasta == "/kalender" else {"nasta": nasta}
    response = render(
        request,
        "login.html",
        status,
        error=error,
        username=username,
        login_csrf=token,
        nasta=nasta,
        demo=settings.demo,
        oidc_start=f"{staff_oidc.START_PATH}?{urlencode(next_query)}".rstrip("?") if oidc_on else "",
        oidc_label=settings.staff_oidc_label,
        show_password=settings.local_signin or not oidc_on or (glass and reserve),
        reserve=glass and reserve,
        reserve_link="/logga-in?" + urlencode({"reserv": "1", **next_query}) if glass else "",
    )
    set_signin_csrf_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, "/logga-in")
    return response


def _signed_in(ctx: Context, token: str, nasta: str) -> Response:
    """_signed_in sends the browser on with the new session's cookie."""
    response = RedirectResponse(nasta, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
    )  # no max_age: it ends with the browser; the server ends it after inactivity
    return response


@router.get("/logga-in")
def login_form(request: Request, ctx: Ctx, nasta: str = "/kalender", reserv: str = "") -> Response:
    return _login_page(request, ctx, nasta=safe_next(nasta), reserve=reserv == "1")


@router.post("/logga-in")
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    username, password = text(form, "username"), text(form, "password")
    nasta = safe_next(text(form, "nasta"))
    reserve = not ctx.settings.local_signin  # a refused form is shown again where it was
    if not signin_csrf_ok(request, form, LOGIN_CSRF_COOKIE):
        return _login_page(
            request, ctx, 400, "Sidan har varit öppen för länge. Försök igen.", username, nasta, reserve
        )
    if not username or not password:
        return _login_page(request, ctx, 422, "Fyll i användarnamn och lösenord.", username, nasta, reserve)
    address = client_address(request)

    def sign_in() -> str | Response:
        """The password check (argon2) and the database work, in the thread pool."""
        with ctx.db.session() as s:
            try:
                user = authenticate(ctx, s, username[:200], password[:1000], address)
                token, _ = start_session(ctx, s, user)
            except TooManyAttempts as e:
                response = _login_page(request, ctx, 429, e.message, username, nasta, reserve)
                response.headers["Retry-After"] = str(e.retry_after)
                return response
            except NotSignedIn as e:
                s.commit()
                return _login_page(request, ctx, 401, e.message, username, nasta, reserve)
            return token

    token = await run_in_threadpool(sign_in)
    if isinstance(token, Response):
        return token
    response = _signed_in(ctx, token, nasta)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/logga-in")
    return response


# --- the region's identity provider --------------------------------------------------------


@router.get(staff_oidc.START_PATH)
async def oidc_start(request: Request, ctx: Ctx, nasta: str = "/kalender") -> Response:
    if not staff_oidc.enabled(ctx):
        raise NotFound(NOT_CONFIGURED)
    target = safe_next(nasta)
    if wait := await run_in_threadpool(oidc_throttle.wait, ctx, client_address(request)):
        return _throttled(request, ctx, wait, target)
    try:
        url, state = await run_in_threadpool(staff_oidc.begin, ctx, target)
    except staff_oidc.StaffSignInFailed as e:
        await run_in_threadpool(_record_refusal, ctx, e, client_address(request))
        return _login_page(request, ctx, e.status, e.message, nasta=target)
    response = RedirectResponse(url, status_code=303)
    set_state_cookie(ctx, staff_oidc.client(ctx), response, state)
    return response


def _record_refusal(ctx: Context, e: staff_oidc.StaffSignInFailed, address: str) -> None:
    """_record_refusal counts a refused sign-in for the address and audits it (a flood from one
    address once: :mod:`vardmote.accounts.oidc_throttle`), in a transaction of its own."""
    oidc_throttle.refused(ctx, e, address)


def _throttled(request: Request, ctx: Context, wait: int, nasta: str = "/kalender") -> Response:
    """_throttled is the sign-in page (429) for an address that must wait after too many refused
    sign-ins. The state cookie stays: after the wait the provider's answer may be tried again."""
    response = _login_page(request, ctx, 429, oidc_throttle.message(wait), nasta=nasta)
    response.headers["Retry-After"] = str(wait)
    return response


@router.get(staff_oidc.CALLBACK_PATH)
async def oidc_done(request: Request, ctx: Ctx) -> Response:
    if not staff_oidc.enabled(ctx):
        raise NotFound(NOT_CONFIGURED)
    params = {k: v[:2000] for k, v in request.query_params.items()}
    cookie = request.cookies.get(staff_oidc.STATE_COOKIE)
    address = client_address(request)
    # Where the person was going: after the sign-in, or kept on a refusal's page for trying again.
    nasta = safe_next(staff_oidc.next_page(ctx, cookie))
    if wait := await run_in_threadpool(oidc_throttle.wait, ctx, address):
        return _throttled(request, ctx, wait, nasta)

    def sign_in() -> str:
        """The provider's answer checked (HTTP to it) and the account's work, in the thread pool."""
        signed_in = staff_oidc.finish(ctx, params, cookie)
        with ctx.db.session() as s:
            token, _, _ = staff_oidc.sign_in(ctx, s, signed_in, address)
            s.commit()
        return token

    try:
        token = await run_in_threadpool(sign_in)
    except staff_oidc.StaffSignInFailed as e:
        await run_in_threadpool(_record_refusal, ctx, e, address)
        response = _login_page(request, ctx, e.status, e.message, nasta=nasta)
    else:
        response = _signed_in(ctx, token, nasta)
    delete_state_cookie(ctx, staff_oidc.client(ctx), response)  # used once
    return response


@router.post("/logga-ut")
async def logout(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    await checked_form(request, row)
    method = row.signed_in_with
    await committed(s, end_session, ctx, s, row)
    # A session from the identity provider goes on to its end-session endpoint by way of
    # /utloggad: a redirect straight there from this form's answer is blocked by the pages'
    # Content-Security-Policy (form-action 'self' covers the redirects a form leads to).
    target = SIGNED_OUT if method == SigninMethod.OIDC.value and staff_oidc.enabled(ctx) else "/logga-in"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    if target == SIGNED_OUT:
        response.set_cookie(
            SIGNED_OUT_COOKIE,
            "1",
            max_age=SIGNED_OUT_SECONDS,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.cookie_secure,
            path=SIGNED_OUT,
        )
    return response


@router.get(SIGNED_OUT)
async def signed_out(request: Request, ctx: Ctx) -> Response:
    """signed_out says the session here has ended and sends the browser on to the identity
    provider's end-session endpoint (RP-initiated logout; a refresh, with a link beside it),
    which comes back to the sign-in page.

    Only a browser that has just signed out here goes on: the short-lived cookie set by
    ``POST /logga-ut`` (path /utloggad, SameSite=Lax) must come with it, and is used once.
    Anyone else (a link on another site, a reload) is sent to the sign-in page, so that no
    other site can use this page to sign a person out of the region's single sign-on."""
    if request.cookies.get(SIGNED_OUT_COOKIE) is None:
        return RedirectResponse("/logga-in", status_code=303)
    address = await run_in_threadpool(staff_oidc.sign_out_address, ctx, SigninMethod.OIDC.value)
    response = render(request, "signed_out.html", provider_sign_out=address or "")
    response.delete_cookie(
        SIGNED_OUT_COOKIE, path=SIGNED_OUT, httponly=True, samesite="lax", secure=ctx.settings.cookie_secure
    )
    return response
