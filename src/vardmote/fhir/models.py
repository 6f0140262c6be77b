"""FHIR tables: the Appointments journal systems booked, each linked to its meeting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.accounts.models import User
from vardmote.clients.models import ApiClient
from vardmote.db import Base, UtcDateTime, utcnow
from vardmote.meetings.models import Meeting
from vardmote.patients.models import Patient


class JournalAppointment(Base):
    """JournalAppointment is an Appointment a journal system booked: its meeting, patient and
    clinician, and the Appointment's version.

    The meeting holds the times and whether it is cancelled (staff may change or cancel it in
    Vårdmöte too); ``meeting_sequence`` is the meeting's SEQUENCE when this row last followed
    it, so that a change made in Vårdmöte also gives the Appointment a new version.
    The personnummer is not kept here: the patient row holds it.
    """

    __tablename__ = "journal_appointments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """The Appointment's logical id, a random UUID (not the meeting's id)."""
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    """The journal system that booked it: only it reads, finds and changes the Appointment."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    """meta.versionId, raised by every change (the ETag ``W/"<version>"``)."""
    meeting_sequence: Mapped[int] = mapped_column(Integer, default=0)
    """The meeting's SEQUENCE this version shows."""
    identifiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Appointment.identifier as the journal system sent it (its own booking ids), as JSON."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    """meta.lastUpdated."""

    meeting: Mapped[Meeting] = relationship(lazy="joined")
    patient: Mapped[Patient] = relationship(lazy="joined")
    clinician: Mapped[User] = relationship(lazy="joined")
    client: Mapped[ApiClient] = relationship(lazy="joined")
