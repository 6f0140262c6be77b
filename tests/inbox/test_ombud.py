"""Agera ombud: a guardian reads the inbox of their child under 13, and only that.

The people: Maria (guardian of Olle, 9, and of Anna, who turned 13 today), Olle, Anna,
Sven (a child of 12 whose guardian is someone else) and Lars, Sven's guardian.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from inbox_helpers import (
    Person,
    add_guardianship,
    add_person,
    page_csrf,
    read_at,
    send_message,
    sign_in,
    text_of,
    years_ago,
)
from sqlalchemy import delete, select

from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.patients.models import Guardianship, PatientSession
from vardmote.settings import Settings

NOT_YOUR_CHILD = "Du kan bara agera ombud för barn som du är vårdnadshavare för."
ANNA_TOO_OLD = (
    "Anna har fyllt 13 år. Från 13 år har barnet en egen inkorg och loggar in själv, "
    "så du kan inte agera ombud för Anna."
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """settings are the test settings in demo mode: the test e-identification is on."""
    return dataclasses.replace(settings, demo=True)


@dataclass(frozen=True)
class Family:
    maria: Person
    olle: Person
    anna: Person
    sven: Person
    lars: Person


@pytest.fixture
def family(ctx: Context) -> Family:
    maria = add_person(ctx, "Maria Ek", years_ago(38), "238")
    olle = add_person(ctx, "Olle Ek", years_ago(9, 40), "239")
    anna = add_person(ctx, "Anna Ek", years_ago(13), "238")  # 13 today
    sven = add_person(ctx, "Sven Ny", years_ago(13, -1), "239")  # 13 tomorrow
    lars = add_person(ctx, "Lars Ny", years_ago(45), "239")
    add_guardianship(ctx, maria, olle)
    add_guardianship(ctx, maria, anna)
    add_guardianship(ctx, lars, sven)
    return Family(maria, olle, anna, sven, lars)


def _act(client: TestClient, child: object, csrf: str | None = None) -> tuple[int, str]:
    data = {"csrf": page_csrf(client) if csrf is None else csrf, "barn": str(child)}
    response = client.post("/inkorg/ombud", data=data, follow_redirects=False)
    return response.status_code, response.text


def _acting_for(ctx: Context) -> list[int | None]:
    with ctx.db.session() as s:
        return [row.acting_for_id for row in s.scalars(select(PatientSession))]


def _audit(ctx: Context, prefix: str) -> list[tuple[str, str, dict[str, object]]]:
    with ctx.db.session() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
        return [(e.actor, e.action, json.loads(e.details)) for e in entries]


def test_start_offers_agera_ombud_for_the_children_under_13(
    ctx: Context, client: TestClient, family: Family
) -> None:
    sign_in(client, family.maria.typed)
    page = client.get("/inkorg")
    text = text_of(page.text)
    assert "Agera ombud Som vårdnadshavare till barn under 13 år" in text
    assert "Agera ombud för Olle" in text
    assert f'name="barn" value="{family.olle.id}"' in page.text
    assert "Anna har fyllt 13 år och loggar in själv." in text
    assert f'name="barn" value="{family.anna.id}"' not in page.text
    assert "Sven" not in text


def test_a_guardian_reads_the_childs_inbox_as_ombud_and_not_their_own(
    ctx: Context, client: TestClient, family: Family
) -> None:
    own = send_message(ctx, family.maria, days=3, clinic="Vårdcentralen Herrgården, Västerås")
    childs = send_message(ctx, family.olle, days=5)
    sign_in(client, family.maria.typed)

    status, _ = _act(client, family.olle.id)

    assert status == 303
    assert _acting_for(ctx) == [family.olle.id]
    for path in (
        "/inkorg",
        "/inkorg/meddelanden",
        "/inkorg/bokade-tider",
        f"/inkorg/meddelanden/{childs.message_id}",
    ):
        page = client.get(path)
        assert page.status_code == 200
        assert "Du agerar ombud för Olle och ser barnets inkorg. Sluta agera ombud" in text_of(page.text), (
            path
        )
        assert "Maria Ek Logga ut" in text_of(page.text)
    listing = client.get("/inkorg/meddelanden").text
    assert f"/inkorg/meddelanden/{childs.message_id}" in listing
    assert f"/inkorg/meddelanden/{own.message_id}" not in listing
    assert client.get(f"/inkorg/meddelanden/{own.message_id}").status_code == 404
    assert read_at(ctx, own.message_id) is None
    assert read_at(ctx, childs.message_id) is not None
    booked = client.get("/inkorg/bokade-tider").text
    assert f"/inkorg/meddelanden/{childs.message_id}" in booked
    assert "Herrgården" not in booked
    start = client.get("/inkorg").text
    assert "Du ser Olles inkorg" in text_of(start)
    assert "Du agerar ombud för Olle just nu." in text_of(start)
    assert f'name="barn" value="{family.olle.id}"' not in start


def test_reading_as_ombud_is_audited_with_both_masked_numbers(
    ctx: Context, client: TestClient, family: Family
) -> None:
    childs = send_message(ctx, family.olle)
    sign_in(client, family.maria.typed)
    _act(client, family.olle.id)
    client.get(f"/inkorg/meddelanden/{childs.message_id}")
    maria = f"patient:{family.maria.number.masked()}"
    olle = family.olle.number.masked()
    assert _audit(ctx, "inbox.ombud") == [(maria, "inbox.ombud", {"for": olle})]
    assert _audit(ctx, "message.") == [
        (maria, "message.read", {"message": childs.message_id, "ombud_for": olle})
    ]
    everything = json.dumps(_audit(ctx, ""), ensure_ascii=False)
    for person in (family.maria, family.olle):
        assert person.number.digits not in everything
        assert person.number.digits[2:] not in everything
    assert "Olle" not in everything
    assert "Maria" not in everything


def test_sluta_agera_ombud_goes_back_to_the_own_inbox(
    ctx: Context, client: TestClient, family: Family
) -> None:
    own = send_message(ctx, family.maria)
    sign_in(client, family.maria.typed)
    _act(client, family.olle.id)
    response = client.post("/inkorg/ombud/sluta", data={"csrf": page_csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert _acting_for(ctx) == [None]
    page = client.get("/inkorg/meddelanden")
    assert "Du agerar ombud" not in page.text
    assert f"/inkorg/meddelanden/{own.message_id}" in page.text
    assert [a for _, a, _ in _audit(ctx, "inbox.ombud")] == ["inbox.ombud", "inbox.ombud_ended"]


def test_a_child_of_13_is_refused_with_a_clear_message(
    ctx: Context, client: TestClient, family: Family
) -> None:
    sign_in(client, family.maria.typed)
    status, html = _act(client, family.anna.id)  # the page offers no button: the post is crafted
    assert status == 403
    assert ANNA_TOO_OLD in text_of(html)
    assert _acting_for(ctx) == [None]
    maria = f"patient:{family.maria.number.masked()}"
    assert _audit(ctx, "inbox.ombud") == [
        (maria, "inbox.ombud_refused", {"for": family.anna.number.masked(), "reason": "age"})
    ]


@pytest.mark.parametrize("who", ["sven", "lars", "maria", "unknown"])
def test_someone_elses_child_or_an_unknown_id_is_refused_the_same_way(
    ctx: Context, client: TestClient, family: Family, who: str
) -> None:
    sign_in(client, family.maria.typed)
    child_id = 987654 if who == "unknown" else getattr(family, who).id
    status, html = _act(client, child_id)
    assert status == 403
    assert NOT_YOUR_CHILD in text_of(html)
    assert "Sven" not in html
    assert "Lars" not in html
    assert _acting_for(ctx) == [None]


@pytest.mark.parametrize("bad", ["", "abc", "1.0", "-3", "1" * 40])
def test_a_choice_that_is_not_an_id_is_refused(
    ctx: Context, client: TestClient, family: Family, bad: str
) -> None:
    sign_in(client, family.maria.typed)
    status, html = _act(client, bad)
    assert status == 422
    assert "Välj ett av barnen i listan." in text_of(html)
    assert _acting_for(ctx) == [None]


def test_acting_as_ombud_needs_the_form_token(ctx: Context, client: TestClient, family: Family) -> None:
    sign_in(client, family.maria.typed)
    for csrf in ("", "fel"):
        status, html = _act(client, family.olle.id, csrf)
        assert status == 403
        assert "Ladda om sidan och försök igen." in text_of(html)
    assert _acting_for(ctx) == [None]
    anonymous = client.post("/inkorg/ombud", data={"barn": str(family.olle.id)}, follow_redirects=False)
    assert _acting_for(ctx) == [None]
    assert anonymous.status_code == 403


def test_a_stranger_cannot_act_as_ombud(ctx: Context, client: TestClient, family: Family) -> None:
    response = client.post("/inkorg/ombud", data={"barn": str(family.olle.id)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inkorg/logga-in"


def test_the_rule_is_checked_again_on_every_request(ctx: Context, client: TestClient, family: Family) -> None:
    childs = send_message(ctx, family.olle)
    sign_in(client, family.maria.typed)
    _act(client, family.olle.id)
    with ctx.db.session() as s:
        s.execute(delete(Guardianship).where(Guardianship.child_id == family.olle.id))

    page = client.get("/inkorg/meddelanden")

    assert page.status_code == 200
    assert "Du agerar inte längre ombud." in text_of(page.text)
    assert f"/inkorg/meddelanden/{childs.message_id}" not in page.text
    assert client.get(f"/inkorg/meddelanden/{childs.message_id}").status_code == 404
    assert _acting_for(ctx) == [None]
    assert _audit(ctx, "inbox.ombud_ended") == [
        (
            f"patient:{family.maria.number.masked()}",
            "inbox.ombud_ended",
            {"for": family.olle.number.masked(), "reason": "rule"},
        )
    ]


def test_a_session_acting_for_a_child_who_turned_13_falls_back(
    ctx: Context, client: TestClient, family: Family
) -> None:
    sign_in(client, family.maria.typed)
    with ctx.db.session() as s:  # as if chosen yesterday, when Anna was 12
        row = s.scalars(select(PatientSession)).one()
        row.acting_for_id = family.anna.id
    page = client.get("/inkorg")
    assert "Du agerar inte längre ombud." in text_of(page.text)
    assert _acting_for(ctx) == [None]


def test_a_child_of_12_may_be_chosen_by_their_guardian(
    ctx: Context, client: TestClient, family: Family
) -> None:
    sign_in(client, family.lars.typed)
    status, _ = _act(client, family.sven.id)
    assert status == 303
    assert "Du agerar ombud för Sven" in text_of(client.get("/inkorg").text)


def test_a_child_without_a_known_name_is_called_ditt_barn(
    ctx: Context, client: TestClient, family: Family
) -> None:
    nameless = add_person(ctx, None, years_ago(5), "238")
    add_guardianship(ctx, family.maria, nameless)
    sign_in(client, family.maria.typed)
    assert "Agera ombud för ditt barn" in text_of(client.get("/inkorg").text)
    _act(client, nameless.id)
    assert "Du agerar ombud för ditt barn" in text_of(client.get("/inkorg").text)
