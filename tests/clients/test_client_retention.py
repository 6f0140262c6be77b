"""Retention of the journal systems' traces: expired access tokens and used assertions whose exp has
passed are purged; what is still in force stays, and a purged jti is refused by its exp anyway. The
token endpoint's and the identity provider sign-in's throttle rows go like the password's."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from fhir_clients import register_journal_system
from vardmote.accounts.models import SigninThrottle
from vardmote.clients.models import AccessToken, ApiClient, UsedAssertion
from vardmote.clients.token import TokenRefused, issue_token
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.lib.tokens import hash_token, new_token
from vardmote.retention import Purged, purge

MINUTE = dt.timedelta(minutes=1)


def test_the_purge_removes_expired_tokens_and_assertions_and_keeps_the_rest(ctx: Context) -> None:
    system = register_journal_system(ctx)
    now = utcnow()
    live, dead = new_token(), new_token()
    with ctx.db.session() as s:
        client = s.scalars(select(ApiClient).where(ApiClient.client_id == system.client_id)).one()
        for token, ends in ((live, now + MINUTE), (dead, now - MINUTE)):
            s.add(
                AccessToken(
                    token_hash=hash_token(token), client_id=client.id, scopes=client.scopes, expires_at=ends
                )
            )
        s.add(UsedAssertion(client_id=client.id, jti="gammal", expires_at=now - MINUTE))
        s.add(UsedAssertion(client_id=client.id, jti="färsk", expires_at=now + MINUTE))
    done = purge(ctx, now)
    assert (done.access_tokens, done.used_assertions) == (1, 1)
    with ctx.db.session() as s:
        assert list(s.scalars(select(AccessToken.token_hash))) == [hash_token(live)]
        assert list(s.scalars(select(UsedAssertion.jti))) == ["färsk"]
    assert purge(ctx, now) == Purged(), "a second round finds nothing"


def test_a_jti_purged_after_its_exp_cannot_be_replayed(client: TestClient, ctx: Context) -> None:
    system = register_journal_system(ctx)
    form = system.token_form()
    assert client.post("/oauth/token", data=form).status_code == 200
    later = utcnow() + dt.timedelta(minutes=5)
    assert purge(ctx, later).used_assertions == 1
    with ctx.db.session() as s:
        refused = issue_token(ctx, s, {k: [v] for k, v in form.items()}, "127.0.0.1", now=later)
    assert refused == TokenRefused(
        "invalid_client", "The assertion has expired: its exp is in the past.", "expired"
    )


def test_the_purge_removes_old_throttle_rows_of_the_token_endpoint_and_the_sign_in_unless_blocked(
    ctx: Context,
) -> None:
    now = utcnow()
    old = now - dt.timedelta(hours=ctx.settings.retention_throttle_hours + 1)
    with ctx.db.session() as s:
        s.add(SigninThrottle(key="oauth:addr:198.51.100.7", failures=9, last_failure_at=old))
        s.add(SigninThrottle(key="oidc:addr:198.51.100.7", failures=9, last_failure_at=old))
        s.add(SigninThrottle(key="oauth:addr:203.0.113.1", failures=2, last_failure_at=now - MINUTE))
        s.add(
            SigninThrottle(
                key="oidc:addr:203.0.113.1", failures=30, last_failure_at=old, blocked_until=now + MINUTE
            )
        )
    assert purge(ctx, now).throttle_rows == 2
    with ctx.db.session() as s:
        assert sorted(s.scalars(select(SigninThrottle.key))) == [
            "oauth:addr:203.0.113.1",
            "oidc:addr:203.0.113.1",
        ]
