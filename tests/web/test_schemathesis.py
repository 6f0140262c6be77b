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
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from vardmote.accounts.models import User
from vardmote.accounts.service import start_session
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.db import Base, Database
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import book
from vardmote.settings import Secret, Settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

TYPE_KEYS = ["vardmote_patient", "digitalt_vardmote", "informationsmote_patient", "internt", "vardrum", "mdk"]
ADDRESSES = ["patient@example.se", "Anhorig@Example.se", "anhorig@example.se", "tolk@example.se"]
RECURRENCES = [
    None,
    {"frequency": "weekly", "count": 3},
    {"frequency": "daily", "until": "2099-01-01"},
    {"frequency": "daily", "count": 100},
    {"frequency": "", "count": 2},
]

bounded = settings(
    max_examples=30,
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
    placeholder = Settings(
        var_dir=Path(_PLACEHOLDER_DIR.name),
        secret_key=Secret("schema-only-key-" + "x" * 32),
        public_url="http://vardmote.test",
        media=False,
    )
    db = Database(f"sqlite:///{_PLACEHOLDER_DIR.name}/placeholder.sqlite3")
    Base.metadata.create_all(db.engine)
    return create_app(placeholder, Context(placeholder, db))


_PLACEHOLDER_DIR = tempfile.TemporaryDirectory(prefix="vardmote-schema-")
app = _unbound_app()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
# @schema.given() cannot be combined with the schema's own examples; those run signed out.
fuzzed = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json",
    app,
    config=SchemathesisConfig.from_dict({"phases": {"examples": {"enabled": False}}}),
)


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


def _towards_valid(case: Case, data: st.DataObject, tz: ZoneInfo) -> None:
    """_towards_valid makes about half the cases valid where random text rarely is.

    Random times, addresses and type keys are almost always refused with 422,
    which would leave booking, changing and choosing a type untried; so half
    the cases get real ones (and the rest of the case as generated).
    """
    if not data.draw(st.booleans(), label="towards valid"):
        return
    params = case.path_parameters or {}
    if "key" in params:
        params["key"] = data.draw(st.sampled_from(TYPE_KEYS), label="key")
    if "link_id" in params:
        params["link_id"] = data.draw(st.integers(1, 4), label="link_id")
    body: Any = case.body
    if not isinstance(body, dict):
        return
    if "start" in body:
        tomorrow = dt.datetime.combine(dt.datetime.now(tz).date() + dt.timedelta(days=1), dt.time(8), tz)
        start = tomorrow + dt.timedelta(minutes=15 * data.draw(st.integers(0, 4 * 24 * 60), label="start"))
        minutes = data.draw(st.sampled_from([15, 30, 12 * 60, 12 * 60 + 1, 0]), label="minutes")
        body["start"] = start.strftime("%Y-%m-%dT%H:%M")
        body["end"] = (start + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")
        body["required"] = data.draw(st.lists(st.sampled_from(ADDRESSES), max_size=3), label="required")
        body["optional"] = data.draw(st.lists(st.sampled_from(ADDRESSES), max_size=3), label="optional")
    if "type_key" in body:
        keys = [*TYPE_KEYS, None] if "title" in body else TYPE_KEYS
        body["type_key"] = data.draw(st.sampled_from(keys), label="type_key")
    if "recurrence" in body:
        body["recurrence"] = data.draw(st.sampled_from(RECURRENCES), label="recurrence")


@schema.parametrize()
@bounded
def test_the_api_never_fails_a_signed_out_client(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


@fuzzed.parametrize()
@fuzzed.given(data=st.data())
@bounded
def test_the_api_never_fails_a_signed_in_clinician(
    case: Case, data: st.DataObject, ctx: Context, clinician: User, booked_meeting: str
) -> None:
    if case.path_parameters and "meeting_id" in case.path_parameters:
        case.path_parameters["meeting_id"] = booked_meeting
    _towards_valid(case, data, ctx.tz)
    case.call_and_validate(headers=_fresh_session(ctx, clinician), checks=CHECKS)


@fuzzed.parametrize()
@fuzzed.given(data=st.data())
@bounded
def test_the_api_never_fails_an_administrator(
    case: Case, data: st.DataObject, ctx: Context, administrator: User
) -> None:
    _towards_valid(case, data, ctx.tz)
    case.call_and_validate(headers=_fresh_session(ctx, administrator), checks=CHECKS)
