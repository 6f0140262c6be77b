"""Helpers for the FHIR tests: the people, Appointments as a journal system writes them, calls
through the app, answers read back with the FHIR model library, and row counts.

It also makes tests/inbox's helpers (inbox_helpers; the folder has no __init__.py) importable
for the tests that read a patient's inbox, as tests/web does with tests/media's.

The people: Annika, a clinician with the HSA-id ANNIKA_HSA; Karin, an adult patient; Olle, a
child of 9 whose guardian is Maria. Their numbers are the test numbers of inbox_helpers.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from httpx import Response
from sqlalchemy import func, select

from booking_helpers import TZ
from conftest import make_user
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.clients.models import ApiClient
from vardmote.context import Context
from vardmote.fhir.identifiers import HSA_ID, PERSONNUMMER, SAMORDNINGSNUMMER
from vardmote.fhir.models import JournalAppointment
from vardmote.inbox.sessions import COOKIE_PATH, PATIENT_COOKIE, start_session
from vardmote.invitations.models import InboxMessage, MeetingRecipient
from vardmote.meetings.models import Meeting, MeetingLink
from vardmote.patients.models import Patient
from vardmote.patients.personnummer import Personnummer, check_digit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inbox"))

ANNIKA_HSA = "SE2321000016-A1B2"
BERTIL_HSA = "SE2321000016-B3C4"
FHIR_JSON = "application/fhir+json"
APPOINTMENTS = "/fhir/r4/Appointment"
VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"


def coordination_number(born: dt.date, serial: str = "239") -> Personnummer:
    """coordination_number is a samordningsnummer for born: the day plus 60, the check digit computed."""
    day = born.day + 60
    nine = f"{born:%y%m}{day:02d}{serial}"
    return Personnummer(f"{born:%Y%m}{day:02d}{serial}{check_digit(nine)}")


def clinician_with_hsa_id(ctx: Context, username: str, hsa_id: str) -> User:
    """clinician_with_hsa_id adds a staff account with a password and an HSA-id."""
    user = make_user(ctx, username)
    with ctx.db.session() as s:
        row = s.get(User, user.id)
        assert row is not None
        row.hsa_id = hsa_id
        s.flush()
        s.expunge(row)
        return row


def at(days: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """at is a wall-clock time in Stockholm, days from today, as an aware datetime."""
    day = dt.datetime.now(TZ).date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def instant(moment: dt.datetime) -> str:
    """instant is moment as a FHIR instant (seconds and an offset)."""
    return moment.isoformat(timespec="seconds")


def patient_actor(number: Personnummer | str, system: str | None = None, **extra: Any) -> dict[str, Any]:
    """patient_actor is a participant who is the patient, named by number."""
    digits = number.digits if isinstance(number, Personnummer) else number
    if system is None:
        system = (
            SAMORDNINGSNUMMER if isinstance(number, Personnummer) and number.is_coordination else PERSONNUMMER
        )
    actor = {"type": "Patient", "identifier": {"system": system, "value": digits}} | extra
    return {"actor": actor, "status": "accepted"}


def clinician_actor(hsa_id: str = ANNIKA_HSA, display: str | None = "Annika Testsson") -> dict[str, Any]:
    """clinician_actor is a participant who is the clinician, named by HSA-id."""
    actor: dict[str, Any] = {"type": "Practitioner", "identifier": {"system": HSA_ID, "value": hsa_id}}
    if display is not None:
        actor["display"] = display
    return {"actor": actor, "status": "accepted"}


def appointment(
    patient: Personnummer | str,
    *,
    hsa_id: str = ANNIKA_HSA,
    start: dt.datetime | None = None,
    minutes: int = 30,
    **changes: Any,
) -> dict[str, Any]:
    """appointment is an Appointment as a journal system sends it: booked, patient and clinician,
    start (default: in 3 days at 09:00) and end minutes later, the journal's own booking id;
    changes replace or add fields (None removes one)."""
    begins = start or at(3)
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": [{"system": "urn:oid:1.2.752.74.9.1", "value": "cosmic-4711"}],
        "status": "booked",
        "start": instant(begins),
        "end": instant(begins + dt.timedelta(minutes=minutes)),
        "participant": [patient_actor(patient), clinician_actor(hsa_id)],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any] | bytes) -> Response:
    """post sends an Appointment to be booked, as application/fhir+json."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(APPOINTMENTS, content=content, headers=headers | {"Content-Type": FHIR_JSON})


def put(
    client: TestClient, headers: dict[str, str], appointment_id: str, body: dict[str, Any], **extra: str
) -> Response:
    """put sends a changed Appointment."""
    return client.put(
        f"{APPOINTMENTS}/{appointment_id}",
        content=json.dumps(body).encode(),
        headers=headers | {"Content-Type": FHIR_JSON} | extra,
    )


def resource(response: Response) -> Appointment:
    """resource is the answer's Appointment, read with the FHIR model library (which validates it)."""
    assert response.headers["content-type"] == FHIR_JSON, response.headers
    return Appointment.model_validate_json(response.content)


def bundle(response: Response) -> Bundle:
    """bundle is the answer's Bundle, read with the FHIR model library."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    return Bundle.model_validate_json(response.content)


def outcome(response: Response) -> tuple[str, str, str, str | None]:
    """outcome is the answer's one OperationOutcome issue, read with the FHIR model library:
    (code, Swedish text, English text, expression)."""
    assert response.headers["content-type"] == FHIR_JSON, response.headers
    parsed = OperationOutcome.model_validate_json(response.content)
    (issue,) = parsed.issue
    assert issue.severity == "error"
    assert issue.details is not None
    expression = issue.expression[0] if issue.expression else None
    return str(issue.code), str(issue.details.text), str(issue.diagnostics), expression


def open_inbox(ctx: Context, client: TestClient, patient_id: int) -> None:
    """open_inbox signs the patient in to the inbox on client, as the OpenID Connect sign-in does
    (a session and its cookie), without demo mode's test e-identification."""
    with ctx.db.session() as s:
        patient = s.get(Patient, patient_id)
        assert patient is not None
        token, _ = start_session(ctx, s, patient, "oidc")
    client.headers.pop("Authorization", None)
    client.cookies.set(PATIENT_COOKIE, token, domain="vardmote.test", path=COOKIE_PATH)


def virtual_service(answer: Appointment) -> dict[str, Any]:
    """virtual_service is the answer's cross-version virtualService extension, by sub-extension url."""
    (extension,) = [e for e in answer.extension or [] if e.url == VIRTUAL_SERVICE]
    return {str(sub.url): sub for sub in extension.extension or []}


def people(answer: Appointment) -> list[tuple[str | None, str | None, str | None, str | None]]:
    """people are the answer's participants: (actor.type, identifier system, value, display)."""
    found = []
    for participant in answer.participant:
        actor = participant.actor
        assert actor is not None
        identifier = actor.identifier
        system = identifier.system if identifier is not None else None
        value = identifier.value if identifier is not None else None
        found.append((actor.type, system, value, actor.display))
    return found


COUNTED = (Meeting, JournalAppointment, Patient, InboxMessage, MeetingRecipient, MeetingLink, User, ApiClient)


def counts(ctx: Context) -> dict[str, int]:
    """counts are the row counts of every table a booking writes to (the audit aside)."""
    with ctx.db.session() as s:
        return {
            model.__tablename__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in COUNTED
        }


def audit_entries(ctx: Context, prefix: str = "fhir.") -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """audit_entries are (actor, action, meeting id, details) of the audit entries whose action
    starts with prefix, oldest first."""
    with ctx.db.session() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
        return [(e.actor, e.action, e.meeting_id, json.loads(e.details)) for e in entries]


def all_audit_text(ctx: Context) -> str:
    """all_audit_text is every audit entry's actor, action and details, for a search for personal data."""
    with ctx.db.session() as s:
        return "\n".join(f"{e.actor} {e.action} {e.details}" for e in s.scalars(select(AuditEntry)))
