"""Meetings service: book, change, protect, unprotect and cancel meetings.

Every function here runs inside the caller's transaction and writes its audit
entry in it, so a change and its audit entry are saved together or not at
all. Staff see and change only the meetings they organise; any other meeting
is "not found", so ids reveal nothing.

A change, a new type, "Ta bort möte" and a cancellation each publish a meeting
event (`vardmote.meetings.events`) in that transaction: this layer does not know
who reacts (the invitations' updates and cancellations, the live rooms).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import User
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import FieldError, InvalidInput, NotFound
from vardmote.meetings import links
from vardmote.meetings.booking import Booking, BookingForm, occurrences, validate_booking
from vardmote.meetings.events import MeetingCancelled, MeetingChanged, MeetingTypeChosen, MeetingTypeRemoved
from vardmote.meetings.models import Meeting, MeetingParticipant, MeetingSeries, MeetingType
from vardmote.meetings.types import get_type

_MEETING_ID = re.compile(r"^[0-9a-f-]{36}$")
MEETING_NOT_FOUND = "Mötet finns inte, eller så är det inte ditt."


def actor_of(user: User) -> str:
    """actor_of is how a staff member is named in the audit log."""
    return f"user:{user.username}"


def _participants(booking: Booking) -> list[MeetingParticipant]:
    return [MeetingParticipant(address=a, required=True) for a in booking.required] + [
        MeetingParticipant(address=a, required=False) for a in booking.optional
    ]


def book(
    ctx: Context, s: Session, user: User, form: BookingForm, type_key: str | None = None
) -> list[Meeting]:
    """book validates form and saves the meeting (every occurrence of a series).

    With type_key the meeting is protected at once (as "Skapa möte" does) and
    gets its general guest link where the type has one.
    """
    # Every wrong field is reported at once, the type together with the form.
    errors: list[FieldError] = []
    meeting_type = None
    try:
        meeting_type = _bookable_type(s, type_key) if type_key else None
    except InvalidInput as e:
        errors += e.fields
    try:
        booking = validate_booking(form, utcnow(), ctx.tz)
    except InvalidInput as e:
        raise InvalidInput(e.fields + errors) from None
    if errors:
        raise InvalidInput(errors)
    series = None
    if booking.recurrence is not None:
        series = MeetingSeries(
            frequency=booking.recurrence.frequency,
            until=booking.recurrence.until,
            count=booking.recurrence.count,
        )
        s.add(series)
        s.flush()
    made: list[Meeting] = []
    for starts_at, ends_at in occurrences(booking, ctx.tz):
        meeting = _add_meeting(
            s,
            user,
            Meeting(
                title=booking.title,
                starts_at=starts_at,
                ends_at=ends_at,
                series_id=series.id if series else None,
                participants=_participants(booking),
            ),
            meeting_type,
            actor_of(user),
        )
        if meeting_type is not None and meeting_type.has_guest_link:
            links.make_link(ctx, s, meeting, actor_of(user))
        made.append(meeting)
    return made


def book_from_journal(
    ctx: Context, s: Session, user: User, form: BookingForm, type_key: str, *, actor: str
) -> Meeting:
    """book_from_journal saves a meeting a journal system booked for user (who organises and
    hosts it) of a type booked from the journal (``booked_from`` ``journal_api``), e.g.
    "Digitalt vårdmöte". actor is the journal system in the audit (``client:<name>``).

    One meeting, no series; no general guest link is made: the patient gets a personal link
    in the inbox, and a general link would be one more way in that nobody asked for."""
    meeting_type = get_type(s, type_key)
    if meeting_type.booked_from != "journal_api":
        raise InvalidInput.one(
            "type_key", f"{meeting_type.label} bokas i bokningsdialogen, inte från journalsystemet."
        )
    if form.frequency:
        raise InvalidInput.one("frequency", "Ett möte från journalsystemet kan inte vara återkommande.")
    booking = validate_booking(form, utcnow(), ctx.tz)
    meeting = Meeting(
        title=booking.title, starts_at=booking.starts_at, ends_at=booking.ends_at, participants=[]
    )
    return _add_meeting(s, user, meeting, meeting_type, actor)


def _add_meeting(
    s: Session, user: User, meeting: Meeting, meeting_type: MeetingType | None, actor: str
) -> Meeting:
    """_add_meeting saves meeting (its title, times, series and participants set) with a new id,
    organised by user, of meeting_type, and audits meeting.booked by actor — naming the
    organiser too when actor is someone else (a journal system)."""
    meeting.id = str(uuid.uuid4())
    meeting.organiser_id = user.id
    meeting.organiser = user
    meeting.type_key = meeting_type.key if meeting_type else None
    meeting.meeting_type = meeting_type
    s.add(meeting)
    s.flush()
    details: dict[str, object] = {
        "type": meeting.type_key,
        "series": meeting.series_id,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "participants": len(meeting.participants),
    }
    if actor != actor_of(user):
        details["organiser"] = actor_of(user)
    record(s, actor, "meeting.booked", meeting.id, details)
    return meeting


def _bookable_type(s: Session, type_key: str) -> MeetingType:
    meeting_type = get_type(s, type_key)
    if meeting_type.booked_from != "booking_dialog":
        raise InvalidInput.one(
            "type_key", f"{meeting_type.label} bokas från journalsystemet, inte i bokningsdialogen."
        )
    return meeting_type


def find_meeting(s: Session, meeting_id: str) -> Meeting | None:
    """find_meeting is the meeting with meeting_id, whoever organises it, or None: for callers
    that decide themselves who may see it (get_meeting: only its organiser)."""
    return s.get(Meeting, meeting_id) if _MEETING_ID.match(meeting_id) else None


def get_meeting(ctx: Context, s: Session, user: User, meeting_id: str) -> Meeting:
    """get_meeting returns one of user's meetings, cancelled ones included."""
    meeting = find_meeting(s, meeting_id)
    if meeting is None or meeting.organiser_id != user.id:
        raise NotFound(MEETING_NOT_FOUND)
    return meeting


def _live(ctx: Context, s: Session, user: User, meeting_id: str) -> Meeting:
    meeting = get_meeting(ctx, s, user, meeting_id)
    if meeting.cancelled_at is not None:
        raise InvalidInput.one("meeting", "Mötet är avbokat och kan inte ändras.")
    return meeting


def change(
    ctx: Context, s: Session, user: User, meeting_id: str, form: BookingForm, *, actor: str | None = None
) -> Meeting:
    """change saves new title, times and participants for one meeting (one occurrence).

    actor is who made the change in the audit when it is not user (a journal system changing
    its booking: ``client:<name>``)."""
    actor = actor or actor_of(user)
    meeting = _live(ctx, s, user, meeting_id)
    if form.frequency:
        raise InvalidInput.one(
            "frequency",
            "Ett bokat möte kan inte göras om till en serie. Boka ett nytt återkommande möte i stället.",
        )
    booking = validate_booking(form, utcnow(), ctx.tz, keep_start=meeting.starts_at)
    meeting.title = booking.title
    meeting.starts_at, meeting.ends_at = booking.starts_at, booking.ends_at
    meeting.participants = _participants(booking)
    _touch(meeting)
    record(
        s,
        actor,
        "meeting.changed",
        meeting.id,
        {
            "starts_at": booking.starts_at.isoformat(),
            "ends_at": booking.ends_at.isoformat(),
            "participants": len(meeting.participants),
        },
    )
    ctx.events.publish(s, MeetingChanged(meeting.id, actor))
    return meeting


def choose_type(ctx: Context, s: Session, user: User, meeting_id: str, type_key: str) -> Meeting:
    """choose_type makes a meeting protected ("Skapa möte") or changes its type
    ("Välj om mötestyp"). Links survive a change between types that have guest
    links; a change to a type without them revokes them."""
    meeting = _live(ctx, s, user, meeting_id)
    meeting_type = _bookable_type(s, type_key)
    before = meeting.type_key
    if before == meeting_type.key:
        return meeting
    meeting.type_key = meeting_type.key
    meeting.meeting_type = meeting_type
    _touch(meeting)
    record(
        s,
        actor_of(user),
        "meeting.type_chosen",
        meeting.id,
        {"from": before, "to": meeting_type.key},
    )
    ctx.events.publish(s, MeetingTypeChosen(meeting.id, actor_of(user), before, meeting_type.key))
    if not meeting_type.has_guest_link:
        links.revoke_all(ctx, s, meeting, actor_of(user))
    elif links.general_link(ctx, s, meeting) is None:
        links.make_link(ctx, s, meeting, actor_of(user))
    return meeting


def remove_protection(ctx: Context, s: Session, user: User, meeting_id: str) -> Meeting:
    """remove_protection is "Ta bort möte": the meeting stays in the calendar as an
    ordinary entry, without type, location or links."""
    meeting = _live(ctx, s, user, meeting_id)
    if meeting.type_key is None:
        return meeting
    record(s, actor_of(user), "meeting.type_removed", meeting.id, {"from": meeting.type_key})
    ctx.events.publish(s, MeetingTypeRemoved(meeting.id, actor_of(user)))
    links.revoke_all(ctx, s, meeting, actor_of(user))
    meeting.type_key = None
    meeting.meeting_type = None
    _touch(meeting)
    return meeting


def cancel(
    ctx: Context,
    s: Session,
    user: User,
    meeting_id: str,
    whole_series: bool = False,
    *,
    actor: str | None = None,
) -> list[Meeting]:
    """cancel cancels one meeting (or occurrence), or with whole_series every
    occurrence of its series that has not ended; links stop working at once.

    actor is who cancelled in the audit when it is not user (a journal system: ``client:<name>``)."""
    actor = actor or actor_of(user)
    if not whole_series:
        return _cancel(ctx, s, actor, [_live(ctx, s, user, meeting_id)], whole_series)
    meeting = get_meeting(ctx, s, user, meeting_id)
    targets = [meeting] if meeting.cancelled_at is None else []
    if meeting.series_id is not None:
        targets = list(
            s.scalars(
                select(Meeting).where(
                    Meeting.series_id == meeting.series_id,
                    Meeting.cancelled_at.is_(None),
                    Meeting.ends_at > utcnow(),
                )
            )
        )
        if meeting.cancelled_at is None and meeting not in targets:
            targets.append(meeting)
    if not targets:
        raise InvalidInput.one("meeting", "Alla kommande tillfällen är redan avbokade.")
    return _cancel(ctx, s, actor, targets, whole_series)


def _cancel(
    ctx: Context, s: Session, actor: str, targets: list[Meeting], whole_series: bool
) -> list[Meeting]:
    now = utcnow()
    for target in targets:
        ctx.events.publish(s, MeetingCancelled(target.id, actor))
        target.cancelled_at = now
        _touch(target)
        links.revoke_all(ctx, s, target, actor)
        record(
            s,
            actor,
            "meeting.cancelled",
            target.id,
            {"series": target.series_id, "whole_series": whole_series},
        )
    return targets


def meetings_between(
    ctx: Context,
    s: Session,
    user: User,
    start: dt.datetime,
    end: dt.datetime,
    *,
    include_cancelled: bool = False,
) -> list[Meeting]:
    """meetings_between lists user's meetings that overlap [start, end), by start."""
    query = select(Meeting).where(
        Meeting.organiser_id == user.id, Meeting.starts_at < end, Meeting.ends_at > start
    )
    if not include_cancelled:
        query = query.where(Meeting.cancelled_at.is_(None))
    return list(s.scalars(query.order_by(Meeting.starts_at, Meeting.id)))


def _touch(meeting: Meeting) -> None:
    meeting.sequence += 1
    meeting.updated_at = utcnow()
