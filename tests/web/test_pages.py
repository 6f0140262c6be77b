"""The server-rendered pages, through the client as a browser uses them: sign in by the form,
the week calendar, the meeting form with its Swedish errors, a meeting, and what every page sends."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from booking_helpers import ORGANISATION, TZ, audit, book, count, csrf_of, local, sign_in
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.meetings.models import Meeting

Browser = Callable[[str | None], TestClient]
"""Browser opens a new client with its own cookies, signed in as the username if one is given."""

ADDRESSES = "Skriv deltagarnas e-postadresser, åtskilda med semikolon."
JOURNAL = "Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen."


@pytest.fixture
def browser(ctx: Context) -> Iterator[Browser]:
    """browser opens extra clients on the same app and database, one per person."""
    with ExitStack() as stack:

        def open_browser(username: str | None = None) -> TestClient:
            client = TestClient(create_app(ctx.settings, ctx), base_url="http://vardmote.test")
            stack.enter_context(client)
            if username is not None:
                sign_in(client, username)
            return client

        yield open_browser


@pytest.fixture
def annika(client: TestClient, clinician: User) -> TestClient:
    """annika is the client, signed in as the clinician by the sign-in form."""
    sign_in(client, "annika")
    return client


def _api(client: TestClient) -> dict[str, str]:
    """_api is a Bearer header for the same person, to book quickly through the API."""
    return bearer(client, "annika")


def _new_meeting_form(annika: TestClient, **fields: str) -> dict[str, str]:
    page = annika.get("/moten/ny")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "title": "Uppföljning", "start": local(7, 9), "end": local(7, 9, 30)}
    form.update(fields)
    return form


def _booked_audit(ctx: Context) -> list[str]:
    return [action for _, action in audit(ctx) if action.startswith(("meeting.", "link."))]


# --- sign-in -------------------------------------------------------------------------------


def test_signing_in_by_the_form_opens_the_calendar(client: TestClient, clinician: User) -> None:
    page = client.get("/logga-in")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("vm_login_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/logga-in" in cookie
    field = csrf_of(page.text)
    assert client.cookies.get("vm_login_csrf") == field
    response = client.post(
        "/logga-in",
        data={"csrf": field, "username": "annika", "password": "rätt-lösenord-1", "nasta": "/kalender"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/kalender"
    session = [c for c in response.headers.get_list("set-cookie") if c.startswith("vm_session=")]
    assert len(session) == 1
    assert "HttpOnly" in session[0]
    assert "SameSite=lax" in session[0]
    calendar = client.get("/kalender")
    assert calendar.status_code == 200
    assert "Annika Testsson" in calendar.text
    assert "Logga ut" in calendar.text


def test_signing_in_without_the_forms_token_is_refused(client: TestClient, clinician: User) -> None:
    response = client.post(
        "/logga-in", data={"username": "annika", "password": "rätt-lösenord-1"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert "Sidan har varit öppen för länge. Försök igen." in response.text
    assert client.cookies.get("vm_session") is None


def test_a_wrong_password_shows_a_swedish_message(client: TestClient, clinician: User) -> None:
    page = client.get("/logga-in")
    response = client.post(
        "/logga-in",
        data={"csrf": csrf_of(page.text), "username": "annika", "password": "fel"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Fel användarnamn eller lösenord." in response.text
    assert 'value="annika"' in response.text
    assert client.cookies.get("vm_session") is None


@pytest.mark.parametrize(
    ("nasta", "landing"),
    [
        pytest.param("/moten/ny", "/moten/ny", id="own-page"),
        pytest.param("/kalender?vecka=2026-03-02", "/kalender?vecka=2026-03-02", id="with-query"),
        pytest.param("//evil.example/kalender", "/kalender", id="scheme-relative"),
        pytest.param("https://evil.example/", "/kalender", id="absolute"),
        pytest.param("/\\evil.example", "/kalender", id="backslash"),
    ],
)
def test_sign_in_returns_only_to_a_page_of_the_service(
    client: TestClient, clinician: User, nasta: str, landing: str
) -> None:
    page = client.get(f"/logga-in?nasta={quote(nasta, safe='')}")
    assert page.status_code == 200
    sent = re.search(r'name="nasta" value="([^"]*)"', page.text)
    assert sent is not None
    assert htmllib.unescape(sent.group(1)) == landing
    response = client.post(
        "/logga-in",
        data={
            "csrf": csrf_of(page.text),
            "username": "annika",
            "password": "rätt-lösenord-1",
            "nasta": nasta,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == landing


MEETING = "2b1f3f8e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/kalender", id="calendar"),
        pytest.param("GET", "/kalender?vecka=2026-03-02", id="calendar-week"),
        pytest.param("GET", "/moten/ny", id="new-meeting"),
        pytest.param("POST", "/moten/ny", id="post-new-meeting"),
        pytest.param("GET", f"/moten/{MEETING}", id="meeting"),
        pytest.param("GET", f"/moten/{MEETING}/andra", id="change"),
        pytest.param("GET", f"/moten/{MEETING}/starta", id="start"),
        pytest.param("GET", f"/moten/{MEETING}/kalenderfil.ics", id="ics"),
        pytest.param("POST", f"/moten/{MEETING}/avboka", id="cancel"),
        pytest.param("GET", "/kalenderprenumeration", id="feed"),
        pytest.param("GET", "/admin/motestyper", id="admin-types"),
        pytest.param("GET", "/admin/granskning", id="admin-audit"),
    ],
)
def test_a_page_without_sign_in_sends_the_browser_to_sign_in(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/logga-in?nasta={quote(path, safe='')}"


# --- the calendar --------------------------------------------------------------------------


def test_the_calendar_shows_this_weeks_meetings_and_today(annika: TestClient) -> None:
    now = dt.datetime.now(TZ).replace(second=0, microsecond=0)
    body = {
        "title": "Samtal nu",
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
        "type_key": "vardmote_patient",
    }
    headers = _api(annika)
    assert annika.post("/api/v1/meetings", json=body, headers=headers).status_code == 201
    book(annika, headers, title="Nästa veckas möte", days=7)
    response = annika.get("/kalender")
    assert response.status_code == 200
    page = response.text
    assert f"<h1>Vecka {now.isocalendar().week}</h1>" in page
    assert '<span class="badge">I dag</span>' in page
    assert page.count('class="day today"') == 1
    assert "Samtal nu" in page
    assert f'<span class="time">{now:%H:%M}–' in page
    assert "Vårdmöte patient" in page
    assert "Nästa veckas möte" not in page
    monday = now.date() - dt.timedelta(days=now.weekday())
    assert f'href="/kalender?vecka={monday - dt.timedelta(days=7)}"' in page
    assert f'href="/kalender?vecka={monday + dt.timedelta(days=7)}"' in page
    assert 'href="/kalender">I dag</a>' in page


def test_the_calendar_shows_another_week_when_asked(annika: TestClient) -> None:
    book(annika, _api(annika), title="Nästa veckas möte", days=7)
    day = dt.datetime.now(TZ).date() + dt.timedelta(days=7)
    page = annika.get(f"/kalender?vecka={day}").text
    assert "Nästa veckas möte" in page
    assert '<span class="badge">I dag</span>' not in page
    assert f"<h1>Vecka {day.isocalendar().week}</h1>" in page


def test_the_calendar_leaves_out_cancelled_and_other_peoples_meetings(
    annika: TestClient, other_clinician: User, browser: Browser
) -> None:
    gone = book(annika, _api(annika), title="Avbokat möte", days=7)
    annika.delete(f"/api/v1/meetings/{gone['id']}", headers=_api(annika))
    other = browser(None)
    book(other, bearer(other, "bertil"), title="Bertils möte", days=7)
    page = annika.get(f"/kalender?vecka={local(7)[:10]}").text
    assert "Avbokat möte" not in page
    assert "Bertils möte" not in page
    assert "Inga möten" in page


@pytest.mark.parametrize(
    "vecka",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("2026-02-30", id="no-such-day"),
        pytest.param("2026-3-2", id="not-zero-padded"),
        pytest.param("9999-12-31", id="last-day-of-time"),
        pytest.param("0001-01-01", id="first-day-of-time"),
    ],
)
def test_a_wrong_week_gives_a_swedish_error_page(annika: TestClient, vecka: str) -> None:
    response = annika.get(f"/kalender?vecka={vecka}")
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="sv">' in response.text
    assert "Veckan ska anges som ett datum, ÅÅÅÅ-MM-DD." in response.text


# --- the meeting form ----------------------------------------------------------------------


def test_the_new_meeting_form_has_the_fields_of_the_spec(annika: TestClient) -> None:
    page = annika.get("/moten/ny").text
    for label in ("Rubrik", "Starttid", "Sluttid", "Obligatoriskt", "Valfritt", "Gör till återkommande"):
        assert f">{label}<" in page
    assert ">Skyddat vårdmöte</button>" in page
    assert "Välj mötestyp" in page
    assert ">Skapa möte</button>" in page
    assert ">Spara utan videomöte</button>" in page


def test_a_wrong_form_is_shown_again_with_swedish_messages_and_the_typed_values(
    ctx: Context, annika: TestClient
) -> None:
    form = _new_meeting_form(
        annika,
        title="  ",
        start=local(7, 9),
        end=local(7, 8),
        required="anna@kommun.example.se; inte-en-adress",
        optional="cecilia@example.se",
    )
    response = annika.post("/moten/ny", data=form)
    assert response.status_code == 422
    page = response.text
    assert "Mötet är inte sparat." in page
    assert '<p class="field-error" id="fel-title">Ange en rubrik för mötet.</p>' in page
    assert '<p class="field-error" id="fel-end">Sluttiden måste vara efter starttiden.</p>' in page
    assert f'<p class="field-error" id="fel-required">{ADDRESSES}</p>' in page
    assert 'id="fel-start"' not in page
    assert re.search(r'id="title"[^>]*aria-invalid="true" aria-describedby="fel-title"', page)
    assert f'value="{local(7, 9)}"' in page
    assert f'value="{local(7, 8)}"' in page
    assert ">anna@kommun.example.se; inte-en-adress</textarea>" in page
    assert ">cecilia@example.se</textarea>" in page
    assert count(ctx, Meeting) == 0
    assert _booked_audit(ctx) == []


def test_a_typed_title_is_kept_escaped(ctx: Context, annika: TestClient) -> None:
    title = 'Möte <b>"viktigt"</b> & brådskande'
    response = annika.post("/moten/ny", data=_new_meeting_form(annika, title=title, end=local(7, 8)))
    assert response.status_code == 422
    assert f'value="{htmllib.escape(title).replace("&quot;", "&#34;")}"' in response.text
    assert "<b>" not in response.text
    assert count(ctx, Meeting) == 0


def test_a_wrong_recurrence_keeps_the_section_open_with_the_choice(ctx: Context, annika: TestClient) -> None:
    response = annika.post("/moten/ny", data=_new_meeting_form(annika, frequency="weekly", count="1"))
    assert response.status_code == 422
    page = response.text
    assert '<details class="recurrence" open>' in page
    assert '<option value="weekly" selected>' in page
    assert (
        '<p class="field-error" id="fel-count">Antal tillfällen ska vara ett heltal från 2 till 100.</p>'
        in page
    )
    assert 'id="count" name="count" inputmode="numeric" value="1"' in page
    assert count(ctx, Meeting) == 0


def test_skapa_mote_without_a_chosen_type_asks_for_one(ctx: Context, annika: TestClient) -> None:
    response = annika.post("/moten/ny", data=_new_meeting_form(annika, protect="1", title="Viktigt samtal"))
    assert response.status_code == 422
    assert (
        '<p class="field-error" id="fel-type_key">Välj en mötestyp under Skyddat vårdmöte.</p>'
        in response.text
    )
    assert 'value="Viktigt samtal"' in response.text
    assert count(ctx, Meeting) == 0
    assert _booked_audit(ctx) == []


def test_the_journal_type_cannot_be_booked_from_the_form(ctx: Context, annika: TestClient) -> None:
    form = _new_meeting_form(annika, protect="1", type_key="digitalt_vardmote")
    response = annika.post("/moten/ny", data=form)
    assert response.status_code == 422
    assert f'<p class="field-error" id="fel-type_key">{JOURNAL}</p>' in response.text
    assert count(ctx, Meeting) == 0


def test_a_form_without_the_csrf_token_is_refused(ctx: Context, annika: TestClient) -> None:
    form = _new_meeting_form(annika)
    del form["csrf"]
    response = annika.post("/moten/ny", data=form)
    assert response.status_code == 403
    assert "Sidan har varit öppen för länge eller kom inte härifrån." in response.text
    forged = annika.post("/moten/ny", data={**form, "csrf": "x" * 43})
    assert forged.status_code == 403
    assert count(ctx, Meeting) == 0


def test_skapa_mote_with_a_type_books_the_protected_meeting(ctx: Context, annika: TestClient) -> None:
    form = _new_meeting_form(annika, protect="1", type_key="vardmote_patient", title="Videobesök")
    response = annika.post("/moten/ny", data=form, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/moten/[0-9a-f-]{36}\?bokat=1", location)
    page = annika.get(location).text
    assert "Mötet är bokat." in page
    assert "Starta möte" in page
    assert _booked_audit(ctx) == ["meeting.booked", "link.created"]


def test_saving_without_video_books_an_ordinary_entry(annika: TestClient) -> None:
    response = annika.post("/moten/ny", data=_new_meeting_form(annika, title="Handledning"))
    assert response.status_code == 200
    page = response.text
    assert "Mötet är bokat." in page
    assert "Inget videomöte (vanlig kalenderpost)" in page
    assert "Starta möte" not in page
    assert ">Skyddat vårdmöte</button>" in page
    assert "Skyddat videomöte med" not in page


def test_a_recurring_meeting_from_the_form_says_how_many_were_booked(
    ctx: Context, annika: TestClient
) -> None:
    form = _new_meeting_form(annika, frequency="daily", count="3", protect="1", type_key="mdk")
    page = annika.post("/moten/ny", data=form).text
    assert "Mötet är bokat: 3 tillfällen." in page
    assert "<dt>Återkommande</dt><dd>Varje dag</dd>" in page
    assert ">Avboka hela serien</button>" in page
    assert count(ctx, Meeting) == 3


# --- a meeting -----------------------------------------------------------------------------


def test_the_meeting_page_offers_starta_mote_the_location_and_the_body_links(annika: TestClient) -> None:
    meeting = book(
        annika,
        _api(annika),
        title="Videobesök",
        type_key="vardmote_patient",
        required=["anna@kommun.example.se"],
        optional=["tolk@tolkservice.example.se"],
    )
    response = annika.get(f"/moten/{meeting['id']}")
    assert response.status_code == 200
    page = response.text
    assert f'<a class="button" href="/moten/{meeting["id"]}/starta">Starta möte</a>' in page
    assert f"<dt>Plats</dt><dd>Skyddat videomöte med {ORGANISATION}</dd>" in page
    assert "Vårdmöte patient · Deltagarbegränsning: max 15 personer" in page
    assert f'<a href="{meeting["guest_url"]}">» Anslut till videomötet</a>' in page
    assert '<a href="http://vardmote.test/sa-fungerar-det">» Så fungerar det</a>' in page
    assert '<a href="http://vardmote.test/personuppgifter">» Så behandlar vi dina personuppgifter</a>' in page
    assert 'anna@kommun.example.se <span class="muted">(Obligatoriskt)</span>' in page
    assert 'tolk@tolkservice.example.se <span class="muted">(Valfritt)</span>' in page
    assert ">Välj om mötestyp</button>" in page
    assert ">Ta bort möte</button>" in page


def test_starta_mote_joins_as_host(annika: TestClient) -> None:
    meeting = book(annika, _api(annika), type_key="vardmote_patient")
    response = annika.get(f"/moten/{meeting['id']}/starta")
    assert response.status_code == 200
    assert "<strong>mötesorganisatör</strong>" in response.text
    assert "utan lobby" in response.text


def test_an_ordinary_entry_cannot_be_started(annika: TestClient) -> None:
    meeting = book(annika, _api(annika))
    response = annika.get(f"/moten/{meeting['id']}/starta")
    assert response.status_code == 422
    assert "Bara ett skyddat möte som inte är avbokat kan startas." in response.text


def test_the_meeting_page_forms_choose_remove_and_cancel(ctx: Context, annika: TestClient) -> None:
    meeting = book(annika, _api(annika))
    path = f"/moten/{meeting['id']}"
    csrf = csrf_of(annika.get(path).text)
    chosen = annika.post(f"{path}/typ", data={"csrf": csrf, "type_key": "internt"})
    assert "Den här mötestypen har ingen gästlänk: bara inloggad personal kan ansluta." in chosen.text
    assert "» Anslut till videomötet" not in chosen.text
    assert "» Så fungerar det" in chosen.text
    again = annika.post(f"{path}/typ", data={"csrf": csrf, "type_key": "vardmote_patient"})
    assert "» Anslut till videomötet" in again.text
    removed = annika.post(f"{path}/ta-bort", data={"csrf": csrf})
    assert "Starta möte" not in removed.text
    assert "Inget videomöte (vanlig kalenderpost)" in removed.text
    cancelled = annika.post(f"{path}/avboka", data={"csrf": csrf})
    assert "<strong>Mötet är avbokat.</strong>" in cancelled.text
    assert ">Ändra</a>" not in cancelled.text
    assert [action for actor, action in audit(ctx, meeting["id"]) if actor == "user:annika"] == [
        "meeting.booked",
        "meeting.type_chosen",
        "meeting.type_chosen",
        "link.created",
        "meeting.type_removed",
        "link.revoked",
        "meeting.cancelled",
    ]


def test_a_journal_type_chosen_on_the_meeting_page_is_refused(annika: TestClient) -> None:
    meeting = book(annika, _api(annika))
    path = f"/moten/{meeting['id']}"
    response = annika.post(
        f"{path}/typ", data={"csrf": csrf_of(annika.get(path).text), "type_key": "digitalt_vardmote"}
    )
    assert response.status_code == 422
    assert f'<p class="error" role="alert">{JOURNAL}</p>' in response.text
    assert "Inget videomöte (vanlig kalenderpost)" in response.text


def test_the_change_form_keeps_what_was_typed_and_changes_nothing_when_wrong(
    ctx: Context, annika: TestClient
) -> None:
    meeting = book(annika, _api(annika), title="Före", required=["anna@kommun.example.se"])
    path = f"/moten/{meeting['id']}/andra"
    page = annika.get(path).text
    assert 'value="Före"' in page
    assert f'value="{meeting["starts_local"]}"' in page
    assert ">anna@kommun.example.se</textarea>" in page
    form = {"csrf": csrf_of(page), "title": "Efter", "start": local(9, 10), "end": local(9, 9)}
    response = annika.post(path, data=form)
    assert response.status_code == 422
    assert '<p class="field-error" id="fel-end">Sluttiden måste vara efter starttiden.</p>' in response.text
    assert 'value="Efter"' in response.text
    assert f'value="{local(9, 9)}"' in response.text
    assert annika.get(f"/api/v1/meetings/{meeting['id']}", headers=_api(annika)).json() == meeting
    good = annika.post(path, data={**form, "end": local(9, 11)}, follow_redirects=False)
    assert good.status_code == 303
    assert good.headers["location"] == f"/moten/{meeting['id']}"
    assert "Efter" in annika.get(good.headers["location"]).text


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param("", id="meeting"),
        pytest.param("/andra", id="change"),
        pytest.param("/starta", id="start"),
        pytest.param("/kalenderfil.ics", id="ics"),
    ],
)
def test_another_clinicians_meeting_page_is_not_found(
    annika: TestClient, other_clinician: User, browser: Browser, suffix: str
) -> None:
    meeting = book(annika, _api(annika), title="Annikas hemliga möte", type_key="vardmote_patient")
    bertil = browser("bertil")
    response = bertil.get(f"/moten/{meeting['id']}{suffix}")
    assert response.status_code == 404
    assert "Mötet finns inte, eller så är det inte ditt." in response.text
    assert "Annikas hemliga möte" not in response.text
    assert response.text == bertil.get(f"/moten/{uuid.uuid4()}{suffix}").text


def test_another_clinician_cannot_cancel_by_posting_the_form(
    annika: TestClient, other_clinician: User, browser: Browser
) -> None:
    meeting = book(annika, _api(annika), type_key="vardmote_patient")
    bertil = browser("bertil")
    csrf = csrf_of(bertil.get("/kalender").text)
    for action in ("avboka", "ta-bort", "lankar/ny"):
        assert bertil.post(f"/moten/{meeting['id']}/{action}", data={"csrf": csrf}).status_code == 404
    assert annika.get(f"/api/v1/meetings/{meeting['id']}", headers=_api(annika)).json() == meeting


# --- public pages and what every page sends ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        pytest.param("/sa-fungerar-det", "Så fungerar det", id="how-it-works"),
        pytest.param("/personuppgifter", "Så behandlar vi dina personuppgifter", id="privacy"),
    ],
)
def test_the_information_pages_are_public(client: TestClient, path: str, heading: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 200
    assert f"<h1>{heading}</h1>" in response.text
    assert ORGANISATION in response.text
    assert "Logga ut" not in response.text


def _pages(annika: TestClient, browser: Browser) -> list[tuple[TestClient, str]]:
    """_pages is every kind of HTML page, with the client that may open it."""
    meeting = book(annika, _api(annika), type_key="vardmote_patient")
    ordinary = book(annika, _api(annika), title="Kalenderpost")
    admin = browser("admin")
    guest = browser(None)
    return [
        (guest, "/logga-in"),
        (guest, "/sa-fungerar-det"),
        (guest, "/personuppgifter"),
        (guest, path_of_url(meeting["guest_url"])),
        (guest, "/m/" + "Q" * 43),
        (guest, "/finns-inte"),
        (annika, "/kalender"),
        (annika, "/kalender?vecka=garbage"),
        (annika, "/moten/ny"),
        (annika, f"/moten/{meeting['id']}"),
        (annika, f"/moten/{meeting['id']}/andra"),
        (annika, f"/moten/{meeting['id']}/starta"),
        (annika, f"/moten/{ordinary['id']}"),
        (annika, f"/moten/{uuid.uuid4()}"),
        (annika, "/kalenderprenumeration"),
        (annika, "/admin/motestyper"),
        (admin, "/admin/motestyper"),
        (admin, "/admin/granskning"),
    ]


def path_of_url(url: str) -> str:
    """path_of_url is the path of an address of the service."""
    assert url.startswith("http://vardmote.test/")
    return url.removeprefix("http://vardmote.test")


ALLOWED_SOURCES = {"'self'", "'none'", "data:"}
# Beyond those, per directive: WebAssembly for the background effects (never 'unsafe-eval'),
# and playing back a recording made in the page.
ALSO_ALLOWED = {"script-src": {"'wasm-unsafe-eval'"}, "media-src": {"blob:"}}


def _assert_local_csp(policy: str) -> None:
    directives = dict((parts[0], parts[1:]) for parts in (d.split() for d in policy.split(";") if d.strip()))
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    for name, sources in directives.items():
        assert sources, name
        assert set(sources) <= ALLOWED_SOURCES | ALSO_ALLOWED.get(name, set()), f"{name}: {sources}"


def _outside_references(page: str) -> list[str]:
    """_outside_references lists src, href and action values that leave the service."""
    values = re.findall(r"""\b(?:src|href|action|formaction|poster|data)\s*=\s*["']?([^"'\s>]+)""", page)
    inside = ("/", "#", "http://vardmote.test/")
    return [v for v in values if v.startswith("//") or not v.startswith(inside)]


def test_every_html_page_sends_a_csp_without_outside_hosts_and_loads_nothing_from_outside(
    annika: TestClient, administrator: User, browser: Browser
) -> None:
    seen = 0
    for client, path in _pages(annika, browser):
        response = client.get(path, follow_redirects=False)
        assert response.headers["content-type"].startswith("text/html"), path
        _assert_local_csp(response.headers["content-security-policy"])
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        page = response.text
        assert _outside_references(page) == [], path
        assert re.findall(r"<script\b[^>]*>(?!</script>)", page) == [], f"inline script on {path}"
        assert re.findall(r"""\son[a-z]+\s*=""", page) == [], f"inline handler on {path}"
        assert " style=" not in page, path
        assert "@import" not in page, path
        seen += 1
    assert seen == 18


def test_the_static_files_refer_to_nothing_outside(client: TestClient) -> None:
    page = client.get("/sa-fungerar-det").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert sorted(assets) == ["/static/css/vardmote.css", "/static/icons/favicon.svg", "/static/js/pages.js"]
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200
        # An SVG's namespace is a name, never fetched; anything else with an address is.
        body = response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", body), asset
        assert "@import" not in body
        assert "fetch(" not in body
