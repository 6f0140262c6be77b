"""The inbox table: messages (invånarärenden) in a patient's inbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.db import Base, UtcDateTime, utcnow
from vardmote.invitations.models import MessageTemplate
from vardmote.meetings.models import MeetingLink


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
