"""Helpers for the account tests: a clock to move, cheap password hashes, clients at addresses.

Not a conftest.py: a second module named ``conftest`` would shadow the shared
one that the test modules import ``bearer`` and ``make_user`` from. Each test
module wraps what it needs here in its own fixtures.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response

from vardmote.accounts import passwords, service
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.errors import NotSignedIn, TooManyAttempts


class Clock:
    """Clock is the accounts service's idea of now, moved by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """advance moves the clock forward, e.g. advance(seconds=2)."""
        self.now += dt.timedelta(**delta)


def stop_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """stop_clock stops time for sign-in throttling and session expiry."""
    fake = Clock()
    monkeypatch.setattr(service, "utcnow", fake)
    return fake


def use_cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """use_cheap_password_hashes keeps argon2id but with the smallest cost, so many sign-ins stay fast."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", hasher.hash("dummy"))


ClientAt = Callable[[str], AbstractContextManager[TestClient]]


def clients_at(ctx: Context) -> ClientAt:
    """clients_at makes clients that call the app from a given address."""

    @contextmanager
    def opened(address: str) -> Iterator[TestClient]:
        app = create_app(ctx.settings, ctx)
        with TestClient(app, base_url="http://vardmote.test", client=(address, 50000)) as c:
            yield c

    return opened


def form_csrf(html: str) -> str:
    """form_csrf is the value of the first hidden csrf field on a page."""
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "the page has no csrf field"
    return found.group(1)


def attempt(ctx: Context, username: str, password: str, address: str) -> str:
    """attempt signs in through the service as the API does: "ok", "wrong" or "slowed"."""
    with ctx.db.session() as s:
        try:
            service.authenticate(ctx, s, username, password, address)
        except TooManyAttempts:
            return "slowed"
        except NotSignedIn:
            return "wrong"  # leaving the block commits the counted failure
    return "ok"


def page_sign_in(client: TestClient, username: str, password: str) -> Response:
    """page_sign_in opens the sign-in page and posts its form, as a browser does."""
    page = client.get("/logga-in")
    assert page.status_code == 200
    return client.post(
        "/logga-in",
        data={"csrf": form_csrf(page.text), "username": username, "password": password, "nasta": "/kalender"},
        follow_redirects=False,
    )
