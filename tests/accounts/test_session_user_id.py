"""The week view's sign-in check (resolve_session_user_id, one plain query) answers as
resolve_session does, in every state a session and its account can be in, and extends
the session the same way."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from signin_support import Clock, stop_clock
from sqlalchemy import select

from conftest import make_user
from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import (
    require_session,
    require_session_user_id,
    resolve_session,
    resolve_session_user_id,
    start_session,
)
from vardmote.context import Context
from vardmote.errors import NotSignedIn


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch)


def _expires_at(ctx: Context) -> dt.datetime:
    with ctx.db.session() as s:
        found = s.scalar(select(StaffSession.expires_at))
    assert found is not None
    return found


def _both(ctx: Context, token: str | None) -> tuple[int | None, int | None, dt.datetime, dt.datetime]:
    """_both asks each function in a transaction of its own (rolled back, so the first's
    extension does not change what the second sees) and returns each one's answer and the
    expiry each left in its transaction."""
    answers: list[int | None] = []
    left: list[dt.datetime] = []
    for ask in (
        lambda s: row.user.id if (row := resolve_session(ctx, s, token)) else None,
        lambda s: resolve_session_user_id(ctx, s, token),
    ):
        s = ctx.db.open_session()
        try:
            answers.append(ask(s))
            s.flush()
            s.expire_all()
            found = s.scalar(select(StaffSession.expires_at))
            assert found is not None
            left.append(found)
        finally:
            ctx.db.finish(s, commit=False)
    return answers[0], answers[1], left[0], left[1]


Change = Callable[[Context, User, Clock], None]


def _nothing(ctx: Context, user: User, clock: Clock) -> None:
    pass


def _later(seconds: float) -> Change:
    def change(ctx: Context, user: User, clock: Clock) -> None:
        clock.advance(seconds=seconds)

    return change


def _account(**values: bool) -> Change:
    def change(ctx: Context, user: User, clock: Clock) -> None:
        with ctx.db.session() as s:
            row = s.get(User, user.id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)

    return change


@pytest.mark.parametrize(
    ("change", "demo", "live"),
    [
        (_nothing, False, True),
        (_later(59), False, True),  # extended less than a minute ago: no write
        (_later(61), False, True),  # extended
        (_later(8 * 3600 - 1), False, True),
        (_later(8 * 3600), False, False),  # expires exactly now
        (_later(9 * 3600), False, False),
        (_account(active=False), False, False),
        (_account(is_demo=True), False, False),
        (_account(is_demo=True), True, True),
        (_account(is_demo=True, active=False), True, False),
    ],
)
def test_the_plain_lookup_answers_and_extends_as_resolve_session(
    ctx: Context, clock: Clock, change: Change, demo: bool, live: bool
) -> None:
    ctx.settings = dataclasses.replace(ctx.settings, demo=demo, session_hours=8)
    user = make_user(ctx, "annika")
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, user)
    change(ctx, user, clock)
    by_orm, plain, orm_left, plain_left = _both(ctx, token)
    assert by_orm == plain == (user.id if live else None)
    assert plain_left == orm_left


@pytest.mark.parametrize("token", [None, "", "kort", "x" * 43, "å" * 43])
def test_no_token_or_an_unknown_one_is_refused_by_both(ctx: Context, token: str | None) -> None:
    user = make_user(ctx, "annika")
    with ctx.db.session() as s:
        start_session(ctx, s, user)
    assert _both(ctx, token)[:2] == (None, None)
    with ctx.db.session() as s, pytest.raises(NotSignedIn) as by_orm:
        require_session(ctx, s, token)
    with ctx.db.session() as s, pytest.raises(NotSignedIn) as plain:
        require_session_user_id(ctx, s, token)
    assert str(plain.value) == str(by_orm.value)


def test_the_extension_is_committed_with_the_request(ctx: Context, clock: Clock) -> None:
    user = make_user(ctx, "annika")
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, user)
    started = _expires_at(ctx)
    clock.advance(seconds=61)
    with ctx.db.session() as s:
        assert resolve_session_user_id(ctx, s, token) == user.id
    assert _expires_at(ctx) == started + dt.timedelta(seconds=61)
