"""Behind a trusted reverse proxy the client address comes from X-Forwarded-For (its rightmost
untrusted hop), and only then: sign-in throttling and the audit see each real client, so one
attacker slows down the account they try, not everyone behind the proxy."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import PASSWORD, make_user
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.settings import Settings, SettingsError, load_settings

PROXY = "10.1.2.3"


@pytest.fixture
def proxied(settings: Settings, ctx: Context) -> Iterator[TestClient]:
    """proxied is the app behind a proxy at PROXY, which VARDMOTE_TRUSTED_PROXIES names (10.1.0.0/16)."""
    trusting = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("10.1.0.0/16"),))
    context = Context(trusting, ctx.db)
    with TestClient(
        create_app(trusting, context), base_url="http://vardmote.test", client=(PROXY, 40000)
    ) as c:
        yield c


def _sign_in(client: TestClient, username: str, password: str, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    response = client.post(
        "/api/v1/session", json={"username": username, "password": password}, headers=headers
    )
    return response.status_code


def _addresses(ctx: Context, action: str) -> list[str]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return [json.loads(d)["address"] for d in rows]


@pytest.mark.parametrize(
    ("forwarded", "seen"),
    [
        pytest.param("198.51.100.7", "198.51.100.7", id="one-hop"),
        pytest.param("6.6.6.6, 198.51.100.7", "198.51.100.7", id="client-written-hop-ignored"),
        pytest.param("198.51.100.7, 10.1.9.9", "198.51.100.7", id="second-trusted-proxy-skipped"),
        pytest.param("2001:db8::5", "2001:db8::5", id="ipv6"),
        pytest.param("not-an-address", PROXY, id="garbage-falls-back-to-the-proxy"),
        pytest.param(None, PROXY, id="no-header"),
    ],
)
def test_a_trusted_proxy_names_the_client(
    proxied: TestClient, ctx: Context, forwarded: str | None, seen: str
) -> None:
    make_user(ctx, "annika")
    assert _sign_in(proxied, "annika", PASSWORD, forwarded) == 201
    assert _addresses(ctx, "signin") == [seen]


def test_the_header_from_anyone_else_is_ignored(client: TestClient, ctx: Context) -> None:
    """Without VARDMOTE_TRUSTED_PROXIES (the default), or from a peer not named in it, the
    header is the client's own word and is not used."""
    make_user(ctx, "annika")
    assert _sign_in(client, "annika", PASSWORD, "198.51.100.7") == 201
    assert _addresses(ctx, "signin") == ["testclient"]


def test_a_peer_outside_the_trusted_networks_is_not_believed(settings: Settings, ctx: Context) -> None:
    trusting = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("10.1.0.0/16"),))
    make_user(ctx, "annika")
    app = create_app(trusting, Context(trusting, ctx.db))
    with TestClient(app, base_url="http://vardmote.test", client=("10.2.0.1", 40000)) as c:
        assert _sign_in(c, "annika", PASSWORD, "198.51.100.7") == 201
    assert _addresses(ctx, "signin") == ["10.2.0.1"]


def test_one_attacker_behind_the_proxy_slows_one_account_not_everyone(
    proxied: TestClient, ctx: Context
) -> None:
    make_user(ctx, "annika")
    make_user(ctx, "bertil")
    attacker = "203.0.113.66"
    codes = [
        _sign_in(proxied, "annika", f"gissning-{i}", attacker)
        for i in range(ctx.settings.signin_max_failures + 1)
    ]
    assert codes[-1] == 429, codes
    # The attacked account waits, from anywhere; so does the attacker's address, for any account.
    assert _sign_in(proxied, "annika", PASSWORD, "198.51.100.7") == 429
    assert _sign_in(proxied, "bertil", PASSWORD, attacker) == 429
    # Everyone else behind the same proxy signs in as usual.
    assert _sign_in(proxied, "bertil", PASSWORD, "198.51.100.8") == 201
    assert set(_addresses(ctx, "signin.failed")) == {attacker}


def test_the_setting_takes_addresses_and_networks() -> None:
    got = load_settings({"VARDMOTE_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16 ::1"}).trusted_proxies
    assert got == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
        ipaddress.ip_network("::1/128"),
    )
    assert load_settings({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="VARDMOTE_TRUSTED_PROXIES must hold IP addresses"):
        load_settings({"VARDMOTE_TRUSTED_PROXIES": "proxy.example"})
