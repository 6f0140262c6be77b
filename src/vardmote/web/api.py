"""The JSON API under ``/api/v1``: everything the pages do, for scripts and integrations.

The routes are thin: they turn JSON into the service layer's inputs and its
results into JSON. Errors are RFC 9457 problem JSON (:mod:`vardmote.web.problems`).
Times go in as ISO 8601; without an offset they are read in the service's
time zone (Europe/Stockholm). Times come out in UTC and, for people, local.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vardmote.accounts.service import (
    WRONG_CREDENTIALS,
    authenticate,
    end_session,
    require_session_user,
    require_session_user_id,
    start_session,
)
from vardmote.audit.log import verify
from vardmote.context import Context
from vardmote.db import UtcDateTime, utcnow
from vardmote.errors import InvalidInput, NotFound, NotSignedIn
from vardmote.meetings import ical, links
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting, MeetingLink, MeetingParticipant, MeetingType
from vardmote.meetings.types import limit_text, list_types, set_limit
from vardmote.web.deps import Admin, Ctx, Db, Staff, StaffRow, client_address, committed, session_token


class Problem(BaseModel):
    """Problem is an RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 410, 422, 429)
}

router = APIRouter(prefix="/api/v1", responses=_PROBLEMS)

_Text = Annotated[str, Field(max_length=4000)]


class Input(BaseModel):
    """Input is the base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class SignIn(Input):
    username: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=1000)]


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str


class SessionOut(BaseModel):
    token: str
    """Send as ``Authorization: Bearer <token>``."""
    csrf_token: str
    """Needed in ``X-CSRF-Token`` only when signed in by cookie."""
    expires_at: dt.datetime
    user: UserOut


class RecurrenceIn(Input):
    frequency: Annotated[str, Field(max_length=20, description="daily or weekly")]
    until: Annotated[str | None, Field(max_length=20, description="last day, YYYY-MM-DD")] = None
    count: int | None = None


class MeetingIn(Input):
    title: _Text
    start: Annotated[str, Field(max_length=40, examples=["2026-12-01T09:00"])]
    end: Annotated[str, Field(max_length=40, examples=["2026-12-01T09:30"])]
    required: Annotated[list[_Text], Field(max_length=200)] = []
    optional: Annotated[list[_Text], Field(max_length=200)] = []
    type_key: Annotated[str | None, Field(max_length=100)] = None
    recurrence: RecurrenceIn | None = None


class MeetingChange(Input):
    title: _Text
    start: Annotated[str, Field(max_length=40)]
    end: Annotated[str, Field(max_length=40)]
    required: Annotated[list[_Text], Field(max_length=200)] = []
    optional: Annotated[list[_Text], Field(max_length=200)] = []


class TypeChoice(Input):
    type_key: Annotated[str, Field(max_length=100)]


class LimitChange(Input):
    participant_limit: int


class ParticipantOut(BaseModel):
    address: str
    required: bool


class LinkOut(BaseModel):
    id: int
    kind: str
    recipient: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool
    url: str | None


class MeetingOut(BaseModel):
    id: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    starts_local: str
    ends_local: str
    type_key: str | None
    type_label: str | None
    location: str
    series_id: int | None
    cancelled: bool
    sequence: int
    participants: list[ParticipantOut]
    page_url: str
    host_url: str
    guest_url: str | None


class MeetingTypeOut(BaseModel):
    key: str
    label: str
    description: list[str]
    participant_limit: int | None
    limit_text: str | None
    limit_configurable: bool
    lobby_rule: str
    who_may_join: str
    has_guest_link: bool
    anonymous: bool
    content_sharing: str
    booked_from: str


class FeedOut(BaseModel):
    url: str | None


class AuditVerdictOut(BaseModel):
    intact: bool
    entries: int
    first_bad_id: int | None
    message: str


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
    except NotSignedIn:
        s.commit()  # keep the counted failure and its audit entry
        raise NotSignedIn(WRONG_CREDENTIALS) from None
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


def _day(raw: str | None, field: str) -> dt.date | None:
    if raw is None:
        return None
    try:
        day = dt.date.fromisoformat(raw)
        if not 1 < day.year < 9999:  # a week on either side must still be a date, in UTC too
            raise ValueError(raw)
        return day
    except ValueError:
        raise InvalidInput.one(field, "Ange datum som ÅÅÅÅ-MM-DD.") from None


_PLAIN_BOOLS = frozenset({"true", "false", "1", "0"})


def _plain_week_query(request: Request) -> bool:
    """_plain_week_query tells whether FastAPI will surely accept the week view's query
    parameters (each at most once, dates of at most 10 characters, a plain boolean)."""
    q = request.query_params
    for name in ("from", "to", "include_cancelled"):
        values = q.getlist(name)
        if len(values) > 1:
            return False
    for name in ("from", "to"):
        if len(q.get(name, "")) > 10:
            return False
    return q.get("include_cancelled", "true").lower() in _PLAIN_BOOLS


@dataclass(frozen=True)
class WeekSignIn:
    """WeekSignIn is the week view's token and, if checked already, its user's id."""

    token: str | None
    user_id: int | None


async def week_sign_in(request: Request, ctx: Ctx, s: Db) -> WeekSignIn:
    """week_sign_in defers the week view's sign-in check to the route's one trip to the
    thread pool, when FastAPI will accept the query's parameters; otherwise it checks now
    (a trip of its own), so that signing in is still checked before the parameters (401
    before 422), as for every other route."""
    token, _ = session_token(request)
    if _plain_week_query(request):
        return WeekSignIn(token, None)
    return WeekSignIn(token, await run_in_threadpool(require_session_user_id, ctx, s, token))


@router.get("/meetings", tags=["meetings"])
async def list_meetings(
    signin: Annotated[WeekSignIn, Depends(week_sign_in)],
    ctx: Ctx,
    s: Db,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    include_cancelled: bool = False,
) -> list[MeetingOut]:
    """The signed-in staff member's meetings from one day up to (not including)
    another, local days; the default is the current week."""
    # The most frequent call of the API: the sign-in check, its query, the answer and the
    # commit in one trip to the thread pool (see deps.committed).
    if signin.user_id is not None:  # checked already, in a transaction of its own
        return await committed(s, _signed_in_week, ctx, s, signin, from_, to, include_cancelled)
    return await committed(
        s, ctx.db.retried, s, _signed_in_week, ctx, s, signin, from_, to, include_cancelled
    )


def _signed_in_week(
    ctx: Context, s: Session, signin: WeekSignIn, from_: str | None, to: str | None, include_cancelled: bool
) -> list[MeetingOut]:
    user_id = signin.user_id
    if user_id is None:
        ctx.db.autocommit(s)
        user_id = require_session_user_id(ctx, s, signin.token)
    first = _day(from_, "from")
    last = _day(to, "to")
    today = dt.datetime.now(ctx.tz).date()
    first = first or (today - dt.timedelta(days=today.weekday()))
    last = last or (first + dt.timedelta(days=7))
    if last <= first or (last - first).days > 366:
        raise InvalidInput.one("to", "Slutdatum ska vara efter startdatum och högst ett år senare.")
    start = dt.datetime.combine(first, dt.time(), ctx.tz)
    end = dt.datetime.combine(last, dt.time(), ctx.tz)
    return week_out(ctx, s, user_id, start, end, include_cancelled)


_meetings = Meeting.__table__
_types = MeetingType.__table__
_participants = MeetingParticipant.__table__
_links = MeetingLink.__table__
_WEEK = (
    select(
        _meetings.c.id,
        _meetings.c.title,
        _meetings.c.starts_at,
        _meetings.c.ends_at,
        _meetings.c.type_key,
        _meetings.c.series_id,
        _meetings.c.cancelled_at,
        _meetings.c.sequence,
        _types.c.label,
        _types.c.has_guest_link,
        _participants.c.id.label("participant_id"),
        _participants.c.address,
        _participants.c.required,
        _links.c.id.label("link_id"),
        _links.c.token_sealed,
    )
    .select_from(_meetings)
    .outerjoin(_types, _types.c.key == _meetings.c.type_key)
    .outerjoin(_participants, _participants.c.meeting_id == _meetings.c.id)
    .outerjoin(
        _links,
        and_(
            _links.c.meeting_id == _meetings.c.id,
            _links.c.kind == links.GENERAL,
            _links.c.revoked_at.is_(None),
        ),
    )
    .where(
        _meetings.c.organiser_id == bindparam("organiser_id"),
        _meetings.c.starts_at < bindparam("end", type_=UtcDateTime()),
        _meetings.c.ends_at > bindparam("start", type_=UtcDateTime()),
    )
    .order_by(_meetings.c.starts_at, _meetings.c.id, _participants.c.id, _links.c.id)
)
_WEEK_UNCANCELLED = _WEEK.where(_meetings.c.cancelled_at.is_(None))


def week_out(
    ctx: Context, s: Session, organiser_id: int, start: dt.datetime, end: dt.datetime, include_cancelled: bool
) -> list[MeetingOut]:
    """week_out is what :func:`meeting_out` makes of each of :func:`meetings.meetings_between`'s
    meetings, with :func:`links.general_links`'s general links, in one query of plain rows
    (no ORM objects): each meeting with its type, its participants and, outer-joined, its
    unrevoked general links (the newest wins, and only a protected meeting's counts). A
    link's guest address is shown while :func:`links.is_active` would say so."""
    rows = s.connection().execute(
        _WEEK if include_cancelled else _WEEK_UNCANCELLED,
        {"organiser_id": organiser_id, "start": start, "end": end},
    )
    now = utcnow()
    grace = dt.timedelta(minutes=ctx.settings.link_grace_minutes)
    location = f"Skyddat videomöte med {ctx.settings.organisation}"
    local = "%Y-%m-%dT%H:%M"
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.id, []).append(row)
    out: list[MeetingOut] = []
    for meeting_rows in found.values():
        row = meeting_rows[0]
        participants: dict[int, ParticipantOut] = {}
        link: Any = None
        for r in meeting_rows:
            if r.participant_id is not None and r.participant_id not in participants:
                participants[r.participant_id] = ParticipantOut(address=r.address, required=r.required)
            if r.link_id is not None and (link is None or link.link_id < r.link_id):
                link = r
        protected = row.type_key is not None
        guest = None
        if (
            link is not None
            and protected
            and row.cancelled_at is None
            and row.has_guest_link
            and now < row.ends_at + grace
        ):
            token = ctx.sealer.unseal(link.token_sealed)
            guest = ctx.url(f"/m/{token}") if token else None
        out.append(
            MeetingOut(
                id=row.id,
                title=row.title,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                starts_local=row.starts_at.astimezone(ctx.tz).strftime(local),
                ends_local=row.ends_at.astimezone(ctx.tz).strftime(local),
                type_key=row.type_key,
                type_label=row.label,
                location=location if protected else "",
                series_id=row.series_id,
                cancelled=row.cancelled_at is not None,
                sequence=row.sequence,
                participants=list(participants.values()),
                page_url=ctx.url(f"/moten/{row.id}"),
                host_url=ctx.url(f"/moten/{row.id}/starta"),
                guest_url=guest,
            )
        )
    return out


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
