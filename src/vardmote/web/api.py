"""The JSON API under ``/api/v1``: everything the pages do, for scripts and integrations.

The routes are thin: they turn JSON into the service layer's inputs and its
results into JSON. Errors are RFC 9457 problem JSON (:mod:`vardmote.web.problems`).
Times go in as ISO 8601; without an offset they are read in the service's
time zone (Europe/Stockholm). Times come out in UTC and, for people, local.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy.orm import Session

from vardmote.accounts.service import (
    authenticate,
    end_session,
    require_session_user,
    start_session,
)
from vardmote.audit.log import verify
from vardmote.context import Context
from vardmote.errors import InvalidInput, NotFound, NotSignedIn
from vardmote.meetings import ical, links
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting, MeetingLink
from vardmote.meetings.types import limit_text, list_types, set_limit
from vardmote.web.api_bodies import (
    AuditVerdictOut,
    FeedOut,
    Input,
    LimitChange,
    LinkOut,
    MeetingChange,
    MeetingIn,
    MeetingOut,
    MeetingTypeOut,
    ParticipantOut,
    Problem,
    SessionOut,
    SignIn,
    TypeChoice,
    UserOut,
)
from vardmote.web.deps import Admin, Ctx, Db, Staff, StaffRow, client_address, committed, session_token
from vardmote.web.week import week_out, week_span

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 410, 422, 429)
}

router = APIRouter(prefix="/api/v1", responses=_PROBLEMS)


def meeting_out(
    ctx: Context, s: Session, meeting: Meeting, general: dict[str, MeetingLink] | None = None
) -> MeetingOut:
    """meeting_out is a meeting as the API shows it; general holds the general
    links of a whole list, looked up at once (see links.general_links)."""
    if general is None:
        general = links.general_links(s, [meeting])
    link = general.get(meeting.id)
    guest = links.guest_url(ctx, link) if link is not None and links.is_active(ctx, link) else None
    local = "%Y-%m-%dT%H:%M"
    return MeetingOut(
        id=meeting.id,
        title=meeting.title,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        starts_local=meeting.starts_at.astimezone(ctx.tz).strftime(local),
        ends_local=meeting.ends_at.astimezone(ctx.tz).strftime(local),
        type_key=meeting.type_key,
        type_label=meeting.meeting_type.label if meeting.meeting_type else None,
        location=ical.location(ctx, meeting),
        series_id=meeting.series_id,
        cancelled=meeting.cancelled_at is not None,
        sequence=meeting.sequence,
        participants=[ParticipantOut(address=p.address, required=p.required) for p in meeting.participants],
        page_url=ctx.url(f"/moten/{meeting.id}"),
        host_url=ctx.url(f"/moten/{meeting.id}/starta"),
        guest_url=guest,
    )


def link_out(ctx: Context, link: MeetingLink) -> LinkOut:
    """link_out is a guest link as the API shows it to the meeting's organiser."""
    return LinkOut(
        id=link.id,
        kind=link.kind,
        recipient=link.recipient,
        created_at=link.created_at,
        revoked_at=link.revoked_at,
        active=links.is_active(ctx, link),
        url=links.guest_url(ctx, link),
    )


def type_out(row: Any) -> MeetingTypeOut:
    """type_out is a meeting-type policy row as JSON."""
    return MeetingTypeOut(
        key=row.key,
        label=row.label,
        description=row.description,
        participant_limit=row.participant_limit,
        limit_text=limit_text(row),
        limit_configurable=row.limit_configurable,
        lobby_rule=row.lobby_rule,
        who_may_join=row.who_may_join,
        has_guest_link=row.has_guest_link,
        anonymous=row.anonymous,
        content_sharing=row.content_sharing,
        booked_from=row.booked_from,
    )


def _form(body: MeetingIn | MeetingChange) -> BookingForm:
    form = BookingForm(
        title=body.title,
        start=body.start,
        end=body.end,
        required=list(body.required),
        optional=list(body.optional),
    )
    if isinstance(body, MeetingIn) and body.recurrence is not None:
        rec = body.recurrence
        form.frequency = rec.frequency or ""
        if not form.frequency:
            raise InvalidInput.one(
                "recurrence.frequency", "Välj om mötet återkommer varje dag eller varje vecka."
            )
        form.until = rec.until or ""
        form.count = "" if rec.count is None else str(rec.count)
    return form


@router.post("/session", status_code=201, tags=["sign-in"])
def sign_in(body: SignIn, request: Request, ctx: Ctx, s: Db) -> SessionOut:
    """Sign in with a local account; answers a session token for the Bearer header."""
    try:
        user = authenticate(ctx, s, body.username, body.password, client_address(request))
    except NotSignedIn as e:
        s.commit()  # keep the counted failure and its audit entry
        raise NotSignedIn(e.message) from None
    token, row = start_session(ctx, s, user)
    return SessionOut(
        token=token,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        user=UserOut(username=user.username, display_name=user.display_name, role=user.role),
    )


@router.delete("/session", status_code=204, tags=["sign-in"])
def sign_out(row: StaffRow, ctx: Ctx, s: Db) -> Response:
    """Sign out: the session token stops working."""
    end_session(ctx, s, row)
    return Response(status_code=204)


@router.get("/me", tags=["sign-in"])
async def me(request: Request, ctx: Ctx, s: Db) -> UserOut:
    """The signed-in staff member."""
    # The sign-in check as the Staff dependency does it, with one plain query, and the
    # commit in the same trip to the thread pool (see deps.committed).
    token, _ = session_token(request)
    return await committed(s, ctx.db.retried, s, _me, ctx, s, token)


def _me(ctx: Context, s: Session, token: str | None) -> UserOut:
    ctx.db.autocommit(s)
    row = require_session_user(ctx, s, token)
    return UserOut(username=row.username, display_name=row.display_name, role=row.role)


@router.get("/meeting-types", tags=["meeting types"])
def meeting_types(user: Staff, s: Db, bookable: bool = False) -> list[MeetingTypeOut]:
    """The meeting-type policy table; bookable=true gives the cards of "Välj mötestyp"."""
    return [type_out(t) for t in list_types(s, bookable_only=bookable)]


@router.patch("/meeting-types/{key}", tags=["meeting types"])
def change_meeting_type(key: str, body: LimitChange, user: Admin, s: Db) -> MeetingTypeOut:
    """Change a configurable participant limit (administrators)."""
    return type_out(set_limit(s, meetings.actor_of(user), key, body.participant_limit))


@router.get("/meetings", tags=["meetings"])
def list_meetings(
    user: Staff,
    ctx: Ctx,
    s: Db,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    include_cancelled: bool = False,
) -> list[MeetingOut]:
    """The signed-in staff member's meetings from one day up to (not including)
    another, local days; the default is the current week."""
    # The usual call is answered before it gets here, by web/week.py's WeekShortcut, with
    # the same answer: this route answers the rest (401, 422) and describes the call.
    start, end = week_span(ctx, from_, to)
    return week_out(ctx, s.connection(), user.id, start, end, include_cancelled)


@router.post("/meetings", status_code=201, tags=["meetings"])
def book_meeting(body: MeetingIn, user: Staff, ctx: Ctx, s: Db) -> list[MeetingOut]:
    """Book a meeting (every occurrence, if recurring); with type_key it is
    protected at once. Answers the meetings made, first one first."""
    made = meetings.book(ctx, s, user, _form(body), body.type_key)
    return [meeting_out(ctx, s, m) for m in made]


@router.get("/meetings/{meeting_id}", tags=["meetings"])
def get_meeting(meeting_id: str, user: Staff, ctx: Ctx, s: Db) -> MeetingOut:
    """One of the signed-in staff member's meetings."""
    return meeting_out(ctx, s, meetings.get_meeting(ctx, s, user, meeting_id))


@router.put("/meetings/{meeting_id}", tags=["meetings"])
def change_meeting(meeting_id: str, body: MeetingChange, user: Staff, ctx: Ctx, s: Db) -> MeetingOut:
    """Change title, times and participants of one meeting (one occurrence)."""
    return meeting_out(ctx, s, meetings.change(ctx, s, user, meeting_id, _form(body)))


@router.delete("/meetings/{meeting_id}", tags=["meetings"])
def cancel_meeting(
    meeting_id: str, user: Staff, ctx: Ctx, s: Db, whole_series: bool = False
) -> list[MeetingOut]:
    """Cancel a meeting, or with whole_series every coming occurrence of its series."""
    cancelled = meetings.cancel(ctx, s, user, meeting_id, whole_series)
    return [meeting_out(ctx, s, m) for m in cancelled]


@router.put("/meetings/{meeting_id}/type", tags=["meetings"])
def choose_type(meeting_id: str, body: TypeChoice, user: Staff, ctx: Ctx, s: Db) -> MeetingOut:
    """Make the meeting protected with a type ("Skapa möte"), or change its type."""
    return meeting_out(ctx, s, meetings.choose_type(ctx, s, user, meeting_id, body.type_key))


@router.delete("/meetings/{meeting_id}/type", tags=["meetings"])
def remove_type(meeting_id: str, user: Staff, ctx: Ctx, s: Db) -> MeetingOut:
    """ "Ta bort möte": the meeting is no longer protected; its links stop working."""
    return meeting_out(ctx, s, meetings.remove_protection(ctx, s, user, meeting_id))


@router.get("/meetings/{meeting_id}/links", tags=["links"])
def meeting_links(meeting_id: str, user: Staff, ctx: Ctx, s: Db) -> list[LinkOut]:
    """Every guest link of the meeting, revoked ones included."""
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    return [link_out(ctx, link) for link in links.links_of(s, meeting)]


@router.post("/meetings/{meeting_id}/links/general", status_code=201, tags=["links"])
def renew_general_link(meeting_id: str, user: Staff, ctx: Ctx, s: Db) -> LinkOut:
    """Replace the general guest link: the old one stops working."""
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    if meeting.cancelled_at is not None:
        raise InvalidInput.one("meeting", "Mötet är avbokat och kan inte ändras.")
    return link_out(ctx, links.renew_general_link(ctx, s, meeting, meetings.actor_of(user)))


class RecipientIn(Input):
    recipient: Annotated[str, Field(max_length=200, examples=["Tolk"])]


@router.post("/meetings/{meeting_id}/links", status_code=201, tags=["links"])
def make_recipient_link(meeting_id: str, body: RecipientIn, user: Staff, ctx: Ctx, s: Db) -> LinkOut:
    """Make a personal guest link for one more person (a role such as "Tolk", not a name)."""
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    return link_out(ctx, links.make_recipient_link(ctx, s, meeting, meetings.actor_of(user), body.recipient))


@router.post("/meetings/{meeting_id}/links/{link_id}/revoke", tags=["links"])
def revoke_link(meeting_id: str, link_id: int, user: Staff, ctx: Ctx, s: Db) -> LinkOut:
    """Revoke one guest link."""
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    link = next((k for k in links.links_of(s, meeting) if k.id == link_id), None)
    if link is None:
        raise NotFound("Länken finns inte.")
    links.revoke(ctx, s, link, meetings.actor_of(user))
    return link_out(ctx, link)


_ICS: dict[int | str, dict[str, Any]] = {200: {"content": {"text/calendar": {}}, "description": "iCalendar"}}


@router.get("/meetings/{meeting_id}/ics", tags=["calendar"], response_class=Response, responses=_ICS)
def meeting_ics(meeting_id: str, user: Staff, ctx: Ctx, s: Db) -> Response:
    """The meeting as an iCalendar file."""
    meeting = meetings.get_meeting(ctx, s, user, meeting_id)
    return ics_response(ical.calendar(ctx, s, [meeting], meeting.title), meeting.id)


def ics_response(data: bytes, name: str) -> Response:
    """ics_response sends iCalendar data as a download."""
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.ics"'},
    )


@router.get("/calendar-feed", tags=["calendar"])
def calendar_feed(user: Staff, ctx: Ctx) -> FeedOut:
    """The signed-in staff member's calendar feed address, if made."""
    return FeedOut(url=ical.feed_url(ctx, user))


@router.post("/calendar-feed", status_code=201, tags=["calendar"])
def renew_calendar_feed(user: Staff, ctx: Ctx, s: Db) -> FeedOut:
    """Make a new feed address; the old one stops working."""
    return FeedOut(url=ical.renew_feed(ctx, s, user))


@router.get("/audit/verify", tags=["audit"])
def audit_verify(user: Admin, s: Db) -> AuditVerdictOut:
    """Verify the audit log's hash chain (administrators)."""
    verdict = verify(s)
    return AuditVerdictOut(
        intact=verdict.intact,
        entries=verdict.entries,
        first_bad_id=verdict.first_bad_id,
        message=verdict.describe(),
    )
