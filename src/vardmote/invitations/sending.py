"""Sending the link ("Skicka anslutningslänk/mötesinbjudan"): each recipient by their own channel.

| recipient                          | channel                                                   |
|------------------------------------|-----------------------------------------------------------|
| patient, vårdnadshavare, närstående | a message in their inbox, written from a central template |
| extern part                        | a calendar invitation to an organisation address          |
| tolk                               | a calendar invitation to the interpreter service          |
| personal                           | a calendar invitation; staff sign in, so no guest link    |

Every guest recipient gets a personal link of their own, labelled with what they were
invited as; hosts see that label when the person waits in the lobby. A child under 13
gets the message in the child's own inbox, and guardians read it there as ombud; a
guardian is then not sent a message of their own. Patient messages never go by e-mail.

Every calendar invitation passes the personal-data guard before it is sent. A changed
meeting sends an update (REQUEST with a higher SEQUENCE) to every calendar recipient and
marks inbox messages unread again; a cancelled meeting, or a removed recipient, gets a
CANCEL that carries no title. The audit says who sent which template to which kind of
recipient, never the text.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import User
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import InvalidInput, NotFound
from vardmote.invitations import outbox, templates
from vardmote.invitations.events import HostingWithdrawn
from vardmote.invitations.guard import KnownPerson
from vardmote.invitations.mail import Invitation, Method, Person, build_message
from vardmote.invitations.models import InboxMessage, MeetingRecipient
from vardmote.lib.text import has_control_characters
from vardmote.meetings import ical, links
from vardmote.meetings.ical import location
from vardmote.meetings.models import Meeting
from vardmote.patients import registry
from vardmote.patients.models import Patient


class RecipientKind(StrEnum):
    """RecipientKind is who a recipient is; it decides the channel."""

    PATIENT = "patient"
    GUARDIAN = "vardnadshavare"
    RELATIVE = "narstaende"
    EXTERNAL = "extern"
    INTERPRETER = "tolk"
    STAFF = "personal"


LABELS = {
    RecipientKind.PATIENT: "Patient",
    RecipientKind.GUARDIAN: "Vårdnadshavare",
    RecipientKind.RELATIVE: "Närstående",
    RecipientKind.EXTERNAL: "Extern part",
    RecipientKind.INTERPRETER: "Tolk",
    RecipientKind.STAFF: "Personal",
}
"""What a recipient was invited as: the label of their link, shown to hosts."""

INBOX_KINDS = frozenset({RecipientKind.PATIENT, RecipientKind.GUARDIAN, RecipientKind.RELATIVE})
CALENDAR_KINDS = frozenset({RecipientKind.EXTERNAL, RecipientKind.INTERPRETER, RecipientKind.STAFF})
INBOX = "inbox"
CALENDAR = "calendar"

UNDER_13_GUARDIAN = (
    "Patienten är under 13 år. Meddelandet går till barnets inkorg, och vårdnadshavare läser det där "
    "genom att \u201dAgera ombud\u201d. Skicka inget eget meddelande till vårdnadshavare."
)
UNDER_13_GUARDIAN_FIRST = (
    "Patienten är under 13 år och en vårdnadshavare har redan fått ett eget meddelande. Ta bort det "
    "först: meddelandet ska bara finnas i barnets inkorg, där vårdnadshavare läser det som ombud."
)
PATIENT_ADDRESS = (
    "Det här är en e-postadress till en patient eller närstående i mötet. Patienter och närstående får "
    "länken i inkorgen, aldrig med e-post."
)
NO_INTERPRETER_SERVICE = (
    "Ingen adress till tolkservice är inställd. Be IT-avdelningen ställa in "
    "VARDMOTE_INTERPRETER_SERVICE_ADDRESS."
)
ALREADY_SENT = "Den här mottagaren har redan fått en länk till mötet. Ta bort den först om en ny behövs."
_ADDRESS = re.compile(  # ASCII only: a non-ASCII local part cannot be sent without SMTPUTF8
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9-]{1,63})+$"
)
CANCELLED_SUBJECT = "Mötet är avbokat"


def recipients_of(s: Session, meeting: Meeting) -> list[MeetingRecipient]:
    """recipients_of lists everyone the meeting's link was sent to, oldest first, removed ones too."""
    return list(
        s.scalars(
            select(MeetingRecipient)
            .where(MeetingRecipient.meeting_id == meeting.id)
            .order_by(MeetingRecipient.id)
        )
    )


def _active(s: Session, meeting: Meeting) -> list[MeetingRecipient]:
    return [r for r in recipients_of(s, meeting) if r.removed_at is None]


def people_of(s: Session, meeting: Meeting) -> list[Patient]:
    """people_of is everyone the meeting's link was sent to by inbox (patients, guardians,
    relatives), and the registered guardians of its patients, who read a child's message as ombud."""
    seen: dict[int, Patient] = {}
    for r in recipients_of(s, meeting):
        if r.patient is None:
            continue
        seen[r.patient.id] = r.patient
        if r.kind == RecipientKind.PATIENT:
            seen.update((g.id, g) for g in registry.guardians_of(s, r.patient))
    return list(seen.values())


def known_people(s: Session, meeting: Meeting) -> list[KnownPerson]:
    """known_people is what the guard must keep out of the meeting's invitations: see people_of."""
    return [known_person(p) for p in people_of(s, meeting)]


def known_person(patient: Patient) -> KnownPerson:
    """known_person is what the guard must keep out of invitations about this patient:
    the whole name, each part of it, the phone number, e-mail and address."""
    names: list[str] = []
    if patient.name:
        names.append(patient.name)
        names += [part for part in patient.name.split() if len(part) > 1]
    return KnownPerson(
        names=tuple(dict.fromkeys(names)),
        phone_numbers=(patient.phone,) if patient.phone else (),
        email_addresses=(patient.email,) if patient.email else (),
        addresses=(patient.address,) if patient.address else (),
    )


def _lock(s: Session, meeting: Meeting) -> None:
    """_lock serialises sending for one meeting, so that a double submit makes one recipient.
    (PostgreSQL: the meeting row is locked; SQLite: every write transaction holds the lock.)"""
    s.execute(select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())


def meeting_day(ctx: Context, meeting: Meeting) -> dt.date:
    """meeting_day is the meeting's local date: a child's age is counted on it."""
    return meeting.starts_at.astimezone(ctx.tz).date()


def _sendable(ctx: Context, meeting: Meeting, needs_guest_link: bool) -> None:
    if meeting.cancelled_at is not None:
        raise InvalidInput.one("meeting", "Mötet är avbokat. Länken kan inte skickas.")
    if meeting.meeting_type is None:
        raise InvalidInput.one("meeting", "Mötet är inte ett skyddat videomöte. Välj en mötestyp först.")
    if needs_guest_link and not meeting.meeting_type.has_guest_link:
        raise InvalidInput.one(
            "kind", "Den här mötestypen har ingen gästlänk: bara inloggad personal kan ansluta."
        )
    if utcnow() >= links.expires_at(ctx, meeting):
        raise InvalidInput.one("meeting", "Mötet är redan över. Boka ett nytt möte.")


def _label(s: Session, meeting: Meeting, kind: RecipientKind) -> str:
    """_label is the kind's label, numbered from the second of its kind ("Närstående 2"): the first
    not held by a recipient who still has their link."""
    taken = {r.link.recipient for r in _active(s, meeting) if r.link is not None}
    number = 1
    while (label := LABELS[kind] if number == 1 else f"{LABELS[kind]} {number}") in taken:
        number += 1
    return label


def clinic_of(ctx: Context, user: User) -> str:
    """clinic_of is the name a message is signed with: the sender's clinic, else the organisation."""
    return user.clinic.name if user.clinic is not None else ctx.settings.organisation


def _kind(value: str, allowed: frozenset[RecipientKind]) -> RecipientKind:
    try:
        kind = RecipientKind(value)
    except ValueError:
        kind = None
    if kind is None or kind not in allowed:
        names = ", ".join(LABELS[k].lower() for k in RecipientKind if k in allowed)
        raise InvalidInput.one("kind", f"Välj vem mottagaren är: {names}.")
    return kind


def send_message(
    ctx: Context,
    s: Session,
    user: User,
    meeting: Meeting,
    *,
    personnummer: str,
    kind: str,
    template_key: str,
    together: bool,
    actor: str | None = None,
) -> MeetingRecipient:
    """send_message puts a message with a personal link in the recipient's inbox.

    The recipient is found (or added) by personnummer. user is the clinician the message comes
    from (its clinic); actor is who sent it in the audit, ``user:<username>`` of user unless
    given (a journal system books as ``client:<name>``). Raises InvalidInput for a wrong
    number, kind or template, a guardian of a child under 13, or someone already sent to.
    """
    recipient_kind = _kind(kind, INBOX_KINDS)
    _sendable(ctx, meeting, needs_guest_link=True)
    _lock(s, meeting)
    today = utcnow().astimezone(ctx.tz).date()
    number = registry.parse_field("personnummer", personnummer, today)
    try:
        template = templates.current(s, template_key)
    except NotFound:
        raise InvalidInput.one("template", "Välj en av de centrala mallarna.") from None
    person = registry.find_or_add(s, number)
    active = _active(s, meeting)
    if any(r.patient_id == person.id and r.channel == INBOX for r in active):
        raise InvalidInput.one("personnummer", ALREADY_SENT)
    _check_ombud_rule(s, ctx, meeting, person, recipient_kind, active)
    actor = actor or f"user:{user.username}"
    link = links.make_recipient_link(ctx, s, meeting, actor, _label(s, meeting, recipient_kind))
    message = InboxMessage(
        patient_id=person.id,
        meeting_id=meeting.id,
        link_id=link.id,
        template_id=template.id,
        clinic=clinic_of(ctx, user),
        together=together,
        sent_at=utcnow(),
    )
    s.add(message)
    s.flush()
    recipient = MeetingRecipient(
        meeting_id=meeting.id,
        link_id=link.id,
        kind=recipient_kind.value,
        channel=INBOX,
        patient_id=person.id,
        message_id=message.id,
        sent_sequence=meeting.sequence,
        created_at=utcnow(),
    )
    s.add(recipient)
    s.flush()
    record(
        s,
        actor,
        "message.sent",
        meeting.id,
        {
            "template": template.key,
            "version": template.version,
            "recipient_kind": recipient_kind.value,
            "channel": INBOX,
            "link": link.id,
            "ombud": recipient_kind is RecipientKind.PATIENT
            and registry.needs_ombud(person, meeting_day(ctx, meeting)),
            "together": together,
        },
    )
    return recipient


def _check_ombud_rule(
    s: Session,
    ctx: Context,
    meeting: Meeting,
    person: Patient,
    kind: RecipientKind,
    active: list[MeetingRecipient],
) -> None:
    """_check_ombud_rule refuses a message of their own to a guardian of a child who is under 13 on
    the meeting's day (the child's inbox is read as ombud), whatever kind staff chose and whichever
    was sent first."""
    day = meeting_day(ctx, meeting)
    children = [r.patient for r in active if r.kind == RecipientKind.PATIENT and r.patient is not None]
    if kind is RecipientKind.PATIENT:
        children = [person]
    young = [c for c in children if registry.needs_ombud(c, day)]
    if not young:
        return
    guardians = {g.id for c in young for g in registry.guardians_of(s, c)}
    if kind is RecipientKind.PATIENT:
        if any(
            r.patient_id in guardians or r.kind == RecipientKind.GUARDIAN
            for r in active
            if r.channel == INBOX
        ):
            raise InvalidInput.one("personnummer", UNDER_13_GUARDIAN_FIRST)
    elif kind is RecipientKind.GUARDIAN or person.id in guardians:
        raise InvalidInput.one("kind", UNDER_13_GUARDIAN)


MAX_NOTE = 2000


def _invitation_body(ctx: Context, s: Session, meeting: Meeting, join_url: str, note: str | None) -> str:
    lines = [note] if note else []
    for text, url in ical.body_lines(ctx, s, meeting):
        if text == templates.JOIN_LINK_TEXT:
            continue
        lines.append(f"{text} {url}" if url else text)
    lines.insert(len(lines) - 2, f"{templates.JOIN_LINK_TEXT}: {join_url}")
    return "\n\n".join(lines)


def _staff_join_url(ctx: Context, meeting: Meeting) -> str:
    return ctx.url(f"/moten/{meeting.id}/starta")


def _event_uid(meeting: Meeting, recipient: MeetingRecipient) -> str:
    """_event_uid is the recipient's own event: each has their own link in it, and removing one
    recipient (a CANCEL) must not touch another's event or the organiser's own."""
    return f"{meeting.id}-{recipient.id}@vardmote"


def _join_url(ctx: Context, meeting: Meeting, recipient: MeetingRecipient) -> str:
    if recipient.link is None:
        return _staff_join_url(ctx, meeting)
    url = links.guest_url(ctx, recipient.link)
    if url is None:
        raise InvalidInput.one(
            "send", "Mottagarens länk kan inte visas eftersom tjänstens nyckel har bytts. Ta bort mottagaren."
        )
    return url


def _calendar_invitation(
    ctx: Context,
    s: Session,
    meeting: Meeting,
    recipient: MeetingRecipient,
    method: Method,
) -> Invitation:
    label = recipient.link.recipient if recipient.link is not None else LABELS[RecipientKind.STAFF]
    common: dict[str, Any] = {
        "meeting_id": meeting.id,
        "event_uid": _event_uid(meeting, recipient),
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "organiser": Person(meeting.organiser.display_name, ctx.settings.effective_mail_from),
        "attendees": (Person(label or "Deltagare", recipient.address or ""),),
    }
    if method == "CANCEL":
        return Invitation(
            sequence=meeting.sequence + 1,
            method="CANCEL",
            subject=CANCELLED_SUBJECT,
            location="",
            body="Mötet är avbokat eller så har din inbjudan tagits bort. Länken fungerar inte längre.",
            **common,
        )
    join_url = _join_url(ctx, meeting, recipient)
    return Invitation(
        sequence=meeting.sequence,
        method="REQUEST",
        subject=meeting.title,
        location=location(ctx, meeting),
        body=_invitation_body(ctx, s, meeting, join_url, recipient.note),
        own_links=(join_url,),
        **common,
    )


def _deliver(
    ctx: Context, s: Session, meeting: Meeting, invitations: list[tuple[MeetingRecipient, Invitation]]
) -> None:
    """_deliver builds every message first (the guard on each), then writes them to the outbox in
    the transaction of the change: an invitation the guard refuses stops them all, and the outbox
    worker sends them only once the change is saved (`vardmote.invitations.outbox`)."""
    known = known_people(s, meeting)
    now = utcnow()
    sender = ctx.settings.effective_mail_from
    built = [(r, i, build_message(i, sender=sender, known=known, now=now)) for r, i in invitations]
    for recipient, invitation, message in built:
        outbox.enqueue(ctx.events, s, meeting.id, recipient, invitation.method, message)


def _staff_account(s: Session, username: str) -> User:
    found = s.scalar(select(User).where(User.username == username.strip()))
    if found is None or not found.active:
        raise InvalidInput.one("username", "Det finns inget aktivt personalkonto med det användarnamnet.")
    return found


def send_calendar_invitation(
    ctx: Context,
    s: Session,
    user: User,
    meeting: Meeting,
    *,
    kind: str,
    address: str = "",
    username: str = "",
    note: str = "",
) -> MeetingRecipient:
    """send_calendar_invitation sends an iCalendar REQUEST to an external party's organisation
    address, the interpreter service, or a member of staff.

    Raises InvalidInput for a wrong kind or address, or PersonalDataInInvitation (an InvalidInput)
    when the guard finds personal data; then nothing is stored (the caller's transaction is rolled
    back). The message goes to the outbox, sent after commit: a mail server that is down or
    stalled delays it, never the change.
    """
    recipient_kind = _kind(kind, CALENDAR_KINDS)
    _sendable(ctx, meeting, needs_guest_link=recipient_kind is not RecipientKind.STAFF)
    _lock(s, meeting)
    if recipient_kind is RecipientKind.INTERPRETER:
        address = ctx.settings.interpreter_service_address
        if not address:
            raise InvalidInput.one("kind", NO_INTERPRETER_SERVICE)
    address = address.strip()
    if not _ADDRESS.match(address) or len(address) > 254:
        raise InvalidInput.one("address", "Skriv en e-postadress, t.ex. namn@kommun.se.")
    known_addresses = {(p.email or "").lower() for p in people_of(s, meeting) if p.email}
    if address.lower() in known_addresses:
        raise InvalidInput.one("address", PATIENT_ADDRESS)
    if any(
        r.channel == CALENDAR and (r.address or "").lower() == address.lower() for r in _active(s, meeting)
    ):
        raise InvalidInput.one("address", ALREADY_SENT)
    note = note.replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE or has_control_characters(note.replace("\n", "")):
        raise InvalidInput.one("note", f"Meddelandet får vara högst {MAX_NOTE} tecken vanlig text.")
    colleague = _staff_account(s, username) if recipient_kind is RecipientKind.STAFF else None
    actor = f"user:{user.username}"
    link = (
        None
        if recipient_kind is RecipientKind.STAFF
        else links.make_recipient_link(ctx, s, meeting, actor, _label(s, meeting, recipient_kind))
    )
    recipient = MeetingRecipient(
        meeting_id=meeting.id,
        link_id=link.id if link is not None else None,
        kind=recipient_kind.value,
        channel=CALENDAR,
        user_id=colleague.id if colleague is not None else None,
        address=address,
        note=note or None,
        sent_sequence=meeting.sequence,
        created_at=utcnow(),
    )
    recipient.link = link
    s.add(recipient)
    s.flush()
    _deliver(ctx, s, meeting, [(recipient, _calendar_invitation(ctx, s, meeting, recipient, "REQUEST"))])
    record(
        s,
        actor,
        "invitation.sent",
        meeting.id,
        {
            "recipient_kind": recipient_kind.value,
            "channel": CALENDAR,
            "method": "REQUEST",
            "sequence": meeting.sequence,
            "link": link.id if link is not None else None,
        },
    )
    return recipient


def get_recipient(s: Session, meeting: Meeting, recipient_id: int) -> MeetingRecipient:
    """get_recipient is one recipient of meeting; NotFound otherwise."""
    found = s.get(MeetingRecipient, recipient_id)
    if found is None or found.meeting_id != meeting.id:
        raise NotFound("Mottagaren finns inte.")
    return found


def remove_recipient(
    ctx: Context, s: Session, actor: str, meeting: Meeting, recipient: MeetingRecipient
) -> None:
    """remove_recipient revokes the recipient's link and, for a calendar invitation, sends a CANCEL.
    An inbox message stays, saying that its link no longer works."""
    if recipient.removed_at is not None:
        return
    if recipient.channel == CALENDAR and meeting.cancelled_at is None:
        _deliver(ctx, s, meeting, [(recipient, _calendar_invitation(ctx, s, meeting, recipient, "CANCEL"))])
    recipient.removed_at = utcnow()
    if recipient.link is not None:
        links.revoke(ctx, s, recipient.link, actor)
    colleague = s.get(User, recipient.user_id) if recipient.user_id is not None else None
    if recipient.kind == RecipientKind.STAFF.value and colleague is not None:
        ctx.events.publish(s, HostingWithdrawn(meeting.id, colleague.username, actor))
    record(
        s,
        actor,
        "invitation.cancelled" if recipient.channel == CALENDAR else "message.withdrawn",
        meeting.id,
        {"recipient_kind": recipient.kind, "channel": recipient.channel},
    )


def meeting_changed(ctx: Context, s: Session, meeting: Meeting, actor: str) -> None:
    """meeting_changed tells every recipient of a change of time or title: calendar recipients get
    an update (REQUEST, the meeting's new SEQUENCE; the guard first on all of them, so a title with
    personal data stops the change before anything is sent), inbox messages show the new time and
    become unread again."""
    active = _active(s, meeting)
    calendar = [r for r in active if r.channel == CALENDAR]
    _deliver(ctx, s, meeting, [(r, _calendar_invitation(ctx, s, meeting, r, "REQUEST")) for r in calendar])
    for recipient in active:
        if recipient.channel == CALENDAR:
            recipient.sent_sequence = meeting.sequence
        elif recipient.message_id is not None:
            message = s.get(InboxMessage, recipient.message_id)
            if message is not None:
                message.read_at = None
        record(
            s,
            actor,
            "invitation.updated" if recipient.channel == CALENDAR else "message.updated",
            meeting.id,
            {"recipient_kind": recipient.kind, "channel": recipient.channel, "sequence": meeting.sequence},
        )


def meeting_cancelled(
    ctx: Context, s: Session, meeting: Meeting, actor: str, *, guests_only: bool = False
) -> None:
    """meeting_cancelled sends a CANCEL to every calendar recipient and withdraws every link (the
    meeting cancelled or its protection removed). With guests_only (the type changed to one without
    guest links) staff recipients keep their invitation: the meeting still takes place."""
    gone = [r for r in _active(s, meeting) if not (guests_only and r.link_id is None)]
    calendar = [r for r in gone if r.channel == CALENDAR]
    _deliver(ctx, s, meeting, [(r, _calendar_invitation(ctx, s, meeting, r, "CANCEL")) for r in calendar])
    for recipient in gone:
        recipient.removed_at = utcnow()
        record(
            s,
            actor,
            "invitation.cancelled" if recipient.channel == CALENDAR else "message.withdrawn",
            meeting.id,
            {"recipient_kind": recipient.kind, "channel": recipient.channel},
        )
