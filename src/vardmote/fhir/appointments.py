"""Appointments: a FHIR R4 Appointment read as a booking, and a booking shown as an Appointment.
Pure, no I/O.

What a journal system sends (:func:`parse_appointment`, then :func:`read_booking`):

- ``status`` ``booked`` (``cancelled`` in an update cancels), ``start`` and ``end`` as instants;
- one participant who is the patient: ``actor.identifier`` with the personnummer or
  samordningsnummer system (:mod:`vardmote.fhir.identifiers`), ``actor.type`` ``Patient`` if given;
- one participant who is the clinician: ``actor.identifier`` with the HSA-id system,
  ``actor.type`` ``Practitioner`` if given, and ``actor.display`` (the name, used when the
  account is made for them);
- optionally ``identifier``: the journal system's own ids of the booking, kept and shown back.

Participants are logical references (an identifier, no ``reference``): Vårdmöte serves no
Patient or Practitioner resources. Anything else in the Appointment is accepted by the model
and not used. What Vårdmöte answers (:func:`appointment_resource`) carries the meeting as the
R5 ``Appointment.virtualService``, back-ported to R4 with the cross-version extension
(:data:`VIRTUAL_SERVICE`, package hl7.fhir.uv.xver-r5.r4): its sub-extensions are named by the
R5 element, so R5's ``addressUrl`` is the sub-extension ``address`` with a ``valueUrl`` (the
clinician's "Starta möte" address, never a patient's link); beside it ``channelType``,
``maxParticipants``, ``sessionKey`` (the meeting's id) and the ``_datatype`` marker
(:data:`DATATYPE`, ``VirtualServiceDetail``) that the package's 0.1.0 release asks for on a
back-ported data type.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.appointment import Appointment, AppointmentParticipant
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier as FhirIdentifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from vardmote.fhir import identifiers
from vardmote.fhir.identifiers import HSA_ID, Identifier
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.meetings.booking import MAX_AHEAD, MAX_DURATION, PAST_TOLERANCE
from vardmote.patients.personnummer import Personnummer

VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
"""The cross-version extension that carries R5's Appointment.virtualService in R4."""
DATATYPE = "http://hl7.org/fhir/StructureDefinition/_datatype"
"""The ``_datatype`` extension's own (absolute) url, which the cross-version extension's slice
takes: the extension is defined with that fixed url, so it keeps it as a sub-extension too."""
CHANNEL_CODE = "vardmote"
"""The channel type's code: a meeting in Vårdmöte. The R5 value set (Zoom, Teams, WhatsApp) is
an example binding with no code for it, so the code system is the deployment's own
(:func:`channel_system`)."""
CHANNEL_DISPLAY = "Vårdmöte"
BOOKED = "booked"
CANCELLED = "cancelled"
STATUSES = (BOOKED, CANCELLED)
"""The statuses Vårdmöte keeps; others (arrived, fulfilled, noshow, …) are not offered."""
MAX_IDENTIFIERS = 10
"""The most Appointment.identifier entries kept."""
MAX_IDENTIFIER_TEXT = 200
"""The longest identifier system or value kept."""


def channel_system(base_url: str) -> str:
    """channel_system is the code system of the channel type: the deployment's public address
    and ``/fhir/CodeSystem/virtual-service-type``."""
    return f"{base_url.rstrip('/')}/fhir/CodeSystem/virtual-service-type"


# --- reading a request -------------------------------------------------------------------------


def parse_appointment(body: bytes) -> Appointment:
    """parse_appointment reads a request body as an R4 Appointment with the FHIR model library.

    Raises FhirError 400: ``structure`` for a body that is not a JSON object, ``invalid`` for a
    wrong or missing resourceType or anything the model refuses (the first problem, by path)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise FhirError(
            400,
            IssueType.STRUCTURE,
            "Innehållet är inte giltig JSON.",
            "The body is not valid JSON.",
        ) from None
    if not isinstance(data, dict):
        raise FhirError(
            400,
            IssueType.STRUCTURE,
            "Innehållet ska vara en FHIR-resurs (ett JSON-objekt).",
            "The body must be a FHIR resource (a JSON object).",
        )
    if data.get("resourceType") != "Appointment":
        raise FhirError(
            400,
            IssueType.INVALID,
            "Resursen ska vara en Appointment (resourceType).",
            "The resource must be an Appointment (resourceType).",
            "resourceType",
        )
    try:
        return Appointment.model_validate(data)
    except ValidationError as e:
        raise _model_error(e) from None


def _model_error(e: ValidationError) -> FhirError:
    first = e.errors()[0]
    path = _fhirpath(first.get("loc", ()))
    missing = "missing" in str(first.get("type", ""))
    if missing:
        swedish = f"Appointment följer inte FHIR R4: {path} saknas."
        english = f"The Appointment does not follow FHIR R4: {path} is missing."
        code = IssueType.REQUIRED
    else:
        swedish = f"Appointment följer inte FHIR R4: {path} är ogiltigt."
        english = f"The Appointment does not follow FHIR R4: {path}: {first.get('msg', 'invalid')}"
        code = IssueType.INVALID
    return FhirError(400, code, swedish, english, path)


def _fhirpath(loc: tuple[int | str, ...] | list[int | str]) -> str:
    path = "Appointment"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "__root__":
            path += f".{part}"
    return path


@dataclass(frozen=True)
class BookingRequest:
    """BookingRequest is what an Appointment asks for, checked: who, when, and the journal's ids."""

    status: str
    patient: Personnummer
    hsa_id: str
    clinician_name: str | None
    """actor.display of the clinician, if given (the name of an account made for them)."""
    starts_at: dt.datetime
    ends_at: dt.datetime
    identifiers: list[dict[str, str]] = field(default_factory=list)


def read_booking(appointment: Appointment, today: dt.date) -> BookingRequest:
    """read_booking checks an Appointment's status, times and participants and returns what it
    books. today (in the service's time zone) is the reference date for the personnummer.
    The times are checked against the clock by :func:`check_times`, not here."""
    status = appointment.status
    if status not in STATUSES:
        raise FhirError(
            422,
            IssueType.VALUE,
            "Status ska vara booked (eller cancelled för att avboka).",
            "The status must be booked (or cancelled, to cancel).",
            "Appointment.status",
        )
    if appointment.start is None or appointment.end is None:
        raise FhirError(
            422,
            IssueType.REQUIRED,
            "Start- och sluttid (start, end) måste anges.",
            "Both start and end must be given.",
            "Appointment.start" if appointment.start is None else "Appointment.end",
        )
    patient, clinician = _participants(appointment, today)
    return BookingRequest(
        status=str(status),
        patient=patient,
        hsa_id=clinician[0],
        clinician_name=clinician[1],
        starts_at=_utc(appointment.start, "Appointment.start"),
        ends_at=_utc(appointment.end, "Appointment.end"),
        identifiers=_identifiers(appointment),
    )


def _utc(value: Any, where: str) -> dt.datetime:
    """_utc is the instant value in UTC; one that falls outside the years 1-9999 there (as
    0001-01-01T00:30:00+01:00 does) is refused, as Python's datetime cannot hold it."""
    assert isinstance(value, dt.datetime), "the model reads an instant as a datetime"
    assert value.tzinfo is not None, "an instant has a time zone"
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise FhirError(
            422,
            IssueType.VALUE,
            "Tiden ligger utanför åren 1–9999 (i UTC).",
            "The time is outside the years 1-9999 (in UTC).",
            where,
        ) from None


def _participants(appointment: Appointment, today: dt.date) -> tuple[Personnummer, tuple[str, str | None]]:
    patient: Personnummer | None = None
    clinician: tuple[str, str | None] | None = None
    for i, participant in enumerate(appointment.participant or []):
        where = f"Appointment.participant[{i}].actor"
        actor = participant.actor
        if actor is None or actor.identifier is None:
            raise FhirError(
                422,
                IssueType.NOT_SUPPORTED,
                "Varje deltagare anges med actor.identifier (personnummer, samordningsnummer eller "
                "HSA-id); referenser till resurser stöds inte.",
                "Each participant is given by actor.identifier (personnummer, samordningsnummer or "
                "HSA-id); references to resources are not supported.",
                where,
            )
        given = Identifier(str(actor.identifier.system or ""), str(actor.identifier.value or ""))
        kind = actor.type or ("Practitioner" if given.system == HSA_ID else "Patient")
        if kind == "Patient":
            if patient is not None:
                raise _one_each(where)
            patient = identifiers.patient_number(given, today, f"{where}.identifier")
        elif kind == "Practitioner":
            if clinician is not None:
                raise _one_each(where)
            name = (actor.display or "").strip() or None
            clinician = (identifiers.hsa_id(given, f"{where}.identifier"), name)
        else:
            raise FhirError(
                422,
                IssueType.NOT_SUPPORTED,
                "En deltagare ska vara patienten (Patient) eller vårdpersonalen (Practitioner).",
                "A participant must be the patient (Patient) or the practitioner (Practitioner).",
                f"{where}.type",
            )
    if patient is None:
        raise FhirError(
            422,
            IssueType.REQUIRED,
            "Patienten saknas bland deltagarna (personnummer eller samordningsnummer).",
            "The patient is missing among the participants (personnummer or samordningsnummer).",
            "Appointment.participant",
        )
    if clinician is None:
        raise FhirError(
            422,
            IssueType.REQUIRED,
            "Vårdpersonalen saknas bland deltagarna (HSA-id).",
            "The practitioner is missing among the participants (HSA-id).",
            "Appointment.participant",
        )
    return patient, clinician


def _one_each(where: str) -> FhirError:
    return FhirError(
        422,
        IssueType.BUSINESS_RULE,
        "Ett digitalt vårdmöte har en patient och en vårdpersonal, inte fler.",
        "A digitalt vårdmöte has one patient and one practitioner, no more.",
        where,
    )


def _identifiers(appointment: Appointment) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    for i, given in enumerate(appointment.identifier or []):
        entry = {k: str(v) for k, v in (("system", given.system), ("value", given.value)) if v is not None}
        if i >= MAX_IDENTIFIERS or any(len(v) > MAX_IDENTIFIER_TEXT for v in entry.values()):
            raise FhirError(
                422,
                IssueType.VALUE,
                f"Högst {MAX_IDENTIFIERS} identifierare med system och värde på högst "
                f"{MAX_IDENTIFIER_TEXT} tecken sparas.",
                f"At most {MAX_IDENTIFIERS} identifiers with a system and value of at most "
                f"{MAX_IDENTIFIER_TEXT} characters are kept.",
                f"Appointment.identifier[{i}]",
            )
        if entry:
            kept.append(entry)
    return kept


def check_times(
    starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime, keep_start: dt.datetime | None = None
) -> None:
    """check_times applies the booking rules of the meetings layer to an Appointment's times:
    not in the past (a few minutes' slack; keep_start, the start already booked, may stay),
    the end after the start, at most MAX_DURATION long and MAX_AHEAD ahead."""
    if starts_at < now - PAST_TOLERANCE and starts_at != keep_start:
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            "Starttiden har redan passerat.",
            "The start time is in the past.",
            "Appointment.start",
        )
    if ends_at <= starts_at:
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            "Sluttiden måste vara efter starttiden.",
            "The end must be after the start.",
            "Appointment.end",
        )
    if ends_at - starts_at > MAX_DURATION:
        hours = int(MAX_DURATION.total_seconds() // 3600)
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            f"Ett möte kan vara högst {hours} timmar långt.",
            f"A meeting can be at most {hours} hours long.",
            "Appointment.end",
        )
    if starts_at > now + MAX_AHEAD:
        raise FhirError(
            422,
            IssueType.BUSINESS_RULE,
            "Möten kan bokas högst två år framåt.",
            "Meetings can be booked at most two years ahead.",
            "Appointment.start",
        )


# --- showing a booking -------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentView:
    """AppointmentView is everything an Appointment shows, read from the database."""

    id: str
    version: int
    updated_at: dt.datetime
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_at: dt.datetime
    patient: Personnummer
    hsa_id: str | None
    """The clinician's HSA-id; None only if it was taken off the account since."""
    clinician_name: str
    identifiers: list[dict[str, str]]
    meeting_id: str
    max_participants: int | None
    address_url: str
    """The clinician's "Starta möte" address of the meeting."""
    channel_system: str


def appointment_resource(view: AppointmentView) -> Appointment:
    """appointment_resource is the R4 Appointment that shows view, with the virtual service."""
    virtual = [
        Extension(url=DATATYPE, valueString="VirtualServiceDetail"),
        Extension(
            url="channelType",
            valueCoding=Coding(system=view.channel_system, code=CHANNEL_CODE, display=CHANNEL_DISPLAY),
        ),
        Extension(url="address", valueUrl=view.address_url),
    ]
    if view.max_participants is not None:
        virtual.append(Extension(url="maxParticipants", valuePositiveInt=view.max_participants))
    virtual.append(Extension(url="sessionKey", valueString=view.meeting_id))
    return Appointment(
        id=view.id,
        meta=Meta(versionId=str(view.version), lastUpdated=view.updated_at),
        extension=[Extension(url=VIRTUAL_SERVICE, extension=virtual)],
        identifier=[FhirIdentifier.model_validate(given) for given in view.identifiers] or None,
        status=view.status,
        start=view.starts_at,
        end=view.ends_at,
        created=view.created_at,
        participant=[
            AppointmentParticipant(
                actor=Reference(
                    type="Patient",
                    identifier=FhirIdentifier(
                        system=identifiers.system_of(view.patient), value=view.patient.digits
                    ),
                ),
                status="accepted",
            ),
            AppointmentParticipant(
                actor=Reference(
                    type="Practitioner",
                    identifier=FhirIdentifier(system=HSA_ID, value=view.hsa_id) if view.hsa_id else None,
                    display=view.clinician_name,
                ),
                status="accepted",
            ),
        ],
    )
