"""Overlaps: a journal system may not book a clinician or a patient into two meetings at once.

Concurrency: the check reads other transactions' committed meetings only, so two bookings (or
moves) for one person at the same moment must be checked one after the other. Every caller
therefore locks the people first, always in the same order — the clinician's account, then the
patient — with :func:`lock_people`, and only then calls :func:`no_overlap`: the second call
waits at the lock until the first has committed, then sees its meeting. (PostgreSQL: the rows
are locked ``FOR UPDATE``; SQLite: every write transaction holds the database lock anyway.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vardmote.accounts.models import User
from vardmote.fhir.models import JournalAppointment
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.invitations.models import MeetingRecipient
from vardmote.meetings.models import Meeting
from vardmote.patients.models import Patient


def clinician_busy() -> FhirError:
    """clinician_busy is the answer to a time the clinician already has a meeting at."""
    return FhirError(
        409,
        IssueType.CONFLICT,
        "Vårdpersonalen har redan ett möte som överlappar den tiden.",
        "The practitioner already has a meeting that overlaps this time.",
        "Appointment.start",
    )


def patient_busy() -> FhirError:
    """patient_busy is the answer to a time the patient already has a meeting at."""
    return FhirError(
        409,
        IssueType.CONFLICT,
        "Patienten har redan ett digitalt vårdmöte som överlappar den tiden.",
        "The patient already has a digitalt vårdmöte that overlaps this time.",
        "Appointment.start",
    )


def lock_clinician(s: Session, clinician: User) -> None:
    """lock_clinician locks the clinician's account (FOR UPDATE): the first of lock_people's two."""
    s.execute(select(User.id).where(User.id == clinician.id).with_for_update())


def lock_people(s: Session, clinician: User, patient: Patient) -> None:
    """lock_people locks the clinician's account, then the patient (FOR UPDATE): the order every
    booking and move takes them in, so that two of them never wait for each other in a circle.
    (Locking a row this transaction holds already is a no-op.)"""
    lock_clinician(s, clinician)
    s.execute(select(Patient.id).where(Patient.id == patient.id).with_for_update())


def no_overlap(
    s: Session,
    clinician: User,
    patient: Patient,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    moving: str | None = None,
) -> None:
    """no_overlap raises a 409 FhirError when the time overlaps another meeting of the clinician's
    that is not cancelled (any meeting: they cannot be in two at once), or another meeting of the
    patient's that is not cancelled: one the journal booked for them, or one whose link was sent
    to their inbox and not withdrawn. moving is the meeting being moved, left out. Called with
    :func:`lock_people` held."""
    overlaps = and_(Meeting.cancelled_at.is_(None), Meeting.starts_at < ends_at, Meeting.ends_at > starts_at)
    others: ColumnElement[bool] = Meeting.id != moving if moving else Meeting.id.is_not(None)
    if _count(s, Meeting.organiser_id == clinician.id, overlaps, others):
        raise clinician_busy()
    booked = select(JournalAppointment.meeting_id).where(JournalAppointment.patient_id == patient.id)
    invited = select(MeetingRecipient.meeting_id).where(
        MeetingRecipient.patient_id == patient.id, MeetingRecipient.removed_at.is_(None)
    )
    if _count(s, or_(Meeting.id.in_(booked), Meeting.id.in_(invited)), overlaps, others):
        raise patient_busy()


def _count(s: Session, *conditions: ColumnElement[bool]) -> int:
    return int(s.scalar(select(func.count()).select_from(Meeting).where(*conditions)) or 0)
