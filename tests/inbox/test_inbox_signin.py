"""Signing in to the inbox with the test e-identification, sessions, their end and the audit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from inbox_helpers import add_person, page_csrf, sign_in, text_of, years_ago
from sqlalchemy import select, update

from booking_helpers import count, csrf_of
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.patients.models import Patient, PatientSession
from vardmote.settings import Settings

ADULT_NUMBER = "19900602-2397"
"""Johan Lind, the demo's adult patient (a Skatteverket test number)."""
NEW_NUMBER = "19850314-2385"
"""A test number (birth number 238) that no demo patient has."""
PAGES = ["/inkorg", "/inkorg/meddelanden", "/inkorg/meddelanden/1", "/inkorg/bokade-tider"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """settings are the test settings in demo mode: the test e-identification is on."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def production(ctx: Context) -> Iterator[TestClient]:
    """production is the same database served with demo mode off."""
    settings = dataclasses.replace(ctx.settings, demo=False)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        yield c


def _post(client: TestClient, number: str, csrf: str | None = None) -> tuple[int, str]:
    page = client.get("/inkorg/logga-in")
    data = {"personnummer": number, "csrf": csrf_of(page.text) if csrf is None else csrf}
    response = client.post("/inkorg/logga-in", data=data, follow_redirects=False)
    return response.status_code, response.text


def test_the_test_e_identification_signs_in_anyone_with_a_valid_number(
    ctx: Context, client: TestClient
) -> None:
    page = client.get("/inkorg/logga-in")
    assert page.status_code == 200
    assert "Test-e-legitimation" in page.text
    assert '<label for="personnummer">Personnummer</label>' in page.text
    csrf_cookie = page.headers["set-cookie"]
    assert csrf_cookie.startswith("vm_inbox_login_csrf=")
    assert "Path=/inkorg/logga-in" in csrf_cookie
    assert "SameSite=strict" in csrf_cookie

    response = client.post(
        "/inkorg/logga-in",
        data={"csrf": csrf_of(page.text), "personnummer": "198503142385"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("vm_patient="))
    assert "HttpOnly" in cookie
    assert "Path=/inkorg" in cookie
    assert "SameSite=lax" in cookie
    with ctx.db.session() as s:
        patient = s.scalar(select(Patient).where(Patient.personnummer == "198503142385"))
        assert patient is not None
        assert patient.is_demo
        assert patient.name is None
        (row,) = s.scalars(select(PatientSession))
        assert row.method == "test"
        assert row.patient_id == patient.id
        assert row.token_hash != client.cookies.get("vm_patient", "").encode()
    start = client.get("/inkorg")
    assert start.status_code == 200
    assert "19850314-2385" in text_of(start.text)  # no name known: the owner sees their own number


def test_signing_in_finds_a_known_patient_by_any_written_form(ctx: Context, client: TestClient) -> None:
    sign_in(client, "900602-2397")
    start = client.get("/inkorg")
    assert "Johan Lind" in text_of(start.text)
    with ctx.db.session() as s:
        assert s.scalars(select(Patient).where(Patient.personnummer == "199006022397")).all()
    assert count(ctx, Patient) == 3  # the demo's three, nobody added


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        pytest.param(
            "19850314-2384", "Personnumret är inte giltigt: kontrollsiffran stämmer inte.", id="checksum"
        ),
        pytest.param("1985-03-14", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="format"),
        pytest.param("19850230-2386", "Personnumret är inte giltigt: datumet finns inte.", id="no-such-date"),
        pytest.param(
            "20991231-2387", "Personnumret är inte giltigt: datumet ligger i framtiden.", id="future"
        ),
        pytest.param("   ", "Skriv ditt personnummer, ÅÅÅÅMMDD-NNNN.", id="empty"),
        pytest.param(
            "1985031423855", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="too-long"
        ),
    ],
)
def test_a_wrong_number_is_refused_with_a_swedish_message_and_kept_in_the_field(
    ctx: Context, client: TestClient, typed: str, message: str
) -> None:
    patients = count(ctx, Patient)
    status, html = _post(client, typed)
    assert status == 422
    assert message in text_of(html)
    assert f'value="{typed}"' in html
    assert 'aria-invalid="true"' in html
    assert count(ctx, PatientSession) == 0
    assert count(ctx, Patient) == patients


def test_a_sign_in_without_the_form_token_is_refused(ctx: Context, client: TestClient) -> None:
    for csrf in ("", "fel-token"):
        status, html = _post(client, NEW_NUMBER, csrf)
        assert status == 400
        assert "Sidan har varit öppen för länge eller kom inte härifrån. Försök igen." in text_of(html)
        assert NEW_NUMBER in html  # what was typed is still there
    fresh = TestClient(client.app, base_url="http://vardmote.test")  # no cookie at all
    page = client.get("/inkorg/logga-in")
    response = fresh.post("/inkorg/logga-in", data={"csrf": csrf_of(page.text), "personnummer": NEW_NUMBER})
    assert response.status_code == 400
    assert count(ctx, PatientSession) == 0


def test_the_test_e_identification_is_not_available_outside_demo_mode(
    ctx: Context, production: TestClient
) -> None:
    page = production.get("/inkorg/logga-in")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Test-e-legitimationen är inte tillgänglig: den finns bara i demoläget." in text
    assert 'name="personnummer"' not in page.text
    assert "Inloggning till inkorgen är inte tillgänglig just nu." in text
    crafted = {"csrf": production.cookies["vm_inbox_login_csrf"], "personnummer": NEW_NUMBER}
    response = production.post("/inkorg/logga-in", data=crafted, follow_redirects=False)
    assert response.status_code == 403
    assert "Test-e-legitimationen finns bara i demoläget." in text_of(response.text)
    assert count(ctx, PatientSession) == 0


def test_a_test_sign_in_stops_working_when_demo_mode_is_turned_off(
    ctx: Context, client: TestClient, production: TestClient
) -> None:
    sign_in(client, NEW_NUMBER)
    production.cookies.set("vm_patient", client.cookies["vm_patient"], domain="vardmote.test", path="/inkorg")
    response = production.get("/inkorg", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg/logga-in"


@pytest.mark.parametrize("path", PAGES)
def test_inbox_pages_send_a_stranger_to_the_sign_in_page(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg/logga-in"


def test_a_forged_or_staff_cookie_signs_nobody_in(client: TestClient) -> None:
    for value in ("x" * 43, "kort", ""):
        client.cookies.set("vm_patient", value, domain="vardmote.test", path="/inkorg")
        assert client.get("/inkorg", follow_redirects=False).status_code == 303


def test_a_session_ends_after_session_hours_without_activity(ctx: Context, client: TestClient) -> None:
    sign_in(client, NEW_NUMBER)
    assert client.get("/inkorg").status_code == 200
    with ctx.db.session() as s:
        s.execute(update(PatientSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    response = client.get("/inkorg", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg/logga-in"


def test_activity_extends_the_session(ctx: Context, client: TestClient) -> None:
    sign_in(client, NEW_NUMBER)
    soon = utcnow() + dt.timedelta(minutes=5)
    with ctx.db.session() as s:
        s.execute(update(PatientSession).values(expires_at=soon))
    assert client.get("/inkorg").status_code == 200
    with ctx.db.session() as s:
        (row,) = s.scalars(select(PatientSession))
        assert row.expires_at > utcnow() + dt.timedelta(hours=ctx.settings.session_hours - 1)


def test_signing_out_deletes_the_session_so_the_old_cookie_stops_working(
    ctx: Context, client: TestClient
) -> None:
    sign_in(client, NEW_NUMBER)
    token = client.cookies["vm_patient"]
    response = client.post("/inkorg/logga-ut", data={"csrf": page_csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg/logga-in?utloggad=1"
    assert count(ctx, PatientSession) == 0
    assert "Du är utloggad." in client.get("/inkorg/logga-in?utloggad=1").text
    client.cookies.set("vm_patient", token, domain="vardmote.test", path="/inkorg")
    assert client.get("/inkorg", follow_redirects=False).status_code == 303


def test_signing_out_without_the_form_token_is_refused_and_keeps_the_session(
    ctx: Context, client: TestClient
) -> None:
    sign_in(client, NEW_NUMBER)
    for data in ({}, {"csrf": "fel"}):
        response = client.post("/inkorg/logga-ut", data=data)
        assert response.status_code == 403
        assert "Ladda om sidan och försök igen." in text_of(response.text)
    assert count(ctx, PatientSession) == 1
    assert client.get("/inkorg").status_code == 200


def test_signing_in_again_ends_the_earlier_session_of_the_browser(ctx: Context, client: TestClient) -> None:
    sign_in(client, NEW_NUMBER)
    earlier = client.cookies["vm_patient"]
    client.cookies.delete("vm_patient")
    page = client.get("/inkorg/logga-in")  # a tab opened before, as a signed-out page
    client.cookies.set("vm_patient", earlier, domain="vardmote.test", path="/inkorg")
    data = {"csrf": csrf_of(page.text), "personnummer": ADULT_NUMBER}
    assert client.post("/inkorg/logga-in", data=data, follow_redirects=False).status_code == 303
    assert client.cookies["vm_patient"] != earlier
    with ctx.db.session() as s:
        (row,) = s.scalars(select(PatientSession))
        assert row.patient.personnummer == "199006022397"


def test_a_signed_in_patient_opening_the_sign_in_page_goes_to_start(client: TestClient) -> None:
    sign_in(client, NEW_NUMBER)
    response = client.get("/inkorg/logga-in", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg"


def test_the_inbox_cookie_is_not_a_staff_sign_in(client: TestClient) -> None:
    sign_in(client, NEW_NUMBER)
    response = client.get("/kalender", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/logga-in")


def test_sign_in_and_out_are_audited_with_masked_numbers_only(ctx: Context, client: TestClient) -> None:
    person = add_person(ctx, "Kim Berg", years_ago(40), "238")
    sign_in(client, person.typed)
    client.post("/inkorg/logga-ut", data={"csrf": page_csrf(client)})
    with ctx.db.session() as s:
        entries = [
            (e.actor, e.action, e.details) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    mine = [(a, act, json.loads(d)) for a, act, d in entries if act.startswith("inbox.")]
    masked = f"patient:{person.number.masked()}"
    assert mine == [(masked, "inbox.signed_in", {"method": "test"}), (masked, "inbox.signed_out", {})]
    everything = json.dumps(entries, ensure_ascii=False)
    assert person.number.digits not in everything
    assert person.number.digits[2:] not in everything
    assert str(person.number) not in everything
    assert "Kim" not in everything
    assert "Berg" not in everything
    assert not re.search(r"\d{8}-?\d{4}", everything.replace("-****", ""))


def test_an_unknown_inbox_address_is_answered_in_the_inbox_layout(client: TestClient) -> None:
    response = client.get("/inkorg/finns-inte")
    assert response.status_code == 404
    assert "Logga in i inkorgen" not in response.text  # an error page, not the sign-in
    assert "Till inloggningen" in response.text
    assert 'href="/kalender"' not in response.text
