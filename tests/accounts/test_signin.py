"""Sign-in through the API and the page: one message for every wrong attempt, audited."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient
from signin_support import form_csrf, page_sign_in, use_cheap_password_hashes
from sqlalchemy import func, select

from conftest import PASSWORD, bearer
from vardmote.accounts.models import SigninThrottle, StaffSession, User
from vardmote.accounts.service import WRONG_CREDENTIALS, add_user, authenticate
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import NotSignedIn

WRONG_PASSWORD = "fel-lösenord-hemligt-42"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_password_hashes(monkeypatch)


def _audit(ctx: Context, action: str) -> list[AuditEntry]:
    with ctx.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _sessions(ctx: Context) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(StaffSession)) or 0


# --- API -----------------------------------------------------------------------------------


def test_the_right_password_gives_a_session_token_that_works(client: TestClient, clinician: User) -> None:
    response = client.post("/api/v1/session", json={"username": "annika", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert len(body["token"]) == 43
    assert body["csrf_token"]
    assert body["user"] == {"username": "annika", "display_name": "Annika Testsson", "role": "clinician"}
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "annika"


def test_the_username_is_not_case_sensitive(client: TestClient, clinician: User) -> None:
    response = client.post("/api/v1/session", json={"username": " Annika ", "password": PASSWORD})
    assert response.status_code == 201


def test_only_the_tokens_hash_is_stored(client: TestClient, clinician: User, ctx: Context) -> None:
    token = bearer(client, "annika")["Authorization"].removeprefix("Bearer ")
    with ctx.db.session() as s:
        row = s.scalars(select(StaffSession)).one()
        assert token.encode() not in row.token_hash
        assert len(row.token_hash) == 32


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("annika", WRONG_PASSWORD, id="wrong-password"),
        pytest.param("okand", WRONG_PASSWORD, id="unknown-user"),
        pytest.param("okand", PASSWORD, id="unknown-user-with-a-real-password"),
        pytest.param("annika", "", id="empty-password"),
        pytest.param("a" * 100, PASSWORD, id="username-longer-than-any-account"),
    ],
)
def test_every_wrong_sign_in_gets_the_same_answer(
    client: TestClient, clinician: User, ctx: Context, username: str, password: str
) -> None:
    response = client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/not-signed-in",
        "title": "Inte inloggad",
        "status": 401,
        "detail": "Fel användarnamn eller lösenord.",
    }
    assert _sessions(ctx) == 0


def test_an_unknown_user_and_a_wrong_password_are_indistinguishable(
    client: TestClient, clinician: User
) -> None:
    unknown = client.post("/api/v1/session", json={"username": "okand", "password": WRONG_PASSWORD})
    wrong = client.post("/api/v1/session", json={"username": "annika", "password": WRONG_PASSWORD})
    assert (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content)
    assert WRONG_CREDENTIALS == "Fel användarnamn eller lösenord."


def test_an_inactive_account_cannot_sign_in(client: TestClient, clinician: User, ctx: Context) -> None:
    with ctx.db.session() as s:
        user = s.get(User, clinician.id)
        assert user is not None
        user.active = False
    response = client.post("/api/v1/session", json={"username": "annika", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["detail"] == WRONG_CREDENTIALS


# --- demo accounts -------------------------------------------------------------------------


def _demo_user(ctx: Context) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "demo-annika", "Annika Demo", "demo", is_demo=True)


def test_a_demo_account_cannot_sign_in_outside_demo_mode(client: TestClient, ctx: Context) -> None:
    assert ctx.settings.demo is False
    _demo_user(ctx)
    response = client.post("/api/v1/session", json={"username": "demo-annika", "password": "demo"})
    assert response.status_code == 401
    assert response.json()["detail"] == WRONG_CREDENTIALS


def test_a_demo_account_can_sign_in_in_demo_mode(ctx: Context) -> None:
    _demo_user(ctx)
    demo = Context(dataclasses.replace(ctx.settings, demo=True), ctx.db)
    with demo.db.session() as s:
        user = authenticate(demo, s, "demo-annika", "demo", "192.0.2.1")
        assert user.username == "demo-annika"
    with ctx.db.session() as s, pytest.raises(NotSignedIn):
        authenticate(ctx, s, "demo-annika", "demo", "192.0.2.1")


def test_a_demo_accounts_session_stops_working_when_demo_mode_ends(ctx: Context) -> None:
    _demo_user(ctx)
    demo = Context(dataclasses.replace(ctx.settings, demo=True), ctx.db)
    with TestClient(create_app(demo.settings, demo), base_url="http://vardmote.test") as in_demo:
        headers = bearer(in_demo, "demo-annika", "demo")
        assert in_demo.get("/api/v1/me", headers=headers).status_code == 200
    with TestClient(create_app(ctx.settings, ctx), base_url="http://vardmote.test") as after:
        assert after.get("/api/v1/me", headers=headers).status_code == 401


# --- audit ---------------------------------------------------------------------------------


def test_a_sign_in_is_audited_with_the_actor(client: TestClient, clinician: User, ctx: Context) -> None:
    bearer(client, "annika")
    [entry] = _audit(ctx, "signin")
    assert entry.actor == "user:annika"
    assert json.loads(entry.details) == {"address": "testclient"}


def test_a_failed_sign_in_is_audited_without_the_password(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    client.post("/api/v1/session", json={"username": "annika", "password": WRONG_PASSWORD})
    client.post("/api/v1/session", json={"username": "okand", "password": WRONG_PASSWORD})
    known, unknown = _audit(ctx, "signin.failed")
    assert known.actor == unknown.actor == "anonym"
    assert json.loads(known.details) == {"account": "annika", "address": "testclient"}
    assert json.loads(unknown.details) == {"account": "okänt konto", "address": "testclient"}
    with ctx.db.session() as s:
        for entry in s.scalars(select(AuditEntry)):
            assert WRONG_PASSWORD not in entry.details + entry.actor + entry.action
            assert PASSWORD not in entry.details + entry.actor + entry.action


def test_a_failed_sign_in_counts_against_the_account_and_the_address(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    client.post("/api/v1/session", json={"username": "annika", "password": WRONG_PASSWORD})
    with ctx.db.session() as s:
        rows = {r.key: r.failures for r in s.scalars(select(SigninThrottle))}
    assert rows == {"user:annika": 1, "addr:testclient": 1}


# --- the sign-in page ----------------------------------------------------------------------


def test_the_sign_in_page_sets_a_csrf_cookie_matching_its_form(client: TestClient) -> None:
    page = client.get("/logga-in")
    assert page.status_code == 200
    assert client.cookies.get("vm_login_csrf") == form_csrf(page.text)
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=strict" in page.headers["set-cookie"]


def test_signing_in_on_the_page_gives_a_session_cookie(client: TestClient, clinician: User) -> None:
    response = page_sign_in(client, "annika", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/kalender"
    assert client.cookies.get("vm_session")
    calendar = client.get("/kalender", follow_redirects=False)
    assert calendar.status_code == 200
    assert "Annika Testsson" in calendar.text


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("annika", WRONG_PASSWORD, id="wrong-password"),
        pytest.param("okand", WRONG_PASSWORD, id="unknown-user"),
    ],
)
def test_a_wrong_sign_in_on_the_page_shows_the_same_message(
    client: TestClient, clinician: User, ctx: Context, username: str, password: str
) -> None:
    response = page_sign_in(client, username, password)
    assert response.status_code == 401
    assert "Fel användarnamn eller lösenord." in response.text
    assert client.cookies.get("vm_session") is None
    assert len(_audit(ctx, "signin.failed")) == 1


@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param(None, id="no-csrf-field"),
        pytest.param("", id="empty-csrf-field"),
        pytest.param("x" * 43, id="csrf-field-not-matching-the-cookie"),
    ],
)
def test_the_page_refuses_a_sign_in_without_its_csrf_token(
    client: TestClient, clinician: User, ctx: Context, csrf: str | None
) -> None:
    client.get("/logga-in")
    data = {"username": "annika", "password": PASSWORD}
    if csrf is not None:
        data["csrf"] = csrf
    response = client.post("/logga-in", data=data, follow_redirects=False)
    assert response.status_code == 400
    assert "Sidan har varit öppen för länge. Försök igen." in response.text
    assert _sessions(ctx) == 0
    assert _audit(ctx, "signin") == []


def test_the_page_refuses_a_sign_in_without_the_csrf_cookie(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    csrf = form_csrf(client.get("/logga-in").text)
    client.cookies.clear()
    response = client.post(
        "/logga-in", data={"csrf": csrf, "username": "annika", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 400
    assert _sessions(ctx) == 0


def test_the_page_asks_for_both_fields(client: TestClient, clinician: User, ctx: Context) -> None:
    csrf = form_csrf(client.get("/logga-in").text)
    response = client.post("/logga-in", data={"csrf": csrf, "username": "annika", "password": ""})
    assert response.status_code == 422
    assert "Fyll i användarnamn och lösenord." in response.text
    assert _audit(ctx, "signin.failed") == []


@pytest.mark.parametrize(
    ("nasta", "location"),
    [
        pytest.param("/moten/ny", "/moten/ny", id="own-path"),
        pytest.param("https://evil.example/", "/kalender", id="absolute-address"),
        pytest.param("//evil.example/", "/kalender", id="scheme-relative"),
        pytest.param("/\\evil.example/", "/kalender", id="backslash"),
    ],
)
def test_after_sign_in_the_page_goes_only_to_our_own_paths(
    client: TestClient, clinician: User, nasta: str, location: str
) -> None:
    csrf = form_csrf(client.get("/logga-in").text)
    response = client.post(
        "/logga-in",
        data={"csrf": csrf, "username": "annika", "password": PASSWORD, "nasta": nasta},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == location
