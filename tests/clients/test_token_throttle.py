"""/oauth/token under a flood: refusals are counted per address, an address past the limit gets 429
with Retry-After before anything else is looked at, and a flood of refusals from someone unknown
writes one audit entry, not one each. A journal system's own refusals (its signature verified)
are audited every time.

The token endpoint's clock (clients.token.utcnow) is a fake that stands still unless a test moves
it, so that the waits are exact; the assertions are signed with the real time, within their
five minutes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking_helpers import count
from fhir_clients import JournalSystem, register_journal_system, rsa_key
from same_moment import at_the_same_moment
from throttle_clock import Clock, stop_clock
from vardmote.accounts.models import SigninThrottle
from vardmote.audit.models import AuditEntry
from vardmote.clients.models import AccessToken
from vardmote.clients.token import TokenIssued, TokenRefused, issue_token
from vardmote.context import Context
from vardmote.db import utcnow

TOKEN = "/oauth/token"
KEY = "oauth:addr:testclient"
"""The throttle key of the test client's address (Starlette's TestClient calls itself testclient)."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch, "vardmote.clients.token.utcnow")


@pytest.fixture
def cosmic(ctx: Context) -> JournalSystem:
    """cosmic is the region's journal system, registered with an RSA key."""
    return register_journal_system(ctx, "Cosmic")


def _stranger(cosmic: JournalSystem) -> JournalSystem:
    """_stranger signs like a journal system, as a client_id that is not registered."""
    return JournalSystem("Okänd", "11111111-2222-4333-8444-555555555555", cosmic.key, cosmic.audience)


def _refusals(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "client.token_refused").order_by(AuditEntry.id)
        )
        return [json.loads(row.details) for row in rows]


def _throttle(ctx: Context, key: str = KEY) -> tuple[int, dt.datetime | None]:
    with ctx.db.session() as s:
        row = s.get(SigninThrottle, key)
        assert row is not None, key
        return row.failures, row.blocked_until


def _throttled(wait: int) -> dict[str, str]:
    return {
        "error": "invalid_request",
        "error_description": f"Too many failed token requests from this address; wait {wait} seconds and "
        "try again.",
    }


BAD_REQUESTS = [
    pytest.param(lambda c: _stranger(c).token_form(), "unknown_client", id="unknown-client"),
    pytest.param(lambda c: c.token_form() | {"client_assertion": "inte.en.jwt"}, "malformed", id="not-a-jwt"),
    pytest.param(
        lambda c: c.token_form(key=rsa_key("cosmic-1", fresh=True)), "bad_signature", id="another-key"
    ),
    pytest.param(lambda c: c.token_form() | {"grant_type": "password"}, "grant_type", id="wrong-grant"),
]


@pytest.mark.parametrize(("make", "reason"), BAD_REQUESTS)
def test_a_flood_of_bad_token_requests_gets_429_after_the_limit_and_one_audit_entry(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock, make: Any, reason: str
) -> None:
    limit = ctx.settings.signin_max_failures
    answers = [client.post(TOKEN, data=make(cosmic)) for _ in range(limit + 25)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:limit] == [answers[0].status_code] * limit
    assert answers[0].status_code in (400, 401)
    assert statuses[limit:] == [429] * 25
    for answer in answers[limit:]:
        assert answer.json() == _throttled(1)
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["cache-control"] == "no-store"
    assert [details["reason"] for details in _refusals(ctx)] == [reason]
    assert _throttle(ctx) == (limit, clock.now + dt.timedelta(seconds=1))
    assert count(ctx, AccessToken) == 0


def test_a_good_request_from_a_blocked_address_waits_too_and_gets_its_token_after_the_wait(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock
) -> None:
    stranger = _stranger(cosmic)
    for _ in range(ctx.settings.signin_max_failures):
        assert client.post(TOKEN, data=stranger.token_form()).status_code == 401
    blocked = client.post(TOKEN, data=cosmic.token_form())
    assert (blocked.status_code, blocked.json()) == (429, _throttled(1))
    assert count(ctx, AccessToken) == 0
    clock.move(1)
    assert client.post(TOKEN, data=cosmic.token_form()).status_code == 200
    assert count(ctx, AccessToken) == 1
    assert _throttle(ctx)[0] == ctx.settings.signin_max_failures, "a token does not clear the address"


def test_each_failure_past_the_limit_doubles_the_wait(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock
) -> None:
    stranger = _stranger(cosmic)
    for _ in range(ctx.settings.signin_max_failures):
        client.post(TOKEN, data=stranger.token_form())
    waits = []
    for _ in range(4):
        blocked = client.post(TOKEN, data=stranger.token_form())
        assert blocked.status_code == 429
        wait = int(blocked.headers["retry-after"])
        waits.append(wait)
        clock.move(wait)
        assert client.post(TOKEN, data=stranger.token_form()).status_code == 401
    assert waits == [1, 2, 4, 8]
    assert len(_refusals(ctx)) == 1


def test_a_streak_is_forgotten_after_an_hour_without_failures_and_the_next_one_is_audited_again(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock
) -> None:
    stranger = _stranger(cosmic)
    for _ in range(3):
        assert client.post(TOKEN, data=stranger.token_form()).status_code == 401
    clock.move(59 * 60)
    assert client.post(TOKEN, data=stranger.token_form()).status_code == 401
    assert _throttle(ctx)[0] == 4
    assert len(_refusals(ctx)) == 1
    clock.move(61 * 60)
    assert client.post(TOKEN, data=stranger.token_form()).status_code == 401
    assert _throttle(ctx)[0] == 1
    assert len(_refusals(ctx)) == 2


def test_a_registered_clients_own_refusals_are_audited_every_time(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock
) -> None:
    form = cosmic.token_form()
    assert client.post(TOKEN, data=form).status_code == 200
    assert client.post(TOKEN, data=cosmic.token_form(key=rsa_key("cosmic-1", fresh=True))).status_code == 401
    for _ in range(2):
        assert client.post(TOKEN, data=form).status_code == 401
    assert client.post(TOKEN, data=cosmic.token_form("system/Patient.rs")).status_code == 400
    assert [(d["reason"], d["client"]) for d in _refusals(ctx)] == [
        ("bad_signature", "Cosmic"),
        ("replayed", "Cosmic"),
        ("replayed", "Cosmic"),
        ("malformed_scope", "Cosmic"),
    ]
    assert _throttle(ctx)[0] == 4


def test_another_address_is_not_held_up_by_a_blocked_one(
    client: TestClient, ctx: Context, cosmic: JournalSystem, clock: Clock
) -> None:
    stranger = _stranger(cosmic)
    for _ in range(ctx.settings.signin_max_failures + 3):
        client.post(TOKEN, data=stranger.token_form())
    with ctx.db.session() as s:
        outcome = issue_token(ctx, s, {k: [v] for k, v in cosmic.token_form().items()}, "192.0.2.7")
    assert isinstance(outcome, TokenIssued)


def test_two_bad_requests_at_the_same_moment_from_one_address_are_both_counted_and_audited_once(
    ctx: Context, cosmic: JournalSystem
) -> None:
    """The second request waits for the first's transaction: on PostgreSQL at the insert of the
    address's row (the primary key), after which it counts on that row under its lock instead of
    failing; on SQLite at its BEGIN IMMEDIATE."""
    now = utcnow()
    stranger = _stranger(cosmic)

    def form() -> dict[str, list[str]]:
        return {k: [v] for k, v in stranger.token_form().items()}

    def request(s: Session) -> TokenIssued | TokenRefused:
        return issue_token(ctx, s, form(), "198.51.100.4", now=now)

    first, outcome = at_the_same_moment(ctx, request, request)
    assert isinstance(first, TokenRefused)
    assert isinstance(outcome, TokenRefused)
    assert outcome.reason == "unknown_client"
    assert _throttle(ctx, "oauth:addr:198.51.100.4")[0] == 2
    assert len(_refusals(ctx)) == 1
