"""Meeting tables: the meeting-type policies, meetings, series, participants and links."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.accounts.models import User
from vardmote.db import Base, UtcDateTime, utcnow


class MeetingType(Base):
    """MeetingType is one row of the policy table that every rule reads.

    Nothing else in the code tests a type's key: the lobby, the limit, who may
    join, anonymity and content sharing all come from these columns.
    """

    __tablename__ = "meeting_types"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[list[str]] = mapped_column(JSON)
    """Lines of the card text in "Välj mötestyp"."""
    participant_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    """Admitted participants at most; None means no limit."""
    limit_configurable: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether an administrator may change participant_limit."""
    lobby_rule: Mapped[str] = mapped_column(String(40))
    """``guests_wait``: every guest waits in the lobby; ``none``: no lobby."""
    who_may_join: Mapped[str] = mapped_column(String(40))
    """``staff_and_guests``, ``staff_only`` or ``staff_and_room_device``."""
    has_guest_link: Mapped[bool] = mapped_column(Boolean, default=True)
    """Whether guest links exist at all for meetings of this type."""
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    """Attendees see only hosts and publish nothing unless given the floor."""
    content_sharing: Mapped[str] = mapped_column(String(40))
    """``standard`` or ``full_resolution`` (MDK)."""
    booked_from: Mapped[str] = mapped_column(String(40))
    """``booking_dialog`` or ``journal_api``; only the former appear as cards."""
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class MeetingSeries(Base):
    """MeetingSeries is the recurrence rule behind the occurrences of a recurring meeting."""

    __tablename__ = "meeting_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frequency: Mapped[str] = mapped_column(String(10))
    """``daily`` or ``weekly``."""
    until: Mapped[dt.date | None] = mapped_column(default=None)
    count: Mapped[int | None] = mapped_column(Integer, default=None)


class Meeting(Base):
    """Meeting is one booked meeting (one occurrence of a series, if recurring).

    A meeting without a type is an ordinary calendar entry; choosing a type
    ("Skyddat vårdmöte", "Skapa möte") makes it a protected meeting with links.
    """

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    type_key: Mapped[str | None] = mapped_column(ForeignKey("meeting_types.key"), default=None)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"), default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
    """Set when one occurrence of a series is cancelled; the others stay."""
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    """iCalendar SEQUENCE: raised on every change calendars must pick up."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)

    organiser: Mapped[User] = relationship(lazy="joined")
    meeting_type: Mapped[MeetingType | None] = relationship(lazy="joined")
    series: Mapped[MeetingSeries | None] = relationship(lazy="joined")
    participants: Mapped[list[MeetingParticipant]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="MeetingParticipant.id"
    )

    @property
    def is_protected(self) -> bool:
        """is_protected tells whether a meeting type has been chosen."""
        return self.type_key is not None


class MeetingParticipant(Base):
    """MeetingParticipant is an invited address, required (Obligatoriskt) or optional (Valfritt)."""

    __tablename__ = "meeting_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))
    required: Mapped[bool] = mapped_column(Boolean, default=True)


class MeetingLink(Base):
    """MeetingLink is a guest link; the token itself is never stored in clear.

    ``token_hash`` (SHA-256) finds the link when a guest opens it.
    ``token_sealed`` is the token encrypted with the service key so that staff
    can see and send the link again; a copy of the database alone opens nothing.
    """

    __tablename__ = "meeting_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``general`` (one per meeting, for the meeting now) or ``recipient``."""
    recipient: Mapped[str | None] = mapped_column(String(200), default=None)
    """For a recipient link: who it was made for, as staff described them."""
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    token_sealed: Mapped[bytes] = mapped_column(LargeBinary(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)

    meeting: Mapped[Meeting] = relationship(lazy="joined")
