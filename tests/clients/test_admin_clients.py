"""The administrators' page of the journal systems ("Journalsystem"), through the client as a browser
uses it: the list, registering with the client_id shown, Swedish field errors (a private key not
shown again), revoking, the CSRF check and who may see it."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any
from urllib.parse import quote

import client_helpers
import pytest
from client_helpers import field_errors, page_text
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import count, csrf_of, sign_in
from fhir_clients import access_token, ec_key, private_jwks, public_jwks, register_journal_system, rsa_key
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.clients.keys import JWKS_HELP
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.clients.scopes import GRAMMAR_HELP
from vardmote.context import Context

PAGE = "/admin/klienter"

admin = client_helpers.admin


def _post(admin: TestClient, **fields: str) -> Any:
    form = {"csrf": csrf_of(admin.get(PAGE).text), "name": "Cosmic", "scopes": "system/Appointment.cruds"}
    form["jwks"] = public_jwks(rsa_key())
    form.update(fields)
    return admin.post(PAGE, data=form, follow_redirects=False)


def _typed(page: str, name: str) -> str:
    """_typed is what the form's field name holds on the page."""
    if name == "jwks":
        found = re.search(r'<textarea id="jwks"[^>]*>([^<]*)</textarea>', page)
    else:
        found = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', page)
    assert found is not None, name
    return htmllib.unescape(found.group(1))


def test_the_list_says_when_no_journal_system_is_registered_and_offers_the_form(admin: TestClient) -> None:
    page = admin.get(PAGE)
    assert page.status_code == 200
    assert "<h1>Journalsystem</h1>" in page.text
    assert "Inga journalsystem är registrerade ännu." in page.text
    assert 'value="system/Appointment.cruds"' in page.text
    assert "http://vardmote.test/oauth/token" in page.text
    assert '<li><a href="/admin/klienter">Journalsystem</a></li>' in page.text


def test_registering_shows_the_client_id_to_give_the_journal_system(admin: TestClient, ctx: Context) -> None:
    key = ec_key()
    response = _post(
        admin, name="Cosmic Region Västmanland", jwks=public_jwks(key), scopes="system/Appointment.rs"
    )
    assert response.status_code == 303
    with ctx.db.session() as s:
        client = s.scalars(select(ApiClient)).one()
        assert (client.name, client.scopes) == ("Cosmic Region Västmanland", "system/Appointment.rs")
    assert response.headers["location"] == f"{PAGE}?tillagd={client.id}"
    page = admin.get(response.headers["location"]).text
    assert (
        "Journalsystemet Cosmic Region Västmanland är registrerat. Ge journalsystemet dess klient-id:"
        in page_text(page)
    )
    assert f'<code id="nytt-klient-id">{client.client_id}</code>' in page
    row = re.search(r'<th scope="row">Cosmic Region Västmanland</th>(.*?)</tr>', page, re.S)
    assert row is not None
    assert page_text(row.group(1)).startswith(f"{client.client_id} system/Appointment.rs Aktivt ")
    with ctx.db.session() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.added"))
        assert entry.actor == "user:admin"


def test_an_address_that_names_no_client_announces_nothing(admin: TestClient) -> None:
    for query in ("?tillagd=7", "?tillagd=x", "?aterkallad=1" + "0" * 20):
        page = admin.get(PAGE + query)
        assert page.status_code == 200
        assert 'role="status"' not in page.text


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"jwks": '{"keys": ['},
            {"jwks": f"Nycklarna är inte giltig JSON. {JWKS_HELP}"},
            id="bad-json",
        ),
        pytest.param(
            {"scopes": "system/Patient.rs"},
            {
                "scopes": "Resursen 'Patient' finns inte i Vårdmötes API; det som finns är Appointment. "
                + GRAMMAR_HELP
            },
            id="bad-scope",
        ),
        pytest.param(
            {"name": "C", "scopes": ""},
            {
                "name": "Ange journalsystemets namn med 2–60 tecken, t.ex. 'Cosmic Region Västmanland'. "
                "Namnet står i granskningsloggen.",
                "scopes": f"Ange minst en behörighet. {GRAMMAR_HELP}",
            },
            id="name-and-scope",
        ),
    ],
)
def test_wrong_fields_are_told_beside_each_and_the_typed_text_stays(
    admin: TestClient, ctx: Context, fields: dict[str, str], expected: dict[str, str]
) -> None:
    response = _post(admin, **fields)
    assert response.status_code == 422
    assert field_errors(response.text) == expected
    assert "Journalsystemet är inte registrerat." in response.text
    assert {name: _typed(response.text, name) for name in fields} == fields
    assert count(ctx, ApiClient) == 0


def test_a_private_key_is_refused_and_not_shown_again(admin: TestClient, ctx: Context) -> None:
    key = rsa_key()
    secret = str(key.as_dict(private=True)["d"])
    response = _post(admin, name="Cosmic", jwks=private_jwks(key))
    assert response.status_code == 422
    assert field_errors(response.text)["jwks"].startswith("Nyckeln 'cosmic-1' innehåller en privat del.")
    assert secret not in response.text
    assert (_typed(response.text, "jwks"), _typed(response.text, "name")) == ("", "Cosmic")
    assert count(ctx, ApiClient) == 0
    with ctx.db.session() as s:
        assert secret not in json.dumps([e.details for e in s.scalars(select(AuditEntry))])


def test_revoking_stops_the_clients_tokens_and_is_told(admin: TestClient, ctx: Context) -> None:
    system = register_journal_system(ctx, "Cosmic")
    access_token(admin, system)
    with ctx.db.session() as s:
        client = s.scalars(select(ApiClient)).one()
    page = admin.get(PAGE).text
    assert 'aria-label="Återkalla Cosmic"' in page
    response = admin.post(
        f"{PAGE}/{client.id}/aterkalla", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, f"{PAGE}?aterkallad={client.id}")
    after = admin.get(response.headers["location"]).text
    assert (
        "Journalsystemet Cosmic är återkallat: dess åtkomsttoken slutar gälla direkt och det får inga nya."
        in page_text(after)
    )
    assert re.search(r"Återkallat \d{4}-\d\d-\d\d \d\d:\d\d", after)
    assert 'aria-label="Återkalla Cosmic"' not in after
    assert count(ctx, AccessToken) == 0
    with ctx.db.session() as s:
        assert s.get_one(ApiClient, client.id).active is False
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.revoked"))
        assert entry.actor == "user:admin"


def test_revoking_an_unknown_client_is_not_found(admin: TestClient) -> None:
    token = csrf_of(admin.get(PAGE).text)
    assert admin.post(f"{PAGE}/999/aterkalla", data={"csrf": token}).status_code == 404
    assert admin.post(f"{PAGE}/x/aterkalla", data={"csrf": token}).status_code == 404


def test_a_form_without_the_csrf_token_changes_nothing(admin: TestClient, ctx: Context) -> None:
    form = {"name": "Cosmic", "scopes": "system/Appointment.cruds", "jwks": public_jwks(rsa_key())}
    assert admin.post(PAGE, data=form).status_code == 403
    assert admin.post(PAGE, data=form | {"csrf": "fel"}).status_code == 403
    assert count(ctx, ApiClient) == 0
    register_journal_system(ctx, "Melior")
    with ctx.db.session() as s:
        client = s.scalars(select(ApiClient)).one()
    assert admin.post(f"{PAGE}/{client.id}/aterkalla", data={}).status_code == 403
    with ctx.db.session() as s:
        assert s.get_one(ApiClient, client.id).active is True


def test_a_clinician_may_not_see_or_change_the_journal_systems(
    client: TestClient, ctx: Context, clinician: User
) -> None:
    sign_in(client, "annika")
    assert client.get(PAGE).status_code == 403
    assert '<a href="/admin/klienter">' not in client.get("/kalender").text
    token = csrf_of(client.get("/kalender").text)
    form = {
        "csrf": token,
        "name": "Cosmic",
        "scopes": "system/Appointment.cruds",
        "jwks": public_jwks(rsa_key()),
    }
    assert client.post(PAGE, data=form).status_code == 403
    assert count(ctx, ApiClient) == 0


def test_the_page_without_sign_in_sends_the_browser_to_sign_in(client: TestClient) -> None:
    response = client.get(PAGE, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/logga-in?nasta={quote(PAGE, safe='')}",
    )
