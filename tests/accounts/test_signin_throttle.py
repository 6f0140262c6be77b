"""Sign-in throttling: past signin_max_failures, each further attempt must wait.

Failures are counted per account name and per address. Annika is the
clinician whose account is attacked; the addresses are from the documentation
ranges (192.0.2.0/24, 198.51.100.0/24).
"""

from __future__ import annotations

import datetime as dt

import pytest
from signin_support import (
    ClientAt,
    Clock,
    attempt,
    clients_at,
    page_sign_in,
    stop_clock,
    use_cheap_password_hashes,
)

from conftest import PASSWORD
from vardmote.accounts.models import User
from vardmote.accounts.service import FAILURE_MEMORY, MAX_BLOCK_SECONDS
from vardmote.context import Context

WRONG = "fel-lösenord"
ATTACKER = "192.0.2.66"
NURSE_PC = "198.51.100.7"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_password_hashes(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch)


@pytest.fixture
def client_at(ctx: Context) -> ClientAt:
    return clients_at(ctx)


def _fail(ctx: Context, times: int, username: str = "annika", address: str = ATTACKER) -> None:
    for _ in range(times):
        assert attempt(ctx, username, WRONG, address) == "wrong"


def test_the_limit_is_five_failures(ctx: Context) -> None:
    assert ctx.settings.signin_max_failures == 5


def test_after_five_failures_the_api_slows_the_account_down(
    client_at: ClientAt, clinician: User, clock: Clock
) -> None:
    with client_at(ATTACKER) as client:
        for _ in range(5):
            response = client.post("/api/v1/session", json={"username": "annika", "password": WRONG})
            assert response.status_code == 401
        response = client.post("/api/v1/session", json={"username": "annika", "password": PASSWORD})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "type": "/problems/too-many-attempts",
        "title": "För många försök",
        "status": 429,
        "detail": "För många misslyckade inloggningar. Vänta 1 sekunder och försök igen.",
    }


def test_four_failures_do_not_slow_anyone_down(ctx: Context, clinician: User, clock: Clock) -> None:
    _fail(ctx, 4)
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "ok"


def test_after_five_failures_the_page_slows_the_account_down(
    client_at: ClientAt, clinician: User, clock: Clock
) -> None:
    with client_at(ATTACKER) as client:
        for _ in range(5):
            assert page_sign_in(client, "annika", WRONG).status_code == 401
        response = page_sign_in(client, "annika", PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "För många misslyckade inloggningar. Vänta 1 sekunder och försök igen." in response.text
    assert "vm_session" not in response.cookies


def test_another_address_is_also_slowed_down_for_that_account(
    ctx: Context, clinician: User, clock: Clock
) -> None:
    for i in range(5):
        assert attempt(ctx, "annika", WRONG, f"192.0.2.{i + 1}") == "wrong"
    assert attempt(ctx, "annika", PASSWORD, NURSE_PC) == "slowed"


def test_another_account_from_another_address_is_not_slowed_down(
    ctx: Context, clinician: User, other_clinician: User, clock: Clock
) -> None:
    _fail(ctx, 5, "annika")
    assert attempt(ctx, "bertil", PASSWORD, NURSE_PC) == "ok"


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param("ANNIKA", id="upper-case"),
        pytest.param(" annika", id="leading-space"),
        pytest.param("annika ", id="trailing-space"),
    ],
)
def test_another_spelling_of_the_account_name_is_slowed_down_too(
    ctx: Context, clinician: User, clock: Clock, spelling: str
) -> None:
    for i in range(5):
        assert attempt(ctx, "annika", WRONG, f"192.0.2.{i + 1}") == "wrong"
    assert attempt(ctx, spelling, PASSWORD, NURSE_PC) == "slowed"


def test_one_address_trying_many_accounts_is_slowed_down(ctx: Context, clinician: User, clock: Clock) -> None:
    for name in ["anna", "bo", "cecilia", "david", "eva"]:
        assert attempt(ctx, name, WRONG, ATTACKER) == "wrong"
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "slowed"
    assert attempt(ctx, "annika", PASSWORD, NURSE_PC) == "ok"


def test_one_address_trying_many_accounts_is_slowed_down_through_the_api(
    client_at: ClientAt, clinician: User, clock: Clock
) -> None:
    with client_at(ATTACKER) as attacker:
        for name in ["anna", "bo", "cecilia", "david", "eva"]:
            response = attacker.post("/api/v1/session", json={"username": name, "password": WRONG})
            assert response.status_code == 401
        assert (
            attacker.post("/api/v1/session", json={"username": "annika", "password": PASSWORD}).status_code
            == 429
        )
    with client_at(NURSE_PC) as nurse:
        assert (
            nurse.post("/api/v1/session", json={"username": "annika", "password": PASSWORD}).status_code
            == 201
        )


def test_the_wait_doubles_with_each_further_failure(ctx: Context, clinician: User, clock: Clock) -> None:
    _fail(ctx, 5)
    waits = []
    for _ in range(4):
        assert attempt(ctx, "annika", WRONG, ATTACKER) == "slowed"
        wait = _retry_after(ctx, ATTACKER)
        waits.append(wait)
        clock.advance(seconds=wait)
        assert attempt(ctx, "annika", WRONG, ATTACKER) == "wrong"
    assert waits == [1, 2, 4, 8]


def test_the_wait_never_exceeds_fifteen_minutes(ctx: Context, clinician: User, clock: Clock) -> None:
    assert MAX_BLOCK_SECONDS == 15 * 60
    _fail(ctx, 5)
    for _ in range(12):
        clock.advance(seconds=MAX_BLOCK_SECONDS)
        assert attempt(ctx, "annika", WRONG, ATTACKER) == "wrong"
    assert _retry_after(ctx, ATTACKER) == MAX_BLOCK_SECONDS


def test_after_the_wait_the_right_password_works_again(ctx: Context, clinician: User, clock: Clock) -> None:
    _fail(ctx, 5)
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "slowed"
    clock.advance(seconds=1)
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "ok"


def test_a_success_clears_the_accounts_counter(ctx: Context, clinician: User, clock: Clock) -> None:
    for i in range(4):
        assert attempt(ctx, "annika", WRONG, f"192.0.2.{i + 1}") == "wrong"
    assert attempt(ctx, "annika", PASSWORD, NURSE_PC) == "ok"
    for i in range(4):
        assert attempt(ctx, "annika", WRONG, f"198.51.100.{i + 1}") == "wrong"
    assert attempt(ctx, "annika", PASSWORD, NURSE_PC) == "ok"


def test_a_success_does_not_clear_the_addresss_counter(
    ctx: Context, clinician: User, other_clinician: User, clock: Clock
) -> None:
    for name in ["anna", "bo", "cecilia", "david"]:
        assert attempt(ctx, name, WRONG, ATTACKER) == "wrong"
    assert attempt(ctx, "bertil", PASSWORD, ATTACKER) == "ok"
    assert attempt(ctx, "eva", WRONG, ATTACKER) == "wrong"
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "slowed"


def test_a_streak_of_failures_is_forgotten_after_an_hour_without_one(
    ctx: Context, clinician: User, clock: Clock
) -> None:
    assert dt.timedelta(hours=1) == FAILURE_MEMORY
    _fail(ctx, 4)
    clock.advance(hours=1, seconds=1)
    _fail(ctx, 4)
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "ok"


def test_failures_within_an_hour_of_each_other_add_up(ctx: Context, clinician: User, clock: Clock) -> None:
    for _ in range(5):
        clock.advance(minutes=59)
        assert attempt(ctx, "annika", WRONG, ATTACKER) == "wrong"
    assert attempt(ctx, "annika", PASSWORD, ATTACKER) == "slowed"


def _retry_after(ctx: Context, address: str) -> int:
    from vardmote.accounts.service import check_not_throttled
    from vardmote.errors import TooManyAttempts

    with ctx.db.session() as s:
        try:
            check_not_throttled(ctx, s, "annika", address)
        except TooManyAttempts as e:
            return e.retry_after
    return 0
