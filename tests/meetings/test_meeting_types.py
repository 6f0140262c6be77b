"""Meeting types: the policy table of SPEC.md as data, its limits, and who may change them."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from conftest import bearer
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import FieldError, Forbidden, InvalidInput, NotFound
from vardmote.meetings.models import MeetingType
from vardmote.meetings.types import ensure_meeting_types, get_type, limit_text, list_types, set_limit

SPEC_TABLE = [
    ("vardmote_patient", "Vårdmöte patient", 15, False),
    ("digitalt_vardmote", "Digitalt vårdmöte", 2, False),
    ("informationsmote_patient", "Informationsmöte patient", 100, True),
    ("internt", "Internt möte utan patient", 50, True),
    ("vardrum", "Vårdrum", 15, False),
    ("mdk", "MDK", 15, False),
]
"""(key, label, limit, limit configurable) in card order, as in SPEC.md."""

BOOKABLE = ["vardmote_patient", "informationsmote_patient", "internt", "vardrum", "mdk"]
LIMIT_RANGE = "Deltagarbegränsningen ska vara ett heltal från 1 till 1000."


def _limit(ctx: Context, key: str) -> int | None:
    with ctx.db.session() as s:
        row = s.get(MeetingType, key)
        assert row is not None
        return row.participant_limit


def _limit_audit(ctx: Context) -> list[tuple[str, dict[str, object]]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "meeting_type.limit_changed")
            .order_by(AuditEntry.id)
        )
        return [(e.actor, json.loads(e.details)) for e in rows]


def test_the_default_table_has_the_six_types_of_the_spec(ctx: Context) -> None:
    with ctx.db.session() as s:
        rows = list_types(s)
        found = [(t.key, t.label, t.participant_limit, t.limit_configurable) for t in rows]
    assert found == SPEC_TABLE


def test_the_policies_of_the_spec_are_in_the_rows(ctx: Context) -> None:
    with ctx.db.session() as s:
        types = {t.key: t for t in list_types(s)}
        assert [k for k, t in types.items() if not t.has_guest_link] == ["internt"]
        assert types["internt"].who_may_join == "staff_only"
        assert types["internt"].lobby_rule == "none"
        assert [k for k, t in types.items() if t.anonymous] == ["informationsmote_patient"]
        assert [k for k, t in types.items() if t.content_sharing == "full_resolution"] == ["mdk"]
        assert types["vardrum"].who_may_join == "staff_and_room_device"
        assert {t.lobby_rule for k, t in types.items() if k != "internt"} == {"guests_wait"}
        assert types["vardmote_patient"].description == [
            "Möte med enskild patient/närstående/tolk",
            "Behandlingsgrupp med flera patienter där integritetskänslig information delas mellan deltagare",
            "Samverkansmöte med extern professionell part om enskild patient, SIP",
        ]


def test_only_the_booking_dialog_types_are_bookable(ctx: Context) -> None:
    with ctx.db.session() as s:
        assert [t.key for t in list_types(s, bookable_only=True)] == BOOKABLE
        assert get_type(s, "digitalt_vardmote").booked_from == "journal_api"


def test_limit_text_is_the_card_line(ctx: Context) -> None:
    with ctx.db.session() as s:
        assert limit_text(get_type(s, "vardmote_patient")) == "Deltagarbegränsning: max 15 personer"
        assert limit_text(get_type(s, "informationsmote_patient")) == "Deltagarbegränsning: max 100 personer"
    assert limit_text(MeetingType(key="x", participant_limit=None)) is None


def test_get_type_names_the_field_of_an_unknown_type(ctx: Context) -> None:
    with ctx.db.session() as s, pytest.raises(InvalidInput) as caught:
        get_type(s, "skype")
    assert caught.value.fields == [FieldError("type_key", "Okänd mötestyp: 'skype'.")]


def test_set_limit_changes_a_configurable_limit_and_audits_it(ctx: Context) -> None:
    with ctx.db.session() as s:
        row = set_limit(s, "user:admin", "internt", 30)
        assert row.participant_limit == 30
    assert _limit(ctx, "internt") == 30
    assert _limit_audit(ctx) == [("user:admin", {"type": "internt", "from": 50, "to": 30})]


def test_setting_the_same_limit_again_writes_no_audit_entry(ctx: Context) -> None:
    with ctx.db.session() as s:
        set_limit(s, "user:admin", "informationsmote_patient", 100)
    assert _limit_audit(ctx) == []


def test_a_fixed_limit_cannot_be_changed(ctx: Context) -> None:
    with ctx.db.session() as s, pytest.raises(Forbidden) as caught:
        set_limit(s, "user:admin", "vardmote_patient", 20)
    assert caught.value.message == "Deltagarbegränsningen för Vårdmöte patient går inte att ändra."
    assert _limit(ctx, "vardmote_patient") == 15
    assert _limit_audit(ctx) == []


@pytest.mark.parametrize(
    "limit",
    [pytest.param(0, id="zero"), pytest.param(-1, id="negative"), pytest.param(1001, id="over-1000")],
)
def test_a_limit_outside_1_to_1000_is_refused(ctx: Context, limit: int) -> None:
    with ctx.db.session() as s, pytest.raises(InvalidInput) as caught:
        set_limit(s, "user:admin", "internt", limit)
    assert caught.value.fields == [FieldError("participant_limit", LIMIT_RANGE)]
    assert _limit(ctx, "internt") == 50


@pytest.mark.parametrize("limit", [pytest.param(1, id="one"), pytest.param(1000, id="thousand")])
def test_the_edges_1_and_1000_are_accepted(ctx: Context, limit: int) -> None:
    with ctx.db.session() as s:
        set_limit(s, "user:admin", "internt", limit)
    assert _limit(ctx, "internt") == limit


def test_an_unknown_type_is_not_found(ctx: Context) -> None:
    with ctx.db.session() as s, pytest.raises(NotFound) as caught:
        set_limit(s, "user:admin", "skype", 10)
    assert caught.value.message == "Mötestypen finns inte."


def test_ensure_meeting_types_keeps_an_administrators_change(ctx: Context) -> None:
    with ctx.db.session() as s:
        set_limit(s, "user:admin", "internt", 12)
    with ctx.db.session() as s:
        ensure_meeting_types(s)
    assert _limit(ctx, "internt") == 12


def test_ensure_meeting_types_puts_back_a_missing_row(ctx: Context) -> None:
    with ctx.db.session() as s:
        s.execute(delete(MeetingType).where(MeetingType.key == "mdk"))
    with ctx.db.session() as s:
        ensure_meeting_types(s)
        assert [t.key for t in list_types(s)] == [key for key, *_ in SPEC_TABLE]
        assert get_type(s, "mdk").content_sharing == "full_resolution"


# --- through the web -----------------------------------------------------------------------


def test_the_api_lists_the_cards_with_their_limit_text(client: TestClient, clinician: User) -> None:
    response = client.get("/api/v1/meeting-types?bookable=true", headers=bearer(client, "annika"))
    assert response.status_code == 200
    cards = response.json()
    assert [c["key"] for c in cards] == BOOKABLE
    assert cards[0]["limit_text"] == "Deltagarbegränsning: max 15 personer"
    everything = client.get("/api/v1/meeting-types", headers=bearer(client, "annika")).json()
    assert [t["key"] for t in everything] == [key for key, *_ in SPEC_TABLE]


def test_an_administrator_changes_a_limit_through_the_api(
    ctx: Context, client: TestClient, administrator: User
) -> None:
    response = client.patch(
        "/api/v1/meeting-types/internt", json={"participant_limit": 25}, headers=bearer(client, "admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["participant_limit"] == 25
    assert response.json()["limit_text"] == "Deltagarbegränsning: max 25 personer"
    assert _limit(ctx, "internt") == 25
    assert _limit_audit(ctx) == [("user:admin", {"type": "internt", "from": 50, "to": 25})]


def test_a_clinician_may_not_change_a_limit_through_the_api(
    ctx: Context, client: TestClient, clinician: User
) -> None:
    response = client.patch(
        "/api/v1/meeting-types/internt", json={"participant_limit": 25}, headers=bearer(client, "annika")
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Bara administratörer får göra det här."
    assert _limit(ctx, "internt") == 50


@pytest.mark.parametrize(
    ("key", "limit", "status", "detail"),
    [
        pytest.param("mdk", 20, 403, "Deltagarbegränsningen för MDK går inte att ändra.", id="fixed-limit"),
        pytest.param("skype", 20, 404, "Mötestypen finns inte.", id="unknown-type"),
        pytest.param("internt", 0, 422, LIMIT_RANGE, id="zero"),
        pytest.param("internt", -1, 422, LIMIT_RANGE, id="negative"),
        pytest.param("internt", 1001, 422, LIMIT_RANGE, id="over-1000"),
    ],
)
def test_the_api_refuses_a_limit_it_cannot_set(
    ctx: Context, client: TestClient, administrator: User, key: str, limit: int, status: int, detail: str
) -> None:
    response = client.patch(
        f"/api/v1/meeting-types/{key}", json={"participant_limit": limit}, headers=bearer(client, "admin")
    )
    assert response.status_code == status
    assert response.json()["detail"] == detail
    if status == 422:
        assert response.json()["errors"] == [{"field": "participant_limit", "message": LIMIT_RANGE}]
    assert _limit(ctx, "internt") == 50
    assert _limit(ctx, "mdk") == 15


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_an_administrator_sees_the_types_page(client: TestClient, administrator: User) -> None:
    response = client.get("/admin/motestyper", headers=bearer(client, "admin"))
    assert response.status_code == 200
    assert "<h1>Mötestyper</h1>" in response.text
    for _, label, _, _ in SPEC_TABLE:
        assert label in response.text
    assert "max 15 personer (fast)" in response.text
    assert 'action="/admin/motestyper/internt"' in response.text
    assert 'action="/admin/motestyper/vardmote_patient"' not in response.text


def test_an_administrator_changes_a_limit_on_the_types_page(
    ctx: Context, client: TestClient, administrator: User
) -> None:
    headers = bearer(client, "admin")
    csrf = _csrf(client.get("/admin/motestyper", headers=headers).text)
    response = client.post(
        "/admin/motestyper/informationsmote_patient",
        data={"csrf": csrf, "participant_limit": "200"},
        headers=headers,
    )
    assert response.status_code == 200
    assert "Deltagarbegränsningen är sparad." in response.text
    assert _limit(ctx, "informationsmote_patient") == 200


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("1001", id="over-1000"),
        pytest.param("abc", id="not-a-number"),
        pytest.param("²", id="superscript-digit"),
        pytest.param("", id="empty"),
    ],
)
def test_the_types_page_refuses_a_wrong_limit_in_swedish(
    ctx: Context, client: TestClient, administrator: User, raw: str
) -> None:
    headers = bearer(client, "admin")
    csrf = _csrf(client.get("/admin/motestyper", headers=headers).text)
    response = client.post(
        "/admin/motestyper/internt", data={"csrf": csrf, "participant_limit": raw}, headers=headers
    )
    assert response.status_code == 422
    assert f'<p class="field-error" id="fel-internt" role="alert">{LIMIT_RANGE}</p>' in response.text
    assert re.search(r'id="limit-internt"[^>]*value="' + re.escape(html.escape(raw)) + '"', response.text)
    assert _limit(ctx, "internt") == 50


def test_a_clinician_may_not_open_the_types_page(client: TestClient, clinician: User) -> None:
    response = client.get("/admin/motestyper", headers=bearer(client, "annika"))
    assert response.status_code == 403
    assert "Bara administratörer får se den här sidan." in response.text


def test_a_clinician_may_not_post_a_limit_on_the_types_page(
    ctx: Context, client: TestClient, clinician: User
) -> None:
    headers = bearer(client, "annika")
    csrf = _csrf(client.get("/kalender", headers=headers).text)
    response = client.post(
        "/admin/motestyper/internt", data={"csrf": csrf, "participant_limit": "5"}, headers=headers
    )
    assert response.status_code == 403
    assert _limit(ctx, "internt") == 50


def test_the_booking_dialog_shows_the_limit_on_each_card(client: TestClient, clinician: User) -> None:
    html = client.get("/moten/ny", headers=bearer(client, "annika")).text
    assert html.count('name="type_key"') == len(BOOKABLE)
    assert 'value="digitalt_vardmote"' not in html
    assert html.count('<span class="limit">Deltagarbegränsning: max 15 personer</span>') == 3
    assert '<span class="limit">Deltagarbegränsning: max 100 personer</span>' in html
    assert '<span class="limit">Deltagarbegränsning: max 50 personer</span>' in html
