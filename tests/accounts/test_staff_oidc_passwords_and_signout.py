"""With the region's identity provider, local passwords are off (their default) but for the
break-glass administrator, and signing out of a provider's session goes on to the provider's
end-session endpoint (RP-initiated logout), against the real provider (tests/oidc_provider.py)."""

from __future__ import annotations

import dataclasses
import html as htmllib
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from staff_oidc_support import (
    BREAK_GLASS,
    audit,
    sign_in,
    staff_fixtures,
    text_of,
)

from booking_helpers import count, csrf_of
from conftest import PASSWORD, make_user
from oidc_provider import Provider
from vardmote.accounts.models import Role, SigninThrottle, StaffSession
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.lib.oidc_discovery import forget_providers

OFF = (
    "Fel användarnamn eller lösenord. Med lösenord loggar bara reservkontot för administratör in; "
    "välj ”Logga in med SITHS” i stället."
)

running, provider, settings = staff_fixtures()


def _password(client: TestClient, username: str, page: str = "/logga-in?reserv=1") -> tuple[int, str]:
    """_password signs in with a password through the form on page: the status and the page's text."""
    form = client.get(page)
    response = client.post(
        "/logga-in",
        data={"csrf": csrf_of(form.text), "username": username, "password": PASSWORD, "nasta": "/kalender"},
        follow_redirects=False,
    )
    return response.status_code, text_of(response.text)


def test_a_password_is_refused_by_default_with_the_identity_provider(
    ctx: Context, client: TestClient
) -> None:
    make_user(ctx, "annika")
    make_user(ctx, "admin", Role.ADMIN.value)  # an administrator, but not the break-glass one

    for username in ("annika", "admin"):
        status, text = _password(client, username)
        assert status == 401
        assert OFF in text
        assert "Reservinloggning för administratör" in text  # the form is shown again where it was
    assert count(ctx, StaffSession) == 0
    with ctx.db.session() as s:
        throttle = {t.key: t.failures for t in s.scalars(select(SigninThrottle))}
    assert throttle == {"user:annika": 1, "user:admin": 1, "addr:testclient": 2}  # still counted
    assert [d.get("reason") for _, d in audit(ctx, "signin.failed")] == [
        "local_signin_off",
        "local_signin_off",
    ]


def test_the_break_glass_administrator_gets_in_with_a_password(
    ctx: Context, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(ctx, BREAK_GLASS, Role.ADMIN.value)
    page = client.get("/logga-in?reserv=1")
    assert "Reservinloggning för administratör" in text_of(page.text)
    assert 'name="password"' in page.text

    status, _ = _password(client, BREAK_GLASS)

    assert status == 303
    assert client.get("/kalender").status_code == 200
    with ctx.db.session() as s:
        assert s.scalars(select(StaffSession.signed_in_with)).all() == ["password"]
    # It stands out: marked in the audit, warned of in the log (without the name).
    assert audit(ctx, "signin") == [(f"user:{BREAK_GLASS}", {"address": "testclient", "break_glass": True})]
    warnings = [(r.name, r.getMessage()) for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        ("vardmote.accounts", "break-glass sign-in: the reserve administrator signed in with a password")
    ]


def test_the_break_glass_name_needs_an_administrators_account(ctx: Context, client: TestClient) -> None:
    make_user(ctx, BREAK_GLASS)  # a clinician's account by that name
    status, text = _password(client, BREAK_GLASS)
    assert status == 401
    assert OFF in text


def test_the_answer_does_not_tell_which_name_is_the_break_glass_account(
    ctx: Context, client: TestClient
) -> None:
    make_user(ctx, BREAK_GLASS, Role.ADMIN.value)
    make_user(ctx, "annika")
    answers = set()
    for username, password in ((BREAK_GLASS, "fel-lösenord-1"), ("annika", PASSWORD), ("okand", PASSWORD)):
        form = client.get("/logga-in?reserv=1")
        response = client.post(
            "/logga-in", data={"csrf": csrf_of(form.text), "username": username, "password": password}
        )
        assert response.status_code == 401
        answers.add(text_of(response.text))
    assert len(answers) == 1, "\n\n".join(answers)
    (answer,) = answers
    assert OFF in answer
    assert count(ctx, StaffSession) == 0


def test_local_sign_in_switched_on_shows_both_ways(ctx: Context, provider: Provider) -> None:
    make_user(ctx, "annika")
    settings = dataclasses.replace(ctx.settings, local_signin=True)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        page = c.get("/logga-in")
        assert '<a class="button" href="/logga-in/oidc/start">Logga in med SITHS</a>' in page.text
        assert "Logga in med lösenord" in text_of(page.text)
        assert "Reservinloggning" not in page.text
        assert _password(c, "annika", "/logga-in")[0] == 303
    assert audit(ctx, "signin") == [("user:annika", {"address": "testclient"})]  # an everyday one


def test_signing_out_ends_the_session_at_the_provider_too(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    assert sign_in(client, provider).status_code == 303
    assert provider.signed_in_at_provider()
    calendar = client.get("/kalender")

    response = client.post("/logga-ut", data={"csrf": csrf_of(calendar.text)}, follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (303, "/utloggad")
    assert count(ctx, StaffSession) == 0  # ended here first
    way_on = next(c for c in response.headers.get_list("set-cookie") if c.startswith("vm_utloggad="))
    assert "HttpOnly" in way_on
    assert "Path=/utloggad" in way_on
    assert "Max-Age=60" in way_on
    assert "SameSite=lax" in way_on
    assert client.get("/kalender", follow_redirects=False).status_code in (303, 401)
    page = client.get("/utloggad")
    assert page.status_code == 200
    assert "Du är utloggad från Vårdmöte. Nu loggar vi ut dig från inloggningstjänsten också." in text_of(
        page.text
    )
    refresh = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', page.text)
    assert refresh is not None
    address = htmllib.unescape(refresh.group(1))
    assert f'<a class="button" href="{refresh.group(1)}">Logga ut från inloggningstjänsten</a>' in page.text
    parts = urlsplit(address)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{provider.issuer}/session/end"
    query = parse_qs(parts.query)
    assert query["client_id"] == ["vardmote-personal"]
    assert query["post_logout_redirect_uri"] == ["http://vardmote.test/logga-in"]
    state = query["state"][0]
    assert len(state) >= 32

    assert client.cookies.get("vm_utloggad") is None  # used once: a reload goes to the sign-in page
    again = client.get("/utloggad", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/logga-in")

    back = provider.sign_out(address)

    assert back == f"http://vardmote.test/logga-in?state={state}"
    assert not provider.signed_in_at_provider()
    assert provider.seen().end_session[-1]["client_id"] == "vardmote-personal"
    assert client.get("/logga-in?" + urlsplit(back).query).status_code == 200
    assert [actor for actor, _ in audit(ctx, "signout")] == ["user:se2321000016-1003"]


def test_the_signed_out_page_sends_no_one_to_the_provider_uninvited(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    assert sign_in(client, provider).status_code == 303
    # Another site links to /utloggad: the browser comes with its session, but it did not sign out.
    response = client.get("/utloggad", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/logga-in")
    assert "http-equiv" not in response.text
    assert provider.signed_in_at_provider()
    assert count(ctx, StaffSession) == 1  # and nothing here changed either
    assert client.get("/kalender").status_code == 200


def test_signing_out_of_a_password_session_stays_here(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    make_user(ctx, BREAK_GLASS, Role.ADMIN.value)
    assert _password(client, BREAK_GLASS)[0] == 303
    calendar = client.get("/kalender")
    response = client.post("/logga-ut", data={"csrf": csrf_of(calendar.text)}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/logga-in")
    assert provider.seen().end_session == []


def test_signing_out_while_the_provider_is_away_still_signs_out_here(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    assert sign_in(client, provider).status_code == 303
    calendar = client.get("/kalender")
    provider.stop()
    forget_providers()  # discovery must be asked again, and fails
    response = client.post("/logga-ut", data={"csrf": csrf_of(calendar.text)}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/utloggad")
    assert count(ctx, StaffSession) == 0
    page = client.get("/utloggad")
    assert page.status_code == 200
    assert "http-equiv" not in page.text
    assert "Du är utloggad från Vårdmöte. Logga in igen" in text_of(page.text)
