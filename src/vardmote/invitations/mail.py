"""Mail: calendar invitations by e-mail, as Outlook expects them, and the ways they leave.

An invitation is one e-mail, ``multipart/alternative`` with a text/plain part (the
body, for mail programs without a calendar) and a ``text/calendar; method=REQUEST``
(or ``CANCEL``) part in UTF-8, base64-encoded so that no relay rewraps it. The event's
UID is ``<meeting id>@vardmote``, the same as the meeting's .ics export
(`vardmote.meetings.ical`), so an update replaces the event wherever it landed; an
update is a REQUEST with a higher SEQUENCE, a cancellation a CANCEL with
STATUS:CANCELLED. Escaping and line folding are the icalendar library's, as in ical.py.

Every invitation passes `check_invitation` before a message is built, so one with
personal data in its subject, location or body never exists as an e-mail.

Mailers (`Mailer`): `SmtpMailer` hands the message to an SMTP server (the region's
relay), `OutboxMailer` writes it as an .eml file into a folder (the embedded default).
`mailer_from` picks one from the settings. Mailers block (network, disk): only the outbox
worker calls them, in a thread of its own, after the change is saved (`vardmote.invitations.outbox`).

Errors::

    VardmoteError
    ├── InvalidInput
    │   └── PersonalDataInInvitation (422)   guard.py: nothing is built or sent
    └── MailNotSent (502)                    the SMTP server could not be reached or refused
                                             the message; nothing was sent (the outbox worker
                                             tries again later)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal, Protocol

from icalendar import Calendar, Event, vCalAddress

from vardmote.errors import VardmoteError
from vardmote.invitations.guard import KnownPerson, check_invitation
from vardmote.settings import Secret, Settings

log = logging.getLogger("vardmote.invitations")

Method = Literal["REQUEST", "CANCEL"]
"""The iCalendar METHOD: REQUEST invites (and updates, with a higher sequence), CANCEL removes."""

CANCELLED_PREFIX = "Inställt: "
"""Put before a cancellation's subject, as Outlook puts "Canceled:"."""

NOT_SAVED = "Inbjudan kunde inte sparas i utkorgen. Försök igen senare."
"""What the person who sent an invitation sees when the outbox folder could not be written."""

NOT_SENT = (
    "Inbjudan kunde inte skickas: e-postservern svarar inte eller tog inte emot den. Försök igen senare."
)
"""What the person who sent an invitation sees when the SMTP server failed; the log has the details."""


class MailNotSent(VardmoteError):
    """MailNotSent says the SMTP server did not take the message; no recipient got it."""

    status = 502
    slug = "mail-not-sent"
    title = "E-post kunde inte skickas"


@dataclass(frozen=True)
class Person:
    """Person is an organiser or attendee of an invitation: a name to show and an e-mail address."""

    name: str
    email: str

    def __post_init__(self) -> None:
        if "@" not in self.email or any(c.isspace() for c in self.email):
            raise ValueError(f"Person.email must be an e-mail address, got {self.email!r}")


@dataclass(frozen=True)
class Invitation:
    """Invitation is what one calendar invitation says; `build_message` makes it an e-mail."""

    meeting_id: str
    """The meeting's id; the event's UID is ``<meeting_id>@vardmote``."""
    sequence: int
    """The meeting's revision: 0 for the first REQUEST, higher for every update and the CANCEL."""
    method: Method
    subject: str
    """SUMMARY and the e-mail's subject; checked by the guard."""
    location: str
    """LOCATION; checked by the guard."""
    body: str
    """DESCRIPTION and the text/plain part (with the join link); checked by the guard."""
    starts_at: dt.datetime
    """Aware; written in UTC."""
    ends_at: dt.datetime
    """Aware; written in UTC."""
    organiser: Person
    attendees: Sequence[Person] = field(default_factory=tuple)
    own_links: Sequence[str] = ()
    """Addresses Vårdmöte wrote into the body itself (the join link): the guard does not read
    inside them, where random letters and digits could by chance look like a personnummer."""
    event_uid: str = ""
    """The event's UID when it is not the meeting's own (one event per recipient); empty for that."""

    def __post_init__(self) -> None:
        if self.method not in ("REQUEST", "CANCEL"):
            raise ValueError(f"Invitation.method must be REQUEST or CANCEL, got {self.method!r}")
        if self.sequence < 0:
            raise ValueError(f"Invitation.sequence must be at least 0, got {self.sequence}")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError(f"Invitation times must be aware, got {self.starts_at!r} – {self.ends_at!r}")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"Invitation must end after it starts, got {self.starts_at} – {self.ends_at}")
        if not self.attendees:
            raise ValueError("Invitation needs at least one attendee")
        for name in ("subject", "location"):
            value = getattr(self, name)
            if "\n" in value or "\r" in value:
                raise ValueError(f"Invitation.{name} must be one line, got {value!r}")

    @property
    def uid(self) -> str:
        """uid is the event's UID: event_uid, else the meeting's own (as in the .ics export)."""
        return self.event_uid or f"{self.meeting_id}@vardmote"


def _mailto(person: Person, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = person.name
    for name, value in params.items():
        address.params[name] = value
    return address


def invitation_calendar(invitation: Invitation, now: dt.datetime) -> bytes:
    """invitation_calendar renders the invitation as an iCalendar with its METHOD (UTF-8, CRLF).

    It does not run the guard; `build_message` does, before calling it.
    """
    cal = Calendar()
    cal.add("prodid", "-//Vårdmöte//vardmote//SV")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", invitation.method)
    event = Event()
    event.add("uid", invitation.uid)
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("dtstart", invitation.starts_at.astimezone(dt.UTC))
    event.add("dtend", invitation.ends_at.astimezone(dt.UTC))
    event.add("sequence", invitation.sequence)
    event.add("summary", invitation.subject)
    if invitation.location:
        event.add("location", invitation.location)
    event.add("description", invitation.body)
    event.add("status", "CANCELLED" if invitation.method == "CANCEL" else "CONFIRMED")
    event.add("organizer", _mailto(invitation.organiser))
    for attendee in invitation.attendees:
        event.add(
            "attendee",
            _mailto(attendee, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE"),
        )
    cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


def build_message(
    invitation: Invitation,
    *,
    sender: str,
    known: Sequence[KnownPerson] = (),
    now: dt.datetime | None = None,
) -> EmailMessage:
    """build_message makes the invitation's e-mail, after the personal-data guard let it through.

    Raises `PersonalDataInInvitation` when the subject, location or body holds personal data
    (a personnummer, or what is known about the meeting's patients); no message is made.
    sender is the From address (settings' effective_mail_from); replies go to the organiser.
    """
    now = now or dt.datetime.now(dt.UTC)
    body = invitation.body
    for link in invitation.own_links:
        body = body.replace(link, " " * len(link))  # same length: the findings' offsets still hold
    check_invitation(invitation.subject, invitation.location, body, known=known, today=now.date())
    subject = invitation.subject
    if invitation.method == "CANCEL":
        subject = CANCELLED_PREFIX + subject
    message = EmailMessage(policy=SMTP)
    message["Subject"] = subject
    message["From"] = Address(display_name=invitation.organiser.name, addr_spec=sender)
    message["Reply-To"] = Address(
        display_name=invitation.organiser.name, addr_spec=invitation.organiser.email
    )
    message["To"] = [Address(display_name=a.name, addr_spec=a.email) for a in invitation.attendees]
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(invitation.body, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(
        invitation_calendar(invitation, now),
        maintype="text",
        subtype="calendar",
        cte="base64",
        params={"method": invitation.method, "charset": "UTF-8"},
    )
    for part in message.iter_parts():
        del part["MIME-Version"]  # the email package repeats it on the parts it makes; once is enough
    return message


class Mailer(Protocol):
    """Mailer sends a built message to its recipients, or raises `MailNotSent`."""

    def send(self, message: EmailMessage) -> None:
        """send delivers message whole or not at all."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    """SmtpMailer hands messages to an SMTP server (the region's relay), one connection per message.

    With starttls the connection is upgraded, with the server's certificate checked against the
    system's authorities, before the login and the message; a server that does not offer STARTTLS
    is refused rather than used in clear text.
    """

    host: str
    port: int = 587
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    starttls: bool = True
    timeout: float = 15.0
    """Seconds to wait for the server at each step before giving up."""

    def send(self, message: EmailMessage) -> None:
        """send delivers message to every recipient, or raises MailNotSent when none got it.

        SMTP takes the message in one DATA step, so a failure before its end leaves nothing
        delivered. A server that accepts some recipients and refuses others has delivered to
        those it accepted; that is logged and reported as MailNotSent too, naming no address.
        """
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password.reveal())
                refused = smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as e:
            log.warning(
                "invitation %s not sent through %s:%s: %s %s",
                message["Message-ID"],
                self.host,
                self.port,
                type(e).__name__,
                getattr(e, "smtp_code", ""),
            )
            raise MailNotSent(NOT_SENT) from e
        if refused:
            log.warning(
                "invitation %s refused by %s:%s for %d of its recipients",
                message["Message-ID"],
                self.host,
                self.port,
                len(refused),
            )
            raise MailNotSent(NOT_SENT)


@dataclass(frozen=True)
class OutboxMailer:
    """OutboxMailer writes each message as an .eml file into folder: the embedded default.

    A file appears whole or not at all (written to a temporary name in the same folder, then
    renamed), so whatever reads the folder never sees half a message. File names are the time
    and a random part, never a subject or an address; files are readable by the owner only,
    since they hold join links.
    """

    folder: Path

    def send(self, message: EmailMessage) -> None:
        """send writes message to ``<folder>/<UTC time>-<random>.eml``, or raises MailNotSent."""
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(8)}.eml"
        temporary = ""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(message.as_bytes(policy=SMTP))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.folder / name)
        except BaseException as e:
            if temporary:
                Path(temporary).unlink(missing_ok=True)
            if isinstance(e, OSError):
                log.warning("invitation %s not written to %s: %s", message["Message-ID"], self.folder, e)
                raise MailNotSent(NOT_SAVED) from e
            raise


def send_invitation(
    mailer: Mailer,
    invitation: Invitation,
    *,
    sender: str,
    known: Sequence[KnownPerson] = (),
    now: dt.datetime | None = None,
) -> EmailMessage:
    """send_invitation builds the invitation's message (the guard first) and sends it with mailer.

    Raises `PersonalDataInInvitation` before anything is built or sent, or `MailNotSent`.
    Returns the message that was sent.
    """
    message = build_message(invitation, sender=sender, known=known, now=now)
    mailer.send(message)
    return message


def mailer_from(settings: Settings) -> Mailer:
    """mailer_from is SMTP to settings.smtp_host when one is set, else the outbox folder."""
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=float(settings.smtp_timeout_seconds),
        )
    return OutboxMailer(settings.effective_outbox_dir)
