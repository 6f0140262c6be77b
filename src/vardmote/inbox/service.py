"""The inbox: whose messages a session sees, acting as ombud, the messages, and "Bokade tider".

A session reads one inbox: the signed-in patient's own or, while a guardian acts as
ombud ("Agera ombud"), the child's. The ombud rule is checked on the server on every
request (:func:`inbox_of`), never taken from a form: the reader must be recorded as
the child's guardian and the child must be under 13 today. When that stops being true
(the child turns 13, the guardianship is removed) the session falls back to the
reader's own inbox.

A message of another inbox is "not found", exactly as a message that does not exist,
so that nothing tells whether an id is in use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import Forbidden, NotFound
from vardmote.inbox.sessions import actor
from vardmote.invitations.models import InboxMessage
from vardmote.invitations.templates import MessageFacts, RenderedMessage, render
from vardmote.meetings.links import guest_url, is_active
from vardmote.meetings.models import Meeting
from vardmote.patients.models import Patient, PatientSession
from vardmote.patients.registry import OMBUD_AGE, children_of, is_guardian_of, needs_ombud, number_of

MESSAGE_NOT_FOUND = "Meddelandet finns inte i den här inkorgen."
NOT_YOUR_CHILD = "Du kan bara agera ombud för barn som du är vårdnadshavare för."
CHOOSE_CHILD = "Välj ett av barnen i listan."


def first_name(patient: Patient, fallback: str = "ditt barn") -> str:
    """first_name is the first part of the patient's name, or fallback when no name is known."""
    parts = (patient.name or "").split()
    return parts[0] if parts else fallback


def too_old_text(child: Patient) -> str:
    """too_old_text says why a guardian cannot act as ombud for a child of 13 or older."""
    name = first_name(child, "Barnet")
    return (
        f"{name} har fyllt {OMBUD_AGE} år. Från {OMBUD_AGE} år har barnet en egen inkorg och loggar in "
        f"själv, så du kan inte agera ombud för {first_name(child, 'barnet')}."
    )


class OmbudRefused(Forbidden):
    """OmbudRefused says why a guardian may not act for this child; the refusal is audited."""


@dataclass(frozen=True)
class Inbox:
    """Inbox is who reads (the signed-in patient) and whose messages are read (owner)."""

    reader: Patient
    owner: Patient
    ended_ombud: bool = False
    """True when this request found the ombud rule no longer met and went back to the own inbox."""

    @property
    def as_ombud(self) -> bool:
        """as_ombud tells whether the reader acts as ombud for the owner."""
        return self.reader.id != self.owner.id


def ombud_refusal(s: Session, guardian: Patient, child: Patient, today: dt.date) -> str | None:
    """ombud_refusal is why guardian may not act as ombud for child today, or None if they may."""
    if child.id == guardian.id or not is_guardian_of(s, guardian, child):
        return NOT_YOUR_CHILD
    if not needs_ombud(child, today):
        return too_old_text(child)
    return None


def inbox_of(ctx: Context, s: Session, row: PatientSession, today: dt.date) -> Inbox:
    """inbox_of is the inbox row reads now, after checking the ombud rule again."""
    reader = row.patient
    child = row.acting_for
    if child is None:
        return Inbox(reader, reader)
    if ombud_refusal(s, reader, child, today) is None and (ctx.settings.demo or not child.is_demo):
        return Inbox(reader, child)
    row.acting_for_id = None
    row.acting_for = None
    record(
        s, actor(reader), "inbox.ombud_ended", details={"for": number_of(child).masked(), "reason": "rule"}
    )
    return Inbox(reader, reader, ended_ombud=True)


@dataclass(frozen=True)
class ChildChoice:
    """ChildChoice is one of a guardian's children on the start page."""

    id: int
    name: str
    may_act: bool
    """False from 13 years: the child reads their own inbox."""


def children_choices(s: Session, guardian: Patient, today: dt.date) -> list[ChildChoice]:
    """children_choices lists the guardian's children, those under 13 first, then by name."""
    choices = [
        ChildChoice(child.id, first_name(child), needs_ombud(child, today))
        for child in children_of(s, guardian)
    ]
    return sorted(choices, key=lambda c: (not c.may_act, c.name))


def act_as_ombud(ctx: Context, s: Session, row: PatientSession, child_id: int, today: dt.date) -> Patient:
    """act_as_ombud makes row read the inbox of child_id, if the rule allows it.

    Raises OmbudRefused (after auditing the refusal, which the caller should commit) for a
    child the reader is not guardian of, an unknown id (the same answer), or a child of 13
    or older.
    """
    guardian = row.patient
    child = s.get(Patient, child_id)
    reason = NOT_YOUR_CHILD if child is None else ombud_refusal(s, guardian, child, today)
    if child is not None and child.is_demo and not ctx.settings.demo:
        reason = NOT_YOUR_CHILD
    if reason is not None or child is None:
        what = "okänd" if child is None else number_of(child).masked()
        why = "age" if reason not in (None, NOT_YOUR_CHILD) else "not_guardian"
        record(s, actor(guardian), "inbox.ombud_refused", details={"for": what, "reason": why})
        raise OmbudRefused(reason or NOT_YOUR_CHILD)
    row.acting_for_id = child.id
    row.acting_for = child
    record(s, actor(guardian), "inbox.ombud", details={"for": number_of(child).masked()})
    return child


def stop_ombud(s: Session, row: PatientSession) -> None:
    """stop_ombud brings row back to the reader's own inbox ("Sluta agera ombud")."""
    child = row.acting_for
    if child is None:
        return
    row.acting_for_id = None
    row.acting_for = None
    record(
        s,
        actor(row.patient),
        "inbox.ombud_ended",
        details={"for": number_of(child).masked(), "reason": "stopped"},
    )


def unread_count(s: Session, owner: Patient) -> int:
    """unread_count is the number of unread messages in owner's inbox."""
    query = select(func.count(InboxMessage.id)).where(
        InboxMessage.patient_id == owner.id, InboxMessage.read_at.is_(None)
    )
    return int(s.scalar(query) or 0)


def message_count(s: Session, owner: Patient) -> int:
    """message_count is the number of messages in owner's inbox."""
    return int(s.scalar(select(func.count(InboxMessage.id)).where(InboxMessage.patient_id == owner.id)) or 0)


def messages(s: Session, owner: Patient, offset: int = 0, limit: int = 20) -> list[InboxMessage]:
    """messages lists owner's messages, newest first."""
    query = (
        select(InboxMessage)
        .where(InboxMessage.patient_id == owner.id)
        .order_by(InboxMessage.sent_at.desc(), InboxMessage.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(s.scalars(query))


def message_of(s: Session, owner: Patient, message_id: int) -> InboxMessage:
    """message_of is message_id of owner's inbox; NotFound for a missing one and another's alike."""
    message = s.scalar(
        select(InboxMessage).where(InboxMessage.id == message_id, InboxMessage.patient_id == owner.id)
    )
    if message is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    return message


@dataclass(frozen=True)
class OpenedMessage:
    """OpenedMessage is a message as shown: its rendered text and whether its link still works."""

    id: int
    clinic: str
    sent_at: dt.datetime
    rendered: RenderedMessage
    link_works: bool


def render_message(ctx: Context, message: InboxMessage, now: dt.datetime | None = None) -> OpenedMessage:
    """render_message fills the message's template version with the meeting's time now and the link."""
    link = message.link
    url = guest_url(ctx, link) if is_active(ctx, link, now) else None
    facts = MessageFacts(
        starts_at=link.meeting.starts_at.astimezone(ctx.tz),
        clinic=message.clinic,
        organisation=ctx.settings.organisation,
        join_url=url,
        privacy_url=ctx.url("/personuppgifter"),
        together=message.together,
    )
    return OpenedMessage(
        message.id, message.clinic, message.sent_at, render(message.template, facts), url is not None
    )


def open_message(ctx: Context, s: Session, inbox: Inbox, message_id: int) -> OpenedMessage:
    """open_message shows a message of inbox, marks it read and audits the reading.

    Only the owner or their ombud can reach this (message_of), so every opening counts as read.
    """
    message = message_of(s, inbox.owner, message_id)
    if message.read_at is None:
        message.read_at = utcnow()
    details: dict[str, object] = {"message": message.id}
    if inbox.as_ombud:
        details["ombud_for"] = number_of(inbox.owner).masked()
    record(s, actor(inbox.reader), "message.read", message.meeting_id, details)
    return render_message(ctx, message)


@dataclass(frozen=True)
class BookedTime:
    """BookedTime is an upcoming meeting the inbox has a message about."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    clinic: str
    title: str
    """The message's subject, e.g. "Skyddat digitalt vårdmöte" (never the staff's own meeting title)."""
    message_id: int


def booked_times(s: Session, owner: Patient, now: dt.datetime | None = None) -> list[BookedTime]:
    """booked_times lists the meetings not cancelled and not yet ended that owner has messages
    about, soonest first; a meeting with several messages is listed once, with its newest message."""
    now = now or utcnow()
    rows = s.execute(
        select(InboxMessage, Meeting)
        .join(Meeting, Meeting.id == InboxMessage.meeting_id)
        .where(
            InboxMessage.patient_id == owner.id,
            Meeting.cancelled_at.is_(None),
            Meeting.ends_at > now,
        )
        .order_by(Meeting.starts_at, InboxMessage.sent_at.desc(), InboxMessage.id.desc())
    )
    seen: set[str] = set()
    found: list[BookedTime] = []
    for message, meeting in rows:
        if meeting.id in seen:
            continue
        seen.add(meeting.id)
        found.append(
            BookedTime(meeting.starts_at, meeting.ends_at, message.clinic, message.template.title, message.id)
        )
    return found
