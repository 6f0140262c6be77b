"""Sending the link from the meeting page ("Skicka anslutningslänk/mötesinbjudan").

A message to a patient's or närstående's inbox, a calendar invitation to an external
party, and "Ta bort" for a recipient (which also ends their link). Each answers by going
back to the meeting's "#skicka" section with a notice, or with the meeting page and the
send form's Swedish errors.

The handlers read the form on the event loop; everything after it (database work, the
personal-data guard, the page) runs in the thread pool. No mail server is talked to here:
invitations go to the outbox (`vardmote.invitations.outbox`), sent after commit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.context import Context
from vardmote.errors import FieldError, InvalidInput
from vardmote.invitations import sending
from vardmote.invitations.models import MeetingRecipient
from vardmote.meetings import service as meetings
from vardmote.meetings.models import Meeting
from vardmote.patients import registry
from vardmote.web.deps import Ctx, Db, PageSession, checked_form, text
from vardmote.web.meeting_view import show_meeting
from vardmote.web.send_view import send_view, with_error

router = APIRouter(include_in_schema=False)


async def _send_action(
    request: Request, meeting_id: str, row: StaffSession, ctx: Context, s: Session, channel: str
) -> Response:
    form = await checked_form(request, row)
    return await run_in_threadpool(_send, request, form, meeting_id, row, ctx, s, channel)


def _send(
    request: Request,
    form: FormData,
    meeting_id: str,
    row: StaffSession,
    ctx: Context,
    s: Session,
    channel: str,
) -> Response:
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
    except InvalidInput as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, user, meeting_id)
        if channel == sending.CALENDAR:
            typed["calendar_kind"] = typed.pop("kind")
        problem = e
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
        return show_meeting(request, ctx, s, meeting, e.status, send=view)
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

    def remove() -> Response:
        meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
        return remove_and_show(request, ctx, s, row, meeting, sending.get_recipient(s, meeting, recipient_id))

    return await run_in_threadpool(remove)


def remove_and_show(
    request: Request,
    ctx: Context,
    s: Session,
    row: StaffSession,
    meeting: Meeting,
    recipient: MeetingRecipient,
) -> Response:
    """remove_and_show removes a recipient (ending their link) and answers with the meeting's
    "#skicka" section, or with the meeting page and the reason it could not be done. It blocks
    (database): call it in the thread pool."""
    meeting_id = meeting.id
    try:
        sending.remove_recipient(ctx, s, meetings.actor_of(row.user), meeting, recipient)
    except InvalidInput as e:
        s.rollback()
        meeting = meetings.get_meeting(ctx, s, row.user, meeting_id)
        return show_meeting(request, ctx, s, meeting, e.status, error=e.message)
    return RedirectResponse(f"/moten/{meeting_id}?skickat=borttagen#skicka", status_code=303)
