"""After the booking: the journal system reads and finds its Appointments, moves one (the inbox
message shows the new time and is unread again) and cancels one (the message's link is withdrawn);
versions and If-Match; another journal system's Appointments stay out of sight."""

from __future__ import annotations

import datetime as dt
from typing import Any

import fhir_people
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.appointment import Appointment
from fhir_helpers import (
    ANNIKA_HSA,
    APPOINTMENTS,
    BERTIL_HSA,
    all_audit_text,
    appointment,
    at,
    audit_entries,
    bundle,
    counts,
    instant,
    open_inbox,
    outcome,
    post,
    put,
    resource,
)
from inbox_helpers import Person, add_person, text_of, years_ago
from sqlalchemy import select

from fhir_clients import bearer_headers, register_journal_system
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.fhir.models import JournalAppointment
from vardmote.invitations.models import InboxMessage, MeetingRecipient
from vardmote.meetings import service as meetings
from vardmote.meetings.events import MeetingCancelled, MeetingChanged
from vardmote.meetings.models import Meeting

DATE_FORM = (
    "date ska skrivas [prefix]ÅÅÅÅ[-MM[-DD[Thh:mm[:ss][zon]]]], med prefixen eq, ne, gt, ge, lt eller le."
)
USE = "Använd patient:identifier, practitioner:identifier, date, status, _count, _offset, _format."
NOT_FOUND = "Det finns ingen Appointment med det id:t (för det här journalsystemet)."

annika = fhir_people.annika
bertil = fhir_people.bertil
cosmic = fhir_people.cosmic
headers = fhir_people.headers
karin = fhir_people.karin
per = fhir_people.per


def _book(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Appointment:
    response = post(client, headers, body)
    assert response.status_code == 201, response.text
    return resource(response)


def _json(answer: Appointment) -> dict[str, Any]:
    """_json is an answer as the journal system keeps it, to change and send back."""
    data: dict[str, Any] = answer.model_dump(mode="json", exclude_none=True)
    return data


def _meeting(ctx: Context, appointment_id: str) -> Meeting:
    with ctx.db.session() as s:
        row = s.get(JournalAppointment, appointment_id)
        assert row is not None
        meeting = row.meeting
        s.expunge(meeting)
        return meeting


# --- read --------------------------------------------------------------------------------------


def test_the_journal_reads_its_appointment_back_as_it_was_answered(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))

    response = client.get(f"{APPOINTMENTS}/{booked.id}", headers=headers)

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert "location" not in response.headers
    assert resource(response) == booked
    assert audit_entries(ctx)[-1][:2] == ("client:Cosmic", "fhir.appointment.read")


@pytest.mark.parametrize(
    "appointment_id",
    [
        pytest.param("00000000-0000-4000-8000-000000000000", id="unknown-uuid"),
        pytest.param("not-a-uuid", id="not-a-uuid"),
        pytest.param("'; DROP TABLE meetings; --", id="sql"),
    ],
)
def test_an_unknown_id_is_not_found(
    ctx: Context, client: TestClient, headers: dict[str, str], appointment_id: str
) -> None:
    response = client.get(f"{APPOINTMENTS}/{appointment_id}", headers=headers)
    assert response.status_code == 404
    assert outcome(response)[:2] == ("not-found", NOT_FOUND)


def test_another_journal_systems_appointment_is_not_found_exactly_as_an_unknown_one(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    melior = bearer_headers(client, register_journal_system(ctx, "Melior"))

    read = client.get(f"{APPOINTMENTS}/{booked.id}", headers=melior)
    changed = put(client, melior, str(booked.id), _json(booked) | {"status": "cancelled"})
    found = bundle(client.get(APPOINTMENTS, headers=melior))

    assert (read.status_code, outcome(read)[1]) == (404, NOT_FOUND)
    assert (changed.status_code, outcome(changed)[1]) == (404, NOT_FOUND)
    assert found.total == 0
    assert _meeting(ctx, str(booked.id)).cancelled_at is None


def test_reading_needs_the_read_scope(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    booker = register_journal_system(ctx, "Bokaren", scopes="system/Appointment.c")
    response = client.get(f"{APPOINTMENTS}/{booked.id}", headers=bearer_headers(client, booker))
    assert response.status_code == 403
    assert outcome(response)[0] == "forbidden"
    assert audit_entries(ctx)[-1] == (
        "client:Bokaren",
        "fhir.appointment.refused",
        None,
        {"interaction": "read", "status": 403, "issue": "forbidden"},
    )


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def three(
    client: TestClient, headers: dict[str, str], annika: User, bertil: User, karin: Person, per: Person
) -> dict[str, str]:
    """three are Karin with Annika in 3 days, Per with Bertil in 3 days and Karin with Bertil in
    10 days (cancelled): their ids by a name."""
    made = {
        "karin-annika": _book(client, headers, appointment(karin.number, start=at(3, 9))),
        "per-bertil": _book(client, headers, appointment(per.number, hsa_id=BERTIL_HSA, start=at(3, 9))),
        "karin-bertil": _book(
            client, headers, appointment(karin.number, hsa_id=BERTIL_HSA, start=at(10, 14))
        ),
    }
    cancelled = put(
        client, headers, str(made["karin-bertil"].id), _json(made["karin-bertil"]) | {"status": "cancelled"}
    )
    assert cancelled.status_code == 200, cancelled.text
    return {name: str(answer.id) for name, answer in made.items()}


def _found(client: TestClient, headers: dict[str, str], query: str) -> list[str]:
    answer = bundle(client.get(f"{APPOINTMENTS}?{query}", headers=headers))
    assert answer.type == "searchset"
    entries = answer.entry or []
    assert answer.total == len(entries)
    ids = []
    for entry in entries:
        assert entry.resource is not None
        assert entry.fullUrl == f"http://vardmote.test{APPOINTMENTS}/{entry.resource.id}"
        assert entry.search is not None
        assert entry.search.mode == "match"
        ids.append(str(entry.resource.id))
    return ids


def test_search_by_patient_identifier(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    three: dict[str, str],
    karin: Person,
    per: Person,
) -> None:
    pnr = "urn:oid:1.2.752.129.2.1.3.1"
    assert _found(client, headers, f"patient:identifier={pnr}|{karin.number.digits}") == [
        three["karin-annika"],
        three["karin-bertil"],
    ]
    both = f"{pnr}|{karin.number.digits},{pnr}|{per.number.digits}"
    assert len(_found(client, headers, f"patient:identifier={both}")) == 3
    stranger = add_person(ctx, "Sara Ny", years_ago(33), "238")
    assert _found(client, headers, f"patient:identifier={pnr}|{stranger.number.digits}") == []


def test_search_by_practitioner_identifier_status_and_date(
    client: TestClient, headers: dict[str, str], three: dict[str, str]
) -> None:
    hsa = "urn:oid:1.2.752.29.4.19"
    assert _found(client, headers, f"practitioner:identifier={hsa}|{BERTIL_HSA}") == [
        three["per-bertil"],
        three["karin-bertil"],
    ]
    assert _found(client, headers, f"practitioner:identifier={hsa}|{ANNIKA_HSA.lower()}") == [
        three["karin-annika"]
    ]
    assert _found(client, headers, "status=cancelled") == [three["karin-bertil"]]
    assert len(_found(client, headers, "status=booked")) == 2
    assert len(_found(client, headers, "status=booked,cancelled")) == 3
    day3 = at(3).date().isoformat()
    assert len(_found(client, headers, f"date={day3}")) == 2
    assert len(_found(client, headers, f"date=ge{day3}&date=lt{at(4).date().isoformat()}")) == 2
    assert _found(client, headers, f"date=gt{day3}") == [three["karin-bertil"]]
    assert _found(client, headers, f"date=ne{day3}") == [three["karin-bertil"]]
    assert len(_found(client, headers, f"date=le{day3}")) == 2
    assert _found(client, headers, f"date=lt{day3}") == []
    exact = instant(at(10, 14)).replace("+", "%2B")
    assert _found(client, headers, f"date={exact}") == [three["karin-bertil"]]
    assert _found(client, headers, f"date={at(10).date().isoformat()}T14:00") == [three["karin-bertil"]]
    assert _found(client, headers, f"date={at(10).date().isoformat()}T14:01") == []
    assert _found(client, headers, f"status=booked&practitioner:identifier={hsa}|{BERTIL_HSA}") == [
        three["per-bertil"]
    ]


def test_search_is_paged_with_a_next_link(
    ctx: Context, client: TestClient, headers: dict[str, str], three: dict[str, str]
) -> None:
    first = bundle(client.get(f"{APPOINTMENTS}?_count=2", headers=headers))
    assert first.total == 3
    assert len(first.entry or []) == 2
    links = {link.relation: link.url for link in first.link or []}
    assert links["self"] == f"http://vardmote.test{APPOINTMENTS}?_count=2"
    assert links["next"] == f"http://vardmote.test{APPOINTMENTS}?_count=2&_offset=2"
    second = bundle(client.get(str(links["next"]).removeprefix("http://vardmote.test"), headers=headers))
    assert len(second.entry or []) == 1
    assert "next" not in {link.relation for link in second.link or []}


def test_the_search_is_audited_by_parameter_names_never_their_values(
    ctx: Context, client: TestClient, headers: dict[str, str], three: dict[str, str], karin: Person
) -> None:
    pnr = "urn:oid:1.2.752.129.2.1.3.1"
    _found(client, headers, f"patient:identifier={pnr}|{karin.number.digits}&status=booked")
    assert audit_entries(ctx)[-1] == (
        "client:Cosmic",
        "fhir.appointment.searched",
        None,
        {"parameters": ["patient:identifier", "status"], "matches": 1},
    )
    assert karin.number.digits not in all_audit_text(ctx)


DATE_FORM = (
    "date ska skrivas [prefix]ÅÅÅÅ[-MM[-DD[Thh:mm[:ss][zon]]]], med prefixen eq, ne, gt, ge, lt eller le."
)


@pytest.mark.parametrize(
    ("query", "status", "code", "swedish"),
    [
        pytest.param(
            "patient=Patient/1",
            400,
            "not-supported",
            f"Sökparametern 'patient' stöds inte. {USE}",
            id="plain-reference",
        ),
        pytest.param(
            "patient.identifier=urn:oid:1.2.752.129.2.1.3.1|191212121212",
            400,
            "not-supported",
            f"Sökparametern 'patient.identifier' stöds inte. {USE}",
            id="chained",
        ),
        pytest.param(
            "patinet:identifier=urn:oid:1.2.752.129.2.1.3.1|191212121212",
            400,
            "not-supported",
            f"Sökparametern 'patinet:identifier' stöds inte. {USE}",
            id="misspelled",
        ),
        pytest.param(
            "patient:identifier=191212121212",
            400,
            "invalid",
            "patient:identifier ska skrivas system|värde.",
            id="no-system",
        ),
        pytest.param(
            "patient:identifier=urn:oid:1.2.752.129.2.1.3.1|191212121213",
            422,
            "value",
            "Personnumret är inte giltigt: kontrollsiffran stämmer inte.",
            id="bad-personnummer",
        ),
        pytest.param(
            "patient:identifier=urn:oid:9.9|191212121212",
            422,
            "code-invalid",
            "Okänt identifierarsystem för patienten. Använd personnummer (urn:oid:1.2.752.129.2.1.3.1) "
            "eller samordningsnummer (urn:oid:1.2.752.129.2.1.3.3).",
            id="unknown-system",
        ),
        pytest.param(
            "status=booked&status=cancelled",
            400,
            "invalid",
            "Ange status en gång (flera värden skiljs med komma).",
            id="status-twice",
        ),
        pytest.param(
            "status=noshow", 400, "value", "status kan vara booked eller cancelled.", id="unknown-status"
        ),
        pytest.param(
            "date=sa2030-01-01",
            400,
            "not-supported",
            "Prefixet sa stöds inte för date; använd eq, ne, gt, ge, lt eller le.",
            id="date-prefix-sa",
        ),
        pytest.param(
            "date=2030-02-30",
            400,
            "value",
            DATE_FORM,
            id="no-such-day",
        ),
        pytest.param(
            "date=tomorrow",
            400,
            "value",
            DATE_FORM,
            id="not-a-date",
        ),
        pytest.param(
            "_count=0", 400, "value", "_count ska vara ett heltal från 1 till 100.", id="count-zero"
        ),
        pytest.param(
            "_count=101", 400, "value", "_count ska vara ett heltal från 1 till 100.", id="count-large"
        ),
        pytest.param(
            "_offset=-1", 400, "value", "_offset ska vara ett heltal från 0 till 100000.", id="offset"
        ),
        pytest.param(
            "date=0001-01-01T00:30:00+01:00", 400, "value", DATE_FORM, id="date-before-year-1-in-utc"
        ),
        pytest.param(
            "date=9999-12-31T23:30:00-01:00", 400, "value", DATE_FORM, id="date-after-year-9999-in-utc"
        ),
        pytest.param("date=0001-01-01", 400, "value", DATE_FORM, id="first-day-before-year-1-in-utc"),
        pytest.param("date=9999-12-31", 400, "value", DATE_FORM, id="last-day"),
        pytest.param("date=9999-12-31T23:59:59Z", 400, "value", DATE_FORM, id="last-second"),
        pytest.param(
            "_format=xml",
            406,
            "not-supported",
            "Vårdmöte svarar bara med JSON (application/fhir+json).",
            id="xml",
        ),
    ],
)
def test_a_search_the_endpoint_cannot_do_exactly_is_refused_rather_than_widened(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    query: str,
    status: int,
    code: str,
    swedish: str,
) -> None:
    response = client.get(f"{APPOINTMENTS}?{query}", headers=headers)
    assert response.status_code == status, response.text
    assert outcome(response)[:2] == (code, swedish)


# --- moving ------------------------------------------------------------------------------------


def test_a_new_time_moves_the_meeting_and_the_message_shows_it_unread_again(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number, start=at(3, 9)))
    with ctx.db.session() as s:
        (message,) = s.scalars(select(InboxMessage))
        message.read_at = dt.datetime.now(dt.UTC)
        message_id = message.id
    moved_to = at(5, 13, 15)
    body = _json(booked) | {"start": instant(moved_to), "end": instant(moved_to + dt.timedelta(minutes=45))}
    told: list[MeetingChanged] = []
    ctx.events.subscribe(MeetingChanged, told.append)  # as the live meetings are (web.live_booking)

    response = put(client, headers, str(booked.id), body, **{"If-Match": 'W/"1"'})

    assert response.status_code == 200, response.text
    answer = resource(response)
    assert response.headers["etag"] == 'W/"2"'
    assert answer.meta is not None
    assert answer.meta.versionId == "2"
    assert (answer.start, answer.end) == (moved_to, moved_to + dt.timedelta(minutes=45))
    meeting = _meeting(ctx, str(booked.id))
    assert (meeting.starts_at, meeting.ends_at) == (moved_to, moved_to + dt.timedelta(minutes=45))
    assert meeting.sequence == 1
    assert told == [MeetingChanged(meeting.id, "client:Cosmic")]
    with ctx.db.session() as s:
        assert s.scalar(select(InboxMessage.read_at).where(InboxMessage.id == message_id)) is None
    open_inbox(ctx, client, karin.id)
    text = text_of(client.get(f"/inkorg/meddelanden/{message_id}").text)
    assert f"Datum: {moved_to.date().isoformat()}" in text
    assert "Tid: klockan 13:15" in text
    actions = [(actor, action) for actor, action, _, _ in audit_entries(ctx, "")]
    assert ("client:Cosmic", "meeting.changed") in actions
    assert ("client:Cosmic", "message.updated") in actions
    assert audit_entries(ctx)[-1][1:] == (
        "fhir.appointment.updated",
        meeting.id,
        {"appointment": booked.id, "changed": ["start", "end"], "version": 2},
    )


def test_the_same_appointment_sent_again_changes_nothing(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    response = put(client, headers, str(booked.id), _json(booked))
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert _meeting(ctx, str(booked.id)).sequence == 0
    assert audit_entries(ctx)[-1][3]["changed"] == []


def test_new_identifiers_from_the_journal_are_kept_as_a_new_version(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    ids = [{"system": "urn:oid:1.2.752.74.9.1", "value": "cosmic-4712"}]
    answer = resource(put(client, headers, str(booked.id), _json(booked) | {"identifier": ids}))
    assert [(i.system, i.value) for i in answer.identifier or []] == [
        ("urn:oid:1.2.752.74.9.1", "cosmic-4712")
    ]
    assert answer.meta is not None
    assert answer.meta.versionId == "2"


def test_a_move_onto_another_appointment_of_the_clinician_is_a_conflict(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person, per: Person
) -> None:
    first = _book(client, headers, appointment(karin.number, start=at(3, 9)))
    _book(client, headers, appointment(per.number, start=at(3, 10)))
    body = _json(first) | {"start": instant(at(3, 9, 45)), "end": instant(at(3, 10, 15))}
    response = put(client, headers, str(first.id), body)
    assert response.status_code == 409
    assert outcome(response)[1] == "Vårdpersonalen har redan ett möte som överlappar den tiden."
    assert _meeting(ctx, str(first.id)).starts_at == at(3, 9)
    # A move within its own time is no overlap with itself.
    later = _json(first) | {"start": instant(at(3, 9, 15)), "end": instant(at(3, 9, 45))}
    assert put(client, headers, str(first.id), later).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "code", "swedish"),
    [
        pytest.param(
            lambda b, other: b | {"participant": [other["participant"][0], b["participant"][1]]},
            422,
            "business-rule",
            "Patienten och vårdpersonalen kan inte bytas i en bokning. Avboka och boka en ny tid.",
            id="another-patient",
        ),
        pytest.param(
            lambda b, other: b | {"start": instant(at(-2)), "end": instant(at(-2, 9, 30))},
            422,
            "business-rule",
            "Starttiden har redan passerat.",
            id="into-the-past",
        ),
        pytest.param(
            lambda b, other: b | {"id": "00000000-0000-4000-8000-000000000000"},
            400,
            "invalid",
            "Resursens id måste vara detsamma som i adressen.",
            id="another-id",
        ),
        pytest.param(
            lambda b, other: {k: v for k, v in b.items() if k != "id"},
            400,
            "invalid",
            "Resursens id måste vara detsamma som i adressen.",
            id="no-id",
        ),
        pytest.param(
            lambda b, other: b | {"status": "noshow"},
            422,
            "value",
            "Status ska vara booked (eller cancelled för att avboka).",
            id="status-noshow",
        ),
    ],
)
def test_a_bad_change_is_refused_and_changes_nothing(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    annika: User,
    karin: Person,
    per: Person,
    change: Any,
    status: int,
    code: str,
    swedish: str,
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    before = (counts(ctx), _meeting(ctx, str(booked.id)).starts_at)
    response = put(client, headers, str(booked.id), change(_json(booked), appointment(per.number)))
    assert response.status_code == status, response.text
    assert outcome(response)[:2] == (code, swedish)
    assert (counts(ctx), _meeting(ctx, str(booked.id)).starts_at) == before
    read = client.get(f"{APPOINTMENTS}/{booked.id}", headers=headers)
    assert read.headers["etag"] == 'W/"1"'


def test_an_if_match_with_an_old_version_is_refused_as_a_precondition_failure(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number, start=at(3, 9)))
    moved = _json(booked) | {"start": instant(at(3, 11)), "end": instant(at(3, 11, 30))}
    assert put(client, headers, str(booked.id), moved, **{"If-Match": 'W/"1"'}).status_code == 200

    again = _json(booked) | {"start": instant(at(3, 12)), "end": instant(at(3, 12, 30))}
    for etag in ('W/"1"', '"1"', "1", "garbage"):
        response = put(client, headers, str(booked.id), again, **{"If-Match": etag})
        assert response.status_code == 412, etag
        assert outcome(response)[:2] == (
            "conflict",
            "Bokningen har ändrats sedan den lästes (nu version 2). Läs den igen och gör om ändringen.",
        )
    assert _meeting(ctx, str(booked.id)).starts_at == at(3, 11)
    assert put(client, headers, str(booked.id), again, **{"If-Match": '"2"'}).status_code == 200


def test_changing_needs_the_update_scope(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    reader = bearer_headers(client, register_journal_system(ctx, "Läsaren", scopes="system/Appointment.rs"))
    response = put(client, reader, str(booked.id), _json(booked) | {"status": "cancelled"})
    assert response.status_code == 403
    assert _meeting(ctx, str(booked.id)).cancelled_at is None


# --- cancelling --------------------------------------------------------------------------------


def test_status_cancelled_cancels_the_meeting_and_withdraws_the_patients_link(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    with ctx.db.session() as s:
        (message,) = s.scalars(select(InboxMessage))
        message_id = message.id
    told: list[MeetingCancelled] = []
    ctx.events.subscribe(MeetingCancelled, told.append)  # as the live meetings are (web.live_booking)

    response = put(client, headers, str(booked.id), _json(booked) | {"status": "cancelled"})

    assert response.status_code == 200, response.text
    answer = resource(response)
    assert answer.status == "cancelled"
    assert response.headers["etag"] == 'W/"2"'
    meeting = _meeting(ctx, str(booked.id))
    assert meeting.cancelled_at is not None
    assert told == [MeetingCancelled(meeting.id, "client:Cosmic")]  # a live meeting ends on it
    with ctx.db.session() as s:
        (recipient,) = s.scalars(select(MeetingRecipient))
        assert recipient.removed_at is not None
    actions = [(actor, action) for actor, action, _, _ in audit_entries(ctx, "")]
    assert ("client:Cosmic", "meeting.cancelled") in actions
    assert ("client:Cosmic", "message.withdrawn") in actions
    assert audit_entries(ctx)[-1][1:] == (
        "fhir.appointment.cancelled",
        meeting.id,
        {"appointment": booked.id, "changed": ["status"], "version": 2},
    )
    open_inbox(ctx, client, karin.id)
    page = client.get(f"/inkorg/meddelanden/{message_id}")
    assert "Länken till videomötet gäller inte längre." in text_of(page.text)
    assert "join-link" not in page.text
    assert "Du har inga bokade videomöten just nu." in text_of(client.get("/inkorg/bokade-tider").text)


def test_a_cancelled_appointment_cannot_be_moved_but_cancelling_again_is_harmless(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    cancelled = _json(booked) | {"status": "cancelled"}
    assert put(client, headers, str(booked.id), cancelled).status_code == 200

    again = put(client, headers, str(booked.id), cancelled)
    moved = put(
        client,
        headers,
        str(booked.id),
        _json(booked) | {"start": instant(at(6)), "end": instant(at(6, 9, 30))},
    )

    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"2"'
    assert moved.status_code == 422
    assert outcome(moved)[1] == "Bokningen är avbokad och kan inte ändras. Boka en ny tid."


def test_a_cancelled_time_is_free_for_a_new_booking(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number, start=at(3, 9)))
    assert put(client, headers, str(booked.id), _json(booked) | {"status": "cancelled"}).status_code == 200
    assert post(client, headers, appointment(karin.number, start=at(3, 9))).status_code == 201


def test_a_change_made_in_vardmote_gives_the_appointment_a_new_version(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    booked = _book(client, headers, appointment(karin.number))
    meeting_id = _meeting(ctx, str(booked.id)).id
    with ctx.db.session() as s:
        user = s.get(User, annika.id)
        assert user is not None
        meetings.cancel(ctx, s, user, meeting_id)

    response = client.get(f"{APPOINTMENTS}/{booked.id}", headers=headers)

    assert response.headers["etag"] == 'W/"2"'
    assert resource(response).status == "cancelled"
    stale = put(client, headers, str(booked.id), _json(booked), **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412
