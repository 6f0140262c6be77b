"""The inbox as a patient sees it: Start, the message list, a message with its join link, Bokade tider."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from inbox_helpers import (
    CLINIC,
    Person,
    add_person,
    cancel,
    read_at,
    send_message,
    sign_in,
    text_of,
    years_ago,
)
from sqlalchemy import select

from booking_helpers import TZ, move
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.meetings.links import revoke
from vardmote.meetings.models import MeetingLink
from vardmote.settings import Settings

NOT_FOUND = "Meddelandet finns inte i den här inkorgen."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """settings are the test settings in demo mode: the test e-identification is on."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def patient(ctx: Context) -> Person:
    """patient is Karin, an adult patient with an inbox."""
    return add_person(ctx, "Karin Ek", years_ago(52), "238")


@pytest.fixture
def other(ctx: Context) -> Person:
    """other is Per, another adult patient."""
    return add_person(ctx, "Per Holm", years_ago(61), "239")


def _item(html: str, message_id: int) -> str:
    found = re.search(
        rf'<li class="msg[^"]*">\s*<a href="/inkorg/meddelanden/{message_id}">.*?</li>', html, re.S
    )
    assert found is not None, f"message {message_id} is not in the list"
    return found.group(0)


def test_start_shows_the_inbox_with_its_unread_count_and_the_booked_times(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    send_message(ctx, patient, days=3)
    send_message(ctx, patient, days=5)
    sign_in(client, patient.typed)
    page = client.get("/inkorg")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Karin Ek Logga ut" in text
    assert "Start Inkorg 2 olästa Bokade tider" in text
    assert "Inkorg Se inkorg 2 olästa" in text
    assert "Bokade tider Nästa:" in text
    assert "Se bokade tider" in text
    assert "Agera ombud" not in text  # Karin has no children
    assert 'aria-current="page">Start' in page.text


def test_the_list_shows_newest_first_with_olast_and_the_unread_count(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    older = send_message(ctx, patient, days=3, sent_at=utcnow() - dt.timedelta(days=2))
    newer = send_message(ctx, patient, days=5, clinic="Barnmottagningen, Köping")
    with ctx.db.session() as s:
        from vardmote.invitations.models import InboxMessage

        row = s.get(InboxMessage, older.message_id)
        assert row is not None
        row.read_at = utcnow()
    sign_in(client, patient.typed)

    page = client.get("/inkorg/meddelanden")

    assert page.status_code == 200
    text = text_of(page.text)
    assert "Du är här: Start / Inkorg" in text
    assert "Visar 1-2 av 2 1 oläst Skyddat" in text
    assert page.text.index(f"/inkorg/meddelanden/{newer.message_id}") < page.text.index(
        f"/inkorg/meddelanden/{older.message_id}"
    )
    unread = text_of(_item(page.text, newer.message_id))
    today = dt.datetime.now(TZ).date().isoformat()
    assert unread == f"Skyddat digitalt vårdmöte OLÄST Information | Barnmottagningen, Köping Skickat {today}"
    read = text_of(_item(page.text, older.message_id))
    assert "OLÄST" not in read
    assert read.startswith(f"Skyddat digitalt vårdmöte Information | {CLINIC}")


def test_an_empty_inbox_says_so(client: TestClient, patient: Person) -> None:
    sign_in(client, patient.typed)
    page = client.get("/inkorg/meddelanden")
    assert "Inkorgen är tom." in text_of(page.text)


def test_opening_a_message_shows_it_as_1177_does_and_marks_it_read(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    sent = send_message(ctx, patient, days=4, hour=8)
    sign_in(client, patient.typed)
    assert read_at(ctx, sent.message_id) is None

    page = client.get(f"/inkorg/meddelanden/{sent.message_id}")

    assert page.status_code == 200
    text = text_of(page.text)
    assert "Du är här: Start / Inkorg / Skyddat digitalt vårdmöte" in text
    assert f"Skyddat digitalt vårdmöte {CLINIC} Information Skickat" in text
    day = (dt.datetime.now(TZ).date() + dt.timedelta(days=4)).isoformat()
    assert f"Datum: {day}" in text
    assert "Tid: klockan 08:00" in text
    assert "<h2>Så ansluter du</h2>" in page.text
    assert (
        '<p class="text">Hej,\nDu har fått tid för ett digitalt vårdmöte' in page.text
    )  # the line break kept
    join = re.search(
        r'<p class="join">Anslutningslänk: <a class="join-link" href="([^"]+)">([^<]+)</a></p>', page.text
    )
    assert join is not None
    assert join.group(2) == "» Anslut till videomötet"
    assert re.fullmatch(r"http://vardmote\.test/m/[A-Za-z0-9_-]{43}", join.group(1))
    assert client.get(join.group(1)[len("http://vardmote.test") :]).status_code == 200  # the guest page
    assert read_at(ctx, sent.message_id) is not None
    listing = client.get("/inkorg/meddelanden")
    assert "OLÄST" not in listing.text
    assert "Inkorgen är tom" not in listing.text
    assert "0 olästa" in text_of(listing.text)


def test_the_message_is_rendered_with_the_meeting_time_now(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    sent = send_message(ctx, patient, days=4, hour=8)
    later = dt.datetime.now(TZ).replace(hour=13, minute=15, second=0, microsecond=0) + dt.timedelta(days=6)
    move(
        ctx, sent.meeting_id, later.astimezone(dt.UTC), (later + dt.timedelta(minutes=30)).astimezone(dt.UTC)
    )
    sign_in(client, patient.typed)
    text = text_of(client.get(f"/inkorg/meddelanden/{sent.message_id}").text)
    assert f"Datum: {later.date().isoformat()}" in text
    assert "Tid: klockan 13:15" in text


def test_a_message_whose_link_no_longer_works_says_so(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    sent = send_message(ctx, patient)
    with ctx.db.session() as s:
        link = s.get(MeetingLink, sent.link_id)
        assert link is not None
        revoke(ctx, s, link, "user:kliniker")
    sign_in(client, patient.typed)
    page = client.get(f"/inkorg/meddelanden/{sent.message_id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Anslutningslänk: Länken gäller inte längre." in text
    assert "Länken till videomötet gäller inte längre." in text
    assert "/m/" not in page.text
    assert "join-link" not in page.text


def test_another_persons_message_is_not_found_exactly_as_a_missing_one(
    ctx: Context, client: TestClient, patient: Person, other: Person
) -> None:
    theirs = send_message(ctx, other)
    sign_in(client, patient.typed)
    answers = []
    for path in (f"/inkorg/meddelanden/{theirs.message_id}", "/inkorg/meddelanden/999999"):
        response = client.get(path)
        assert response.status_code == 404
        answers.append(text_of(response.text))
    assert answers[0] == answers[1]
    assert NOT_FOUND in answers[0]
    assert "Per" not in answers[0]
    assert CLINIC not in answers[0]
    assert read_at(ctx, theirs.message_id) is None


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "0x1", "1" * 30, "%20"])
def test_a_message_id_that_is_not_a_number_is_not_found(
    client: TestClient, patient: Person, bad: str
) -> None:
    sign_in(client, patient.typed)
    response = client.get(f"/inkorg/meddelanden/{bad}")
    assert response.status_code == 404
    assert NOT_FOUND in text_of(response.text)
    assert "Till startsidan" in response.text  # in the inbox's own layout, still signed in


def test_the_list_is_shown_in_pages(ctx: Context, client: TestClient, patient: Person) -> None:
    for i in range(21):
        send_message(ctx, patient, days=2 + i % 5, sent_at=utcnow() - dt.timedelta(hours=i))
    sign_in(client, patient.typed)
    first = text_of(client.get("/inkorg/meddelanden").text)
    assert "Visar 1-20 av 21 21 olästa" in first
    assert "Sida 1 av 2 Nästa" in first
    second = client.get("/inkorg/meddelanden?sida=2")
    assert "Visar 21-21 av 21" in text_of(second.text)
    assert "Föregående" in second.text
    for bad, status, message in (
        ("abc", 422, "Sidnumret ska vara ett heltal, 1 eller större."),
        ("0", 422, "Sidnumret ska vara ett heltal, 1 eller större."),
        ("3", 404, "Sidan finns inte."),
    ):
        response = client.get(f"/inkorg/meddelanden?sida={bad}")
        assert response.status_code == status
        assert message in text_of(response.text)


def test_bokade_tider_lists_upcoming_meetings_but_not_cancelled_or_past_ones(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    soon = send_message(ctx, patient, days=2, hour=10)
    later = send_message(ctx, patient, days=9, hour=14, clinic="Barnmottagningen, Köping")
    cancelled = send_message(ctx, patient, days=3)
    cancel(ctx, cancelled.meeting_id)
    past = send_message(ctx, patient, days=4)
    yesterday = utcnow() - dt.timedelta(days=1)
    move(ctx, past.meeting_id, yesterday, yesterday + dt.timedelta(minutes=30))
    again = send_message(ctx, patient, days=2)  # a second message about the first meeting
    with ctx.db.session() as s:
        from vardmote.invitations.models import InboxMessage

        row = s.get(InboxMessage, again.message_id)
        assert row is not None
        row.meeting_id = soon.meeting_id
    sign_in(client, patient.typed)

    page = client.get("/inkorg/bokade-tider")

    assert page.status_code == 200
    links = re.findall(r'href="/inkorg/meddelanden/(\d+)"', page.text)
    assert links == [str(again.message_id), str(later.message_id)]
    text = text_of(page.text)
    assert "10:00–10:30 Skyddat digitalt vårdmöte " + CLINIC in text
    assert "14:00–14:30 Skyddat digitalt vårdmöte Barnmottagningen, Köping" in text
    assert "Läs meddelandet med anslutningslänken" in text


def test_bokade_tider_says_when_there_are_none(client: TestClient, patient: Person) -> None:
    sign_in(client, patient.typed)
    assert "Du har inga bokade videomöten just nu." in text_of(client.get("/inkorg/bokade-tider").text)


def test_reading_is_audited_with_the_meeting_and_message_and_no_full_number(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    sent = send_message(ctx, patient)
    sign_in(client, patient.typed)
    client.get(f"/inkorg/meddelanden/{sent.message_id}")
    with ctx.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "message.read")).one()
        everything = json.dumps(
            [(e.actor, e.details) for e in s.scalars(select(AuditEntry))], ensure_ascii=False
        )
    assert entry.actor == f"patient:{patient.number.masked()}"
    assert entry.meeting_id == sent.meeting_id
    assert json.loads(entry.details) == {"message": sent.message_id}
    assert patient.number.digits not in everything
    assert patient.number.digits[2:] not in everything
    assert "Karin" not in everything


def test_every_inbox_page_is_mobile_ready_and_uses_its_own_stylesheet(
    ctx: Context, client: TestClient, patient: Person
) -> None:
    sent = send_message(ctx, patient)
    sign_in(client, patient.typed)
    for path in (
        "/inkorg",
        "/inkorg/meddelanden",
        f"/inkorg/meddelanden/{sent.message_id}",
        "/inkorg/bokade-tider",
    ):
        page = client.get(path)
        assert page.status_code == 200
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
        assert '<link rel="stylesheet" href="/static/css/inbox.css">' in page.text
        assert "<script" not in page.text
        assert page.text.count("<h1") == 1
        assert "Content-Security-Policy" in page.headers
    assert client.get("/static/css/inbox.css").status_code == 200
