"""Service: what a journal system's FHIR calls that write do — book, move and cancel (reading
and searching: :mod:`vardmote.fhir.finding`).

Every function runs inside the call's one transaction and is given the journal system
(:class:`~vardmote.clients.models.ApiClient`) that :func:`vardmote.clients.auth.authorized_client`
found; it sees and changes only the Appointments that system booked (any other id is "not
found"). Each writes its audit entry (``fhir.appointment.*``, actor ``client:<name>``, the
patient by internal id, never by personnummer) in that transaction, so a refused call — a
:class:`~vardmote.fhir.outcome.FhirError` or a service-layer error — leaves nothing behind.

Booking (:func:`create`) makes, in that one transaction: the clinician's account when
``fhir_provision_clinicians`` is on and none has the HSA-id, the patient when the number is
new, a ``digitalt_vardmote`` meeting hosted by the clinician, the patient's inbox message from
the type's central template (a child under 13: the child's inbox, guardians read it as ombud)
and the Appointment row. A moved time (:func:`update`) goes through
:func:`vardmote.meetings.service.change` and a cancellation through
:func:`vardmote.meetings.service.cancel`, whose events update or withdraw the inbox message
and move or end a live meeting.

Concurrency: the clinician's account and the patient (added first when the number is new) are
locked before the overlap check, in that order, by booking and moving alike
(:mod:`vardmote.fhir.overlaps`), so two calls for one person at once are checked one after the
other.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts import provisioning
from vardmote.accounts.models import Role, User
from vardmote.audit.log import record
from vardmote.clients.auth import actor_of
from vardmote.clients.models import ApiClient
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.fhir import finding, overlaps
from vardmote.fhir.appointments import (
    BOOKED,
    CANCELLED,
    AppointmentView,
    BookingRequest,
    channel_system,
    check_times,
    parse_appointment,
    read_booking,
)
from vardmote.fhir.models import JournalAppointment
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.invitations import sending, templates
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import actor_of as user_actor
from vardmote.patients import registry
from vardmote.patients.personnummer import Personnummer

MEETING_TYPE = "digitalt_vardmote"
"""The meeting type a journal system books."""
TITLE = "Digitalt vårdmöte"
"""The meeting's title in the clinician's calendar: no personal data, whatever the journal holds."""

_ETAG = re.compile(r'^(?:W/)?"([0-9]{1,9})"$')


# --- booking -----------------------------------------------------------------------------------


def create(ctx: Context, s: Session, client: ApiClient, body: bytes) -> JournalAppointment:
    """create books the Appointment in body for client (see the module docstring)."""
    request = read_booking(parse_appointment(body), finding.today(ctx))
    if request.status != BOOKED:
        raise FhirError(
            422,
            IssueType.VALUE,
            "En ny bokning ska ha status booked.",
            "A new appointment must have the status booked.",
            "Appointment.status",
        )
    check_times(request.starts_at, request.ends_at, utcnow())
    actor = actor_of(client)
    clinician = _clinician(ctx, s, request, actor)
    patient = registry.find_or_add(s, request.patient)  # a new one too, so that it can be locked
    overlaps.lock_people(s, clinician, patient)
    overlaps.no_overlap(s, clinician, patient, request.starts_at, request.ends_at)
    form = BookingForm(title=TITLE, start=request.starts_at.isoformat(), end=request.ends_at.isoformat())
    meeting = meetings.book_from_journal(ctx, s, clinician, form, MEETING_TYPE, actor=actor)
    recipient = sending.send_message(
        ctx,
        s,
        clinician,
        meeting,
        personnummer=str(request.patient),
        kind=sending.RecipientKind.PATIENT.value,
        template_key=templates.default_for(MEETING_TYPE),
        together=False,
        actor=actor,
    )
    assert recipient.patient_id is not None, "an inbox recipient is a patient"
    now = utcnow()
    row = JournalAppointment(
        id=str(uuid.uuid4()),
        meeting_id=meeting.id,
        patient_id=recipient.patient_id,
        clinician_id=clinician.id,
        client_id=client.id,
        version=1,
        meeting_sequence=meeting.sequence,
        identifiers=request.identifiers,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.flush()
    record(
        s,
        actor,
        "fhir.appointment.created",
        meeting.id,
        {
            "appointment": row.id,
            "patient": row.patient_id,
            "clinician": user_actor(clinician),
            "version": row.version,
        },
    )
    return row


def _clinician(ctx: Context, s: Session, request: BookingRequest, actor: str) -> User:
    """_clinician is the active account with the request's HSA-id, locked; made when
    fhir_provision_clinicians is on and there is none."""
    user = s.scalar(select(User).where(User.hsa_id == request.hsa_id).with_for_update(of=User))
    if user is None:
        if not ctx.settings.fhir_provision_clinicians:
            raise FhirError(
                422,
                IssueType.NOT_FOUND,
                "Vårdpersonalen med detta HSA-id har inget konto i Vårdmöte. Be en administratör "
                "lägga till kontot, eller be vårdpersonalen logga in en gång först.",
                "The practitioner with this HSA-id has no account in Vårdmöte. Ask an administrator "
                "to add it, or have the practitioner sign in once first.",
                "Appointment.participant.actor.identifier",
            )
        user = _provision(s, request, actor)
    if not user.active:
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            "Vårdpersonalens konto i Vårdmöte är inaktiverat.",
            "The practitioner's account in Vårdmöte is deactivated.",
            "Appointment.participant.actor.identifier",
        )
    return user


def _provision(s: Session, request: BookingRequest, actor: str) -> User:
    """_provision makes the account of a clinician the journal system names: the username is the
    HSA-id lower-cased, the name actor.display, no usable password (they sign in through the
    region's identity provider, which names them by the same HSA-id)."""
    if request.clinician_name is None or len(request.clinician_name) > 200:
        raise FhirError(
            422,
            IssueType.REQUIRED,
            "Vårdpersonalen har inget konto i Vårdmöte ännu: ange namnet (actor.display, högst 200 "
            "tecken) så att kontot kan skapas.",
            "The practitioner has no account in Vårdmöte yet: give the name (actor.display, at most "
            "200 characters) so that the account can be made.",
            "Appointment.participant.actor.display",
        )
    try:
        user = provisioning.make_from_hsa_id(
            s, request.hsa_id, request.clinician_name, Role.CLINICIAN, actor, by="fhir"
        )
    except provisioning.UsernameTaken:
        raise FhirError(
            422,
            IssueType.CONFLICT,
            "Det finns redan ett konto med HSA-id:t som användarnamn men utan HSA-id. Be en "
            "administratör rätta kontot.",
            "An account with the HSA-id as its username but without the HSA-id exists already. "
            "Ask an administrator to correct it.",
            "Appointment.participant.actor.identifier",
        ) from None
    overlaps.lock_clinician(s, user)  # made by another call at the same moment: lock it as found
    return user


# --- changing ----------------------------------------------------------------------------------


def update(
    ctx: Context,
    s: Session,
    client: ApiClient,
    appointment_id: str,
    body: bytes,
    if_match: str | None,
) -> JournalAppointment:
    """update applies a PUT: a new start and end move the meeting (:func:`_move`), status
    cancelled cancels it (:func:`_cancel`), new identifiers are kept. The patient and the
    clinician cannot change. With if_match (an ETag), the call is refused (412) unless it names
    the current version. The Appointment's row is locked first, then (for a move) the people."""
    row = finding.find(s, client, appointment_id, lock=True)
    finding.follow(s, row)
    request = _change_requested(ctx, row, body, if_match)
    actor = actor_of(client)
    meeting = row.meeting
    changed: list[str] = []
    if meeting.cancelled_at is not None:
        if request.status != CANCELLED:
            raise FhirError(
                422,
                IssueType.BUSINESS_RULE,
                "Bokningen är avbokad och kan inte ändras. Boka en ny tid.",
                "The appointment is cancelled and cannot change. Book a new one.",
                "Appointment.status",
            )
    elif request.status == CANCELLED:
        changed += _cancel(ctx, s, row, actor)
    elif (request.starts_at, request.ends_at) != (meeting.starts_at, meeting.ends_at):
        changed += _move(ctx, s, row, request, actor)
    if request.identifiers != row.identifiers:
        row.identifiers = request.identifiers
        changed.append("identifier")
    if changed:
        row.version += 1
        row.meeting_sequence = meeting.sequence
        row.updated_at = utcnow()
    record(
        s,
        actor,
        "fhir.appointment.cancelled" if "status" in changed else "fhir.appointment.updated",
        meeting.id,
        {"appointment": row.id, "changed": changed, "version": row.version},
    )
    return row


def _change_requested(
    ctx: Context, row: JournalAppointment, body: bytes, if_match: str | None
) -> BookingRequest:
    """_change_requested is what a PUT of body asks of row, checked: the version (If-Match),
    the id, and the same patient and clinician."""
    if if_match is not None and _version_in(if_match) != row.version:
        raise FhirError(
            412,
            IssueType.CONFLICT,
            f"Bokningen har ändrats sedan den lästes (nu version {row.version}). Läs den igen och "
            "gör om ändringen.",
            f"The appointment has changed since it was read (now version {row.version}). Read it "
            "again and repeat the change.",
        )
    appointment = parse_appointment(body)
    if appointment.id != row.id:
        raise FhirError(
            400,
            IssueType.INVALID,
            "Resursens id måste vara detsamma som i adressen.",
            "The resource's id must be the same as the one in the URL.",
            "Appointment.id",
        )
    request = read_booking(appointment, finding.today(ctx))
    if request.patient.digits != row.patient.personnummer or request.hsa_id != row.clinician.hsa_id:
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            "Patienten och vårdpersonalen kan inte bytas i en bokning. Avboka och boka en ny tid.",
            "The patient and the practitioner of an appointment cannot change. Cancel it and book a new one.",
            "Appointment.participant",
        )
    return request


def _cancel(ctx: Context, s: Session, row: JournalAppointment, actor: str) -> list[str]:
    """_cancel cancels row's meeting (its events withdraw the inbox message and end a live
    meeting); what changed."""
    meetings.cancel(ctx, s, row.clinician, row.meeting_id, actor=actor)
    return ["status"]


def _move(
    ctx: Context, s: Session, row: JournalAppointment, request: BookingRequest, actor: str
) -> list[str]:
    """_move moves row's meeting to the request's times, after the booking rules and, with the
    people locked, the overlap check (its events update the inbox message and a live meeting);
    what changed."""
    meeting = row.meeting
    check_times(request.starts_at, request.ends_at, utcnow(), keep_start=meeting.starts_at)
    overlaps.lock_people(s, row.clinician, row.patient)
    overlaps.no_overlap(s, row.clinician, row.patient, request.starts_at, request.ends_at, moving=meeting.id)
    form = BookingForm(
        title=meeting.title, start=request.starts_at.isoformat(), end=request.ends_at.isoformat()
    )
    meetings.change(ctx, s, row.clinician, meeting.id, form, actor=actor)
    return ["start", "end"]


def _version_in(etag: str) -> int | None:
    found = _ETAG.match(etag.strip())
    return int(found.group(1)) if found else None


# --- showing -----------------------------------------------------------------------------------


def view_of(ctx: Context, row: JournalAppointment) -> AppointmentView:
    """view_of is what the Appointment of row shows: the meeting's times and state, the people,
    and the clinician's "Starta möte" address (never a patient's link)."""
    meeting = row.meeting
    return AppointmentView(
        id=row.id,
        version=row.version,
        updated_at=row.updated_at,
        status=CANCELLED if meeting.cancelled_at is not None else BOOKED,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        created_at=row.created_at,
        patient=Personnummer(row.patient.personnummer),
        hsa_id=row.clinician.hsa_id,
        clinician_name=row.clinician.display_name,
        identifiers=row.identifiers,
        meeting_id=meeting.id,
        max_participants=meeting.meeting_type.participant_limit if meeting.meeting_type else None,
        address_url=ctx.url(f"/moten/{meeting.id}/starta"),
        channel_system=channel_system(ctx.settings.effective_public_url),
    )
