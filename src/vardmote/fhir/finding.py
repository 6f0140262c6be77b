"""Finding: a journal system's FHIR reads and searches — its own Appointments, each brought up
to date with its meeting (a change staff made in Vårdmöte gives it a new version).

Like :mod:`vardmote.fhir.service` (which books and changes), every function runs in the call's
one transaction with the journal system :func:`vardmote.clients.auth.authorized_client` found,
sees only the Appointments that system booked (any other id is "not found") and writes its
audit entry (``fhir.appointment.read``, ``.searched``) in that transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vardmote.accounts.models import User
from vardmote.audit.log import record
from vardmote.clients.auth import actor_of
from vardmote.clients.models import ApiClient
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.fhir import search as searching
from vardmote.fhir.appointments import BOOKED, CANCELLED
from vardmote.fhir.models import JournalAppointment
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.meetings.models import Meeting
from vardmote.patients.models import Patient

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def today(ctx: Context) -> dt.date:
    """today is the date in the service's time zone: the reference date of a personnummer."""
    return utcnow().astimezone(ctx.tz).date()


def _not_found() -> FhirError:
    return FhirError(
        404,
        IssueType.NOT_FOUND,
        "Det finns ingen Appointment med det id:t (för det här journalsystemet).",
        "There is no Appointment with that id (for this client).",
    )


def find(s: Session, client: ApiClient, appointment_id: str, *, lock: bool = False) -> JournalAppointment:
    """find is client's Appointment appointment_id (locked FOR UPDATE with lock), or a 404."""
    if not _ID.match(appointment_id):
        raise _not_found()
    query = select(JournalAppointment).where(
        JournalAppointment.id == appointment_id, JournalAppointment.client_id == client.id
    )
    row = s.scalar(query.with_for_update(of=JournalAppointment) if lock else query)
    if row is None:
        raise _not_found()
    return row


def follow(s: Session, row: JournalAppointment) -> None:
    """follow gives the Appointment a new version when its meeting changed since (staff moved or
    cancelled it in Vårdmöte).

    A read or a search follows without locking the row, so the version is raised by a
    conditional UPDATE that counts only while the row still shows the sequence it read: when
    another call followed or changed it meanwhile (PostgreSQL: the UPDATE waits for that call's
    commit and then matches nothing), the row and its meeting are read again instead, and the
    version never goes backwards."""
    meeting = row.meeting
    if meeting.sequence == row.meeting_sequence:
        return
    followed = s.execute(
        sql_update(JournalAppointment)
        .where(JournalAppointment.id == row.id, JournalAppointment.meeting_sequence == row.meeting_sequence)
        .values(
            version=JournalAppointment.version + 1,
            meeting_sequence=meeting.sequence,
            updated_at=max(meeting.updated_at, row.updated_at),
        )
        .execution_options(synchronize_session=False)
    )
    assert isinstance(followed, CursorResult)
    if followed.rowcount == 0:
        s.refresh(meeting)
    s.refresh(row)


def read(
    ctx: Context, s: Session, client: ApiClient, appointment_id: str, *, version_id: str | None = None
) -> JournalAppointment:
    """read is one of client's Appointments; any other id is not found (404). With version_id
    (a vread) it must be the current version: older ones are not kept (404)."""
    row = find(s, client, appointment_id)
    follow(s, row)
    if version_id is not None and version_id != str(row.version):
        raise FhirError(
            404,
            IssueType.NOT_FOUND,
            f"Den versionen finns inte. Vårdmöte sparar bara den senaste (nu version {row.version}).",
            f"There is no such version. Vårdmöte keeps only the latest (now version {row.version}).",
        )
    record(s, actor_of(client), "fhir.appointment.read", row.meeting_id, {"appointment": row.id})
    return row


@dataclass(frozen=True)
class Found:
    """Found is one page of a search: its rows and how many match in all."""

    rows: list[JournalAppointment]
    total: int
    query: searching.Query


def search(ctx: Context, s: Session, client: ApiClient, parameters: list[tuple[str, str]]) -> Found:
    """search finds client's Appointments by the parameters (see vardmote.fhir.search), by start."""
    query = searching.parse(parameters, ctx.tz, today(ctx))
    conditions: list[ColumnElement[bool]] = [JournalAppointment.client_id == client.id]
    if query.patients is not None:
        digits = [number.digits for number in query.patients]
        conditions.append(
            JournalAppointment.patient_id.in_(select(Patient.id).where(Patient.personnummer.in_(digits)))
        )
    if query.practitioners is not None:
        conditions.append(
            JournalAppointment.clinician_id.in_(select(User.id).where(User.hsa_id.in_(query.practitioners)))
        )
    if query.statuses is not None:
        wanted: list[ColumnElement[bool]] = []
        if CANCELLED in query.statuses:
            wanted.append(Meeting.cancelled_at.is_not(None))
        if BOOKED in query.statuses:
            wanted.append(Meeting.cancelled_at.is_(None))
        conditions.append(or_(*wanted))
    for when in query.dates:
        conditions.append(_date_condition(when))
    base = (
        select(JournalAppointment)
        .join(Meeting, Meeting.id == JournalAppointment.meeting_id)
        .where(*conditions)
    )
    total = int(s.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = list(
        s.scalars(
            base.order_by(Meeting.starts_at, JournalAppointment.id).offset(query.offset).limit(query.count)
        )
    )
    for row in rows:
        follow(s, row)
    record(
        s,
        actor_of(client),
        "fhir.appointment.searched",
        None,
        {"parameters": sorted({name for name, _ in parameters}), "matches": total},
    )
    return Found(rows, total, query)


def _date_condition(when: searching.DateBound) -> ColumnElement[bool]:
    start = Meeting.starts_at
    match when.prefix:
        case "eq":
            return and_(start >= when.low, start < when.high)
        case "ne":
            return not_(and_(start >= when.low, start < when.high))
        case "gt":
            return start >= when.high
        case "ge":
            return start >= when.low
        case "lt":
            return start < when.low
        case _:  # le
            return start < when.high
