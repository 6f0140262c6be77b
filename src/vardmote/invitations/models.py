"""Tables of sending the link: central message templates, the messages sent to patients' inboxes
and who a meeting's link was sent to.

The inbox (`vardmote.inbox`) reads InboxMessage; sending the link writes it, so it is kept here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
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
