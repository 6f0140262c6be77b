"""Audit table: one row per event, each chained to the previous by a hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vardmote.db import Base, UtcDateTime


class AuditEntry(Base):
    """AuditEntry is one event: who (actor), what (action), which meeting, when.

    ``hash`` is SHA-256 over the previous entry's hash and this entry's
    canonical fields; changing, removing or reordering any entry breaks the
    chain from there on. ``details`` is canonical JSON and holds no message
    bodies and no more personal data than the audit needs.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60), index=True)
    meeting_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
