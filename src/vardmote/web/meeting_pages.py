"""Staff pages: sign-in, the week calendar, booking, a meeting, calendar feed, admin.

Pages are server-rendered and work without JavaScript except for opening the
"Välj mötestyp" dialog. Each changing form posts the session's CSRF token.
Wrong input re-renders the form with each field's Swedish message and a 422;
nothing is saved until every field is right.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.accounts.service import (
    WRONG_CREDENTIALS,
    authenticate,
    end_session,
    require_session,
    start_session,
)
from vardmote.audit.log import verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import FieldError, Forbidden, InvalidInput, NotSignedIn, TooManyAttempts, VardmoteError
from vardmote.invitations import sending
from vardmote.invitations.mail import MailNotSent
from vardmote.invitations.models import MeetingRecipient
from vardmote.invitations.templates import letter_text
from vardmote.lib.timeutil import MONTHS, WEEKDAYS, week_start
from vardmote.lib.tokens import new_token
from vardmote.meetings import ical, links
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting
from vardmote.meetings.types import MAX_CONFIGURABLE_LIMIT, limit_text, list_types, set_limit
from vardmote.patients import registry
from vardmote.web.api import ics_response
from vardmote.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    Db,
    check_csrf,
    client_address,
    session_token,
    set_signin_csrf_cookie,
)
from vardmote.web.send_view import SendView, send_view, with_error
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


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


async def checked_form(request: Request, row: StaffSession) -> FormData:
    """checked_form reads a posted form and checks its CSRF token."""
    form = await request.form()
    value = form.get("csrf")
    check_csrf(row, value if isinstance(value, str) else None)
    return form


def text(form: FormData, name: str) -> str:
    """text is a form field as text; files and missing fields are empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _safe_next(target: str) -> str:
    # Only our own paths: never an absolute or scheme-relative address.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/kalender"


# --- sign-in -------------------------------------------------------------------------------


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/kalender", status_code=303)


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
    return _login_page(request, ctx, nasta=_safe_next(nasta))


@router.post("/logga-in")
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    username, password = text(form, "username"), text(form, "password")
    nasta = _safe_next(text(form, "nasta"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or cookie != text(form, "csrf"):
        return _login_page(
            request, ctx, 400, "Sidan har varit öppen för länge. Försök igen.", username, nasta
        )
    if not username or not password:
        return _login_page(request, ctx, 422, "Fyll i användarnamn och lösenord.", username, nasta)
    with ctx.db.session() as s:
        try:
            user = authenticate(ctx, s, username[:200], password[:1000], client_address(request))
            token, _ = start_session(ctx, s, user)
        except TooManyAttempts as e:
            response = _login_page(request, ctx, 429, e.message, username, nasta)
            response.headers["Retry-After"] = str(e.retry_after)
            return response
        except NotSignedIn:
            s.commit()
            return _login_page(request, ctx, 401, WRONG_CREDENTIALS, username, nasta)
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
    end_session(ctx, s, row)
    response = RedirectResponse("/logga-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- calendar ------------------------------------------------------------------------------


@router.get("/kalender")
def calendar(request: Request, row: PageSession, ctx: Ctx, s: Db, vecka: str | None = None) -> Response:
    today = dt.datetime.now(ctx.tz).date()
    if vecka:
        try:
            monday = week_start(dt.date.fromisoformat(vecka[:10]))
            if not 1 < monday.year < 9999:  # the week before and after must still be dates
                raise ValueError(vecka)
        except ValueError:
            raise InvalidInput.one("vecka", "Veckan ska anges som ett datum, ÅÅÅÅ-MM-DD.") from None
    else:
        monday = week_start(today)
    start = dt.datetime.combine(monday, dt.time(), ctx.tz)
    found = meetings.meetings_between(ctx, s, row.user, start, start + dt.timedelta(days=7))
    days = []
    for i in range(7):
        day = monday + dt.timedelta(days=i)
        days.append(
            {
                "date": day,
                "name": f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}",
                "today": day == today,
                "meetings": [m for m in found if m.starts_at.astimezone(ctx.tz).date() == day],
            }
        )
    week_no = monday.isocalendar().week
    sunday = monday + dt.timedelta(days=6)
    week_span = (
        f"{monday.day} {MONTHS[monday.month - 1]} – {sunday.day} {MONTHS[sunday.month - 1]} {sunday.year}"
    )
    return render(
        request,
        "calendar.html",
        week_span=week_span,
        days=days,
        week_no=week_no,
        monday=monday,
        prev=(monday - dt.timedelta(days=7)).isoformat(),
        next=(monday + dt.timedelta(days=7)).isoformat(),
    )


# --- booking -------------------------------------------------------------------------------


def _type_cards(s: Db) -> list[dict[str, object]]:
    return [
        {"key": t.key, "label": t.label, "description": t.description, "limit": limit_text(t)}
        for t in list_types(s, bookable_only=True)
    ]


def _booking_form(form: FormData) -> BookingForm:
    return BookingForm(
        title=text(form, "title"),
        start=text(form, "start"),
        end=text(form, "end"),
        required=text(form, "required"),
        optional=text(form, "optional"),
        frequency=text(form, "frequency"),
        until=text(form, "until"),
        count=text(form, "count"),
    )


def _errors(e: InvalidInput) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in e.fields:
        out.setdefault(f.field, f.message)
    return out


@router.get("/moten/ny")
def new_meeting_form(
    request: Request, row: PageSession, ctx: Ctx, s: Db, start: str | None = None
) -> Response:
    now = dt.datetime.now(ctx.tz).replace(second=0, microsecond=0)
    begin = (now + dt.timedelta(hours=1)).replace(minute=0)
    values = BookingForm(
        start=begin.strftime("%Y-%m-%dT%H:%M"),
        end=(begin + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
    )
    return render(request, "meeting_form.html", form=values, errors={}, cards=_type_cards(s), meeting=None)


@router.post("/moten/ny")
async def new_meeting(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    form = await checked_form(request, row)
    values = _booking_form(form)
    type_key = text(form, "type_key") or None
    try:
        if text(form, "protect") and type_key is None:
            raise InvalidInput.one("type_key", "Välj en mötestyp under Skyddat vårdmöte.")
        made = meetings.book(ctx, s, row.user, values, type_key)
    except InvalidInput as e:
        s.rollback()
        return render(
            request,
            "meeting_form.html",
            422,
            form=values,
            errors=_errors(e),
            cards=_type_cards(s),
            meeting=None,
            chosen_type=type_key,
        )
    return RedirectResponse(f"/moten/{made[0].id}?bokat={len(made)}", status_code=303)


def _meeting_page(
    request: Request,
    ctx: Context,
    s: Db,
    meeting: Meeting,
    status: int = 200,
    notice: str = "",
    error: str = "",
    send: SendView | None = None,
) -> Response:
    all_links = links.links_of(s, meeting) if meeting.is_protected else []
    shown = [
        {"link": k, "url": links.guest_url(ctx, k), "active": links.is_active(ctx, k)} for k in all_links
    ]
    return render(
        request,
        "meeting.html",
        status,
        meeting=meeting,
        location=meetings.location(ctx, meeting),
        body=ical.body_lines(ctx, s, meeting),
        links=shown,
        cards=_type_cards(s),
        limit=limit_text(meeting.meeting_type) if meeting.meeting_type else None,
        notice=notice,
        error=error,
        send=send or (send_view(ctx, s, meeting) if meeting.is_protected else None),
        letter=letter_text(ctx.url("/inkorg")),
    )


SENT_NOTICES = {
    "inkorg": "Meddelandet är skickat till mottagarens inkorg.",
    "ombud": "Meddelandet är skickat till barnets inkorg. Patienten är under 13 år: vårdnadshavare läser "
    "det som ombud (”Agera ombud”).",
    "kalender": "Kalenderinbjudan är skickad.",
    "borttagen": "Mottagaren är borttagen och länken fungerar inte längre.",
}


@router.get("/moten/{meeting_id}")
def meeting_page(
    request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db, bokat: int = 0, skickat: str = ""
) -> Response:
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    notice = SENT_NOTICES.get(skickat, "")
    if bokat == 1:
        notice = "Mötet är bokat."
    elif bokat > 1:
        notice = f"Mötet är bokat: {bokat} tillfällen."
    return _meeting_page(request, ctx, s, meeting, notice=notice)


@router.get("/moten/{meeting_id}/andra")
def change_form(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    values = BookingForm(
        title=meeting.title,
        start=meeting.starts_at.astimezone(ctx.tz).strftime("%Y-%m-%dT%H:%M"),
        end=meeting.ends_at.astimezone(ctx.tz).strftime("%Y-%m-%dT%H:%M"),
        required="; ".join(p.address for p in meeting.participants if p.required),
        optional="; ".join(p.address for p in meeting.participants if not p.required),
    )
    return render(request, "meeting_form.html", form=values, errors={}, cards=[], meeting=meeting)


@router.post("/moten/{meeting_id}/andra")
async def change(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    form = await checked_form(request, row)
    values = _booking_form(form)
    values.frequency = ""
    try:
        meeting = meetings.change(ctx, s, row.user, meeting_id, values)
    except InvalidInput as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
        return render(
            request,
            "meeting_form.html",
            422,
            form=values,
            errors=_errors(e),
            cards=[],
            meeting=meeting,
        )
    return RedirectResponse(f"/moten/{meeting.id}", status_code=303)


async def _meeting_action(
    request: Request, meeting_id: str, row: StaffSession, ctx: Context, s: Db, action: str
) -> Response:
    form = await checked_form(request, row)
    user = row.user
    try:
        if action == "type":
            meetings.choose_type(ctx, s, user, meeting_id, text(form, "type_key"))
        elif action == "unprotect":
            meetings.remove_protection(ctx, s, user, meeting_id)
        elif action == "cancel":
            meetings.cancel(ctx, s, user, meeting_id, text(form, "whole_series") == "1")
        elif action == "renew":
            links.renew_general_link(
                ctx, s, meetings.get_meeting(ctx, s, user, meeting_id), meetings.actor_of(user)
            )
        elif action == "recipient":
            links.make_recipient_link(
                ctx,
                s,
                meetings.get_meeting(ctx, s, user, meeting_id),
                meetings.actor_of(user),
                text(form, "recipient"),
            )
    except InvalidInput as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, user, meeting_id)
        return _meeting_page(request, ctx, s, meeting, 422, error=e.fields[0].message)
    return RedirectResponse(f"/moten/{meeting_id}", status_code=303)


@router.post("/moten/{meeting_id}/typ")
async def choose_type(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _meeting_action(request, meeting_id, row, ctx, s, "type")


@router.post("/moten/{meeting_id}/ta-bort")
async def remove_protection(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _meeting_action(request, meeting_id, row, ctx, s, "unprotect")


@router.post("/moten/{meeting_id}/avboka")
async def cancel(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _meeting_action(request, meeting_id, row, ctx, s, "cancel")


@router.post("/moten/{meeting_id}/lankar/ny")
async def renew_link(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _meeting_action(request, meeting_id, row, ctx, s, "renew")


@router.post("/moten/{meeting_id}/lankar/personlig")
async def recipient_link(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _meeting_action(request, meeting_id, row, ctx, s, "recipient")


@router.post("/moten/{meeting_id}/lankar/{link_id}/aterkalla")
async def revoke_link(
    request: Request, meeting_id: str, link_id: int, row: PageSession, ctx: Ctx, s: Db
) -> Response:
    await checked_form(request, row)
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    link = next((k for k in links.links_of(s, meeting) if k.id == link_id), None)
    recipient = next((r for r in sending.recipients_of(s, meeting) if r.link_id == link_id), None)
    if recipient is not None:
        # The link was sent to someone: remove them, so that a calendar recipient gets a CANCEL
        # and later changes are not sent to a link that no longer works.
        return await _remove(request, ctx, s, row, meeting, recipient)
    if link is not None:
        links.revoke(ctx, s, link, meetings.actor_of(row.user))
    return RedirectResponse(f"/moten/{meeting_id}", status_code=303)


async def _send_action(
    request: Request, meeting_id: str, row: StaffSession, ctx: Context, s: Db, channel: str
) -> Response:
    form = await checked_form(request, row)
    user = row.user
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    typed = {
        # Cut only far beyond every limit, so that too long is refused rather than shortened.
        name: text(form, name)[:400]
        for name in ("kind", "personnummer", "template", "address", "username")
    }
    typed["together"] = text(form, "together")
    typed["note"] = text(form, "note")[: sending.MAX_NOTE + 1]
    try:
        if channel == sending.INBOX:
            recipient = sending.send_message(
                ctx,
                s,
                user,
                meeting,
                personnummer=typed["personnummer"],
                kind=typed["kind"],
                template_key=typed["template"],
                together=typed["together"] == "1",
            )
            under_13 = recipient.patient is not None and registry.needs_ombud(
                recipient.patient, sending.meeting_day(ctx, meeting)
            )
            sent = "ombud" if under_13 and recipient.kind == sending.RecipientKind.PATIENT else "inkorg"
        else:
            sending.send_calendar_invitation(
                ctx,
                s,
                user,
                meeting,
                kind=typed["kind"],
                address=typed["address"],
                username=typed["username"],
                note=typed["note"],
            )
            sent = "kalender"
    except (InvalidInput, MailNotSent) as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, user, meeting_id)
        if channel == sending.CALENDAR:
            typed["calendar_kind"] = typed.pop("kind")
        problem = e if isinstance(e, InvalidInput) else InvalidInput.one("send", e.message)
        if channel == sending.CALENDAR and any(f.field == "kind" for f in problem.fields):
            # The calendar form has its own "Mottagaren är".
            problem = InvalidInput(
                [
                    FieldError("calendar_kind" if f.field == "kind" else f.field, f.message)
                    for f in problem.fields
                ],
                problem.message,
            )
        view = with_error(send_view(ctx, s, meeting), problem, typed)
        return _meeting_page(request, ctx, s, meeting, e.status, send=view)
    return RedirectResponse(f"/moten/{meeting_id}?skickat={sent}#skicka", status_code=303)


@router.post("/moten/{meeting_id}/skicka/inkorg")
async def send_to_inbox(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _send_action(request, meeting_id, row, ctx, s, sending.INBOX)


@router.post("/moten/{meeting_id}/skicka/kalender")
async def send_to_calendar(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    return await _send_action(request, meeting_id, row, ctx, s, sending.CALENDAR)


@router.post("/moten/{meeting_id}/mottagare/{recipient_id}/ta-bort")
async def remove_recipient(
    request: Request, meeting_id: str, recipient_id: int, row: PageSession, ctx: Ctx, s: Db
) -> Response:
    await checked_form(request, row)
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    return await _remove(request, ctx, s, row, meeting, sending.get_recipient(s, meeting, recipient_id))


async def _remove(
    request: Request, ctx: Context, s: Db, row: StaffSession, meeting: Meeting, recipient: MeetingRecipient
) -> Response:
    meeting_id = meeting.id
    try:
        sending.remove_recipient(ctx, s, meetings.actor_of(row.user), meeting, recipient)
    except (MailNotSent, InvalidInput) as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
        return _meeting_page(request, ctx, s, meeting, e.status, error=e.message)
    return RedirectResponse(f"/moten/{meeting_id}?skickat=borttagen#skicka", status_code=303)


@router.get("/moten/{meeting_id}/kalenderfil.ics")
def meeting_ics(meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    return ics_response(ical.calendar(ctx, s, [meeting], meeting.title), meeting.id)


@router.get("/moten/{meeting_id}/starta")
def start_meeting(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    meeting = meetings.meeting_to_host(ctx, s, row.user, meeting_id)
    if meeting.cancelled_at is not None or not meeting.is_protected:
        raise InvalidInput.one("meeting", "Bara ett skyddat möte som inte är avbokat kan startas.")
    return render(
        request, "meeting_room.html", meeting=meeting, role="host", display_name=row.user.display_name
    )


# --- calendar feed -------------------------------------------------------------------------


@router.get("/kalenderprenumeration")
def feed_page(request: Request, row: PageSession, ctx: Ctx) -> Response:
    return render(request, "feed.html", url=ical.feed_url(ctx, row.user))


@router.post("/kalenderprenumeration")
async def renew_feed(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    await checked_form(request, row)
    ical.renew_feed(ctx, s, row.user)
    return RedirectResponse("/kalenderprenumeration", status_code=303)


@router.get("/kalender/{token}.ics")
def feed(token: str, ctx: Ctx, s: Db) -> Response:
    return ics_response(ical.feed(ctx, s, token), "vardmote")


# --- guest link and information ------------------------------------------------------------


@router.get("/m/{token}")
def guest_link(request: Request, token: str, ctx: Ctx, s: Db) -> Response:
    try:
        link = links.resolve(ctx, s, token)
    except VardmoteError as e:
        return render(request, "link_gone.html", e.status, detail=e.message)
    response = render(request, "meeting_room.html", meeting=link.meeting, role="guest", display_name="")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/sa-fungerar-det")
def how_it_works(request: Request) -> HTMLResponse:
    return render(request, "how_it_works.html")


@router.get("/villkor")
def terms(request: Request) -> HTMLResponse:
    return render(request, "terms.html")


@router.get("/personuppgifter")
def privacy(request: Request) -> HTMLResponse:
    return render(request, "privacy.html")


# --- administration ------------------------------------------------------------------------


def _require_admin(row: StaffSession) -> None:
    if not row.user.is_admin:
        raise Forbidden("Bara administratörer får se den här sidan.")


@router.get("/admin/motestyper")
def admin_types(request: Request, row: PageSession, s: Db) -> Response:
    _require_admin(row)
    return render(request, "admin_types.html", types=list_types(s), errors={}, notice="")


@router.post("/admin/motestyper/{key}")
async def admin_set_limit(request: Request, key: str, row: PageSession, s: Db) -> Response:
    _require_admin(row)
    form = await checked_form(request, row)
    raw = text(form, "participant_limit").strip()
    try:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
            raise InvalidInput.one(
                "participant_limit",
                f"Deltagarbegränsningen ska vara ett heltal från 1 till {MAX_CONFIGURABLE_LIMIT}.",
            )
        set_limit(s, meetings.actor_of(row.user), key, int(raw))
    except InvalidInput as e:
        s.rollback()
        return render(
            request,
            "admin_types.html",
            422,
            types=list_types(s),
            errors={key: e.fields[0].message},
            typed={key: raw[:10]},
            notice="",
        )
    return render(
        request,
        "admin_types.html",
        types=list_types(s),
        errors={},
        notice="Deltagarbegränsningen är sparad.",
    )


@router.get("/admin/granskning")
def admin_audit(request: Request, row: PageSession, s: Db) -> Response:
    _require_admin(row)
    entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(100)))
    return render(request, "admin_audit.html", verdict=verify(s), entries=entries)
