"""Tables of sending the link: central message templates, the messages sent to patients' inboxes,
who a meeting's link was sent to, and the e-mail outbox.

The inbox (`vardmote.inbox`) reads InboxMessage; sending the link writes it, so it is kept here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.db import Base, UtcDateTime, utcnow
from vardmote.meetings.models import MeetingLink
from vardmote.patients.models import Patient


class MessageTemplate(Base):
    """MessageTemplate is one version of a central template ("centrala mallar").

    Administrators never change a version: saving makes the next one, so a message
    always shows the text it was sent with. The newest version of a key is the one
    used for new messages.
    """

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(60), index=True)
    """Stable name of the template across versions, e.g. ``skyddat-digitalt-vardmote``."""
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    """The ärendetyp, the message's subject in the inbox: "Skyddat digitalt vårdmöte"."""
    internal_name: Mapped[str] = mapped_column(String(200))
    """What staff see when choosing: "Skyddat digitalt vårdmöte (via Vårdmöte)"."""
    body: Mapped[str] = mapped_column(Text)
    """The text with placeholders, see `vardmote.invitations.templates`."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    """The audit actor who saved this version (``user:<name>`` or ``system:seed``)."""


class InboxMessage(Base):
    """InboxMessage is an invånarärende in one patient's inbox, about one meeting.

    The text is not stored: it is rendered from the template version, the meeting's
    current time and the recipient's link when the message is opened.
    """

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    """Whose inbox: for a child under 13, the child's."""
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("meeting_links.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("message_templates.id"))
    clinic: Mapped[str] = mapped_column(String(200))
    """The sending clinic as shown: "Allergimottagning barn, Västerås"."""
    together: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether the "Anslut tillsammans" paragraph is part of the message."""
    sent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)

    template: Mapped[MessageTemplate] = relationship(lazy="joined")
    link: Mapped[MeetingLink] = relationship(lazy="joined")


class MeetingRecipient(Base):
    """MeetingRecipient is one person the link was sent to, with their own link.

    ``kind`` is who they are (patient, närstående, vårdnadshavare, extern, tolk, personal),
    ``channel`` how it went (``inbox``, ``calendar``). The link's ``recipient`` label is
    what hosts see a lobby arrival was invited as.
    """

    __tablename__ = "meeting_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_links.id", ondelete="CASCADE"))
    """The recipient's own link; None for staff, who sign in and need none."""
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL"), default=None
    )
    """The inbox the message went to (patient, relative or guardian), or the meeting's patient."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    """The staff account of a staff recipient: they may open the meeting to host it."""
    address: Mapped[str | None] = mapped_column(String(254), default=None)
    """The e-mail address of a calendar invitation."""
    note: Mapped[str | None] = mapped_column(Text, default=None)
    """The sender's own words at the top of a calendar invitation (checked by the guard)."""
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="SET NULL"), default=None
    )
    sent_sequence: Mapped[int] = mapped_column(Integer, default=0)
    """The meeting's SEQUENCE when the invitation was last sent; an update raises it."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)

    link: Mapped[MeetingLink | None] = relationship(lazy="joined")
    patient: Mapped[Patient | None] = relationship(lazy="joined")


class OutboxMail(Base):
    """OutboxMail is one e-mail (a calendar invitation, update or CANCEL) waiting to leave, or gone.

    Written in the transaction of the change that makes it, as it was built (after the guard);
    the outbox worker (`vardmote.invitations.outbox`) sends it after commit. ``state`` is
    ``waiting`` (due at ``next_attempt_at``), ``sending`` (claimed by a worker until
    ``claimed_until``), ``sent`` or ``failed`` (given up after the last attempt).
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("meeting_recipients.id", ondelete="SET NULL"), default=None, index=True
    )
    """The recipient the message is for: the meeting page shows its state next to them."""
    method: Mapped[str] = mapped_column(String(10))
    """REQUEST or CANCEL."""
    address: Mapped[str] = mapped_column(String(254))
    """The recipient's e-mail address (as in the message's To)."""
    message: Mapped[bytes] = mapped_column(LargeBinary)
    """The whole message as built (RFC 5322 bytes); it holds the recipient's join link."""
    state: Mapped[str] = mapped_column(String(20), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Attempts that failed so far."""
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
    """While ``sending``: when the claim lapses and another worker may take the message."""
    claim: Mapped[str | None] = mapped_column(String(32), default=None)
    """The claiming worker's random token: only it may write the outcome of its attempt."""
    last_error: Mapped[str | None] = mapped_column(String(60), default=None)
    """The kind of the last failure (an exception's class name, an SMTP code): never an address."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
