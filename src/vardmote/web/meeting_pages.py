"""Meeting pages: "Nytt möte", a meeting, "Ändra", its type, "Ta bort möte", "Avboka möte",
the guest links, the meeting's .ics file and "Starta möte".

Pages are server-rendered and work without JavaScript except for opening the
"Välj mötestyp" dialog. Each changing form posts the session's CSRF token.
Wrong input re-renders the form with each field's Swedish message and a 422;
nothing is saved until every field is right. The changing handlers read the form on the
event loop and do the rest (database, the page) in the thread pool.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.context import Context
from vardmote.errors import InvalidInput
from vardmote.invitations import hosting, sending
from vardmote.meetings import ical, links
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.web.api import ics_response
from vardmote.web.deps import Ctx, Db, PageSession, checked_form, field_errors, text
from vardmote.web.meeting_view import SENT_NOTICES, show_meeting, type_cards
from vardmote.web.sending_pages import remove_and_show
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


# --- booking -------------------------------------------------------------------------------


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
    return render(request, "meeting_form.html", form=values, errors={}, cards=type_cards(s), meeting=None)


@router.post("/moten/ny")
async def new_meeting(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    form = await checked_form(request, row)
    return await run_in_threadpool(_book, request, form, row, ctx, s)


def _book(request: Request, form: FormData, row: StaffSession, ctx: Context, s: Session) -> Response:
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
            errors=field_errors(e),
            cards=type_cards(s),
            meeting=None,
            chosen_type=type_key,
        )
    return RedirectResponse(f"/moten/{made[0].id}?bokat={len(made)}", status_code=303)


# --- a meeting -----------------------------------------------------------------------------


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
    return show_meeting(request, ctx, s, meeting, notice=notice)


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
    return await run_in_threadpool(_change, request, form, meeting_id, row, ctx, s)


def _change(
    request: Request, form: FormData, meeting_id: str, row: StaffSession, ctx: Context, s: Session
) -> Response:
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
            errors=field_errors(e),
            cards=[],
            meeting=meeting,
        )
    return RedirectResponse(f"/moten/{meeting.id}", status_code=303)


async def _meeting_action(
    request: Request, meeting_id: str, row: StaffSession, ctx: Context, s: Session, action: str
) -> Response:
    form = await checked_form(request, row)
    return await run_in_threadpool(_act, request, form, meeting_id, row, ctx, s, action)


def _act(
    request: Request,
    form: FormData,
    meeting_id: str,
    row: StaffSession,
    ctx: Context,
    s: Session,
    action: str,
) -> Response:
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
        return show_meeting(request, ctx, s, meeting, 422, error=e.fields[0].message)
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


# --- guest links ---------------------------------------------------------------------------


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

    def revoke() -> Response:
        meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
        link = next((k for k in links.links_of(s, meeting) if k.id == link_id), None)
        recipient = next((r for r in sending.recipients_of(s, meeting) if r.link_id == link_id), None)
        if recipient is not None:
            # The link was sent to someone: remove them, so that a calendar recipient gets a CANCEL
            # and later changes are not sent to a link that no longer works.
            return remove_and_show(request, ctx, s, row, meeting, recipient)
        if link is not None:
            links.revoke(ctx, s, link, meetings.actor_of(row.user))
        return RedirectResponse(f"/moten/{meeting_id}", status_code=303)

    return await run_in_threadpool(revoke)


# --- calendar file and the meeting itself ---------------------------------------------------


@router.get("/moten/{meeting_id}/kalenderfil.ics")
def meeting_ics(meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
    return ics_response(ical.calendar(ctx, s, [meeting], meeting.title), meeting.id)


@router.get("/moten/{meeting_id}/starta")
def start_meeting(request: Request, meeting_id: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    meeting = hosting.meeting_to_host(ctx, s, row.user, meeting_id)
    if meeting.cancelled_at is not None or not meeting.is_protected:
        raise InvalidInput.one("meeting", "Bara ett skyddat möte som inte är avbokat kan startas.")
    return render(
        request, "meeting_room.html", meeting=meeting, role="host", display_name=row.user.display_name
    )
