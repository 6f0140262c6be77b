"""The admin page "Skypemöten": upload, the flagged listing, "Boka om", errors beside their fields."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from fastapi.testclient import TestClient
from skype_calendars import CUTOFF, PERSONNUMMER, PHONE, TZ, outlook_bytes, outlook_export
from sqlalchemy import select

from booking_helpers import audit, count, csrf_of, sign_in
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.meetings.models import Meeting
from vardmote.skype.calendar_export import NOT_ICALENDAR, NOT_UTF8, TOO_LARGE
from vardmote.web.admin_skype import HANDOVER_GONE, NO_FILE, NOTHING_CHOSEN

ICS = "text/calendar"


@pytest.fixture
def admin(client: TestClient, administrator: User, clinician: User) -> TestClient:
    """admin is the client signed in as the administrator (Annika, a clinician, exists too)."""
    sign_in(client, "admin")
    return client


def _upload(client: TestClient, data: bytes | None, cutoff: str = CUTOFF.isoformat()) -> str:
    """_upload posts the form as a browser does and returns the page."""
    page = client.get("/admin/skype")
    files = {"file": ("Annika Läkare.ics", data, ICS)} if data is not None else {"file": ("", b"", ICS)}
    response = client.post("/admin/skype", data={"csrf": csrf_of(page.text), "cutoff": cutoff}, files=files)
    return f"{response.status_code}\n{response.text}"


def _listed(admin: TestClient) -> str:
    status, page = _upload(admin, outlook_bytes()).split("\n", 1)
    assert status == "200", page
    return page


def _form_fields(page: str) -> dict[str, str]:
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[-1]
    sealed = re.search(r'name="underlag" value="([^"]+)"', page)
    assert sealed is not None
    return {"csrf": csrf, "underlag": html.unescape(sealed.group(1))}


def _rows(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)
    ]


def test_the_form_defaults_the_cut_off_to_1_june_this_year(admin: TestClient) -> None:
    page = admin.get("/admin/skype")
    assert page.status_code == 200
    year = dt.datetime.now(TZ).year
    assert f'id="cutoff" name="cutoff" type="date" value="{year}-06-01"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert "<h1>Skypemöten efter brytdatumet</h1>" in page.text


def test_the_upload_lists_the_skype_meetings_with_their_flags(admin: TestClient) -> None:
    page = _listed(admin)
    rows = _rows(page)[1:]
    assert len(rows) == 8
    assert "Veckomöte rehabteamet" in rows[0]
    assert "återkommande" in rows[0]
    skype_organiser = "Organisatör i Skype: annika.lakare@regionvastmanland.se"
    assert any(
        f"Ring upp [telefonnummer] {skype_organiser} PERSONUPPGIFTER: telefonnummer (Ämne)" in r for r in rows
    )
    assert any(f"Återbesök {skype_organiser} PERSONUPPGIFTER: personnummer (Meddelande)" in r for r in rows)
    assert "Bertil Sjukgymnast &lt;bertil.sjukgymnast@regionvastmanland.se&gt;" in page
    assert "8 Skypemöten, varav 2 med personuppgifter i inbjudan. Filen har 9 kalenderhändelser." in page
    for absent in (
        "Teamsmöte",
        "Lunch med enheten",
        "Inställt",
        "Avstämning före bytet",
        PERSONNUMMER,
        PHONE,
    ):
        assert absent not in page
    assert page.count('name="valda"') == 8
    assert page.count("checked") == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(outlook_export().encode("cp1252"), NOT_UTF8, id="latin-1"),
        pytest.param(b"%PDF-1.7\n", NOT_ICALENDAR, id="not-icalendar"),
        pytest.param(b"BEGIN:VCALENDAR\r\n" + b"X" * (20 * 1024 * 1024), TOO_LARGE, id="too-large"),
        pytest.param(None, NO_FILE, id="no-file"),
    ],
)
def test_a_file_that_cannot_be_read_re_renders_the_form_with_the_message_and_the_date(
    admin: TestClient, data: bytes | None, message: str
) -> None:
    status, page = _upload(admin, data, "2027-06-01").split("\n", 1)
    assert status == "422"
    assert f'<p class="field-error" id="fel-file">{html.escape(message, quote=False)}</p>' in page
    assert 'aria-describedby="fil-hjalp fel-file" aria-invalid="true"' in page
    assert 'value="2027-06-01"' in page


def test_a_bad_date_and_a_missing_file_are_both_reported(admin: TestClient) -> None:
    status, page = _upload(admin, None, "1 juni").split("\n", 1)
    assert status == "422"
    assert (
        '<p class="field-error" id="fel-cutoff">Ange brytdatum som ÅÅÅÅ-MM-DD, t.ex. 2024-06-01.</p>' in page
    )
    assert f'<p class="field-error" id="fel-file">{NO_FILE}</p>' in page
    assert 'value="1 juni"' in page


def test_boka_om_rebooks_the_chosen_meetings_for_the_admin_and_lists_them(
    ctx: Context, admin: TestClient
) -> None:
    fields = _form_fields(_listed(admin))
    response = admin.post(
        "/admin/skype/boka-om",
        data={
            **fields,
            "valda": ["1", "4"],
            "vilka": "valda",
            "organiser": "admin",
            "type_key": "vardmote_patient",
        },
    )
    assert response.status_code == 200, response.text
    with ctx.db.session() as s:
        meetings = list(s.scalars(select(Meeting).order_by(Meeting.starts_at)))
        assert [(m.title, m.type_key, m.organiser.username) for m in meetings] == [
            ("Samverkansmöte SIP", "vardmote_patient", "admin"),
            ("Ombokat Skypemöte", "vardmote_patient", "admin"),
        ]
        ids = [m.id for m in meetings]
    page = response.text
    assert "2 möten är ombokade som Skyddat vårdmöte i Admin Testssons kalender." in page
    for meeting_id in ids:
        assert f'href="/moten/{meeting_id}"' in page
        assert admin.get(f"/moten/{meeting_id}").status_code == 200
    assert "Cecilia Kurator &lt;cecilia.kurator@regionvastmanland.se&gt;" in page
    assert audit(ctx).count(("user:admin", "skype.rebooked")) == 2


def test_boka_om_alla_for_a_chosen_staff_account_and_never_twice(ctx: Context, admin: TestClient) -> None:
    fields = _form_fields(_listed(admin))
    body = {**fields, "vilka": "alla", "organiser": "annika", "type_key": "internt"}
    assert admin.post("/admin/skype/boka-om", data=body).status_code == 200
    again = admin.post("/admin/skype/boka-om", data=body)
    assert again.status_code == 200
    assert (
        "0 möten är ombokade som Skyddat vårdmöte i Annika Testssons kalender, 8 var redan ombokade."
        in again.text
    )
    assert again.text.count("Redan ombokat tidigare:") == 8
    with ctx.db.session() as s:
        assert {(m.organiser.username, m.type_key) for m in s.scalars(select(Meeting))} == {
            ("annika", "internt")
        }
    assert count(ctx, Meeting) == 8


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        pytest.param({"vilka": "valda"}, "valda", NOTHING_CHOSEN, id="nothing-chosen"),
        pytest.param(
            {"vilka": "alla", "organiser": "okand"},
            "organiser",
            "Det finns inget aktivt personalkonto med användarnamnet okand.",
            id="unknown-organiser",
        ),
        pytest.param(
            {"vilka": "alla", "organiser": " "},
            "organiser",
            "Ange användarnamnet på den som ska äga de nya mötena.",
            id="no-organiser",
        ),
        pytest.param(
            {"vilka": "alla", "type_key": "digitalt_vardmote"},
            "type_key",
            "Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen.",
            id="journal-type",
        ),
    ],
)
def test_boka_om_with_a_wrong_choice_keeps_the_list_and_books_nothing(
    ctx: Context, admin: TestClient, change: dict[str, str], field: str, message: str
) -> None:
    fields = _form_fields(_listed(admin))
    body = {**fields, "organiser": "admin", "type_key": "vardmote_patient", **change}
    response = admin.post("/admin/skype/boka-om", data=body)
    assert response.status_code == 422
    assert f'<p class="field-error" id="fel-{field}">{message}</p>' in response.text
    assert response.text.count('name="valda"') == 8
    assert count(ctx, Meeting) == 0


def test_a_file_read_again_shows_what_is_already_rebooked_unchosen(ctx: Context, admin: TestClient) -> None:
    fields = _form_fields(_listed(admin))
    body = {**fields, "valda": ["1"], "vilka": "valda", "organiser": "admin", "type_key": "vardmote_patient"}
    assert admin.post("/admin/skype/boka-om", data=body).status_code == 200
    with ctx.db.session() as s:
        meeting_id = s.scalars(select(Meeting.id)).one()
    page = _listed(admin)
    assert page.count(f'<a href="/moten/{meeting_id}">Redan ombokat') == 1
    assert page.count('name="valda"') == 8
    assert page.count("checked") == 7
    assert 'id="valt-1" name="valda" value="1"  aria-labelledby' in page


def test_a_long_list_is_rebooked_in_rounds(
    ctx: Context, admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vardmote.web.admin_skype.MAX_ON_PAGE", 3)
    first = _listed(admin)
    assert first.count('name="valda"') == 3
    assert "Ytterligare 5 Skypemöten visas inte: högst 3 åt gången." in first
    body = {**_form_fields(first), "vilka": "alla", "organiser": "admin", "type_key": "vardmote_patient"}
    assert admin.post("/admin/skype/boka-om", data=body).status_code == 200
    second = _listed(admin)
    assert second.count('name="valda"') == 3
    assert "Redan ombokat" not in second
    assert "Ytterligare 2 Skypemöten visas inte" in second
    assert count(ctx, Meeting) == 3


def test_a_tampered_list_is_refused(ctx: Context, admin: TestClient) -> None:
    fields = _form_fields(_listed(admin))
    tampered = fields["underlag"][:-6] + ("AAAAAA" if not fields["underlag"].endswith("AAAAAA") else "BBBBBB")
    response = admin.post(
        "/admin/skype/boka-om",
        data={
            **fields,
            "underlag": tampered,
            "vilka": "alla",
            "organiser": "admin",
            "type_key": "vardmote_patient",
        },
    )
    assert response.status_code == 422
    assert HANDOVER_GONE in response.text
    assert count(ctx, Meeting) == 0


def test_the_upload_needs_the_csrf_token(ctx: Context, admin: TestClient) -> None:
    response = admin.post(
        "/admin/skype", data={"cutoff": CUTOFF.isoformat()}, files={"file": ("k.ics", outlook_bytes(), ICS)}
    )
    assert response.status_code == 403


def test_a_clinician_is_refused(client: TestClient, clinician: User) -> None:
    sign_in(client, "annika")
    assert client.get("/admin/skype").status_code == 403
    token = csrf_of(client.get("/kalender").text)
    response = client.post(
        "/admin/skype",
        data={"csrf": token, "cutoff": CUTOFF.isoformat()},
        files={"file": ("k.ics", outlook_bytes(), ICS)},
    )
    assert response.status_code == 403
    assert "Bara administratörer får se den här sidan." in response.text
    assert client.post("/admin/skype/boka-om", data={"csrf": token, "vilka": "alla"}).status_code == 403


def test_a_stranger_is_sent_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/skype", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/logga-in?nasta=%2Fadmin%2Fskype"
