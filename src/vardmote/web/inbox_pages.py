"""Inbox pages: the patients' embedded "1177" under ``/inkorg``.

Sign-in (the test e-identification in demo mode, OpenID Connect when configured), Start,
the message list, a message with its join link, "Bokade tider", acting as ombud and
signing out. The pages need no JavaScript. Every changing form carries the session's CSRF
token; the sign-in form carries one from a cookie, as the staff sign-in does.

Errors are shown in the inbox's own layout (:class:`InboxRoute`), not the staff's: a page
that needs sign-in sends the browser to ``/inkorg/logga-in``, and every refusal is a
Swedish page with a 4xx status that changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from vardmote.context import Context
from vardmote.demo import DEMO_PATIENTS
from vardmote.errors import InvalidInput, NotFound, NotSignedIn, VardmoteError
from vardmote.inbox import oidc, service
from vardmote.inbox.sessions import (
    COOKIE_PATH,
    OIDC_METHOD,
    PATIENT_COOKIE,
    end_session,
    resolve_session,
)
from vardmote.inbox.signin import TEST_SIGNIN_OFF, sign_in_number, sign_in_test
from vardmote.invitations.templates import JOIN_LINK_TEXT
from vardmote.lib.oidc import delete_state_cookie, set_state_cookie
from vardmote.lib.tokens import new_token
from vardmote.patients.models import PatientSession
from vardmote.patients.registry import number_of
from vardmote.web.deps import Ctx, Db, checked_form, set_signin_csrf_cookie, signin_csrf_ok, text
from vardmote.web.templating import render, when

SIGNIN = "/inkorg/logga-in"
LOGIN_CSRF_COOKIE = "vm_inbox_login_csrf"
PAGE_SIZE = 20
LOGIN_EXPIRED = "Sidan har varit öppen för länge eller kom inte härifrån. Försök igen."
_DIGITS = re.compile(r"[0-9]{1,12}")


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    page = getattr(request.state, "inbox_page", None)
    return render(request, "inbox_error.html", status, page=page, title=title, detail=detail)


class InboxRoute(APIRoute):
    """InboxRoute shows every error of an inbox page in the inbox's layout."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                return RedirectResponse(SIGNIN, status_code=303)
            except VardmoteError as e:
                return _error_page(request, e.status, e.title, e.message)
            except RequestValidationError:
                return _error_page(
                    request,
                    400,
                    "Felaktig begäran",
                    "Sidan fick uppgifter den inte kunde tolka. Gå tillbaka och försök igen.",
                )

        return guarded


router = APIRouter(include_in_schema=False, route_class=InboxRoute)


@dataclass(frozen=True)
class InboxPage:
    """InboxPage is what the layout shows of the signed-in patient: plain values, not rows,
    so that an error page can still show them after the transaction is rolled back."""

    reader_name: str
    csrf: str
    ombud_for: str | None
    """The child's first name (or "ditt barn") while acting as ombud."""
    unread: int
    ended_ombud: bool


@dataclass(frozen=True)
class Current:
    """Current is the signed-in session, the inbox it reads and today's date."""

    row: PatientSession
    inbox: service.Inbox
    today: dt.date


def _today(ctx: Context) -> dt.date:
    return dt.datetime.now(ctx.tz).date()


def _reader_name(row: PatientSession) -> str:
    return row.patient.name or str(number_of(row.patient))


def _page_state(row: PatientSession, inbox: service.Inbox, unread: int) -> InboxPage:
    return InboxPage(
        reader_name=_reader_name(row),
        csrf=row.csrf_token,
        ombud_for=service.first_name(inbox.owner) if inbox.as_ombud else None,
        unread=unread,
        ended_ombud=inbox.ended_ombud,
    )


def current_inbox(request: Request, ctx: Ctx, s: Db) -> Current:
    """current_inbox requires a signed-in patient and checks the ombud rule again."""
    row = resolve_session(ctx, s, request.cookies.get(PATIENT_COOKIE))
    if row is None:
        raise NotSignedIn("Du behöver logga in.")
    today = _today(ctx)
    inbox = service.inbox_of(ctx, s, row, today)
    request.state.inbox_page = _page_state(row, inbox, service.unread_count(s, inbox.owner))
    return Current(row, inbox, today)


Signed = Annotated[Current, Depends(current_inbox)]


def _show(request: Request, current: Current, s: Db, name: str, active: str, **values: Any) -> Response:
    """_show renders an inbox page with the header's unread count as it is now."""
    page = _page_state(current.row, current.inbox, service.unread_count(s, current.inbox.owner))
    request.state.inbox_page = page
    return render(request, name, page=page, active=active, **values)


def _set_session_cookie(ctx: Context, response: Response, token: str) -> None:
    response.set_cookie(
        PATIENT_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
        path=COOKIE_PATH,
    )  # no max_age: it ends with the browser; the server ends it after session_hours


def _local_date(ctx: Context, moment: dt.datetime) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d")


# --- sign-in -------------------------------------------------------------------------------


def _login_page(
    request: Request,
    ctx: Context,
    status: int = 200,
    error: str = "",
    typed: str = "",
    signed_out: bool = False,
) -> Response:
    token = new_token()
    response = render(
        request,
        "inbox_login.html",
        status,
        page=None,
        error=error,
        typed=typed,
        login_csrf=token,
        demo=ctx.settings.demo,
        oidc_enabled=oidc.enabled(ctx),
        signed_out=signed_out,
        demo_patients=DEMO_PATIENTS if ctx.settings.demo else (),
    )
    set_signin_csrf_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, SIGNIN)
    return response


@router.get("/inkorg/logga-in")
def login_form(request: Request, ctx: Ctx, s: Db, utloggad: str = "") -> Response:
    if resolve_session(ctx, s, request.cookies.get(PATIENT_COOKIE)) is not None:
        return RedirectResponse("/inkorg", status_code=303)
    return _login_page(request, ctx, signed_out=utloggad == "1")


def _signed_in(ctx: Context, request: Request, s: Db, token: str) -> Response:
    """_signed_in ends any earlier session of this browser and sets the new one's cookie."""
    earlier = resolve_session(ctx, s, request.cookies.get(PATIENT_COOKIE))
    if earlier is not None:
        end_session(ctx, s, earlier)
    response = RedirectResponse("/inkorg", status_code=303)
    _set_session_cookie(ctx, response, token)
    return response


@router.post("/inkorg/logga-in")
async def login(request: Request, ctx: Ctx, s: Db) -> Response:
    form = await request.form()
    typed = text(form, "personnummer")[:40]
    if not signin_csrf_ok(request, form, LOGIN_CSRF_COOKIE):
        return _login_page(request, ctx, 400, LOGIN_EXPIRED, typed)
    if not ctx.settings.demo:
        return _login_page(request, ctx, 403, TEST_SIGNIN_OFF)
    if not typed.strip():
        return _login_page(request, ctx, 422, "Skriv ditt personnummer, ÅÅÅÅMMDD-NNNN.", typed)

    def sign_in() -> Response:
        """The database work of signing in, in the thread pool."""
        try:
            token, _ = sign_in_test(ctx, s, typed, _today(ctx))
        except InvalidInput as e:
            return _login_page(request, ctx, 422, e.message, typed)
        response = _signed_in(ctx, request, s, token)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=SIGNIN)
        return response

    return await run_in_threadpool(sign_in)


@router.get("/inkorg/oidc/start")
def oidc_start(ctx: Ctx) -> Response:
    if not oidc.enabled(ctx):
        raise NotFound("Inloggning med e-legitimation är inte inställd här.")
    url, state = oidc.begin(ctx)
    response = RedirectResponse(url, status_code=303)
    set_state_cookie(ctx, oidc.client(ctx), response, state)
    return response


@router.get(oidc.CALLBACK_PATH)
def oidc_done(request: Request, ctx: Ctx, s: Db) -> Response:
    if not oidc.enabled(ctx):
        raise NotFound("Inloggning med e-legitimation är inte inställd här.")
    params = {k: v[:2000] for k, v in request.query_params.items()}
    number = oidc.finish(ctx, params, request.cookies.get(oidc.STATE_COOKIE), _today(ctx))
    token, _ = sign_in_number(ctx, s, number, OIDC_METHOD)
    response = _signed_in(ctx, request, s, token)
    delete_state_cookie(ctx, oidc.client(ctx), response)
    return response


@router.post("/inkorg/logga-ut")
async def logout(request: Request, current: Signed, ctx: Ctx, s: Db) -> Response:
    await checked_form(request, current.row)
    await run_in_threadpool(end_session, ctx, s, current.row)
    response = RedirectResponse(SIGNIN + "?utloggad=1", status_code=303)
    response.delete_cookie(PATIENT_COOKIE, path=COOKIE_PATH)
    return response


# --- the inbox -------------------------------------------------------------------------------


@router.get("/inkorg")
def start(request: Request, current: Signed, ctx: Ctx, s: Db) -> Response:
    inbox = current.inbox
    booked = service.booked_times(s, inbox.owner)
    return _show(
        request,
        current,
        s,
        "inbox_start.html",
        "start",
        owner_name=service.first_name(inbox.owner),
        as_ombud=inbox.as_ombud,
        children=service.children_choices(s, inbox.reader, current.today),
        acting_for=inbox.owner.id if inbox.as_ombud else None,
        next_booked=booked[0] if booked else None,
        when=lambda a, b: _when(ctx, a, b),
    )


def _when(ctx: Context, start: dt.datetime, end: dt.datetime) -> str:
    return when(ctx, start, end)


@router.get("/inkorg/meddelanden")
def message_list(request: Request, current: Signed, ctx: Ctx, s: Db, sida: str = "1") -> Response:
    if not _DIGITS.fullmatch(sida) or int(sida) < 1:
        raise InvalidInput.one("sida", "Sidnumret ska vara ett heltal, 1 eller större.")
    number = int(sida)
    owner = current.inbox.owner
    total = service.message_count(s, owner)
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:
        raise NotFound("Sidan finns inte. Inkorgen har inte så många meddelanden.")
    rows = service.messages(s, owner, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    shown = [
        {
            "id": m.id,
            "title": m.template.title,
            "clinic": m.clinic,
            "date": _local_date(ctx, m.sent_at),
            "unread": m.read_at is None,
        }
        for m in rows
    ]
    first = (number - 1) * PAGE_SIZE + 1
    return _show(
        request,
        current,
        s,
        "inbox_messages.html",
        "inkorg",
        messages=shown,
        total=total,
        first=first,
        last=first + len(shown) - 1,
        page_number=number,
        pages=pages,
    )


@router.get("/inkorg/meddelanden/{message_id}")
def message(request: Request, current: Signed, ctx: Ctx, s: Db, message_id: str) -> Response:
    if not _DIGITS.fullmatch(message_id):
        raise NotFound(service.MESSAGE_NOT_FOUND)
    opened = service.open_message(ctx, s, current.inbox, int(message_id))
    return _show(
        request,
        current,
        s,
        "inbox_message.html",
        "inkorg",
        message=opened,
        sent=_local_date(ctx, opened.sent_at),
        join_text=JOIN_LINK_TEXT,
    )


@router.get("/inkorg/bokade-tider")
def booked(request: Request, current: Signed, ctx: Ctx, s: Db) -> Response:
    times = service.booked_times(s, current.inbox.owner)
    return _show(
        request,
        current,
        s,
        "inbox_booked.html",
        "bokade",
        times=[
            {
                "when": _when(ctx, t.starts_at, t.ends_at),
                "clinic": t.clinic,
                "title": t.title,
                "id": t.message_id,
            }
            for t in times
        ],
    )


# --- acting as ombud ------------------------------------------------------------------------


@router.post("/inkorg/ombud")
async def act_as_ombud(request: Request, current: Signed, ctx: Ctx, s: Db) -> Response:
    form = await checked_form(request, current.row)
    chosen = text(form, "barn")
    if not _DIGITS.fullmatch(chosen):
        raise InvalidInput.one("barn", service.CHOOSE_CHILD)
    try:
        await run_in_threadpool(service.act_as_ombud, ctx, s, current.row, int(chosen), current.today)
    except service.OmbudRefused as e:
        # Answered, not raised, so that the audited refusal is committed; nothing else changed.
        return _error_page(request, e.status, "Du kan inte agera ombud", e.message)
    return RedirectResponse("/inkorg", status_code=303)


@router.post("/inkorg/ombud/sluta")
async def stop_ombud(request: Request, current: Signed, s: Db) -> Response:
    await checked_form(request, current.row)
    await run_in_threadpool(service.stop_ombud, s, current.row)
    return RedirectResponse("/inkorg", status_code=303)
