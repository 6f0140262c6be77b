"""Skype meetings already rebooked, so that importing one file twice books nothing twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vardmote.db import Base, UtcDateTime, utcnow


class SkypeRebooking(Base):
    """SkypeRebooking ties a Skype event (UID and, for one occurrence, RECURRENCE-ID) to its new meeting."""

    __tablename__ = "skype_rebookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(400), unique=True)
    """The event's UID, with ``#<RECURRENCE-ID>`` for a single occurrence."""
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    rebooked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rebooked_by: Mapped[str] = mapped_column(String(100))
