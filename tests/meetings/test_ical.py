"""Calendar export: one meeting as an .ics file, and the per-user feed that needs no sign-in."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from booking_helpers import ORGANISATION, TZ, audit, book, meeting_body, path_of
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.context import Context

PARTICIPANTS: dict[str, Any] = {
    "required": ["anna.andersson@kommun.example.se", "tolk.bengtsson@tolkservice.example.se"],
    "optional": ["cecilia.carlsson@regionvastmanland.example.se"],
}
FEED_NOT_FOUND = "Kalenderadressen finns inte. Hämta en ny adress under Kalenderprenumeration."


@pytest.fixture
def annika(client: TestClient, clinician: User) -> dict[str, str]:
    """annika is the clinician's Authorization header for the API."""
    return bearer(client, "annika")


def _unfolded(data: bytes) -> str:
    """_unfolded is the iCalendar text with folded lines joined again (RFC 5545 3.1)."""
    return data.decode().replace("\r\n ", "").replace("\r\n\t", "")


def _events(data: bytes) -> list[Any]:
    """_events are the file's VEVENTs, typed Any as icalendar's property values are (see smtp_helpers)."""
    events: list[Any] = Calendar.from_ical(data).walk("VEVENT")
    return events


def _only_event(data: bytes) -> Any:
    [event] = _events(data)
    return event


def _moment(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _ics(client: TestClient, headers: dict[str, str], meeting_id: str, route: str) -> bytes:
    path = f"/api/v1/meetings/{meeting_id}/ics" if route == "api" else f"/moten/{meeting_id}/kalenderfil.ics"
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{meeting_id}.ics"'
    return response.content


ROUTES = [pytest.param("api", id="api"), pytest.param("page", id="page")]


@pytest.mark.parametrize("route", ROUTES)
def test_the_file_has_the_protected_meeting_as_one_event(
    client: TestClient, annika: dict[str, str], route: str
) -> None:
    meeting = book(client, annika, title="Uppföljning; vecka 3, dietist", type_key="vardmote_patient")
    data = _ics(client, annika, meeting["id"], route)
    event = _only_event(data)
    assert str(event["summary"]) == "Uppföljning; vecka 3, dietist"
    assert str(event["uid"]) == f"{meeting['id']}@vardmote"
    assert str(event["status"]) == "CONFIRMED"
    assert event.decoded("sequence") == 0
    assert str(event["location"]) == f"Skyddat videomöte med {ORGANISATION}"
    assert str(event["url"]) == f"http://vardmote.test/moten/{meeting['id']}"
    for name in ("dtstart", "dtend"):
        moment = event.decoded(name)
        assert moment.utcoffset() == dt.timedelta(0)
    assert event.decoded("dtstart") == _moment(meeting["starts_at"])
    assert event.decoded("dtend") == _moment(meeting["ends_at"])
    start_utc = _moment(meeting["starts_at"]).strftime("%Y%m%dT%H%M%SZ")
    assert f"\r\nDTSTART:{start_utc}\r\n" in data.decode()


@pytest.mark.parametrize("route", ROUTES)
def test_the_description_has_the_join_link_and_the_information_pages(
    client: TestClient, annika: dict[str, str], route: str
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    description = str(_only_event(_ics(client, annika, meeting["id"], route))["description"])
    lines = description.split("\n")
    assert lines[0] == (
        f"Skyddat videomöte är {ORGANISATION}s videomötestjänst för digitala möten "
        "där känsliga personuppgifter hanteras."
    )
    assert lines[1:] == [
        f"» Anslut till videomötet {meeting['guest_url']}",
        "» Så fungerar det http://vardmote.test/sa-fungerar-det",
        "» Så behandlar vi dina personuppgifter http://vardmote.test/personuppgifter",
    ]


@pytest.mark.parametrize("route", ROUTES)
def test_no_participant_address_is_in_the_file(
    client: TestClient, annika: dict[str, str], route: str
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient", **PARTICIPANTS)
    assert len(meeting["participants"]) == 3
    text = _unfolded(_ics(client, annika, meeting["id"], route))
    for address in PARTICIPANTS["required"] + PARTICIPANTS["optional"]:
        assert address not in text
        assert address.split("@")[0] not in text
    assert "ATTENDEE" not in text
    assert "ORGANIZER" not in text
    assert [line for line in text.split("\r\n") if "@" in line] == [f"UID:{meeting['id']}@vardmote"]


def test_an_ordinary_entry_has_no_location_and_no_body(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, title="Handledning")
    event = _only_event(_ics(client, annika, meeting["id"], "api"))
    assert str(event["summary"]) == "Handledning"
    assert "location" not in event
    assert "description" not in event


def test_an_internal_meeting_has_no_join_line(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="internt")
    event = _only_event(_ics(client, annika, meeting["id"], "api"))
    assert str(event["location"]) == f"Skyddat videomöte med {ORGANISATION}"
    description = str(event["description"])
    assert "» Anslut till videomötet" not in description
    assert "/m/" not in description
    assert "» Så fungerar det http://vardmote.test/sa-fungerar-det" in description


def test_sequence_increases_with_every_change(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")

    def sequence() -> int:
        value: int = _only_event(_ics(client, annika, meeting["id"], "api")).decoded("sequence")
        return value

    assert sequence() == 0
    change = {"title": "Ny rubrik", "start": meeting["starts_local"], "end": meeting["ends_local"]}
    assert client.put(f"/api/v1/meetings/{meeting['id']}", json=change, headers=annika).status_code == 200
    assert sequence() == 1
    client.put(f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "mdk"}, headers=annika)
    assert sequence() == 2
    assert str(_only_event(_ics(client, annika, meeting["id"], "api"))["summary"]) == "Ny rubrik"


def test_a_cancelled_meeting_is_exported_as_cancelled(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    client.delete(f"/api/v1/meetings/{meeting['id']}", headers=annika)
    event = _only_event(_ics(client, annika, meeting["id"], "api"))
    assert str(event["status"]) == "CANCELLED"
    assert event.decoded("sequence") == 1


def test_another_clinician_cannot_download_the_file(
    client: TestClient, annika: dict[str, str], other_clinician: User
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    bertil = bearer(client, "bertil")
    assert client.get(f"/api/v1/meetings/{meeting['id']}/ics", headers=bertil).status_code == 404
    page = client.get(f"/moten/{meeting['id']}/kalenderfil.ics", headers=bertil)
    assert page.status_code == 404
    assert "Uppföljning" not in page.text


def test_the_file_needs_sign_in(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika)
    assert client.get(f"/api/v1/meetings/{meeting['id']}/ics").status_code == 401
    page = client.get(f"/moten/{meeting['id']}/kalenderfil.ics", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/logga-in?nasta=")


# --- the feed ------------------------------------------------------------------------------


def _new_feed(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/api/v1/calendar-feed", headers=headers)
    assert response.status_code == 201
    url: str = response.json()["url"]
    assert re.fullmatch(r"http://vardmote\.test/kalender/[A-Za-z0-9_-]{43}\.ics", url)
    return url


def _feed(client: TestClient, url: str) -> list[Any]:
    response = client.get(path_of(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return _events(response.content)


def _by_title(events: list[Any]) -> dict[str, Any]:
    return {str(e["summary"]): e for e in events}


def test_there_is_no_feed_until_one_is_made(client: TestClient, annika: dict[str, str]) -> None:
    assert client.get("/api/v1/calendar-feed", headers=annika).json() == {"url": None}
    url = _new_feed(client, annika)
    assert client.get("/api/v1/calendar-feed", headers=annika).json() == {"url": url}


def test_the_feed_works_without_sign_in_and_lists_only_the_users_meetings(
    ctx: Context, client: TestClient, annika: dict[str, str], other_clinician: User
) -> None:
    book(client, annika, title="Annikas patientmöte", type_key="vardmote_patient", **PARTICIPANTS)
    book(client, annika, title="Annikas kalenderpost", days=2)
    book(client, bearer(client, "bertil"), title="Bertils möte", type_key="vardmote_patient")
    url = _new_feed(client, annika)
    assert client.cookies.get("vm_session") is None
    events = _by_title(_feed(client, url))
    assert sorted(events) == ["Annikas kalenderpost", "Annikas patientmöte"]
    assert str(events["Annikas patientmöte"]["location"]) == f"Skyddat videomöte med {ORGANISATION}"
    text = _unfolded(client.get(path_of(url)).content)
    for address in PARTICIPANTS["required"] + PARTICIPANTS["optional"]:
        assert address not in text
    assert ("user:annika", "calendar_feed.renewed") in audit(ctx)


def test_the_feed_shows_a_cancelled_meeting_as_cancelled(client: TestClient, annika: dict[str, str]) -> None:
    kept = book(client, annika, title="Blir av", type_key="vardmote_patient")
    gone = book(client, annika, title="Blir inte av", type_key="vardmote_patient")
    client.delete(f"/api/v1/meetings/{gone['id']}", headers=annika)
    events = _by_title(_feed(client, _new_feed(client, annika)))
    assert str(events["Blir inte av"]["status"]) == "CANCELLED"
    assert str(events["Blir av"]["status"]) == "CONFIRMED"
    assert str(events["Blir av"]["uid"]) == f"{kept['id']}@vardmote"


def test_the_feed_lists_every_occurrence_of_a_series(client: TestClient, annika: dict[str, str]) -> None:
    body = meeting_body(
        "Gruppbehandling", type_key="vardmote_patient", recurrence={"frequency": "weekly", "count": 3}
    )
    response = client.post("/api/v1/meetings", json=body, headers=annika)
    assert response.status_code == 201
    events = _feed(client, _new_feed(client, annika))
    assert len(events) == 3
    assert sorted(str(e["uid"]) for e in events) == sorted(f"{m['id']}@vardmote" for m in response.json())
    days = sorted(e.decoded("dtstart").astimezone(TZ).date() for e in events)
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [7, 7]


def test_renewing_the_feed_stops_the_old_address(client: TestClient, annika: dict[str, str]) -> None:
    book(client, annika, title="Återbesök")
    old = _new_feed(client, annika)
    assert len(_feed(client, old)) == 1
    new = _new_feed(client, annika)
    assert new != old
    response = client.get(path_of(old))
    assert response.status_code == 404
    assert FEED_NOT_FOUND in response.text
    assert "Återbesök" not in response.text
    assert [str(e["summary"]) for e in _feed(client, new)] == ["Återbesök"]


@pytest.mark.parametrize(
    "token",
    [pytest.param("Q" * 43, id="well-formed"), pytest.param("abc", id="malformed")],
)
def test_an_unknown_feed_address_is_not_found(client: TestClient, token: str) -> None:
    response = client.get(f"/kalender/{token}.ics")
    assert response.status_code == 404
    assert FEED_NOT_FOUND in response.text
