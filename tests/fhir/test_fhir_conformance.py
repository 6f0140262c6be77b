"""FHIR conformance beyond the basics: vread of the current version, JSON only (406 for XML),
and the search by POST with a form body, which keeps the personnummer out of URLs."""

from __future__ import annotations

import json

import fhir_people
import pytest
from fastapi.testclient import TestClient
from fhir_helpers import (
    APPOINTMENTS,
    FHIR_JSON,
    appointment,
    at,
    audit_entries,
    bundle,
    outcome,
    post,
    put,
    resource,
)
from inbox_helpers import Person

from fhir_clients import bearer_headers, register_journal_system
from vardmote.accounts.models import User
from vardmote.context import Context

PNR = "urn:oid:1.2.752.129.2.1.3.1"
JSON_ONLY = "Vårdmöte svarar bara med JSON (application/fhir+json)."
FORM = "application/x-www-form-urlencoded"

annika = fhir_people.annika
cosmic = fhir_people.cosmic
headers = fhir_people.headers
karin = fhir_people.karin


@pytest.fixture
def booked(client: TestClient, headers: dict[str, str], annika: User, karin: Person) -> str:
    """booked is the id of Karin's Appointment with Annika, version 1."""
    response = post(client, headers, appointment(karin.number, start=at(3, 9)))
    assert response.status_code == 201, response.text
    return str(resource(response).id)


# --- vread -------------------------------------------------------------------------------------


def test_the_location_of_a_booking_is_a_vread_of_its_current_version(
    client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    created = post(client, headers, appointment(karin.number))
    location = created.headers["location"].removeprefix("http://vardmote.test")

    response = client.get(location, headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"1"'
    assert resource(response) == resource(created)


@pytest.mark.parametrize(
    ("version", "swedish"),
    [
        pytest.param(
            "1",
            "Den versionen finns inte. Vårdmöte sparar bara den senaste (nu version 2).",
            id="an-older-version",
        ),
        pytest.param(
            "3",
            "Den versionen finns inte. Vårdmöte sparar bara den senaste (nu version 2).",
            id="a-later-version",
        ),
        pytest.param(
            "x",
            "Den versionen finns inte. Vårdmöte sparar bara den senaste (nu version 2).",
            id="not-a-number",
        ),
    ],
)
def test_a_vread_of_another_version_is_not_found(
    ctx: Context, client: TestClient, headers: dict[str, str], booked: str, version: str, swedish: str
) -> None:
    current = resource(client.get(f"{APPOINTMENTS}/{booked}", headers=headers))
    moved = current.model_dump(mode="json", exclude_none=True) | {"identifier": [{"value": "cosmic-4712"}]}
    assert put(client, headers, booked, moved).status_code == 200

    response = client.get(f"{APPOINTMENTS}/{booked}/_history/{version}", headers=headers)

    assert response.status_code == 404
    assert outcome(response)[:2] == ("not-found", swedish)
    assert client.get(f"{APPOINTMENTS}/{booked}/_history/2", headers=headers).status_code == 200


def test_a_vread_of_an_unknown_id_is_not_found(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(f"{APPOINTMENTS}/00000000-0000-4000-8000-000000000000/_history/1", headers=headers)
    assert response.status_code == 404
    assert outcome(response)[:2] == (
        "not-found",
        "Det finns ingen Appointment med det id:t (för det här journalsystemet).",
    )


# --- JSON only ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        pytest.param("?_format=xml", None, id="format-xml"),
        pytest.param("?_format=application/fhir%2Bxml", None, id="format-fhir-xml"),
        pytest.param("", "application/fhir+xml", id="accept-fhir-xml"),
        pytest.param("", "application/xml;q=1.0, text/xml", id="accept-xml-only"),
    ],
)
@pytest.mark.parametrize("interaction", ["read", "vread", "create", "update"])
def test_asking_for_xml_is_not_acceptable(
    ctx: Context,
    client: TestClient,
    headers: dict[str, str],
    booked: str,
    karin: Person,
    interaction: str,
    query: str,
    accept: str | None,
) -> None:
    asked = headers | ({"Accept": accept} if accept else {})
    body = json.dumps(appointment(karin.number, start=at(5))).encode()
    current = client.get(f"{APPOINTMENTS}/{booked}", headers=headers).json()
    match interaction:
        case "read":
            response = client.get(f"{APPOINTMENTS}/{booked}{query}", headers=asked)
        case "vread":
            response = client.get(f"{APPOINTMENTS}/{booked}/_history/1{query}", headers=asked)
        case "create":
            response = client.post(
                f"{APPOINTMENTS}{query}", content=body, headers=asked | {"Content-Type": FHIR_JSON}
            )
        case _:
            response = client.put(
                f"{APPOINTMENTS}/{booked}{query}",
                content=json.dumps(current).encode(),
                headers=asked | {"Content-Type": FHIR_JSON},
            )

    assert response.status_code == 406, response.text
    assert outcome(response)[:2] == ("not-supported", JSON_ONLY)
    assert len(audit_entries(ctx, "fhir.appointment.created")) == 1


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("application/fhir+json", id="fhir-json"),
        pytest.param("application/json", id="json"),
        pytest.param("*/*", id="anything"),
        pytest.param("application/fhir+xml;q=0.9, application/fhir+json", id="xml-or-json"),
    ],
)
def test_an_accept_that_takes_json_is_answered(
    client: TestClient, headers: dict[str, str], booked: str, accept: str
) -> None:
    response = client.get(f"{APPOINTMENTS}/{booked}", headers=headers | {"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON


# --- search by POST ----------------------------------------------------------------------------


def test_a_search_by_post_finds_as_the_get_does_and_keeps_the_personnummer_out_of_the_links(
    ctx: Context, client: TestClient, headers: dict[str, str], booked: str, karin: Person, annika: User
) -> None:
    for days in (4, 5):
        assert post(client, headers, appointment(karin.number, start=at(days, 9))).status_code == 201
    form = {"patient:identifier": f"{PNR}|{karin.number.digits}", "_count": "2"}

    first = bundle(
        client.post(f"{APPOINTMENTS}/_search", content=_form(form), headers=headers | {"Content-Type": FORM})
    )

    assert first.total == 3
    assert [entry.resource.id for entry in first.entry or [] if entry.resource][:1] == [booked]
    links = {link.relation: str(link.url) for link in first.link or []}
    assert links == {
        "self": f"http://vardmote.test{APPOINTMENTS}/_search",
        "next": f"http://vardmote.test{APPOINTMENTS}/_search?_offset=2",
    }
    second = bundle(
        client.post(
            links["next"].removeprefix("http://vardmote.test"),
            content=_form(form),
            headers=headers | {"Content-Type": FORM},
        )
    )
    assert len(second.entry or []) == 1
    assert audit_entries(ctx)[-1] == (
        "client:Cosmic",
        "fhir.appointment.searched",
        None,
        {"parameters": ["_count", "_offset", "patient:identifier"], "matches": 3},
    )


@pytest.mark.parametrize(
    ("content_type", "body", "status", "swedish"),
    [
        pytest.param(FHIR_JSON, b"{}", 415, f"Skicka sökparametrarna som {FORM}.", id="not-a-form"),
        pytest.param(FORM, b"\xff\xfe", 400, "Begäran kunde inte tolkas.", id="not-utf8"),
        pytest.param(
            FORM,
            b"weather=sunny",
            400,
            "Sökparametern 'weather' stöds inte. Använd patient:identifier, practitioner:identifier, date, "
            "status, _count, _offset, _format.",
            id="unknown-parameter",
        ),
    ],
)
def test_a_search_by_post_that_cannot_be_read_is_refused(
    client: TestClient,
    headers: dict[str, str],
    content_type: str,
    body: bytes,
    status: int,
    swedish: str | None,
) -> None:
    response = client.post(
        f"{APPOINTMENTS}/_search", content=body, headers=headers | {"Content-Type": content_type}
    )
    assert response.status_code == status
    assert outcome(response)[1] == swedish


def test_a_search_by_post_needs_the_search_scope(ctx: Context, client: TestClient) -> None:
    reader = register_journal_system(ctx, "Läsaren", scopes="system/Appointment.r")
    response = client.post(
        f"{APPOINTMENTS}/_search",
        content=b"status=booked",
        headers=bearer_headers(client, reader) | {"Content-Type": FORM},
    )
    assert response.status_code == 403
    assert outcome(response)[1] == (
        "Journalsystemet har inte behörighet att söka bland Appointment "
        "(behörigheten system/Appointment.s saknas)."
    )


def _form(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()
