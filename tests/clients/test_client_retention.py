"""Retention of the journal systems' traces: expired access tokens and used assertions whose exp has
passed are purged; what is still in force stays, and a purged jti is refused by its exp anyway."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from fhir_clients import register_journal_system
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
