"""The JSON API never answers 5xx, whatever a client sends: schemathesis over the whole schema.

Each test runs every operation of ``/api/v1/openapi.json`` with generated
input (valid and invalid), once signed out, once as the clinician Annika and
once as an administrator, and checks that no answer is a server error and
that every status code is one the schema documents. Each call gets a fresh
session, so an example that signs out does not sign out the next one.
Annika's calls go to a meeting she booked, so the meeting operations get
past "not found"; the administrator's calls use the generated ids.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from vardmote.accounts.models import User
from vardmote.accounts.service import start_session
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.db import Base, Database
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import book
from vardmote.settings import Secret, Settings

CHECKS = [not_a_server_error, status_code_conformance]

bounded = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _unbound_app() -> FastAPI:
    """_unbound_app is the app on a placeholder database, for reading its schema at import.

    The test database is made by a session fixture, after import; each test
    points the app at it (:func:`on_test_database`). The placeholder is a
    SQLite file with the tables, for the app's start-up.
    """
    placeholder = Settings(secret_key=Secret("schema-only-key-" + "x" * 32), public_url="http://vardmote.test")
    db = Database(f"sqlite:///{_PLACEHOLDER_DIR.name}/placeholder.sqlite3")
    Base.metadata.create_all(db.engine)
    return create_app(placeholder, Context(placeholder, db))


_PLACEHOLDER_DIR = tempfile.TemporaryDirectory(prefix="vardmote-schema-")
app = _unbound_app()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.fixture(autouse=True)
def on_test_database(ctx: Context) -> Iterator[None]:
    """on_test_database makes the app serve this test's emptied database."""
    placeholder = app.state.ctx
    app.state.ctx = ctx
    yield
    app.state.ctx = placeholder


def _fresh_session(ctx: Context, user: User) -> dict[str, str]:
    """_fresh_session signs user in (without the password check) and gives the Bearer header."""
    with ctx.db.session() as s:
        token, _ = start_session(ctx, s, user)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def booked_meeting(ctx: Context, clinician: User) -> str:
    """booked_meeting is the id of a protected meeting Annika booked for tomorrow."""
    start = dt.datetime.now(ctx.tz).replace(second=0, microsecond=0) + dt.timedelta(days=1)
    form = BookingForm(
        title="Återbesök",
        start=start.strftime("%Y-%m-%dT%H:%M"),
        end=(start + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
    )
    with ctx.db.session() as s:
        return book(ctx, s, clinician, form, "vardmote_patient")[0].id


@schema.parametrize()
@bounded
def test_the_api_never_fails_a_signed_out_client(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@bounded
def test_the_api_never_fails_a_signed_in_clinician(
    case: Case, ctx: Context, clinician: User, booked_meeting: str
) -> None:
    if case.path_parameters and "meeting_id" in case.path_parameters:
        case.path_parameters["meeting_id"] = booked_meeting
    case.call_and_validate(headers=_fresh_session(ctx, clinician), checks=CHECKS)


@schema.parametrize()
@bounded
def test_the_api_never_fails_an_administrator(case: Case, ctx: Context, administrator: User) -> None:
    case.call_and_validate(headers=_fresh_session(ctx, administrator), checks=CHECKS)
