"""Two FHIR calls at the same moment: the second waits for the first's transaction and is then
checked against what the first wrote — never a double booking, never a 500, never a version
going backwards.

Each test runs the first call in an open transaction (not yet committed), starts the second in a
thread, sees it wait, then commits the first. On PostgreSQL the second waits at a row lock (or a
unique index); on SQLite every write transaction holds the database lock from its start, so
there the tests show the same outcome with the lock taken earlier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import fhir_people
import pytest
from fastapi.testclient import TestClient
from fhir_helpers import (
    BERTIL_HSA,
    appointment,
    at,
    clinician_actor,
    clinician_with_hsa_id,
    instant,
    post,
    resource,
)
from inbox_helpers import Person, skv_number, years_ago
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import same_moment
from vardmote.accounts.models import User
from vardmote.clients.models import ApiClient
from vardmote.context import Context
from vardmote.fhir import finding, service
from vardmote.fhir.models import JournalAppointment
from vardmote.fhir.outcome import FhirError
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting
from vardmote.meetings.service import change
from vardmote.settings import Settings

THIRTY_MINUTES = dt.timedelta(minutes=30)
Call = Callable[[Session, ApiClient], JournalAppointment]

annika = fhir_people.annika
cosmic = fhir_people.cosmic
headers = fhir_people.headers
karin = fhir_people.karin
per = fhir_people.per


def _cosmic(s: Session) -> ApiClient:
    found = s.scalar(select(ApiClient).where(ApiClient.name == "Cosmic"))
    assert found is not None
    return found


def at_the_same_moment(ctx: Context, first: Call, second: Call) -> tuple[int, int]:
    """at_the_same_moment runs first in an open transaction, second in another thread meanwhile,
    checks that second waits for first, commits first and returns both outcomes as statuses
    (200 for a row, the FhirError's status otherwise)."""

    def run_second(s: Session) -> int:
        try:
            second(s, _cosmic(s))
        except FhirError as e:
            return e.status
        return 200

    made, status = same_moment.at_the_same_moment(ctx, lambda s: first(s, _cosmic(s)), run_second)
    assert made is not None
    return 200, status


def _creating(ctx: Context, body: dict[str, Any]) -> Call:
    return lambda s, client: service.create(ctx, s, client, json.dumps(body).encode())


def _moving(ctx: Context, appointment_id: str, body: dict[str, Any], start: dt.datetime) -> Call:
    moved = body | {"id": appointment_id, "start": instant(start), "end": instant(start + THIRTY_MINUTES)}
    return lambda s, client: service.update(ctx, s, client, appointment_id, json.dumps(moved).encode(), None)


def _meetings_starting_at(ctx: Context, start: dt.datetime) -> int:
    with ctx.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Meeting)
                .where(Meeting.cancelled_at.is_(None), Meeting.starts_at == start)
            )
            or 0
        )


def test_two_moves_onto_one_time_of_the_clinicians_at_the_same_moment_give_one_conflict(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person, per: Person
) -> None:
    first_body = appointment(karin.number, start=at(3, 9))
    second_body = appointment(per.number, start=at(3, 11))
    first = resource(post(client, headers, first_body))
    second = resource(post(client, headers, second_body))
    assert first.id is not None
    assert second.id is not None

    outcomes = at_the_same_moment(
        ctx,
        _moving(ctx, first.id, first_body, at(3, 10)),
        _moving(ctx, second.id, second_body, at(3, 10)),
    )

    assert outcomes == (200, 409)
    assert _meetings_starting_at(ctx, at(3, 10)) == 1


def test_two_first_bookings_of_one_new_patient_at_the_same_moment_give_one_conflict(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User
) -> None:
    clinician_with_hsa_id(ctx, "bertil", BERTIL_HSA)
    newcomer = skv_number(years_ago(33))  # no one holds it yet

    outcomes = at_the_same_moment(
        ctx,
        _creating(ctx, appointment(newcomer, start=at(3, 9))),
        _creating(ctx, appointment(newcomer, hsa_id=BERTIL_HSA, start=at(3, 9, 15))),
    )

    assert outcomes == (200, 409)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(JournalAppointment)) == 1


class TestProvisioning:
    """With fhir_provision_clinicians on, the first booking of a new HSA-id makes the account."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, fhir_provision_clinicians=True)

    def test_two_first_bookings_of_one_new_hsa_id_at_the_same_moment_make_one_account(
        self, ctx: Context, headers: dict[str, str], karin: Person, per: Person
    ) -> None:
        new_hsa_id = "SE2321000016-NY01"

        def body(person: Person, hour: int) -> dict[str, Any]:
            made = appointment(person.number, hsa_id=new_hsa_id, start=at(3, hour))
            made["participant"][1] = clinician_actor(new_hsa_id, "Ny Nysson")
            return made

        outcomes = at_the_same_moment(ctx, _creating(ctx, body(karin, 9)), _creating(ctx, body(per, 11)))

        assert outcomes == (200, 200)
        with ctx.db.session() as s:
            users = list(s.scalars(select(User).where(User.hsa_id == new_hsa_id)))
            assert [(u.username, u.display_name) for u in users] == [("se2321000016-ny01", "Ny Nysson")]
            assert s.scalar(select(func.count()).select_from(JournalAppointment)) == 2


def test_a_read_at_the_moment_of_a_move_never_takes_the_version_backwards(
    ctx: Context, client: TestClient, headers: dict[str, str], annika: User, karin: Person
) -> None:
    body = appointment(karin.number, start=at(3, 9))
    booked = resource(post(client, headers, body))
    assert booked.id is not None
    appointment_id = booked.id
    with ctx.db.session() as s:  # staff move it in Vårdmöte: the next call gives version 2
        user = s.get(User, annika.id)
        assert user is not None
        meeting_id = _meeting_id(s, appointment_id)
        change(
            ctx,
            s,
            user,
            meeting_id,
            BookingForm("Digitalt vårdmöte", instant(at(3, 8)), instant(at(3, 8, 30))),
        )

    outcomes = at_the_same_moment(
        ctx,
        _moving(ctx, appointment_id, body, at(3, 13)),  # follows (2), then moves (3)
        lambda s, client: finding.read(ctx, s, client, appointment_id),
    )

    assert outcomes == (200, 200)
    with ctx.db.session() as s:
        row = s.get(JournalAppointment, appointment_id)
        assert row is not None
        assert (row.version, row.meeting_sequence) == (3, row.meeting.sequence)


def _meeting_id(s: Session, appointment_id: str) -> str:
    row = s.get(JournalAppointment, appointment_id)
    assert row is not None
    return row.meeting_id
