"""Guest links: made with a protected meeting, opened by guests, stopped by every way SPEC.md names.

A link that matches nothing is "not found" (404); one that matched a link
that no longer works is "gone" (410), with the same page for every reason, and
neither page tells anything about the meeting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from booking_helpers import ORGANISATION, audit, book, local, move, path_of
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.meetings import links
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting

WELCOME = f"Välkommen till ditt videomöte med {ORGANISATION}"
NOT_FOUND = (
    "Länken fungerar inte. Kontrollera att du har kopierat hela länken, eller kontakta din mottagning."
)
GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)
SECRET_TITLE = "Samtal om Kalle Ankas diabetes"
"""A title with personal data, which no guest-facing error page may show."""


def _book(ctx: Context, user: User, type_key: str = "vardmote_patient", title: str = SECRET_TITLE) -> str:
    """_book books a protected meeting through the service, three days ahead, and returns its id."""
    with ctx.db.session() as s:
        me = s.get(User, user.id)
        assert me is not None
        form = BookingForm(title=title, start=local(3, 9), end=local(3, 10))
        return meetings.book(ctx, s, me, form, type_key)[0].id


def _guest_url(ctx: Context, meeting_id: str) -> str | None:
    with ctx.db.session() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None
        link = links.general_link(ctx, s, meeting)
        return links.guest_url(ctx, link) if link is not None else None


def _opened(client: TestClient, url: str) -> tuple[int, str]:
    response = client.get(path_of(url))
    return response.status_code, response.text


def _assert_gone(client: TestClient, url: str) -> str:
    status, html = _opened(client, url)
    assert status == 410
    assert "<h1>Länken fungerar inte</h1>" in html
    assert GONE in html
    assert WELCOME not in html
    return html


@pytest.fixture
def annika(client: TestClient, clinician: User) -> dict[str, str]:
    """annika is the clinician's Authorization header for the API."""
    return bearer(client, "annika")


# --- made and opened -----------------------------------------------------------------------


def test_booking_a_protected_meeting_makes_one_general_link(ctx: Context, clinician: User) -> None:
    meeting_id = _book(ctx, clinician)
    with ctx.db.session() as s:
        meeting = meetings.get_meeting(ctx, s, clinician, meeting_id)
        made = links.links_of(s, meeting)
        assert [(k.kind, k.recipient, k.revoked_at) for k in made] == [("general", None, None)]
        assert links.is_active(ctx, made[0])
        url = links.guest_url(ctx, made[0])
    assert url is not None
    assert re.fullmatch(r"http://vardmote\.test/m/[A-Za-z0-9_-]{43}", url)
    assert audit(ctx, meeting_id) == [("user:annika", "meeting.booked"), ("user:annika", "link.created")]


def test_the_general_link_opens_the_welcome_page(ctx: Context, client: TestClient, clinician: User) -> None:
    url = _guest_url(ctx, _book(ctx, clinician))
    assert url is not None
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert f">{WELCOME}</h1>" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_meeting_booked_through_the_api_has_a_working_guest_url(
    client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    assert meeting["guest_url"] is not None
    status, html = _opened(client, meeting["guest_url"])
    assert status == 200
    assert WELCOME in html


def test_an_ordinary_calendar_entry_has_no_link(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika)
    assert meeting["guest_url"] is None
    assert client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json() == []


# --- unknown -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("Q" * 43, id="well-formed"),
        pytest.param("abc", id="too-short"),
        pytest.param("Q" * 44, id="too-long"),
        pytest.param("Q" * 42 + "!", id="bad-character"),
        pytest.param("Å" * 43, id="non-ascii-letters"),
        pytest.param("Q" * 42 + "=", id="padding"),
    ],
)
def test_an_unknown_token_is_not_found(client: TestClient, token: str) -> None:
    response = client.get(f"/m/{token}")
    assert response.status_code == 404
    assert "<h1>Länken fungerar inte</h1>" in response.text
    assert NOT_FOUND in response.text


def test_a_changed_character_makes_a_working_token_unknown(
    ctx: Context, client: TestClient, clinician: User
) -> None:
    url = _guest_url(ctx, _book(ctx, clinician))
    assert url is not None
    token = url.rsplit("/", 1)[1]
    other = ("A" if token[0] != "A" else "B") + token[1:]
    assert client.get(f"/m/{other}").status_code == 404
    assert client.get(f"/m/{token}").status_code == 200


# --- stopped -------------------------------------------------------------------------------


def test_a_revoked_link_is_gone(ctx: Context, client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    [link] = client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json()
    response = client.post(f"/api/v1/meetings/{meeting['id']}/links/{link['id']}/revoke", headers=annika)
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["revoked_at"] is not None
    _assert_gone(client, meeting["guest_url"])
    assert ("user:annika", "link.revoked") in audit(ctx, meeting["id"])


def test_a_cancelled_meetings_link_is_gone(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="mdk")
    assert client.delete(f"/api/v1/meetings/{meeting['id']}", headers=annika).status_code == 200
    _assert_gone(client, meeting["guest_url"])


def test_a_link_is_gone_after_the_meeting_and_the_grace_period(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    grace = dt.timedelta(minutes=ctx.settings.link_grace_minutes)
    assert grace > dt.timedelta(minutes=10)
    now = utcnow()
    move(ctx, meeting["id"], now - grace - dt.timedelta(hours=1), now - grace - dt.timedelta(minutes=1))
    _assert_gone(client, meeting["guest_url"])


def test_a_link_still_works_within_the_grace_period(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    grace = dt.timedelta(minutes=ctx.settings.link_grace_minutes)
    now = utcnow()
    move(ctx, meeting["id"], now - grace - dt.timedelta(hours=1), now - grace + dt.timedelta(minutes=5))
    status, html = _opened(client, meeting["guest_url"])
    assert status == 200
    assert WELCOME in html


def test_a_link_works_during_the_meeting(ctx: Context, client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    now = utcnow()
    move(ctx, meeting["id"], now - dt.timedelta(minutes=20), now + dt.timedelta(minutes=10))
    assert _opened(client, meeting["guest_url"])[0] == 200


def test_removing_the_protected_meeting_revokes_its_links(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    response = client.delete(f"/api/v1/meetings/{meeting['id']}/type", headers=annika)
    assert response.status_code == 200
    assert response.json()["guest_url"] is None
    _assert_gone(client, meeting["guest_url"])
    shown = client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json()
    assert [(k["active"], k["revoked_at"] is not None) for k in shown] == [(False, True)]


def test_remove_protection_in_the_service_revokes_every_link(ctx: Context, clinician: User) -> None:
    meeting_id = _book(ctx, clinician)
    with ctx.db.session() as s:
        meeting = meetings.get_meeting(ctx, s, clinician, meeting_id)
        links.make_link(ctx, s, meeting, "user:annika", links.RECIPIENT, "Tolkservice")
    with ctx.db.session() as s:
        meetings.remove_protection(ctx, s, clinician, meeting_id)
    with ctx.db.session() as s:
        meeting = meetings.get_meeting(ctx, s, clinician, meeting_id)
        made = links.links_of(s, meeting)
        assert len(made) == 2
        assert all(k.revoked_at is not None for k in made)
        assert not any(links.is_active(ctx, k) for k in made)


def test_changing_the_type_to_internt_revokes_the_links(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    response = client.put(
        f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "internt"}, headers=annika
    )
    assert response.status_code == 200
    assert response.json()["type_key"] == "internt"
    assert response.json()["guest_url"] is None
    _assert_gone(client, meeting["guest_url"])


def test_an_internal_meeting_has_no_guest_link_at_all(client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="internt")
    assert meeting["guest_url"] is None
    assert meeting["location"] == f"Skyddat videomöte med {ORGANISATION}"
    assert client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json() == []
    response = client.post(f"/api/v1/meetings/{meeting['id']}/links/general", headers=annika)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "Den här mötestypen har ingen gästlänk: bara inloggad personal kan ansluta."
    )
    assert client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json() == []


def test_a_change_between_types_with_guest_links_keeps_the_link(
    client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    response = client.put(f"/api/v1/meetings/{meeting['id']}/type", json={"type_key": "mdk"}, headers=annika)
    assert response.status_code == 200
    assert response.json()["guest_url"] == meeting["guest_url"]
    assert _opened(client, meeting["guest_url"])[0] == 200


def test_choosing_a_guest_type_again_after_internt_makes_a_new_link(
    client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    url = f"/api/v1/meetings/{meeting['id']}/type"
    client.put(url, json={"type_key": "internt"}, headers=annika)
    again = client.put(url, json={"type_key": "vardmote_patient"}, headers=annika).json()
    assert again["guest_url"] is not None
    assert again["guest_url"] != meeting["guest_url"]
    assert _opened(client, again["guest_url"])[0] == 200
    _assert_gone(client, meeting["guest_url"])


def test_renewing_the_general_link_stops_the_old_one(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    response = client.post(f"/api/v1/meetings/{meeting['id']}/links/general", headers=annika)
    assert response.status_code == 201
    renewed = response.json()
    assert renewed["kind"] == "general"
    assert renewed["active"] is True
    assert renewed["url"] != meeting["guest_url"]
    _assert_gone(client, meeting["guest_url"])
    assert _opened(client, renewed["url"])[0] == 200
    assert (
        client.get(f"/api/v1/meetings/{meeting['id']}", headers=annika).json()["guest_url"] == renewed["url"]
    )
    shown = client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json()
    assert [k["active"] for k in shown] == [False, True]
    assert audit(ctx, meeting["id"])[-2:] == [
        ("user:annika", "link.revoked"),
        ("user:annika", "link.created"),
    ]


def test_every_reason_a_link_stops_gives_the_same_page(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    revoked, cancelled, expired, unprotected = (
        book(client, annika, title=SECRET_TITLE, type_key="vardmote_patient") for _ in range(4)
    )
    [link] = client.get(f"/api/v1/meetings/{revoked['id']}/links", headers=annika).json()
    client.post(f"/api/v1/meetings/{revoked['id']}/links/{link['id']}/revoke", headers=annika)
    client.delete(f"/api/v1/meetings/{cancelled['id']}", headers=annika)
    now = utcnow()
    move(ctx, expired["id"], now - dt.timedelta(days=2), now - dt.timedelta(days=2) + dt.timedelta(hours=1))
    client.delete(f"/api/v1/meetings/{unprotected['id']}/type", headers=annika)
    pages = {_assert_gone(client, m["guest_url"]) for m in (revoked, cancelled, expired, unprotected)}
    assert len(pages) == 1


def test_the_404_and_410_pages_do_not_show_the_meeting(
    ctx: Context, client: TestClient, annika: dict[str, str]
) -> None:
    meeting = book(client, annika, title=SECRET_TITLE, type_key="vardmote_patient")
    client.delete(f"/api/v1/meetings/{meeting['id']}", headers=annika)
    gone = _assert_gone(client, meeting["guest_url"])
    token = meeting["guest_url"].rsplit("/", 1)[1]
    missing = client.get(f"/m/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}")
    assert missing.status_code == 404
    for html in (gone, missing.text):
        assert SECRET_TITLE not in html
        assert "Kalle" not in html
        assert meeting["id"] not in html
        assert "Annika" not in html


def test_another_clinician_cannot_revoke_the_link(
    client: TestClient, annika: dict[str, str], other_clinician: User
) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    [link] = client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=annika).json()
    bertil = bearer(client, "bertil")
    revoke = client.post(f"/api/v1/meetings/{meeting['id']}/links/{link['id']}/revoke", headers=bertil)
    assert revoke.status_code == 404
    assert client.post(f"/api/v1/meetings/{meeting['id']}/links/general", headers=bertil).status_code == 404
    assert client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=bertil).status_code == 404
    assert _opened(client, meeting["guest_url"])[0] == 200


def test_a_link_of_another_meeting_cannot_be_revoked_by_its_id(
    client: TestClient, annika: dict[str, str]
) -> None:
    first = book(client, annika, type_key="vardmote_patient")
    second = book(client, annika, type_key="vardmote_patient")
    [link] = client.get(f"/api/v1/meetings/{first['id']}/links", headers=annika).json()
    response = client.post(f"/api/v1/meetings/{second['id']}/links/{link['id']}/revoke", headers=annika)
    assert response.status_code == 404
    assert response.json()["detail"] == "Länken finns inte."
    assert _opened(client, first["guest_url"])[0] == 200


# --- storage -------------------------------------------------------------------------------


def test_the_token_is_not_stored_in_clear(ctx: Context, client: TestClient, annika: dict[str, str]) -> None:
    meeting = book(client, annika, type_key="vardmote_patient")
    token = meeting["guest_url"].rsplit("/", 1)[1]
    with ctx.db.engine.connect() as conn:
        rows = list(conn.execute(text("SELECT * FROM meeting_links")))
        audit_rows = list(conn.execute(text("SELECT * FROM audit_entries")))
    assert len(rows) == 1
    for value in [*rows[0], *(v for row in audit_rows for v in row)]:
        if isinstance(value, memoryview):
            value = value.tobytes()
        if isinstance(value, bytes):
            assert token.encode() not in value
            assert token.encode() not in value.hex().encode()
        else:
            assert token not in str(value)
    assert hashlib.sha256(token.encode()).digest() in [
        bytes(v) for v in rows[0] if isinstance(v, bytes | memoryview)
    ]


# --- personal links ----------------------------------------------------------------------------


def test_each_invited_person_can_get_a_personal_link_that_works_on_its_own(
    client: TestClient, clinician: User
) -> None:
    headers = bearer(client, "annika")
    meeting = book(client, headers, type_key="vardmote_patient")
    made = client.post(
        f"/api/v1/meetings/{meeting['id']}/links", json={"recipient": " Tolk "}, headers=headers
    )
    assert made.status_code == 201
    link = made.json()
    assert (link["kind"], link["recipient"], link["active"]) == ("recipient", "Tolk", True)
    assert link["url"] != meeting["guest_url"]
    assert _opened(client, link["url"])[0] == 200
    revoked = client.post(f"/api/v1/meetings/{meeting['id']}/links/{link['id']}/revoke", headers=headers)
    assert revoked.json()["active"] is False
    assert _opened(client, link["url"])[0] == 410
    assert _opened(client, meeting["guest_url"])[0] == 200  # the general link is untouched


@pytest.mark.parametrize(
    "recipient",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("x" * 61, id="too-long"),
        pytest.param("Tolk\x00", id="control-character"),
    ],
)
def test_a_personal_link_needs_a_short_role(
    ctx: Context, client: TestClient, clinician: User, recipient: str
) -> None:
    headers = bearer(client, "annika")
    meeting = book(client, headers, type_key="vardmote_patient")
    response = client.post(
        f"/api/v1/meetings/{meeting['id']}/links", json={"recipient": recipient}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "recipient", "message": links.RECIPIENT_HELP}]
    assert len(client.get(f"/api/v1/meetings/{meeting['id']}/links", headers=headers).json()) == 1


def test_an_internal_meeting_gets_no_personal_link(client: TestClient, clinician: User) -> None:
    headers = bearer(client, "annika")
    meeting = book(client, headers, type_key="internt")
    response = client.post(
        f"/api/v1/meetings/{meeting['id']}/links", json={"recipient": "Tolk"}, headers=headers
    )
    assert response.status_code == 409


def test_the_meeting_page_makes_a_personal_link(ctx: Context, client: TestClient, clinician: User) -> None:
    headers = bearer(client, "annika")
    meeting = book(client, headers, type_key="vardmote_patient")
    page = client.get(f"/moten/{meeting['id']}", headers=headers).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    response = client.post(
        f"/moten/{meeting['id']}/lankar/personlig",
        data={"csrf": csrf.group(1), "recipient": "Närstående 1"},
        headers=headers,
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Personlig länk: Närstående 1" in response.text
    assert ("user:annika", "link.created") in audit(ctx, meeting["id"])
