"""Sessions under load: a request writes the sliding expiry at most once a minute, nothing
about a session is kept in a process (a sign-out on one ends it on every other at once),
and requests beyond the pool's size wait their turn instead of stalling the thread pool."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from signin_support import Clock, stop_clock
from sqlalchemy import event, select

from conftest import bearer
from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import resolve_session, start_session
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.db import Database


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch)


def _expires_at(ctx: Context) -> dt.datetime:
    with ctx.db.session() as s:
        found = s.scalar(select(StaffSession.expires_at))
    assert found is not None
    return found


def _updates_of_sessions(db: Database) -> list[str]:
    """_updates_of_sessions collects the UPDATE statements on staff_sessions sent from now on."""
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _watch(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "staff_sessions" in statement:
            seen.append(statement)

    return seen


def test_the_sliding_expiry_is_written_at_most_once_a_minute(
    ctx: Context, clinician: User, clock: Clock
) -> None:
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, clinician)
    started = _expires_at(ctx)
    updates = _updates_of_sessions(ctx.db)
    clock.advance(seconds=59)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is not None
    assert updates == []
    assert _expires_at(ctx) == started
    clock.advance(seconds=2)
    with ctx.db.session() as s:
        assert resolve_session(ctx, s, token) is not None
    assert len(updates) == 1
    assert _expires_at(ctx) == started + dt.timedelta(seconds=61)


def test_reads_in_a_row_write_nothing(client: TestClient, clinician: User, ctx: Context) -> None:
    headers = bearer(client, "annika")
    updates = _updates_of_sessions(ctx.db)
    for _ in range(5):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert client.get("/api/v1/meetings", headers=headers).status_code == 200
    assert updates == []


@pytest.fixture
def second_process(ctx: Context) -> Iterator[TestClient]:
    """second_process is the app as another process has it: its own Context and engine on
    the same database (nothing shared in memory with the client fixture's)."""
    other = Context(ctx.settings, Database(ctx.db.url))
    try:
        with TestClient(create_app(ctx.settings, other), base_url="http://vardmote.test") as c:
            yield c
    finally:
        other.db.dispose()


def test_signing_out_on_one_process_ends_the_session_on_another(
    client: TestClient, second_process: TestClient, clinician: User
) -> None:
    headers = bearer(client, "annika")
    assert second_process.get("/api/v1/me", headers=headers).status_code == 200
    assert second_process.get("/api/v1/meetings", headers=headers).status_code == 200
    assert client.delete("/api/v1/session", headers=headers).status_code == 204
    assert second_process.get("/api/v1/me", headers=headers).status_code == 401
    assert second_process.get("/api/v1/meetings", headers=headers).status_code == 401


def test_a_deactivated_account_is_refused_on_every_process_at_once(
    client: TestClient, second_process: TestClient, clinician: User, ctx: Context
) -> None:
    headers = bearer(client, "annika")
    assert second_process.get("/api/v1/me", headers=headers).status_code == 200
    with ctx.db.session() as s:
        user = s.get(User, clinician.id)
        assert user is not None
        user.active = False
    assert second_process.get("/api/v1/me", headers=headers).status_code == 401


async def test_more_requests_than_pooled_connections_all_get_their_answer(
    ctx: Context, clinician: User
) -> None:
    small = Context(ctx.settings, Database(ctx.db.url, pool_size=2))
    app = create_app(ctx.settings, small)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vardmote.test") as c:
            with small.db.session() as s:
                token, _ = start_session(small, s, clinician)
            headers = {"Authorization": f"Bearer {token}"}
            async with asyncio.timeout(20):  # the pool's own timeout is 30 s
                answers = await asyncio.gather(
                    *(c.get("/api/v1/meetings", headers=headers) for _ in range(60))
                )
        assert [a.status_code for a in answers] == [200] * 60
    finally:
        small.db.dispose()
