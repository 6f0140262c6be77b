"""The staff sign-in with the identity provider under a flood: refusals are counted per address, an
address past the limit gets the sign-in page with 429 and Retry-After before anything else (the
provider is not asked), and a flood from someone unknown writes one audit entry, not one each. A
refusal of someone the provider signed in (a deactivated account) is audited every time.

The throttle's clock (accounts.oidc_throttle.utcnow) is a fake that stands still unless a test
moves it, so that the waits are exact."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from staff_oidc_support import START, audit, sign_in, staff_fixtures, text_of

from booking_helpers import count
from oidc_provider import Provider, path_of
from throttle_clock import Clock, stop_clock
from vardmote.accounts.models import SigninThrottle, StaffSession
from vardmote.accounts.service import add_user, deactivate_user
from vardmote.context import Context
from vardmote.db import utcnow

running, provider, settings = staff_fixtures()

DONE = "/logga-in/oidc/klar"
KEY = "oidc:addr:testclient"
"""The throttle key of the test client's address (Starlette's TestClient calls itself testclient)."""
RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
UNAVAILABLE = "Inloggningstjänsten svarar inte just nu. Försök igen om en stund."
ANNIKA_HSA = "SE2321000016-1003"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stop_clock(monkeypatch, "vardmote.accounts.oidc_throttle.utcnow")


def _wait_text(seconds: int) -> str:
    return f"För många misslyckade inloggningar. Vänta {seconds} sekunder och försök igen."


def _failures(ctx: Context, key: str = KEY) -> int:
    with ctx.db.session() as s:
        row = s.get(SigninThrottle, key)
        return row.failures if row is not None else 0


def _refusals(ctx: Context) -> list[str]:
    return [details["reason"] for _, details in audit(ctx, "user.signin_refused")]


def test_a_flood_of_answers_without_a_state_cookie_gets_429_after_the_limit_and_one_audit_entry(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    limit = ctx.settings.signin_max_failures
    answers = [client.get(f"{DONE}?code=x&state=y", follow_redirects=False) for _ in range(limit + 20)]
    assert [a.status_code for a in answers] == [400] * limit + [429] * 20
    assert RESTART in text_of(answers[0].text)
    for answer in answers[limit:]:
        assert _wait_text(1) in text_of(answer.text)
        assert answer.headers["retry-after"] == "1"
    assert _refusals(ctx) == ["no_state_cookie"]
    assert _failures(ctx) == limit
    assert provider.seen().token == []


def test_a_flood_of_sign_ins_while_the_provider_is_down_gets_429_after_the_limit_and_one_audit_entry(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    provider.stop()
    limit = ctx.settings.signin_max_failures
    answers = [client.get(START, follow_redirects=False) for _ in range(limit + 10)]
    assert [a.status_code for a in answers] == [502] * limit + [429] * 10
    assert UNAVAILABLE in text_of(answers[0].text)
    assert _wait_text(1) in text_of(answers[-1].text)
    assert answers[-1].headers["retry-after"] == "1"
    assert "vm_staff_oidc" not in answers[-1].headers.get("set-cookie", "")
    assert [d["kind"] for _, d in audit(ctx, "user.signin_refused")] == ["provider_unavailable"]
    assert _failures(ctx) == limit


def test_each_refusal_past_the_limit_doubles_the_wait(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    for _ in range(ctx.settings.signin_max_failures):
        client.get(DONE, follow_redirects=False)
    waits = []
    for _ in range(3):
        blocked = client.get(DONE, follow_redirects=False)
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["retry-after"]))
        assert _wait_text(waits[-1]) in text_of(blocked.text)
        clock.move(waits[-1])
        assert client.get(DONE, follow_redirects=False).status_code == 400
    assert waits == [1, 2, 4]
    assert len(_refusals(ctx)) == 1


def test_a_blocked_address_is_not_signed_in_but_may_finish_its_sign_in_after_the_wait(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    back = provider.follow_sign_in(client, START)
    stranger = TestClient(client.app, base_url="http://vardmote.test")  # the same address, no cookie
    for _ in range(ctx.settings.signin_max_failures):
        assert stranger.get(DONE, follow_redirects=False).status_code == 400
    blocked = client.get(path_of(back), follow_redirects=False)
    assert blocked.status_code == 429
    assert _wait_text(1) in text_of(blocked.text)
    assert count(ctx, StaffSession) == 0
    assert provider.seen().token == []  # the provider was not asked
    assert client.get(START, follow_redirects=False).status_code == 429
    clock.move(1)
    assert client.get(path_of(back), follow_redirects=False).status_code == 303
    assert count(ctx, StaffSession) == 1


def test_the_refusals_of_someone_the_provider_signed_in_are_audited_every_time(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "annika", "Annika Andersson", "långt-lösenord-1", hsa_id=ANNIKA_HSA)
        deactivate_user(s, "annika")
    assert client.get(DONE, follow_redirects=False).status_code == 400
    assert client.get(DONE, follow_redirects=False).status_code == 400
    for _ in range(2):
        assert sign_in(client, provider).status_code == 403
    assert _refusals(ctx) == ["no_state_cookie", "deactivated", "deactivated"]
    assert _failures(ctx) == 4


def test_another_address_is_not_held_up_by_a_blocked_one(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    for _ in range(ctx.settings.signin_max_failures + 2):
        client.get(DONE, follow_redirects=False)
    nurse = TestClient(client.app, base_url="http://vardmote.test", client=("198.51.100.7", 50000))
    assert sign_in(nurse, provider).status_code == 303
    assert _failures(ctx, "oidc:addr:198.51.100.7") == 0


def test_a_password_failure_does_not_count_toward_the_providers_sign_in(
    ctx: Context, client: TestClient, provider: Provider, clock: Clock
) -> None:
    with ctx.db.session() as s:
        s.add(
            SigninThrottle(key="addr:testclient", failures=50, blocked_until=utcnow() + dt.timedelta(hours=1))
        )
    assert sign_in(client, provider).status_code == 303
