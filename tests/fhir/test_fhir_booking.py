"""Booking over FHIR: a journal system POSTs an Appointment with a real token, and Vårdmöte makes a
"Digitalt vårdmöte" hosted by the clinician and puts the message in the patient's inbox — or
refuses with an OperationOutcome and makes nothing at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import fhir_people
import pytest
from fastapi.testclient import TestClient
from fhir_helpers import (
    ANNIKA_HSA,
    APPOINTMENTS,
    FHIR_JSON,
    all_audit_text,
    appointment,
    at,
    audit_entries,
    clinician_actor,
    clinician_with_hsa_id,
    coordination_number,
    counts,
    instant,
    open_inbox,
    outcome,
    patient_actor,
    people,
    post,
    resource,
    virtual_service,
)
from inbox_helpers import Person, add_guardianship, add_person, page_csrf, skv_number, text_of, years_ago
from sqlalchemy import select

from conftest import make_user
from fhir_clients import bearer_headers, register_journal_system
from vardmote.accounts.models import User
from vardmote.accounts.passwords import verify_password
from vardmote.context import Context
from vardmote.fhir.identifiers import HSA_ID, PERSONNUMMER
from vardmote.fhir.models import JournalAppointment
from vardmote.invitations.models import InboxMessage
from vardmote.meetings.models import Meeting, MeetingLink
from vardmote.settings import Settings

annika = fhir_people.annika
cosmic = fhir_people.cosmic
headers = fhir_people.headers
karin = fhir_people.karin


def test_a_journal_system_books_a_digitalt_vardmote_hosted_by_the_clinician(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    start = at(3, 9)
    response = post(client, headers, appointment(karin.number, start=start))

    assert response.status_code == 201, response.text
    answer = resource(response)
    assert answer.id is not None
    assert re.fullmatch(r"[0-9a-f-]{36}", answer.id)
    assert response.headers["location"] == f"http://vardmote.test{APPOINTMENTS}/{answer.id}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert answer.meta is not None
    assert answer.meta.versionId == "1"
    assert answer.status == "booked"
    assert answer.start == start
    assert answer.end == start + dt.timedelta(minutes=30)
    assert [(i.system, i.value) for i in answer.identifier or []] == [
        ("urn:oid:1.2.752.74.9.1", "cosmic-4711")
    ]
    assert people(answer) == [
        ("Patient", PERSONNUMMER, karin.number.digits, None),
        ("Practitioner", HSA_ID, ANNIKA_HSA, "Annika Testsson"),
    ]

    with ctx.db.session() as s:
        row = s.get(JournalAppointment, answer.id)
        assert row is not None
        meeting = row.meeting
        assert meeting.type_key == "digitalt_vardmote"
        assert meeting.meeting_type is not None
        assert (meeting.meeting_type.participant_limit, meeting.meeting_type.lobby_rule) == (2, "guests_wait")
        assert meeting.organiser_id == annika.id
        assert meeting.title == "Digitalt vårdmöte"
        assert (meeting.starts_at, meeting.ends_at) == (start, start + dt.timedelta(minutes=30))
        assert (row.patient_id, row.clinician_id, row.client.name) == (karin.id, annika.id, "Cosmic")
        links = list(s.scalars(select(MeetingLink).where(MeetingLink.meeting_id == meeting.id)))
        assert [(link.kind, link.recipient) for link in links] == [("recipient", "Patient")]

    service = virtual_service(answer)
    datatype = "http://hl7.org/fhir/StructureDefinition/_datatype"
    assert list(service) == [datatype, "channelType", "address", "maxParticipants", "sessionKey"]
    assert service[datatype].valueString == "VirtualServiceDetail"
    assert service["address"].valueUrl == f"http://vardmote.test/moten/{meeting.id}/starta"
    assert service["sessionKey"].valueString == meeting.id
    assert service["maxParticipants"].valuePositiveInt == 2
    channel = service["channelType"].valueCoding
    assert (channel.system, channel.code, channel.display) == (
        "http://vardmote.test/fhir/CodeSystem/virtual-service-type",
        "vardmote",
        "Vårdmöte",
    )


def test_the_patient_finds_the_message_from_the_central_template_in_the_inbox(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    start = at(4, 10, 30)
    answer = resource(post(client, headers, appointment(karin.number, start=start)))

    with ctx.db.session() as s:
        (message,) = s.scalars(select(InboxMessage))
        assert message.patient_id == karin.id
        assert message.template.key == "skyddat-digitalt-vardmote"
        message_id = message.id
    open_inbox(ctx, client, karin.id)
    text = text_of(client.get(f"/inkorg/meddelanden/{message_id}").text)
    assert "Skyddat digitalt vårdmöte" in text
    assert f"Datum: {start.date().isoformat()}" in text
    assert "Tid: klockan 10:30" in text
    page = client.get(f"/inkorg/meddelanden/{message_id}")
    join = re.search(r'<a class="join-link" href="http://vardmote\.test(/m/[A-Za-z0-9_-]{43})">', page.text)
    assert join is not None
    assert join.group(1) not in answer.model_dump_json()  # the patient's link never goes to the journal


def test_a_child_under_13_gets_the_message_in_the_childs_inbox_and_a_guardian_reads_it_as_ombud(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User
) -> None:
    maria = add_person(ctx, "Maria Ek", years_ago(38), "238")
    olle = add_person(ctx, "Olle Ek", years_ago(9, 40), "239")
    add_guardianship(ctx, maria, olle)

    response = post(client, headers, appointment(olle.number))

    assert response.status_code == 201, response.text
    with ctx.db.session() as s:
        (message,) = s.scalars(select(InboxMessage))
        assert message.patient_id == olle.id
        message_id = message.id
    assert [d["ombud"] for _, action, _, d in audit_entries(ctx, "message.sent")] == [True]
    open_inbox(ctx, client, maria.id)
    assert client.get(f"/inkorg/meddelanden/{message_id}").status_code == 404  # not in Maria's own inbox
    acted = client.post(
        "/inkorg/ombud", data={"csrf": page_csrf(client), "barn": str(olle.id)}, follow_redirects=False
    )
    assert acted.status_code == 303
    assert "Skyddat digitalt vårdmöte" in text_of(client.get(f"/inkorg/meddelanden/{message_id}").text)


def test_a_samordningsnummer_books_a_new_patient_the_service_did_not_know(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User
) -> None:

    number = coordination_number(years_ago(30))
    response = post(client, headers, appointment(number))

    assert response.status_code == 201, response.text
    assert people(resource(response))[0] == ("Patient", "urn:oid:1.2.752.129.2.1.3.3", number.digits, None)
    assert counts(ctx)["patients"] == 1


def test_the_booking_is_audited_with_the_clients_name_and_no_personnummer(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    answer = resource(post(client, headers, appointment(karin.number)))

    with ctx.db.session() as s:
        meeting_id = s.scalar(select(JournalAppointment.meeting_id))
    assert audit_entries(ctx) == [
        (
            "client:Cosmic",
            "fhir.appointment.created",
            meeting_id,
            {"appointment": answer.id, "patient": karin.id, "clinician": "user:annika", "version": 1},
        )
    ]
    # What the journal system did is audited as its own, never as the clinician's.
    assert [(a, b) for a, b, m, _ in audit_entries(ctx, "") if m == meeting_id] == [
        ("client:Cosmic", "meeting.booked"),
        ("client:Cosmic", "link.created"),
        ("client:Cosmic", "message.sent"),
        ("client:Cosmic", "fhir.appointment.created"),
    ]
    text = all_audit_text(ctx)
    assert karin.number.digits not in text
    assert karin.number.digits[:8] not in text


# --- the clinician's account -------------------------------------------------------------------


def test_without_provisioning_a_clinician_without_an_account_is_refused(
    ctx: Context, client: TestClient, headers: dict[str, str], karin: Person
) -> None:
    before = counts(ctx)
    response = post(client, headers, appointment(karin.number, hsa_id="SE2321000016-ZZ99"))

    assert response.status_code == 422
    assert outcome(response) == (
        "not-found",
        "Vårdpersonalen med detta HSA-id har inget konto i Vårdmöte. Be en administratör lägga till "
        "kontot, eller be vårdpersonalen logga in en gång först.",
        "The practitioner with this HSA-id has no account in Vårdmöte. Ask an administrator to add it, "
        "or have the practitioner sign in once first.",
        "Appointment.participant.actor.identifier",
    )
    assert counts(ctx) == before


class TestProvisioning:
    """With VARDMOTE_FHIR_PROVISION_CLINICIANS the clinician's account is made from the Appointment."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, fhir_provision_clinicians=True)

    def test_the_account_is_made_from_the_hsa_id_and_display_name_without_a_password(
        self, ctx: Context, client: TestClient, headers: dict[str, str], karin: Person
    ) -> None:
        body = appointment(karin.number, hsa_id="se2321000016-zz99")
        body["participant"][1] = clinician_actor("se2321000016-zz99", "Zlatan Zetterberg")
        response = post(client, headers, body)

        assert response.status_code == 201, response.text
        with ctx.db.session() as s:
            user = s.scalar(select(User).where(User.hsa_id == "SE2321000016-ZZ99"))
            assert user is not None
            assert (user.username, user.display_name, user.role, user.active) == (
                "se2321000016-zz99",
                "Zlatan Zetterberg",
                "clinician",
                True,
            )
            assert not verify_password(user.password_hash, "!")
            assert not verify_password(user.password_hash, "")
            meeting = s.scalar(select(Meeting))
            assert meeting is not None
            assert meeting.organiser_id == user.id
        provisioned = [(a, d) for a, b, _, d in audit_entries(ctx, "user.") if b == "user.provisioned"]
        assert provisioned == [
            (
                "client:Cosmic",
                {
                    "username": "se2321000016-zz99",
                    "hsa_id": "SE2321000016-ZZ99",
                    "role": "clinician",
                    "by": "fhir",
                },
            )
        ]

    def test_an_account_with_the_hsa_ids_username_but_without_the_hsa_id_is_not_taken_over(
        self, ctx: Context, client: TestClient, headers: dict[str, str], karin: Person
    ) -> None:
        make_user(ctx, "se2321000016-zz99")
        before = counts(ctx)
        body = appointment(karin.number, hsa_id="SE2321000016-ZZ99")
        body["participant"][1] = clinician_actor("SE2321000016-ZZ99", "Zlatan Zetterberg")

        response = post(client, headers, body)

        assert response.status_code == 422
        assert outcome(response) == (
            "conflict",
            "Det finns redan ett konto med HSA-id:t som användarnamn men utan HSA-id. Be en "
            "administratör rätta kontot.",
            "An account with the HSA-id as its username but without the HSA-id exists already. "
            "Ask an administrator to correct it.",
            "Appointment.participant.actor.identifier",
        )
        assert counts(ctx) == before

    def test_a_second_booking_finds_the_account_made_by_the_first(
        self, ctx: Context, client: TestClient, headers: dict[str, str], karin: Person
    ) -> None:
        for days in (3, 4):
            body = appointment(karin.number, hsa_id="SE2321000016-ZZ99", start=at(days))
            body["participant"][1] = clinician_actor("SE2321000016-ZZ99", "Zlatan Zetterberg")
            assert post(client, headers, body).status_code == 201
        assert counts(ctx)["users"] == 1

    def test_without_a_display_name_no_account_can_be_made(
        self, ctx: Context, client: TestClient, headers: dict[str, str], karin: Person
    ) -> None:
        before = counts(ctx)
        body = appointment(karin.number, hsa_id="SE2321000016-ZZ99")
        body["participant"][1] = clinician_actor("SE2321000016-ZZ99", None)
        response = post(client, headers, body)

        assert response.status_code == 422
        code, swedish, _, path = outcome(response)
        assert (code, path) == ("required", "Appointment.participant.actor.display")
        assert swedish == (
            "Vårdpersonalen har inget konto i Vårdmöte ännu: ange namnet (actor.display, högst 200 tecken) "
            "så att kontot kan skapas."
        )
        assert counts(ctx) == before


def test_a_deactivated_clinician_is_not_booked(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    with ctx.db.session() as s:
        row = s.get(User, annika.id)
        assert row is not None
        row.active = False
    before = counts(ctx)
    response = post(client, headers, appointment(karin.number))
    assert response.status_code == 422
    assert outcome(response)[1] == "Vårdpersonalens konto i Vårdmöte är inaktiverat."
    assert counts(ctx) == before


# --- refusals: a clear 4xx each, nothing made --------------------------------------------------


def _without(body: dict[str, Any], index: int) -> dict[str, Any]:
    body["participant"] = [p for i, p in enumerate(body["participant"]) if i != index]
    return body


def _patient_system(body: dict[str, Any], system: str) -> dict[str, Any]:
    body["participant"][0]["actor"]["identifier"]["system"] = system
    return body


def _patient_value(body: dict[str, Any], value: str) -> dict[str, Any]:
    body["participant"][0]["actor"]["identifier"]["value"] = value
    return body


@pytest.mark.parametrize(
    ("change", "status", "code", "swedish", "path"),
    [
        pytest.param(
            lambda b: _patient_system(b, "urn:oid:1.2.752.129.2.1.3.9"),
            422,
            "code-invalid",
            "Okänt identifierarsystem för patienten. Använd personnummer (urn:oid:1.2.752.129.2.1.3.1) "
            "eller samordningsnummer (urn:oid:1.2.752.129.2.1.3.3).",
            "Appointment.participant[0].actor.identifier.system",
            id="unknown-patient-system",
        ),
        pytest.param(
            lambda b: _patient_value(b, "191212121213"),
            422,
            "value",
            "Personnumret är inte giltigt: kontrollsiffran stämmer inte.",
            "Appointment.participant[0].actor.identifier.value",
            id="invalid-personnummer",
        ),
        pytest.param(
            lambda b: b | {"start": instant(at(-1)), "end": instant(at(-1, 9, 30))},
            422,
            "business-rule",
            "Starttiden har redan passerat.",
            "Appointment.start",
            id="time-in-the-past",
        ),
        pytest.param(
            lambda b: b | {"end": instant(at(3, 8, 30))},
            422,
            "business-rule",
            "Sluttiden måste vara efter starttiden.",
            "Appointment.end",
            id="end-before-start",
        ),
        pytest.param(
            lambda b: b | {"end": b["start"]},
            422,
            "business-rule",
            "Sluttiden måste vara efter starttiden.",
            "Appointment.end",
            id="end-at-start",
        ),
        pytest.param(
            lambda b: b | {"end": instant(at(3, 21, 30))},
            422,
            "business-rule",
            "Ett möte kan vara högst 12 timmar långt.",
            "Appointment.end",
            id="longer-than-12-hours",
        ),
        pytest.param(
            lambda b: b | {"start": instant(at(800)), "end": instant(at(800, 9, 30))},
            422,
            "business-rule",
            "Möten kan bokas högst två år framåt.",
            "Appointment.start",
            id="too-far-ahead",
        ),
        pytest.param(
            lambda b: _without(b, 0),
            422,
            "required",
            "Patienten saknas bland deltagarna (personnummer eller samordningsnummer).",
            "Appointment.participant",
            id="no-patient",
        ),
        pytest.param(
            lambda b: _without(b, 1),
            422,
            "required",
            "Vårdpersonalen saknas bland deltagarna (HSA-id).",
            "Appointment.participant",
            id="no-clinician",
        ),
        pytest.param(
            lambda b: b | {"participant": []},
            422,
            "required",
            "Patienten saknas bland deltagarna (personnummer eller samordningsnummer).",
            "Appointment.participant",
            id="no-participant-at-all",
        ),
        pytest.param(
            lambda b: {k: v for k, v in b.items() if k != "participant"},
            400,
            "required",
            "Appointment följer inte FHIR R4: Appointment.participant saknas.",
            "Appointment.participant",
            id="participant-left-out",
        ),
        pytest.param(
            lambda b: b | {"participant": [*b["participant"], patient_actor("191212121212")]},
            422,
            "business-rule",
            "Ett digitalt vårdmöte har en patient och en vårdpersonal, inte fler.",
            "Appointment.participant[2].actor",
            id="two-patients",
        ),
        pytest.param(
            lambda b: b | {"participant": [{"actor": {"reference": "Patient/1"}, "status": "accepted"}]},
            422,
            "not-supported",
            "Varje deltagare anges med actor.identifier (personnummer, samordningsnummer eller HSA-id); "
            "referenser till resurser stöds inte.",
            "Appointment.participant[0].actor",
            id="literal-reference",
        ),
        pytest.param(
            lambda b: (
                b
                | {
                    "participant": [
                        *b["participant"],
                        {
                            "actor": {"type": "Location", "identifier": {"system": "x", "value": "y"}},
                            "status": "accepted",
                        },
                    ]
                }
            ),
            422,
            "not-supported",
            "En deltagare ska vara patienten (Patient) eller vårdpersonalen (Practitioner).",
            "Appointment.participant[2].actor.type",
            id="a-location",
        ),
        pytest.param(
            lambda b: b | {"status": "proposed"},
            422,
            "value",
            "Status ska vara booked (eller cancelled för att avboka).",
            "Appointment.status",
            id="status-proposed",
        ),
        pytest.param(
            lambda b: b | {"status": "cancelled"},
            422,
            "value",
            "En ny bokning ska ha status booked.",
            "Appointment.status",
            id="new-and-cancelled",
        ),
        pytest.param(
            lambda b: {k: v for k, v in b.items() if k != "end"},
            422,
            "required",
            "Start- och sluttid (start, end) måste anges.",
            "Appointment.end",
            id="no-end",
        ),
        pytest.param(
            lambda b: b | {"start": "2030-01-01T09:00:00"},
            400,
            "invalid",
            "Appointment följer inte FHIR R4: Appointment.start är ogiltigt.",
            "Appointment.start",
            id="start-without-zone",
        ),
        pytest.param(
            lambda b: b | {"start": "0001-01-01T00:30:00+01:00", "end": "0001-01-01T01:30:00+01:00"},
            422,
            "value",
            "Tiden ligger utanför åren 1–9999 (i UTC).",
            "Appointment.start",
            id="start-before-year-1-in-utc",
        ),
        pytest.param(
            lambda b: b | {"end": "9999-12-31T23:30:00-01:00"},
            422,
            "value",
            "Tiden ligger utanför åren 1–9999 (i UTC).",
            "Appointment.end",
            id="end-after-year-9999-in-utc",
        ),
        pytest.param(
            lambda b: b | {"resourceType": "Patient"},
            400,
            "invalid",
            "Resursen ska vara en Appointment (resourceType).",
            "resourceType",
            id="wrong-resource-type",
        ),
        pytest.param(
            lambda b: {k: v for k, v in b.items() if k != "resourceType"},
            400,
            "invalid",
            "Resursen ska vara en Appointment (resourceType).",
            "resourceType",
            id="no-resource-type",
        ),
        pytest.param(
            lambda b: b | {"comment": 17},
            400,
            "invalid",
            "Appointment följer inte FHIR R4: Appointment.comment är ogiltigt.",
            "Appointment.comment",
            id="wrong-type-of-field",
        ),
        pytest.param(
            lambda b: b | {"weather": "sunny"},
            400,
            "invalid",
            "Appointment följer inte FHIR R4: Appointment.weather är ogiltigt.",
            "Appointment.weather",
            id="unknown-field",
        ),
    ],
)
def test_a_bad_appointment_is_refused_with_an_operation_outcome_and_nothing_is_made(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    annika: User,
    karin: Person,
    change: Any,
    status: int,
    code: str,
    swedish: str,
    path: str,
) -> None:
    before = counts(ctx)
    response = post(client, headers, change(appointment(karin.number)))

    assert response.status_code == status, response.text
    got_code, got_swedish, english, got_path = outcome(response)
    assert (got_code, got_swedish, got_path) == (code, swedish, path)
    assert english
    assert english != swedish
    assert karin.number.digits not in response.text
    assert counts(ctx) == before
    assert audit_entries(ctx) == [
        (
            "client:Cosmic",
            "fhir.appointment.refused",
            None,
            {"interaction": "create", "status": status, "issue": code},
        )
    ]


@pytest.mark.parametrize(
    ("body", "code", "swedish"),
    [
        pytest.param(b"{not json", "structure", "Innehållet är inte giltig JSON.", id="not-json"),
        pytest.param(b"\xff\xfe", "structure", "Innehållet är inte giltig JSON.", id="not-utf8"),
        pytest.param(b"", "structure", "Innehållet är inte giltig JSON.", id="empty"),
        pytest.param(
            b'[{"resourceType": "Appointment"}]',
            "structure",
            "Innehållet ska vara en FHIR-resurs (ett JSON-objekt).",
            id="an-array",
        ),
    ],
)
def test_a_body_that_is_not_a_resource_is_refused(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    annika: User,
    body: bytes,
    code: str,
    swedish: str,
) -> None:
    before = counts(ctx)
    response = post(client, headers, body)
    assert response.status_code == 400
    assert outcome(response)[:2] == (code, swedish)
    assert counts(ctx) == before


def test_a_body_that_is_not_fhir_json_is_refused_as_unsupported_media(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    response = client.post(
        APPOINTMENTS, content=b"<Appointment/>", headers=headers | {"Content-Type": "application/fhir+xml"}
    )
    assert response.status_code == 415
    assert outcome(response)[:2] == (
        "not-supported",
        "Skicka resursen som application/fhir+json (eller application/json).",
    )


def test_plain_application_json_is_taken_too(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    import json

    response = client.post(
        APPOINTMENTS,
        content=json.dumps(appointment(karin.number)).encode(),
        headers=headers | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == FHIR_JSON


def test_a_body_over_the_limit_is_refused_as_too_long(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User
) -> None:
    response = post(client, headers, b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert response.status_code == 413
    assert outcome(response)[:2] == ("too-long", "Begäran är för stor.")


# --- overlaps ----------------------------------------------------------------------------------


def test_an_overlapping_appointment_of_the_same_clinician_is_a_conflict(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    per = add_person(ctx, "Per Holm", years_ago(61), "239")
    assert post(client, headers, appointment(karin.number, start=at(3, 9))).status_code == 201
    before = counts(ctx)

    response = post(client, headers, appointment(per.number, start=at(3, 9, 15)))

    assert response.status_code == 409
    assert outcome(response) == (
        "conflict",
        "Vårdpersonalen har redan ett möte som överlappar den tiden.",
        "The practitioner already has a meeting that overlaps this time.",
        "Appointment.start",
    )
    assert counts(ctx) == before
    # Back to back is no overlap.
    assert post(client, headers, appointment(per.number, start=at(3, 9, 30))).status_code == 201


def test_an_overlapping_appointment_of_the_same_patient_is_a_conflict(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    clinician_with_hsa_id(ctx, "bertil", "SE2321000016-B3C4")
    assert post(client, headers, appointment(karin.number, start=at(3, 9))).status_code == 201
    before = counts(ctx)

    response = post(
        client, headers, appointment(karin.number, hsa_id="SE2321000016-B3C4", start=at(3, 8, 45))
    )

    assert response.status_code == 409
    assert outcome(response)[1] == "Patienten har redan ett digitalt vårdmöte som överlappar den tiden."
    assert counts(ctx) == before


def test_a_meeting_the_clinician_booked_in_vardmote_counts_as_an_overlap(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    from vardmote.meetings.booking import BookingForm
    from vardmote.meetings.service import book

    with ctx.db.session() as s:
        user = s.get(User, annika.id)
        assert user is not None
        book(ctx, s, user, BookingForm("Rond", instant(at(3, 9, 20)), instant(at(3, 10))), "internt")
    response = post(client, headers, appointment(karin.number, start=at(3, 9)))
    assert response.status_code == 409


def test_a_meeting_whose_link_was_sent_to_the_patients_inbox_counts_as_an_overlap_until_withdrawn(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    from vardmote.invitations import sending
    from vardmote.meetings.booking import BookingForm
    from vardmote.meetings.service import book

    bertil = clinician_with_hsa_id(ctx, "bertil", "SE2321000016-B3C4")
    with ctx.db.session() as s:  # Bertil books Karin in Vårdmöte and sends her the link
        user = s.get(User, bertil.id)
        assert user is not None
        form = BookingForm("Uppföljning", instant(at(3, 9, 15)), instant(at(3, 9, 45)))
        (meeting,) = book(ctx, s, user, form, "vardmote_patient")
        sending.send_message(
            ctx,
            s,
            user,
            meeting,
            personnummer=karin.number.digits,
            kind="patient",
            template_key="skyddat-digitalt-vardmote",
            together=False,
        )
        meeting_id = meeting.id
    before = counts(ctx)

    response = post(client, headers, appointment(karin.number, start=at(3, 9)))

    assert response.status_code == 409
    assert outcome(response)[1] == "Patienten har redan ett digitalt vårdmöte som överlappar den tiden."
    assert counts(ctx) == before
    with ctx.db.session() as s:  # Bertil withdraws her link: the time is free for her
        sent = s.get(Meeting, meeting_id)
        assert sent is not None
        (recipient,) = sending.recipients_of(s, sent)
        sending.remove_recipient(ctx, s, "user:bertil", sent, recipient)
    assert post(client, headers, appointment(karin.number, start=at(3, 9))).status_code == 201


# --- authentication ----------------------------------------------------------------------------


def test_without_a_token_the_call_is_refused_with_a_bearer_challenge(
    ctx: Context, client: TestClient, annika: User, karin: Person
) -> None:
    before = counts(ctx)
    response = post(client, {}, appointment(karin.number))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="vardmote"'
    assert outcome(response)[:3] == (
        "login",
        "Anropet saknar åtkomsttoken. Hämta ett på /oauth/token och skicka det som Authorization: Bearer.",
        "The request has no access token. Get one at /oauth/token and send it as Authorization: Bearer.",
    )
    assert counts(ctx) == before
    assert audit_entries(ctx) == []


def test_a_token_without_the_create_scope_is_forbidden(
    ctx: Context, client: TestClient, annika: User, karin: Person
) -> None:
    reader = register_journal_system(ctx, "Läsaren", scopes="system/Appointment.rs")
    before = counts(ctx)
    response = post(client, bearer_headers(client, reader), appointment(karin.number))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert outcome(response)[:2] == (
        "forbidden",
        "Journalsystemet har inte behörighet att skapa Appointment "
        "(behörigheten system/Appointment.c saknas).",
    )
    assert counts(ctx) == before
    assert audit_entries(ctx) == [
        (
            "client:Läsaren",
            "fhir.appointment.refused",
            None,
            {"interaction": "create", "status": 403, "issue": "forbidden"},
        )
    ]


class TestNothingHalfMade:
    """An error at the very end of a booking leaves nothing of it: account, patient, meeting,
    link, message and Appointment go together or not at all."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, fhir_provision_clinicians=True)

    def test_a_failure_after_everything_was_written_rolls_all_of_it_back(
        self, ctx: Context, client: TestClient, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from vardmote.fhir import service
        from vardmote.fhir.outcome import FhirError, IssueType

        real = service.record

        def failing(s: Any, actor: str, action: str, *args: Any, **kwargs: Any) -> Any:
            if action == "fhir.appointment.created":
                raise FhirError(409, IssueType.CONFLICT, "Något kom emellan.", "Something came between.")
            return real(s, actor, action, *args, **kwargs)

        monkeypatch.setattr(service, "record", failing)
        newcomer = skv_number(years_ago(41))  # a number no one holds yet
        before = counts(ctx)
        body = appointment(newcomer, hsa_id="SE2321000016-NY01")
        body["participant"][1] = clinician_actor("SE2321000016-NY01", "Ny Nysson")

        response = post(client, headers, body)

        assert response.status_code == 409
        assert outcome(response)[1] == "Något kom emellan."
        assert counts(ctx) == before
        assert before["patients"] == 0
        assert before["users"] == 0
