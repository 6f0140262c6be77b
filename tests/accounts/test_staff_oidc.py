"""Staff sign in with the region's identity provider (SITHS), against a real OpenID provider on
127.0.0.1 (oidc-provider run by node, tests/oidc_provider.py): the first sign-in makes the
account from the claims, later ones bring it up to date, a deactivated account stays out, and
every check is audited."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from staff_oidc_support import (
    START,
    audit,
    sign_in,
    staff_fixtures,
    text_of,
)

from booking_helpers import count
from oidc_provider import ADMINISTRATOR, LOA3, Provider, path_of
from vardmote.accounts.models import Role, StaffSession, User
from vardmote.accounts.service import add_user, deactivate_user, set_hsa_id
from vardmote.app import create_app
from vardmote.context import Context

ANNIKA_HSA = "SE2321000016-1003"
ASA_HSA = "SE2321000016-1004"

running, provider, settings = staff_fixtures()


def _user(ctx: Context, hsa_id: str) -> User:
    with ctx.db.session() as s:
        user = s.scalar(select(User).where(User.hsa_id == hsa_id))
        assert user is not None
        return user


def test_the_sign_in_page_offers_the_siths_button_first(client: TestClient) -> None:
    page = client.get("/logga-in")
    assert page.status_code == 200
    assert '<a class="button" href="/logga-in/oidc/start">Logga in med SITHS</a>' in page.text
    assert 'name="password"' not in page.text  # local sign-in is off
    assert '<a href="/logga-in?reserv=1">Reservinloggning för administratör</a>' in page.text


def test_the_first_sign_in_makes_the_account_from_the_claims(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    start = client.get(START, follow_redirects=False)
    assert start.status_code == 303
    cookie = next(c for c in start.headers.get_list("set-cookie") if c.startswith("vm_staff_oidc="))
    assert "HttpOnly" in cookie
    assert "Path=/logga-in/oidc" in cookie
    assert "Max-Age=600" in cookie
    assert "SameSite=lax" in cookie

    response = sign_in(client, provider)

    assert response.status_code == 303, text_of(response.text)
    assert response.headers["location"] == "/kalender"
    assert client.cookies.get("vm_staff_oidc") is None  # used once
    calendar = client.get("/kalender")
    assert calendar.status_code == 200
    assert "Annika Läkare" in text_of(calendar.text)
    user = _user(ctx, ANNIKA_HSA)
    assert (user.username, user.display_name, user.role, user.clinic_id) == (
        "se2321000016-1003",
        "Annika Läkare",
        Role.CLINICIAN.value,
        None,
    )
    assert user.password_hash == "!"  # no password signs in to it
    with ctx.db.session() as s:
        assert s.scalars(select(StaffSession.signed_in_with)).all() == ["oidc"]
    assert audit(ctx, "user.provisioned") == [
        (
            "system:oidc",
            {"username": "se2321000016-1003", "hsa_id": ANNIKA_HSA, "role": "clinician", "by": "oidc"},
        )
    ]
    assert audit(ctx, "user.signed_in") == [
        (
            "user:se2321000016-1003",
            {"method": "oidc", "hsa_id": ANNIKA_HSA, "acr": LOA3, "address": "testclient"},
        )
    ]
    seen = provider.seen()
    (asked,) = seen.authorization
    assert (asked["client_id"], asked["scope"], asked["acr_values"]) == (
        "vardmote-personal",
        "openid profile",
        LOA3,
    )
    assert (asked["state"], asked["nonce"], asked["code_challenge_method"]) == (True, True, "S256")
    (token,) = seen.token
    assert (token["client_auth_method"], token["code_verifier"], token["status"]) == (
        "client_secret_basic",
        True,
        200,
    )
    (userinfo,) = seen.userinfo  # profile's claims come from userinfo in the code flow
    assert (userinfo["bearer"], userinfo["status"]) == (True, 200)


def test_the_scopes_asked_for_are_the_settings(ctx: Context, provider: Provider) -> None:
    scopes = "openid profile https://id.oidc.se/scope/naturalPersonNumber"
    settings = dataclasses.replace(ctx.settings, staff_oidc_scopes=scopes)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        assert sign_in(c, provider).status_code == 303
    assert [a["scope"] for a in provider.seen().authorization] == [scopes]


def test_a_later_sign_in_updates_the_name_and_the_role(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.next_sign_in(account=ADMINISTRATOR)
    assert sign_in(client, provider).status_code == 303
    assert _user(ctx, ASA_HSA).role == Role.ADMIN.value  # the group vardmote-admin
    changed = {**provider.accounts[ADMINISTRATOR], "name": "Åsa Nygift", "groups": ["vardmote-personal"]}
    provider.put_accounts({ADMINISTRATOR: changed})
    provider.next_sign_in(account=ADMINISTRATOR)
    fresh = TestClient(client.app, base_url="http://vardmote.test")

    assert sign_in(fresh, provider).status_code == 303

    user = _user(ctx, ASA_HSA)
    assert (user.display_name, user.role) == ("Åsa Nygift", Role.CLINICIAN.value)
    assert count(ctx, User) == 1
    assert audit(ctx, "user.updated_from_claims") == [
        (
            "system:oidc",
            {"username": "se2321000016-1004", "changed": ["display_name", "role"], "role": "clinician"},
        )
    ]
    assert len(audit(ctx, "user.provisioned")) == 1


def test_without_an_admin_claim_setting_a_sign_in_leaves_the_role_alone(
    ctx: Context, provider: Provider
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "annika", "Annika", "långt-lösenord-1", Role.ADMIN.value, hsa_id=ANNIKA_HSA)
        s.commit()
    settings = dataclasses.replace(ctx.settings, staff_oidc_admin_claim="")
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        assert sign_in(c, provider).status_code == 303
    user = _user(ctx, ANNIKA_HSA)
    assert (user.username, user.display_name, user.role) == ("annika", "Annika Läkare", Role.ADMIN.value)
    assert audit(ctx, "user.provisioned") == []  # the account made by hand was found by its HSA-id


def test_the_page_asked_for_is_where_the_sign_in_ends(client: TestClient, provider: Provider) -> None:
    response = sign_in(client, provider, START + "?nasta=/moten/abc%3Fx%3D1")
    assert response.headers["location"] == "/moten/abc?x=1"
    elsewhere = sign_in(
        TestClient(client.app, base_url="http://vardmote.test"), provider, START + "?nasta=//evil.test/"
    )
    assert elsewhere.headers["location"] == "/kalender"


def test_a_deactivated_account_stays_out(ctx: Context, client: TestClient, provider: Provider) -> None:
    assert sign_in(client, provider).status_code == 303
    with ctx.db.session() as s:
        deactivate_user(s, "se2321000016-1003")
        s.commit()
    again = TestClient(client.app, base_url="http://vardmote.test")

    response = sign_in(again, provider)

    assert response.status_code == 403
    assert "Ditt konto är inaktiverat. Kontakta din administratör." in text_of(response.text)
    assert again.cookies.get("vm_session") is None
    assert count(ctx, StaffSession) == 0
    assert not _user(ctx, ANNIKA_HSA).active
    assert audit(ctx, "user.signin_refused") == [
        (
            "anonym",
            {
                "method": "oidc",
                "kind": "deactivated",
                "reason": "deactivated",
                "address": "testclient",
                "hsa_id": ANNIKA_HSA,
            },
        )
    ]


def test_a_demo_account_is_refused_outside_demo_mode(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "annika", "Annika", "demo", is_demo=True, hsa_id=ANNIKA_HSA)
        s.commit()
    response = sign_in(client, provider)
    assert response.status_code == 403
    assert "Det här kontot finns bara i demoläget och kan inte logga in." in text_of(response.text)
    assert count(ctx, StaffSession) == 0


def test_an_account_with_the_hsa_ids_username_but_no_hsa_id_is_not_taken_over(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "se2321000016-1003", "Annika", "långt-lösenord-1")
        s.commit()

    response = sign_in(client, provider)

    assert response.status_code == 403
    assert (
        "Det finns redan ett konto med ditt HSA-id som användarnamn, men det är inte kopplat till "
        "ditt HSA-id. Be din administratör koppla kontot till dig, om det är ditt, med kommandot: "
        "vardmote user set-hsa-id se2321000016-1003 SE2321000016-1003"
    ) in text_of(response.text)
    with ctx.db.session() as s:
        assert s.scalars(select(User.hsa_id)).all() == [None]  # not linked by the name alone
    assert count(ctx, StaffSession) == 0
    assert [(d["kind"], d["reason"], d["hsa_id"]) for _, d in audit(ctx, "user.signin_refused")] == [
        ("account_conflict", "unlinked_account", ANNIKA_HSA)
    ]


def test_an_account_linked_by_the_administrator_is_the_one_signed_in_to(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "annika", "Annika", "långt-lösenord-1")  # made before SITHS was switched on
        set_hsa_id(s, "annika", "SE2321000016-1003", actor="system:cli")
        s.commit()

    assert sign_in(client, provider).status_code == 303

    assert count(ctx, User) == 1  # no second, empty account
    user = _user(ctx, ANNIKA_HSA)
    assert (user.username, user.display_name) == ("annika", "Annika Läkare")
    assert audit(ctx, "user.provisioned") == []
    assert [actor for actor, _ in audit(ctx, "user.signed_in")] == ["user:annika"]


def test_an_hsa_ids_username_that_another_persons_account_has_is_refused(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "se2321000016-1003", "Någon annan", "långt-lösenord-1", hsa_id="SE2321000016-9")
        s.commit()
    response = sign_in(client, provider)
    assert response.status_code == 403
    page = text_of(response.text)
    assert "Det finns redan ett konto med ditt HSA-id som användarnamn. Kontakta din administratör." in page
    assert "set-hsa-id" not in page  # that account is someone else's: nothing to link
    with ctx.db.session() as s:
        assert s.scalars(select(User.hsa_id)).all() == ["SE2321000016-9"]
    assert count(ctx, StaffSession) == 0
    assert [(d["kind"], d["reason"]) for _, d in audit(ctx, "user.signin_refused")] == [
        ("account_conflict", "username_taken")
    ]


def test_the_state_cookie_is_bound_to_its_sign_in(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    back = provider.follow_sign_in(client, START)
    # The redirect without our cookie, from another address (a second refusal from one address in
    # its streak is counted, not audited: accounts/oidc_throttle.py).
    stranger = TestClient(client.app, base_url="http://vardmote.test", client=("192.0.2.9", 50000))
    response = stranger.get(path_of(back), follow_redirects=False)
    assert response.status_code == 400
    assert "Inloggningen kunde inte slutföras. Börja om och logga in igen." in text_of(response.text)
    code = parse_qs(urlsplit(back).query)["code"][0]
    wrong_state = client.get(f"/logga-in/oidc/klar?code={code}&state=fel", follow_redirects=False)
    assert wrong_state.status_code == 400
    assert provider.seen().token == []  # nothing was exchanged
    assert [d["reason"] for _, d in audit(ctx, "user.signin_refused")] == ["no_state_cookie", "wrong_state"]
    assert count(ctx, User) == 0


def test_without_an_issuer_there_is_no_siths_sign_in(ctx: Context) -> None:
    settings = dataclasses.replace(ctx.settings, staff_oidc_issuer="", local_signin=True)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        page = c.get("/logga-in")
        assert "Logga in med SITHS" not in page.text
        assert 'name="password"' in page.text
        for path in (START, "/logga-in/oidc/klar?code=x&state=y"):
            response = c.get(path, follow_redirects=False)
            assert response.status_code == 404
            assert "Inloggning via inloggningstjänsten är inte inställd här." in text_of(response.text)
