"""The meetings API refuses what is wrong: problems naming the field, nothing half-saved, NUL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from meeting_api_helpers import (
    ADDRESSES,
    COUNT,
    EITHER,
    JOURNAL,
    NOT_FOUND,
    assert_problem,
    invalid,
)

from booking_helpers import TZ, audit, book, count, meeting_body
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.audit.log import verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.meetings import links
from vardmote.meetings.models import Meeting, MeetingLink, MeetingSeries


@pytest.fixture
def annika(client: TestClient, clinician: User) -> dict[str, str]:
    """annika is the clinician's Authorization header."""
    return bearer(client, "annika")


# --- problems ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(
            {**meeting_body(), "colour": "blå"},
            [{"field": "colour", "message": "Okänd uppgift."}],
            id="unknown-field",
        ),
        pytest.param(
            {**meeting_body(), "recurrence": {"frequency": "weekly", "count": 2, "interval": 2}},
            [{"field": "recurrence.interval", "message": "Okänd uppgift."}],
            id="unknown-field-in-recurrence",
        ),
        pytest.param(
            {"start": "2030-01-01T09:00", "end": "2030-01-01T10:00"},
            [{"field": "title", "message": "Uppgiften saknas."}],
            id="missing-title",
        ),
        pytest.param(
            {**meeting_body(), "title": 42},
            [{"field": "title", "message": "Uppgiften har fel typ."}],
            id="title-number",
        ),
        pytest.param(
            {**meeting_body(), "required": "anna@example.se"},
            [{"field": "required", "message": "Uppgiften har fel typ."}],
            id="required-not-a-list",
        ),
        pytest.param(
            {**meeting_body(), "title": "R" * 4001},
            [{"field": "title", "message": "Värdet är utanför det tillåtna."}],
            id="title-over-4000",
        ),
        pytest.param(
            {**meeting_body(), "recurrence": {"frequency": "weekly", "count": "tre"}},
            [{"field": "recurrence.count", "message": "Uppgiften har fel typ."}],
            id="count-not-a-number",
        ),
        pytest.param([meeting_body()], [{"field": "body", "message": "Uppgiften har fel typ."}], id="a-list"),
    ],
)
def test_a_wrong_body_is_a_problem_naming_the_field(
    ctx: Context, client: TestClient, annika: dict[str, str], body: Any, errors: list[dict[str, str]]
) -> None:
    response = client.post("/api/v1/meetings", json=body, headers=annika)
    assert invalid(response) == errors
    assert response.json()["detail"] == "Rätta uppgifterna och försök igen."
    assert count(ctx, Meeting) == 0


def test_broken_json_is_a_problem(ctx: Context, client: TestClient, annika: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/meetings",
        content=b'{"title": "Uppf',
        headers={**annika, "Content-Type": "application/json"},
    )
    errors = invalid(response)
    assert [e["message"] for e in errors] == ["Innehållet är inte giltig JSON."]
    assert count(ctx, Meeting) == 0


def _filled(value: Any) -> Any:
    """_filled puts real dates into a table row: {day} is a week ahead, and so on."""
    today = dt.datetime.now(TZ).date()
    days = {
        "day": today + dt.timedelta(days=7),
        "day_before": today + dt.timedelta(days=6),
        "yesterday": today - dt.timedelta(days=1),
        "far": today + dt.timedelta(days=800),
        "day_plus_100": today + dt.timedelta(days=107),
    }
    if isinstance(value, str):
        return value.format(**{k: v.isoformat() for k, v in days.items()})
    if isinstance(value, dict):
        return {k: _filled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"title": ""}, "title", "Ange en rubrik för mötet.", id="empty-title"),
        pytest.param({"title": " \t "}, "title", "Ange en rubrik för mötet.", id="whitespace-title"),
        pytest.param(
            {"title": "R" * 201}, "title", "Rubriken får vara högst 200 tecken (nu 201).", id="201-chars"
        ),
        pytest.param(
            {"start": "snart"}, "start", "Ange starttid som ÅÅÅÅ-MM-DD TT:MM.", id="unparsable-start"
        ),
        pytest.param({"end": "sen"}, "end", "Ange sluttid som ÅÅÅÅ-MM-DD TT:MM.", id="unparsable-end"),
        pytest.param(
            {"end": "{day}T08:30"}, "end", "Sluttiden måste vara efter starttiden.", id="end-before-start"
        ),
        pytest.param(
            {"end": "{day}T09:00"}, "end", "Sluttiden måste vara efter starttiden.", id="end-equals-start"
        ),
        pytest.param(
            {"start": "{yesterday}T09:00", "end": "{yesterday}T09:30"},
            "start",
            "Starttiden har redan passerat. Välj en tid framåt i tiden.",
            id="start-in-the-past",
        ),
        pytest.param(
            {"start": "{far}T09:00", "end": "{far}T09:30"},
            "start",
            "Möten kan bokas högst två år framåt.",
            id="start-over-two-years-ahead",
        ),
        pytest.param({"end": "{day}T21:01"}, "end", "Ett möte kan vara högst 12 timmar.", id="over-12-hours"),
        pytest.param({"required": ["inte en adress"]}, "required", ADDRESSES, id="bad-required"),
        pytest.param({"optional": ["anna@example"]}, "optional", ADDRESSES, id="bad-optional"),
        pytest.param(
            {"recurrence": {"frequency": "monthly", "count": 3}},
            "frequency",
            "Välj om mötet återkommer varje dag eller varje vecka.",
            id="bad-frequency",
        ),
        pytest.param(
            {"recurrence": {"frequency": "", "count": 3}},
            "recurrence.frequency",
            "Välj om mötet återkommer varje dag eller varje vecka.",
            id="empty-frequency",
        ),
        pytest.param(
            {"recurrence": {"frequency": "weekly", "until": "{far}", "count": 3}},
            "until",
            EITHER,
            id="until-and-count",
        ),
        pytest.param({"recurrence": {"frequency": "weekly"}}, "until", EITHER, id="neither-until-nor-count"),
        pytest.param({"recurrence": {"frequency": "weekly", "count": 1}}, "count", COUNT, id="count-1"),
        pytest.param({"recurrence": {"frequency": "weekly", "count": 101}}, "count", COUNT, id="count-101"),
        pytest.param(
            {"recurrence": {"frequency": "weekly", "count": -2}}, "count", COUNT, id="count-negative"
        ),
        pytest.param(
            {"recurrence": {"frequency": "weekly", "until": "{day_before}"}},
            "until",
            "Slutdatum för återkommande möte måste vara efter första mötets dag.",
            id="until-before-start",
        ),
        pytest.param(
            {"recurrence": {"frequency": "daily", "until": "{day_plus_100}"}},
            "until",
            "Ett återkommande möte kan ha högst 100 tillfällen. Välj ett tidigare slutdatum.",
            id="until-gives-101-occurrences",
        ),
        pytest.param({"type_key": "digitalt_vardmote"}, "type_key", JOURNAL, id="journal-type"),
        pytest.param({"type_key": "skype"}, "type_key", "Okänd mötestyp: 'skype'.", id="unknown-type"),
    ],
)
def test_each_booking_rule_is_a_422_naming_the_field(
    ctx: Context,
    client: TestClient,
    annika: dict[str, str],
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    body = {**meeting_body(), **_filled(changes)}
    response = client.post("/api/v1/meetings", json=body, headers=annika)
    assert invalid(response) == [{"field": field, "message": message}]
    assert count(ctx, Meeting) == 0


# --- nothing half-saved --------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"recurrence": {"frequency": "daily", "until": "{day_plus_100}"}}, id="too-many-occurrences"
        ),
        pytest.param(
            {"recurrence": {"frequency": "daily", "count": 5}, "type_key": "skype"}, id="unknown-type"
        ),
        pytest.param(
            {"recurrence": {"frequency": "weekly", "count": 5}, "type_key": "digitalt_vardmote"},
            id="journal-type",
        ),
    ],
)
def test_a_refused_recurring_booking_leaves_nothing(
    ctx: Context, client: TestClient, annika: dict[str, str], changes: dict[str, Any]
) -> None:
    book(client, annika, title="Redan bokat")
    before = (count(ctx, Meeting), count(ctx, MeetingSeries), count(ctx, MeetingLink), count(ctx, AuditEntry))
    response = client.post("/api/v1/meetings", json={**meeting_body(), **_filled(changes)}, headers=annika)
    assert response.status_code == 422
    after = (count(ctx, Meeting), count(ctx, MeetingSeries), count(ctx, MeetingLink), count(ctx, AuditEntry))
    assert before[:3] == (1, 0, 0)
    assert after == before


def test_a_series_that_fails_half_way_leaves_nothing(
    ctx: Context, clinician: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = links.make_link
    calls: list[str] = []

    def fail_on_the_third(*args: Any, **kwargs: Any) -> MeetingLink:
        calls.append("make_link")
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return made(*args, **kwargs)

    monkeypatch.setattr(links, "make_link", fail_on_the_third)
    with TestClient(
        create_app(ctx.settings, ctx), base_url="http://vardmote.test", raise_server_exceptions=False
    ) as client:
        body = meeting_body(type_key="vardmote_patient", recurrence={"frequency": "weekly", "count": 5})
        response = client.post("/api/v1/meetings", json=body, headers=bearer(client, "annika"))
    assert assert_problem(response, 500, "internal-error")["detail"] == (
        "Ett oväntat fel inträffade. Inget har ändrats. Försök igen om en stund."
    )
    assert len(calls) == 3
    assert (count(ctx, Meeting), count(ctx, MeetingSeries), count(ctx, MeetingLink)) == (0, 0, 0)
    assert [action for _, action in audit(ctx) if action.startswith(("meeting.", "link."))] == []
    with ctx.db.session() as s:
        assert verify(s).intact


# --- control characters (PostgreSQL refuses NUL in text) ---------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param(
            "title",
            "Upp\x00följning",
            "Rubriken innehåller otillåtna tecken (kontrolltecken).",
            id="nul-in-title",
        ),
        pytest.param(
            "title",
            "Upp\x07följning",
            "Rubriken innehåller otillåtna tecken (kontrolltecken).",
            id="bell-in-title",
        ),
        pytest.param("required", ["eva\x00@region.se"], ADDRESSES, id="nul-in-address"),
        pytest.param("type_key", "\x00", "Okänd mötestyp: '\\x00'.", id="nul-as-type"),
    ],
)
def test_control_characters_are_refused_with_the_field_named(
    client: TestClient, annika: dict[str, str], ctx: Context, field: str, value: Any, message: str
) -> None:
    before = count(ctx, Meeting)
    response = client.post("/api/v1/meetings", headers=annika, json=meeting_body(**{field: value}))
    assert response.status_code == 422
    assert {"field": field, "message": message} in response.json()["errors"]
    assert count(ctx, Meeting) == before


def test_a_nul_type_for_a_booked_meeting_is_an_unknown_type(
    client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika)
    response = client.put(f"/api/v1/meetings/{meeting['id']}/type", headers=annika, json={"type_key": "\x00"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "type_key", "message": "Okänd mötestyp: '\\x00'."}]


def test_a_nul_in_a_meeting_id_is_not_found(client: TestClient, annika: dict[str, str]) -> None:
    response = client.get("/api/v1/meetings/%00", headers=annika)
    assert (response.status_code, response.json()["detail"]) == (404, NOT_FOUND)


def test_a_nul_in_a_username_is_a_wrong_sign_in(client: TestClient, clinician: User) -> None:
    response = client.post("/api/v1/session", json={"username": "anni\x00ka", "password": "fel"})
    assert (response.status_code, response.json()["detail"]) == (401, "Fel användarnamn eller lösenord.")
