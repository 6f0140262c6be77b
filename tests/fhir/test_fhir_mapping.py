"""The pure parts: a booking shown as an Appointment (read back by the model library), the time
rules, the search parameters' date ranges and the errors as OperationOutcomes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_helpers import coordination_number

from vardmote.clients.auth import NO_TOKEN, ClientUnauthenticated, ScopeMissing
from vardmote.errors import Conflict, InvalidInput, NotFound
from vardmote.fhir.appointments import VIRTUAL_SERVICE, AppointmentView, appointment_resource, check_times
from vardmote.fhir.outcome import FhirError, IssueType, from_vardmote_error, operation_outcome
from vardmote.fhir.search import DateBound, parse
from vardmote.patients.personnummer import Personnummer

TZ = ZoneInfo("Europe/Stockholm")
TODAY = dt.date(2026, 12, 10)
NOW = dt.datetime(2026, 12, 10, 8, 0, tzinfo=dt.UTC)


def _view(**changes: object) -> AppointmentView:
    values: dict[str, object] = {
        "id": "7d3f0b7e-58a4-4c84-8f0e-1f4f3e0c9a11",
        "version": 3,
        "updated_at": NOW,
        "status": "booked",
        "starts_at": dt.datetime(2026, 12, 14, 8, 0, tzinfo=dt.UTC),
        "ends_at": dt.datetime(2026, 12, 14, 8, 30, tzinfo=dt.UTC),
        "created_at": NOW,
        "patient": Personnummer("191212121212"),
        "hsa_id": "SE2321000016-A1B2",
        "clinician_name": "Annika Testsson",
        "identifiers": [{"system": "urn:oid:1.2.752.74.9.1", "value": "cosmic-4711"}],
        "meeting_id": "0b8e6c1e-2a4f-4d36-9d0b-3f7c2d1e5a40",
        "max_participants": 2,
        "address_url": "https://vardmote.region.se/moten/0b8e6c1e-2a4f-4d36-9d0b-3f7c2d1e5a40/starta",
        "channel_system": "https://vardmote.region.se/fhir/CodeSystem/virtual-service-type",
    }
    values.update(changes)
    return AppointmentView(**values)  # type: ignore[arg-type]


def test_a_booking_is_an_appointment_the_model_library_reads_back_unchanged() -> None:
    made = appointment_resource(_view())
    text = made.model_dump_json(exclude_none=True)

    again = Appointment.model_validate_json(text)

    assert again == made
    assert again.meta is not None
    assert (again.id, again.meta.versionId, again.status) == (
        "7d3f0b7e-58a4-4c84-8f0e-1f4f3e0c9a11",
        "3",
        "booked",
    )
    (extension,) = again.extension or []
    assert extension.url == VIRTUAL_SERVICE
    subs = [(e.url, e.valueString or e.valueUrl or e.valuePositiveInt) for e in extension.extension or []]
    assert subs[0] == ("http://hl7.org/fhir/StructureDefinition/_datatype", "VirtualServiceDetail")
    assert subs[2:] == [
        ("address", "https://vardmote.region.se/moten/0b8e6c1e-2a4f-4d36-9d0b-3f7c2d1e5a40/starta"),
        ("maxParticipants", 2),
        ("sessionKey", "0b8e6c1e-2a4f-4d36-9d0b-3f7c2d1e5a40"),
    ]
    assert '"start":"2026-12-14T08:00:00Z"' in text


def test_a_samordningsnummer_is_shown_under_its_own_system() -> None:
    number = coordination_number(dt.date(1990, 3, 14))
    assert number.is_coordination
    actor = appointment_resource(_view(patient=number)).participant[0].actor
    assert actor is not None
    assert actor.identifier is not None
    assert actor.identifier.system == "urn:oid:1.2.752.129.2.1.3.3"


def test_a_clinician_without_an_hsa_id_any_more_is_shown_by_name() -> None:
    actor = appointment_resource(_view(hsa_id=None)).participant[1].actor
    assert actor is not None
    assert (actor.type, actor.identifier, actor.display) == ("Practitioner", None, "Annika Testsson")


def test_a_type_without_a_limit_leaves_max_participants_out() -> None:
    (extension,) = appointment_resource(_view(max_participants=None)).extension or []
    assert "maxParticipants" not in [e.url for e in extension.extension or []]


def test_check_times_lets_an_already_booked_start_in_the_past_stay() -> None:
    started = NOW - dt.timedelta(minutes=20)
    check_times(started, NOW + dt.timedelta(minutes=30), NOW, keep_start=started)
    with pytest.raises(FhirError) as caught:
        check_times(started, NOW + dt.timedelta(minutes=30), NOW)
    assert caught.value.swedish == "Starttiden har redan passerat."
    check_times(NOW - dt.timedelta(minutes=4), NOW + dt.timedelta(minutes=30), NOW)  # a slow journal


def _bound(value: str) -> DateBound:
    (bound,) = parse([("date", value)], TZ, TODAY).dates
    return bound


@pytest.mark.parametrize(
    ("value", "prefix", "low", "high"),
    [
        pytest.param(
            "2026-12-14", "eq", "2026-12-13T23:00:00+00:00", "2026-12-14T23:00:00+00:00", id="a-day"
        ),
        pytest.param(
            "ge2026-12", "ge", "2026-11-30T23:00:00+00:00", "2026-12-31T23:00:00+00:00", id="a-month"
        ),
        pytest.param("lt2027", "lt", "2026-12-31T23:00:00+00:00", "2027-12-31T23:00:00+00:00", id="a-year"),
        pytest.param(
            "2027-03-28",
            "eq",
            "2027-03-27T23:00:00+00:00",
            "2027-03-28T22:00:00+00:00",
            id="spring-forward-day",
        ),
        pytest.param(
            "2026-12-14T09:30",
            "eq",
            "2026-12-14T08:30:00+00:00",
            "2026-12-14T08:31:00+00:00",
            id="a-local-minute",
        ),
        pytest.param(
            "le2026-12-14T09:30:15Z",
            "le",
            "2026-12-14T09:30:15+00:00",
            "2026-12-14T09:30:16+00:00",
            id="a-second-in-utc",
        ),
        pytest.param(
            "gt2026-12-14T09:30:00-05:00",
            "gt",
            "2026-12-14T14:30:00+00:00",
            "2026-12-14T14:30:01+00:00",
            id="an-offset",
        ),
    ],
)
def test_a_date_parameter_stands_for_its_whole_range(value: str, prefix: str, low: str, high: str) -> None:
    bound = _bound(value)
    assert (bound.prefix, bound.low.isoformat(), bound.high.isoformat()) == (prefix, low, high)


def test_several_date_parameters_make_a_range() -> None:
    query = parse([("date", "ge2026-12-14"), ("date", "lt2026-12-21")], TZ, TODAY)
    assert [b.prefix for b in query.dates] == ["ge", "lt"]


def test_an_operation_outcome_has_the_swedish_text_for_people_and_the_english_for_integrators() -> None:
    error = FhirError(422, IssueType.VALUE, "Fel värde.", "Wrong value.", "Appointment.status")
    parsed = OperationOutcome.model_validate_json(operation_outcome(error).model_dump_json(exclude_none=True))
    (issue,) = parsed.issue
    assert issue.details is not None
    assert (issue.severity, issue.code, issue.details.text, issue.diagnostics, issue.expression) == (
        "error",
        "value",
        "Fel värde.",
        "Wrong value.",
        ["Appointment.status"],
    )


@pytest.mark.parametrize(
    ("error", "status", "code", "english"),
    [
        pytest.param(
            ClientUnauthenticated(NO_TOKEN, None),
            401,
            "login",
            "The request has no access token. Get one at /oauth/token and send it as Authorization: Bearer.",
            id="no-token",
        ),
        pytest.param(
            ScopeMissing("Appointment", "u"),
            403,
            "forbidden",
            "The client's token lacks the scope system/Appointment.u, needed to update Appointment.",
            id="scope",
        ),
        pytest.param(
            InvalidInput.one("start", "Starttiden är fel."),
            422,
            "business-rule",
            "Refused (invalid-input); the reason is given in Swedish in issue.details.text.",
            id="invalid-input",
        ),
        pytest.param(
            NotFound("Finns inte."),
            404,
            "not-found",
            "Refused (not-found); the reason is given in Swedish in issue.details.text.",
            id="not-found",
        ),
        pytest.param(
            Conflict("Krock."),
            409,
            "conflict",
            "Refused (conflict); the reason is given in Swedish in issue.details.text.",
            id="conflict",
        ),
    ],
)
def test_a_service_error_becomes_an_outcome_with_its_status(
    error: Exception, status: int, code: str, english: str
) -> None:
    assert isinstance(error, InvalidInput | NotFound | Conflict | ClientUnauthenticated | ScopeMissing)
    made = from_vardmote_error(error)
    assert (made.status, made.code.value, made.swedish, made.english) == (
        status,
        code,
        error.message,
        english,
    )
    if isinstance(error, ClientUnauthenticated | ScopeMissing):
        assert made.headers == error.headers
