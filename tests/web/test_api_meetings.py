"""The meetings API with a Bearer header: book, list, change, protect, cancel, who sees what, audit."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from meeting_api_helpers import (
    CANCELLED,
    JOURNAL,
    NOT_FOUND,
    assert_problem,
    date_in,
    invalid,
    moment,
)

from booking_helpers import ORGANISATION, TZ, audit, book, count, csrf_of, local, meeting_body, sign_in
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.audit.log import verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.meetings.models import Meeting, MeetingParticipant


@pytest.fixture
def annika(client: TestClient, clinician: User) -> dict[str, str]:
    """annika is the clinician's Authorization header."""
    return bearer(client, "annika")


# --- book ----------------------------------------------------------------------------------


def test_booking_answers_201_with_the_meeting(client: TestClient, annika: dict[str, str]) -> None:
    body = meeting_body(
        "Uppföljning diabetes",
        required=["anna@kommun.example.se", "tolk@tolkservice.example.se"],
        optional=["cecilia@regionvastmanland.example.se"],
    )
    response = client.post("/api/v1/meetings", json=body, headers=annika)
    assert response.status_code == 201
    [meeting] = response.json()
    assert uuid.UUID(meeting["id"])
    assert meeting["title"] == "Uppföljning diabetes"
    assert (meeting["starts_local"], meeting["ends_local"]) == (body["start"], body["end"])
    starts = moment(meeting["starts_at"])
    assert starts.utcoffset() == dt.timedelta(0)
    assert starts.astimezone(TZ).strftime("%Y-%m-%dT%H:%M") == body["start"]
    assert moment(meeting["ends_at"]) - starts == dt.timedelta(minutes=30)
    assert meeting["participants"] == [
        {"address": "anna@kommun.example.se", "required": True},
        {"address": "tolk@tolkservice.example.se", "required": True},
        {"address": "cecilia@regionvastmanland.example.se", "required": False},
    ]
    assert (meeting["type_key"], meeting["type_label"], meeting["location"], meeting["guest_url"]) == (
        None,
        None,
        "",
        None,
    )
    assert (meeting["series_id"], meeting["cancelled"], meeting["sequence"]) == (None, False, 0)
    assert meeting["page_url"] == f"http://vardmote.test/moten/{meeting['id']}"
    assert meeting["host_url"] == f"http://vardmote.test/moten/{meeting['id']}/starta"


def test_booking_with_a_type_protects_the_meeting_at_once(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="mdk")
    assert (meeting["type_key"], meeting["type_label"]) == ("mdk", "MDK")
    assert meeting["location"] == f"Skyddat videomöte med {ORGANISATION}"
    assert meeting["guest_url"].startswith("http://vardmote.test/m/")


def test_a_time_with_an_offset_is_taken_as_given(client: TestClient, annika: dict[str, str]) -> None:
    day = date_in(5)
    meeting = book(client, annika, start=f"{day}T09:00:00+00:00", end=f"{day}T10:00:00Z")
    assert moment(meeting["starts_at"]) == dt.datetime.fromisoformat(f"{day}T09:00:00+00:00")
    assert moment(meeting["ends_at"]) == dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


def test_a_recurring_booking_answers_every_occurrence(client: TestClient, annika: dict[str, str]) -> None:
    body = meeting_body(
        "Gruppbehandling", type_key="vardmote_patient", recurrence={"frequency": "weekly", "count": 3}
    )
    response = client.post("/api/v1/meetings", json=body, headers=annika)
    assert response.status_code == 201
    made = response.json()
    assert len(made) == 3
    assert len({m["id"] for m in made}) == 3
    assert len({m["guest_url"] for m in made}) == 3
    assert made[0]["series_id"] is not None
    assert {m["series_id"] for m in made} == {made[0]["series_id"]}
    days = [dt.date.fromisoformat(m["starts_local"][:10]) for m in made]
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [7, 7]
    assert {m["starts_local"][11:] for m in made} == {"09:00"}


# --- list and get --------------------------------------------------------------------------


def test_listing_a_week_gives_the_meetings_that_overlap_it(
    client: TestClient, annika: dict[str, str]
) -> None:
    today = dt.datetime.now(TZ).date()
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=14)
    sunday_before, sunday = monday - dt.timedelta(days=1), monday + dt.timedelta(days=6)
    next_monday = monday + dt.timedelta(days=7)

    def at(day: dt.date, start: str, end_day: dt.date, end: str, title: str) -> None:
        body = {"title": title, "start": f"{day}T{start}", "end": f"{end_day}T{end}"}
        assert client.post("/api/v1/meetings", json=body, headers=annika).status_code == 201

    at(sunday_before, "22:00", sunday_before, "23:00", "Söndagen före")
    at(sunday_before, "23:30", monday, "00:30", "Över midnatt in i veckan")
    at(monday, "09:00", monday, "09:30", "Måndag")
    at(sunday, "23:00", sunday, "23:59", "Söndag sent")
    at(next_monday, "00:00", next_monday, "00:30", "Måndagen efter")
    response = client.get(f"/api/v1/meetings?from={monday}&to={next_monday}", headers=annika)
    assert response.status_code == 200
    assert [m["title"] for m in response.json()] == ["Över midnatt in i veckan", "Måndag", "Söndag sent"]


def test_listing_without_dates_gives_the_current_week(client: TestClient, annika: dict[str, str]) -> None:
    now = dt.datetime.now(TZ).replace(second=0, microsecond=0)
    body = {
        "title": "Just nu",
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
    }
    assert client.post("/api/v1/meetings", json=body, headers=annika).status_code == 201
    book(client, annika, title="Om två veckor", days=14)
    assert [m["title"] for m in client.get("/api/v1/meetings", headers=annika).json()] == ["Just nu"]


def test_cancelled_meetings_are_listed_only_when_asked(client: TestClient, annika: dict[str, str]) -> None:
    kept = book(client, annika, title="Kvar", days=3)
    gone = book(client, annika, title="Avbokat", days=3)
    client.delete(f"/api/v1/meetings/{gone['id']}", headers=annika)
    week = f"from={date_in(3)}&to={date_in(4)}"
    assert [m["id"] for m in client.get(f"/api/v1/meetings?{week}", headers=annika).json()] == [kept["id"]]
    everything = client.get(f"/api/v1/meetings?{week}&include_cancelled=true", headers=annika).json()
    assert sorted((m["title"], m["cancelled"]) for m in everything) == [("Avbokat", True), ("Kvar", False)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        pytest.param("from=garbage", "from", "Ange datum som ÅÅÅÅ-MM-DD.", id="from-garbage"),
        pytest.param("from=2026-02-30", "from", "Ange datum som ÅÅÅÅ-MM-DD.", id="from-no-such-day"),
        pytest.param("to=12/3", "to", "Ange datum som ÅÅÅÅ-MM-DD.", id="to-garbage"),
        pytest.param("from=9999-12-31", "from", "Ange datum som ÅÅÅÅ-MM-DD.", id="from-last-day-of-time"),
        pytest.param("from=0001-01-01", "from", "Ange datum som ÅÅÅÅ-MM-DD.", id="from-first-day-of-time"),
        pytest.param(
            "from=2026-03-09&to=2026-03-09",
            "to",
            "Slutdatum ska vara efter startdatum och högst ett år senare.",
            id="to-equals-from",
        ),
        pytest.param(
            "from=2026-03-09&to=2027-03-11",
            "to",
            "Slutdatum ska vara efter startdatum och högst ett år senare.",
            id="over-a-year",
        ),
    ],
)
def test_listing_refuses_wrong_dates(
    client: TestClient, annika: dict[str, str], query: str, field: str, message: str
) -> None:
    errors = invalid(client.get(f"/api/v1/meetings?{query}", headers=annika))
    assert errors == [{"field": field, "message": message}]


def test_getting_a_meeting_answers_what_was_booked(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient", required=["anna@kommun.example.se"])
    response = client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika)
    assert response.status_code == 200
    assert response.json() == meeting


# --- change --------------------------------------------------------------------------------


def test_changing_a_meeting_saves_it_audits_it_and_raises_the_sequence(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient", required=["anna@kommun.example.se"])
    change = {
        "title": "Uppföljning, flyttad",
        "start": local(8, 13),
        "end": local(8, 14),
        "required": ["bertil@kommun.example.se"],
        "optional": ["anna@kommun.example.se"],
    }
    response = client.put(f"/api/v1/meetings/{meeting['id']}", json=change, headers=annika)
    assert response.status_code == 200
    changed = response.json()
    assert changed["title"] == "Uppföljning, flyttad"
    assert (changed["starts_local"], changed["ends_local"]) == (change["start"], change["end"])
    assert changed["participants"] == [
        {"address": "bertil@kommun.example.se", "required": True},
        {"address": "anna@kommun.example.se", "required": False},
    ]
    assert changed["sequence"] == meeting["sequence"] + 1
    assert changed["guest_url"] == meeting["guest_url"]
    assert client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika).json() == changed
    assert audit(ctx, meeting["id"])[-1] == ("user:annika", "meeting.changed")
    assert count(ctx, MeetingParticipant) == 2


def test_a_wrong_change_saves_nothing(ctx: Context, client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika)
    entries = count(ctx, AuditEntry)
    change = {"title": "Ny", "start": local(8, 13), "end": local(8, 12)}
    errors = invalid(client.put(f"/api/v1/meetings/{meeting['id']}", json=change, headers=annika))
    assert errors == [{"field": "end", "message": "Sluttiden måste vara efter starttiden."}]
    assert client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika).json() == meeting
    assert count(ctx, AuditEntry) == entries


def test_a_change_cannot_make_a_series(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika)
    change = {**meeting_body(), "recurrence": {"frequency": "weekly", "count": 3}}
    errors = invalid(client.put(f"/api/v1/meetings/{meeting['id']}", json=change, headers=annika))
    assert errors == [{"field": "recurrence", "message": "Okänd uppgift."}]


def test_a_cancelled_meeting_cannot_be_changed(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    client.delete(f"/api/v1/meetings/{meeting['id']}", headers=annika)
    change = client.put(f"/api/v1/meetings/{meeting['id']}", json=meeting_body("Ny"), headers=annika)
    assert invalid(change) == [{"field": "meeting", "message": CANCELLED}]
    choose = client.put(f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "mdk"}, headers=annika)
    assert invalid(choose) == [{"field": "meeting", "message": CANCELLED}]
    assert invalid(client.delete(f"/api/v1/meetings/{meeting['id']}", headers=annika)) == [
        {"field": "meeting", "message": CANCELLED}
    ]
    renew = client.post(f"/api/v1/meetings/{meeting['id']}/links/general", headers=annika)
    assert invalid(renew) == [{"field": "meeting", "message": CANCELLED}]


# --- type ----------------------------------------------------------------------------------


def test_choosing_a_type_protects_the_meeting(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika)
    response = client.put(
        f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "vardmote_patient"}, headers=annika
    )
    assert response.status_code == 200
    chosen = response.json()
    assert (chosen["type_key"], chosen["type_label"]) == ("vardmote_patient", "Vårdmöte patient")
    assert chosen["location"] == f"Skyddat videomöte med {ORGANISATION}"
    assert chosen["guest_url"].startswith("http://vardmote.test/m/")
    assert chosen["sequence"] == 1
    assert audit(ctx, meeting["id"])[1:] == [
        ("user:annika", "meeting.type_chosen"),
        ("user:annika", "link.created"),
    ]


def test_choosing_the_same_type_again_changes_nothing(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardrum")
    entries = count(ctx, AuditEntry)
    response = client.put(
        f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "vardrum"}, headers=annika
    )
    assert response.json() == meeting
    assert count(ctx, AuditEntry) == entries


@pytest.mark.parametrize(
    ("type_key", "message"),
    [
        pytest.param("digitalt_vardmote", JOURNAL, id="journal-type"),
        pytest.param("skype", "Okänd mötestyp: 'skype'.", id="unknown"),
        pytest.param("", "Okänd mötestyp: ''.", id="empty"),
    ],
)
def test_a_type_the_dialog_does_not_offer_cannot_be_chosen(
    ctx: Context, client: TestClient, annika: dict[str, str], type_key: str, message: str
) -> None:
    meeting = book(client, annika)
    response = client.put(
        f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": type_key}, headers=annika
    )
    assert invalid(response) == [{"field": "type_key", "message": message}]
    assert client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika).json()["type_key"] is None


def test_removing_the_type_makes_an_ordinary_entry_again(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    response = client.delete(f"/api/v1/meetings/{meeting['id']}/type", headers=annika)
    assert response.status_code == 200
    removed = response.json()
    assert (removed["type_key"], removed["type_label"], removed["location"], removed["guest_url"]) == (
        None,
        None,
        "",
        None,
    )
    assert removed["sequence"] == 1
    assert audit(ctx, meeting["id"])[-2:] == [
        ("user:annika", "meeting.type_removed"),
        ("user:annika", "link.revoked"),
    ]


def test_removing_the_type_of_an_ordinary_entry_changes_nothing(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika)
    response = client.delete(f"/api/v1/meetings/{meeting['id']}/type", headers=annika)
    assert response.json() == meeting
    assert audit(ctx, meeting["id"]) == [("user:annika", "meeting.booked")]


# --- cancel --------------------------------------------------------------------------------


def _series(client: TestClient, headers: dict[str, str], n: int = 3) -> list[dict[str, Any]]:
    body = meeting_body("Gruppbehandling", days=2, type_key="vardmote_patient")
    body["recurrence"] = {"frequency": "daily", "count": n}
    response = client.post("/api/v1/meetings", json=body, headers=headers)
    assert response.status_code == 201
    made: list[dict[str, Any]] = response.json()
    return made


def _listed(client: TestClient, headers: dict[str, str], include_cancelled: bool = False) -> list[str]:
    query = f"from={date_in(0)}&to={date_in(30)}" + ("&include_cancelled=true" if include_cancelled else "")
    return [m["id"] for m in client.get(f"/api/v1/meetings?{query}", headers=headers).json()]


def test_cancelling_one_occurrence_leaves_the_rest_of_the_series(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    first, second, third = _series(client, annika)
    response = client.delete(f"/api/v1/meetings/{second['id']}", headers=annika)
    assert response.status_code == 200
    [cancelled] = response.json()
    assert (cancelled["id"], cancelled["cancelled"], cancelled["guest_url"]) == (second["id"], True, None)
    assert _listed(client, annika) == [first["id"], third["id"]]
    assert _listed(client, annika, include_cancelled=True) == [first["id"], second["id"], third["id"]]
    assert audit(ctx, second["id"])[-1] == ("user:annika", "meeting.cancelled")
    assert client.get(f"/api/v1/meetings/{first['id']}", headers=annika).json()["guest_url"] is not None


def test_cancelling_the_whole_series_cancels_every_coming_occurrence(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    first, second, third, fourth = _series(client, annika, 4)
    client.delete(f"/api/v1/meetings/{second['id']}", headers=annika)
    with ctx.db.session() as s:
        past = s.get(Meeting, first["id"])
        assert past is not None
        past.starts_at, past.ends_at = (
            utcnow() - dt.timedelta(days=1, hours=1),
            utcnow() - dt.timedelta(days=1),
        )
    response = client.delete(f"/api/v1/meetings/{third['id']}?whole_series=true", headers=annika)
    assert response.status_code == 200
    assert sorted(m["id"] for m in response.json()) == sorted([third["id"], fourth["id"]])
    assert all(m["cancelled"] for m in response.json())
    assert client.get(f"/api/v1/meetings/{first['id']}", headers=annika).json()["cancelled"] is False
    assert _listed(client, annika) == []
    assert [a for _, a in audit(ctx) if a == "meeting.cancelled"] == ["meeting.cancelled"] * 3


def test_whole_series_on_a_single_meeting_cancels_just_it(client: TestClient, annika: dict[str, str]) -> None:
    single = book(client, annika, days=2)
    other = book(client, annika, days=3)
    response = client.delete(f"/api/v1/meetings/{single['id']}?whole_series=true", headers=annika)
    assert [m["id"] for m in response.json()] == [single["id"]]
    assert _listed(client, annika) == [other["id"]]


# --- someone else's, nobody's --------------------------------------------------------------


REQUESTS = [
    pytest.param("GET", "", None, id="get"),
    pytest.param("PUT", "", "change", id="change"),
    pytest.param("DELETE", "", None, id="cancel"),
    pytest.param("PUT", "/type", {"type_key": "mdk"}, id="choose-type"),
    pytest.param("DELETE", "/type", None, id="remove-type"),
    pytest.param("GET", "/links", None, id="links"),
    pytest.param("POST", "/links/general", None, id="renew-link"),
    pytest.param("GET", "/ics", None, id="ics"),
]


@pytest.mark.parametrize(("method", "suffix", "body"), REQUESTS)
def test_another_clinicians_meeting_is_not_found_like_a_meeting_that_does_not_exist(
    client: TestClient,
    annika: dict[str, str],
    other_clinician: User,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    bertil = bearer(client, "bertil")
    payload = meeting_body("Kapad") if body == "change" else body
    theirs = client.request(method, f"/api/v1/meetings/{meeting['id']}{suffix}", json=payload, headers=bertil)
    nobodys = client.request(method, f"/api/v1/meetings/{uuid.uuid4()}{suffix}", json=payload, headers=bertil)
    assert assert_problem(theirs, 404, "not-found")["detail"] == NOT_FOUND
    assert theirs.json() == nobodys.json()
    assert client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika).json() == meeting


def test_another_clinician_does_not_see_the_meeting_in_a_list(
    client: TestClient, annika: dict[str, str], other_clinician: User
) -> None:
    book(client, annika, days=3)
    query = f"from={date_in(0)}&to={date_in(7)}"
    assert client.get(f"/api/v1/meetings?{query}", headers=bearer(client, "bertil")).json() == []
    assert len(client.get(f"/api/v1/meetings?{query}", headers=annika).json()) == 1


def test_an_overlong_meeting_id_is_not_found(client: TestClient, annika: dict[str, str]) -> None:
    response = client.get(f"/api/v1/meetings/{'a' * 37}", headers=annika)
    assert assert_problem(response, 404, "not-found")["detail"] == NOT_FOUND


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/api/v1/meetings", id="list"),
        pytest.param("POST", "/api/v1/meetings", id="book"),
        pytest.param("GET", f"/api/v1/meetings/{uuid.uuid4()}", id="get"),
        pytest.param("DELETE", f"/api/v1/meetings/{uuid.uuid4()}", id="cancel"),
        pytest.param("GET", "/api/v1/meeting-types", id="types"),
        pytest.param("POST", "/api/v1/calendar-feed", id="feed"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer " + "Q" * 43}, id="unknown-token"),
        pytest.param({"Authorization": "Basic YW5uaWthOnNlY3JldA=="}, id="basic-auth"),
    ],
)
def test_the_api_needs_sign_in(
    ctx: Context, client: TestClient, clinician: User, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, json=meeting_body(), headers=headers)
    assert_problem(response, 401, "not-signed-in")
    assert count(ctx, Meeting) == 0


# --- audit ---------------------------------------------------------------------------------


def test_every_booking_change_is_audited_as_the_clinician(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    path = f"/api/v1/meetings/{meeting['id']}"
    assert client.put(path, json=meeting_body("Ändrad"), headers=annika).status_code == 200
    assert client.put(f"{path}/type", json={"type_key": "internt"}, headers=annika).status_code == 200
    assert (
        client.put(f"{path}/type", json={"type_key": "vardmote_patient"}, headers=annika).status_code == 200
    )
    assert client.post(f"{path}/links/general", headers=annika).status_code == 201
    assert client.delete(f"{path}/type", headers=annika).status_code == 200
    assert client.delete(path, headers=annika).status_code == 200
    assert audit(ctx, meeting["id"]) == [
        ("user:annika", action)
        for action in [
            "meeting.booked",
            "link.created",
            "meeting.changed",
            "meeting.type_chosen",
            "link.revoked",
            "meeting.type_chosen",
            "link.created",
            "link.revoked",
            "link.created",
            "meeting.type_removed",
            "link.revoked",
            "meeting.cancelled",
        ]
    ]
    with ctx.db.session() as s:
        assert verify(s).intact


# --- signed in by cookie -------------------------------------------------------------------


def test_a_cookie_signed_in_change_needs_the_csrf_header(
    ctx: Context, client: TestClient, clinician: User
) -> None:
    sign_in(client, "annika")
    refused = client.post("/api/v1/meetings", json=meeting_body())
    assert assert_problem(refused, 403, "forbidden")["detail"] == (
        "Sidan har varit öppen för länge eller kom inte härifrån. Ladda om sidan och försök igen."
    )
    wrong = client.post("/api/v1/meetings", json=meeting_body(), headers={"X-CSRF-Token": "fel"})
    assert wrong.status_code == 403
    assert count(ctx, Meeting) == 0
    csrf = csrf_of(client.get("/kalender").text)
    assert (
        client.post("/api/v1/meetings", json=meeting_body(), headers={"X-CSRF-Token": csrf}).status_code
        == 201
    )
    assert client.get("/api/v1/meetings?from=" + date_in(0) + "&to=" + date_in(14)).status_code == 200
