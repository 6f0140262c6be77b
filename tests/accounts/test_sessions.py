"""Sessions: sign-out ends them, they expire without activity, and cookies need CSRF tokens."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from signin_support import Clock, form_csrf, page_sign_in, stop_clock, use_cheap_password_hashes
from sqlalchemy import func, select, update

from conftest import PASSWORD, bearer
from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import resolve_session, start_session
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.meetings.models import Meeting

CSRF_FAILED = "Sidan har varit öppen för länge eller kom inte härifrån. Ladda om sidan och försök igen."


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_password_hashes(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch)


def _count(ctx: Context, model: type[StaffSession] | type[Meeting]) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _meeting_body() -> dict[str, str]:
    start = (dt.datetime.now(ZoneInfo("Europe/Stockholm")) + dt.timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    return {
        "title": "Återbesök",
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
    }


def _cookie_session(client: TestClient) -> str:
    """_cookie_session signs in on the page and returns the CSRF token its pages carry."""
    assert page_sign_in(client, "annika", PASSWORD).status_code == 303
    return form_csrf(client.get("/kalender").text)


# --- sign-out ------------------------------------------------------------------------------


def test_signing_out_through_the_api_ends_the_session(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    headers = bearer(client, "annika")
    assert client.delete("/api/v1/session", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Du behöver logga in."
    assert _count(ctx, StaffSession) == 0


def test_signing_out_ends_only_that_session(client: TestClient, clinician: User) -> None:
    phone, laptop = bearer(client, "annika"), bearer(client, "annika")
    client.delete("/api/v1/session", headers=phone)
    assert client.get("/api/v1/me", headers=laptop).status_code == 200


def test_signing_out_is_audited(client: TestClient, clinician: User, ctx: Context) -> None:
    client.delete("/api/v1/session", headers=bearer(client, "annika"))
    with ctx.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "signout")).one()
        assert entry.actor == "user:annika"


def test_signing_out_on_the_page_ends_the_session(client: TestClient, clinician: User, ctx: Context) -> None:
    csrf = _cookie_session(client)
    token = client.cookies.get("vm_session")
    response = client.post("/logga-ut", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/logga-in"
    assert client.cookies.get("vm_session") is None
    assert _count(ctx, StaffSession) == 0
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_a_signed_out_browser_is_sent_to_the_sign_in_page(client: TestClient, clinician: User) -> None:
    csrf = _cookie_session(client)
    client.post("/logga-ut", data={"csrf": csrf})
    response = client.get("/kalender", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/logga-in?nasta=%2Fkalender"


# --- expiry --------------------------------------------------------------------------------


def test_an_expired_session_is_not_accepted(client: TestClient, clinician: User, ctx: Context) -> None:
    headers = bearer(client, "annika")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with ctx.db.session() as s:
        s.execute(update(StaffSession).values(expires_at=past))
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Du behöver logga in."


def test_a_session_lasts_session_hours_without_activity(ctx: Context, clinician: User, clock: Clock) -> None:
    assert ctx.settings.session_hours == 10
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, clinician)
    clock.advance(hours=9, minutes=59)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is not None


def test_a_session_expires_after_session_hours_without_activity(
    ctx: Context, clinician: User, clock: Clock
) -> None:
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, clinician)
    clock.advance(hours=10)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is None


def test_activity_extends_a_session(ctx: Context, clinician: User, clock: Clock) -> None:
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, clinician)
    clock.advance(hours=8)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is not None
    clock.advance(hours=8)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is not None
    clock.advance(hours=10)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is None


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 43, id="right-shape-unknown"),
        pytest.param("kort", id="too-short"),
        pytest.param("x" * 5000, id="very-long"),
    ],
)
def test_a_made_up_token_is_not_accepted(client: TestClient, clinician: User, token: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# --- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param(None, id="no-csrf-field"),
        pytest.param("", id="empty-csrf-field"),
        pytest.param("x" * 43, id="wrong-csrf-field"),
    ],
)
def test_signing_out_on_the_page_needs_the_csrf_token(
    client: TestClient, clinician: User, ctx: Context, csrf: str | None
) -> None:
    _cookie_session(client)
    response = client.post("/logga-ut", data={} if csrf is None else {"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 403
    assert CSRF_FAILED in response.text
    assert _count(ctx, StaffSession) == 1
    assert client.get("/kalender", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param(None, id="no-csrf-field"),
        pytest.param("x" * 43, id="wrong-csrf-field"),
    ],
)
def test_booking_on_the_page_needs_the_csrf_token(
    client: TestClient, clinician: User, ctx: Context, csrf: str | None
) -> None:
    _cookie_session(client)
    data = _meeting_body()
    if csrf is not None:
        data["csrf"] = csrf
    response = client.post("/moten/ny", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert CSRF_FAILED in response.text
    assert _count(ctx, Meeting) == 0


def test_booking_on_the_page_with_the_csrf_token_works(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    csrf = _cookie_session(client)
    response = client.post("/moten/ny", data={**_meeting_body(), "csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert _count(ctx, Meeting) == 1


def test_another_sessions_csrf_token_is_refused(client: TestClient, clinician: User, ctx: Context) -> None:
    other = client.post("/api/v1/session", json={"username": "annika", "password": PASSWORD}).json()
    _cookie_session(client)
    response = client.post("/logga-ut", data={"csrf": other["csrf_token"]}, follow_redirects=False)
    assert response.status_code == 403
    assert _count(ctx, StaffSession) == 2


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty-header"),
        pytest.param("x" * 43, id="wrong-header"),
    ],
)
def test_an_api_change_by_cookie_needs_the_csrf_header(
    client: TestClient, clinician: User, ctx: Context, header: str | None
) -> None:
    _cookie_session(client)
    headers = {} if header is None else {"X-CSRF-Token": header}
    response = client.post("/api/v1/meetings", json=_meeting_body(), headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == CSRF_FAILED
    assert _count(ctx, Meeting) == 0
    assert client.delete("/api/v1/session", headers=headers).status_code == 403
    assert _count(ctx, StaffSession) == 1


def test_an_api_change_by_cookie_with_the_csrf_header_works(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    csrf = _cookie_session(client)
    response = client.post("/api/v1/meetings", json=_meeting_body(), headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201
    assert _count(ctx, Meeting) == 1


def test_an_api_read_by_cookie_needs_no_csrf_header(client: TestClient, clinician: User) -> None:
    _cookie_session(client)
    assert client.get("/api/v1/me").status_code == 200


def test_an_api_change_by_bearer_needs_no_csrf_header(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    response = client.post("/api/v1/meetings", json=_meeting_body(), headers=bearer(client, "annika"))
    assert response.status_code == 201
    assert _count(ctx, Meeting) == 1
