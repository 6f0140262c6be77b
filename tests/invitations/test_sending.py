"""Sending the link from the meeting page ("Skicka anslutningslänk"), as a clinician does it in the
browser: inbox messages for patients and relatives (the under-13 rule), calendar invitations to an
external party, the interpreter service and colleagues through a real SMTP server (aiosmtpd), the
personal-data guard, updates and cancellations, and what the audit keeps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import TZ, book, csrf_of, local, path_of, sign_in
from conftest import bearer, make_user
from smtp_helpers import SmtpInbox, event_of
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.invitations.guard import MESSAGE
from vardmote.invitations.models import InboxMessage, MeetingRecipient
from vardmote.meetings.models import MeetingLink
from vardmote.patients import registry
from vardmote.patients.models import Patient
from vardmote.patients.personnummer import Personnummer, check_digit

INTERPRETER_SERVICE = "tolkservice@tolk.example.se"
SOCIAL_SERVICES = "socialtjansten@kommun.example.se"


def number_born(years_ago: int, serial: str = "238") -> Personnummer:
    """number_born is a checksum-valid personnummer of someone who turned years_ago on 1 January."""
    born = dt.date(dt.datetime.now(ZoneInfo("Europe/Stockholm")).year - years_ago - 1, 6, 15)
    nine = born.strftime("%y%m%d") + serial
    return Personnummer(born.strftime("%Y%m%d") + serial + str(check_digit(nine)))


def add_patient(ctx: Context, number: Personnummer, name: str, **extra: str) -> None:
    with ctx.db.session() as s:
        s.add(Patient(personnummer=number.digits, name=name, **extra))


@pytest.fixture
def mailing_ctx(ctx: Context, smtp_server: tuple[SmtpInbox, int]) -> Context:
    """mailing_ctx is ctx with invitations sent to the test's SMTP server and an interpreter service."""
    inbox, port = smtp_server
    inbox.outbox = ctx.db  # invitations leave after commit: reading them waits for the outbox
    settings = dataclasses.replace(
        ctx.settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        interpreter_service_address=INTERPRETER_SERVICE,
    )
    return Context(settings, ctx.db)


@pytest.fixture
def annika(mailing_ctx: Context, clinician: User) -> Iterator[TestClient]:
    """annika is a clinician signed in by the form, on an app that mails to the test's SMTP server."""
    with TestClient(create_app(mailing_ctx.settings, mailing_ctx), base_url="http://vardmote.test") as client:
        sign_in(client, "annika")
        yield client


@pytest.fixture
def olle(ctx: Context) -> Personnummer:
    """olle is a nine-year-old patient with a guardian, Maria."""
    child, parent = number_born(9), number_born(38, "386")
    add_patient(ctx, child, "Olle Andersson", phone="070-123 45 67")
    add_patient(ctx, parent, "Maria Andersson", email="maria.andersson@example.se")
    with ctx.db.session() as s:
        found_child, found_parent = registry.find(s, child), registry.find(s, parent)
        assert found_child is not None
        assert found_parent is not None
        registry.add_guardian(s, found_parent, found_child)
    return child


def protected(annika: TestClient, title: str = "Uppföljning allergiutredning") -> dict[str, str]:
    meeting: dict[str, str] = book(annika, bearer(annika, "annika"), title=title, type_key="vardmote_patient")
    return meeting


def send(annika: TestClient, meeting_id: str, channel: str, **fields: str) -> tuple[int, str, str]:
    """send posts one of the page's send forms; returns the status, the page shown and where it went."""
    page = annika.get(f"/moten/{meeting_id}")
    response = annika.post(
        f"/moten/{meeting_id}/skicka/{channel}",
        data={"csrf": csrf_of(page.text), **fields},
        follow_redirects=False,
    )
    if response.status_code == 303:
        location = response.headers["location"]
        return 303, annika.get(location).text, location
    return response.status_code, response.text, ""


def to_inbox(
    annika: TestClient, meeting_id: str, number: object, kind: str = "patient"
) -> tuple[int, str, str]:
    """to_inbox sends a message from the care meeting template to the inbox of number."""
    return send(
        annika,
        meeting_id,
        "inkorg",
        kind=kind,
        personnummer=str(number),
        template="skyddat-digitalt-vardmote",
    )


def remove(annika: TestClient, meeting_id: str, recipient_id: int) -> None:
    """remove presses "Ta bort" beside one recipient."""
    page = annika.get(f"/moten/{meeting_id}")
    annika.post(f"/moten/{meeting_id}/mottagare/{recipient_id}/ta-bort", data={"csrf": csrf_of(page.text)})


def recipients(ctx: Context) -> list[MeetingRecipient]:
    with ctx.db.session() as s:
        return list(s.scalars(select(MeetingRecipient).order_by(MeetingRecipient.id)))


def audit_details(ctx: Context, action: str) -> list[dict[str, object]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return [json.loads(d) for d in rows]


def whole_audit(ctx: Context) -> str:
    with ctx.db.session() as s:
        return " ".join(f"{e.actor} {e.action} {e.details}" for e in s.scalars(select(AuditEntry)))


def test_a_child_under_13_gets_the_message_in_the_childs_own_inbox(
    ctx: Context, annika: TestClient, olle: Personnummer
) -> None:
    meeting = protected(annika)
    status, page, location = to_inbox(annika, meeting["id"], str(olle))
    assert status == 303
    assert location.endswith("#skicka")
    assert "Patienten är under 13 år: vårdnadshavare läser det som ombud" in page
    assert olle.masked() in page
    assert str(olle) not in page
    with ctx.db.session() as s:
        child = registry.find(s, olle)
        assert child is not None
        message = s.scalars(select(InboxMessage)).one()
        assert message.patient_id == child.id
        assert message.template.title == "Skyddat digitalt vårdmöte"
        assert message.clinic == "Region Västmanland"  # annika has no clinic: the organisation signs
        assert message.read_at is None
        assert message.link.recipient == "Patient"
        assert message.link.kind == "recipient"
    (sent,) = audit_details(ctx, "message.sent")
    assert sent["template"] == "skyddat-digitalt-vardmote"
    assert sent["version"] == 1
    assert sent["recipient_kind"] == "patient"
    assert sent["channel"] == "inbox"
    assert sent["ombud"] is True
    assert olle.digits[2:] not in whole_audit(ctx)
    assert "Olle" not in whole_audit(ctx)


def test_a_guardian_of_a_child_under_13_is_not_sent_a_message_of_their_own(
    ctx: Context, annika: TestClient, olle: Personnummer
) -> None:
    meeting = protected(annika)
    assert to_inbox(annika, meeting["id"], str(olle))[0] == 303
    status, page, _ = send(
        annika,
        meeting["id"],
        "inkorg",
        kind="vardnadshavare",
        personnummer=str(number_born(38, "386")),
        template="skyddat-digitalt-vardmote",
    )
    assert status == 422
    assert "Patienten är under 13 år. Meddelandet går till barnets inkorg" in page
    assert len(recipients(ctx)) == 1


def test_from_13_the_young_person_guardians_and_relatives_each_get_their_own_message_and_link(
    ctx: Context, annika: TestClient
) -> None:
    meeting = protected(annika, "Samtal inför tonårsmottagningen")
    young, guardian, relative, other = (
        number_born(14),
        number_born(44, "112"),
        number_born(70, "554"),
        number_born(35, "770"),
    )
    for kind, number in (
        ("patient", young),
        ("vardnadshavare", guardian),
        ("narstaende", relative),
        ("narstaende", other),
    ):
        status, _, _ = send(
            annika,
            meeting["id"],
            "inkorg",
            kind=kind,
            personnummer=str(number),
            template="skyddat-digitalt-vardmote-i-grupp",
            together="1",
        )
        assert status == 303
    rows = recipients(ctx)
    assert [r.link.recipient for r in rows if r.link] == [
        "Patient",
        "Vårdnadshavare",
        "Närstående",
        "Närstående 2",
    ]
    assert len({r.link_id for r in rows}) == 4
    with ctx.db.session() as s:
        messages = list(s.scalars(select(InboxMessage)))
        assert {m.template.key for m in messages} == {"skyddat-digitalt-vardmote-i-grupp"}
        assert all(m.together for m in messages)
        assert len({m.patient_id for m in messages}) == 4
    again = to_inbox(annika, meeting["id"], str(other), kind="narstaende")
    assert again[0] == 422
    assert "redan fått en länk" in again[1]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"personnummer": "19121212-1213"}, "kontrollsiffran stämmer inte", id="checksum"),
        pytest.param({"personnummer": "Olle"}, "skriv det som ÅÅÅÅMMDD-NNNN", id="not-a-number"),
        pytest.param({"kind": "chef"}, "Välj vem mottagaren är", id="kind"),
        pytest.param({"template": "finns-inte"}, "Välj en av de centrala mallarna", id="template"),
    ],
)
def test_wrong_input_in_the_inbox_form_is_told_in_swedish_and_keeps_what_was_typed(
    ctx: Context, annika: TestClient, fields: dict[str, str], expected: str
) -> None:
    meeting = protected(annika)
    good = {"kind": "patient", "personnummer": str(number_born(40)), "template": "skyddat-digitalt-vardmote"}
    status, page, _ = send(annika, meeting["id"], "inkorg", **{**good, **fields})
    assert status == 422
    assert expected in page
    assert (
        f'value="{good["personnummer"] if "personnummer" not in fields else fields["personnummer"]}"' in page
    )
    assert recipients(ctx) == []


def test_an_external_party_gets_a_calendar_invitation_with_their_own_link_and_no_personal_data(
    ctx: Context, annika: TestClient, olle: Personnummer, smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp_server
    meeting = protected(annika, "Samverkansmöte SIP")
    to_inbox(annika, meeting["id"], str(olle))
    status, page, _ = send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    assert status == 303
    assert "Kalenderinbjudan är på väg. Om den inte kommer fram står det vid mottagaren nedan." in page
    (message,) = inbox.messages()
    assert message["To"]
    assert SOCIAL_SERVICES in message["To"]
    calendar, event = event_of(message)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["SUMMARY"]) == "Samverkansmöte SIP"
    (recipient,) = [r for r in recipients(ctx) if r.kind == "extern"]
    assert event["UID"] == f"{meeting['id']}-{recipient.id}@vardmote"  # an event of their own
    assert str(event["LOCATION"]) == "Skyddat videomöte med Region Västmanland"
    description = str(event["DESCRIPTION"])
    with ctx.db.session() as s:
        link = s.scalars(select(MeetingLink).where(MeetingLink.recipient == "Extern part")).one()
        token = ctx.sealer.unseal(link.token_sealed)
    assert token
    assert f"/m/{token}" in description
    assert meeting["guest_url"] not in description  # their own link, not the meeting's general one
    raw = message.as_string()
    for personal in ("Olle", "Andersson", olle.digits[2:8], "070-123"):
        assert personal not in raw
    (sent,) = audit_details(ctx, "invitation.sent")
    assert sent == {
        "recipient_kind": "extern",
        "channel": "calendar",
        "method": "REQUEST",
        "sequence": 0,
        "link": link.id,
    }


@pytest.mark.parametrize(
    ("title", "offending"),
    [
        pytest.param("Samverkansmöte om Olle", '"Olle"', id="name"),
        pytest.param("SIP 20150615-2384", "20150615-2384", id="personnummer"),
        pytest.param("Ring 070 123 45 67 före", "070 123 45 67", id="phone"),
    ],
)
def test_an_invitation_with_personal_data_is_refused_pointing_at_the_text_and_nothing_is_sent(
    ctx: Context,
    annika: TestClient,
    olle: Personnummer,
    smtp_server: tuple[SmtpInbox, int],
    title: str,
    offending: str,
) -> None:
    inbox, _ = smtp_server
    title = title.replace("20150615-2384", str(olle))
    offending = offending.replace("20150615-2384", str(olle))
    meeting = protected(annika, title)
    to_inbox(annika, meeting["id"], str(olle))
    status, page, _ = send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    assert status == 422
    assert MESSAGE in page
    assert offending.strip('"') in re.sub(r"<[^>]+>", "", page.split('id="skicka-fel"')[1].split("</div>")[0])
    assert inbox.messages() == []
    assert [r.kind for r in recipients(ctx)] == ["patient"]
    with ctx.db.session() as s:
        assert s.scalars(select(MeetingLink).where(MeetingLink.recipient == "Extern part")).first() is None


def test_a_patients_own_e_mail_address_is_never_sent_an_invitation(
    ctx: Context, annika: TestClient, olle: Personnummer, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    to_inbox(annika, meeting["id"], str(olle))
    with ctx.db.session() as s:
        maria = s.scalar(select(Patient).where(Patient.name == "Maria Andersson"))
        assert maria is not None
        assert maria.email
    # Maria is known to the meeting once she is a recipient of her own (here as a relative of a
    # young person); the external form then refuses her address.
    other = protected(annika, "Annat möte")
    send(
        annika,
        other["id"],
        "inkorg",
        kind="narstaende",
        personnummer=str(registry.number_of(maria)),
        template="skyddat-digitalt-vardmote",
    )
    status, page, _ = send(
        annika, other["id"], "kalender", kind="extern", address="Maria.Andersson@example.se"
    )
    assert status == 422
    assert "aldrig med e-post" in page
    assert smtp_server[0].messages() == []


def test_the_interpreter_service_gets_the_link_at_its_configured_address(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    status, _, _ = send(annika, meeting["id"], "kalender", kind="tolk", address="")
    assert status == 303
    (message,) = smtp_server[0].messages()
    assert INTERPRETER_SERVICE in message["To"]
    assert [r.link.recipient for r in recipients(ctx) if r.link] == ["Tolk"]


def test_without_an_interpreter_service_address_the_page_says_who_can_set_it(
    ctx: Context, clinician: User
) -> None:
    with TestClient(create_app(ctx.settings, ctx), base_url="http://vardmote.test") as client:
        sign_in(client, "annika")
        meeting = protected(client)
        status, page, _ = send(client, meeting["id"], "kalender", kind="tolk")
    assert status == 422
    assert "VARDMOTE_INTERPRETER_SERVICE_ADDRESS" in page
    assert recipients(ctx) == []


def test_a_colleague_sent_a_staff_invitation_may_open_the_meeting_as_host_and_no_one_else(
    ctx: Context, annika: TestClient, mailing_ctx: Context, smtp_server: tuple[SmtpInbox, int]
) -> None:
    make_user(ctx, "bertil")
    make_user(ctx, "cecilia")
    meeting = book(annika, bearer(annika, "annika"), title="Patientkonferens", type_key="internt")
    bad = send(
        annika,
        meeting["id"],
        "kalender",
        kind="personal",
        address="bertil@region.example.se",
        username="okand",
    )
    assert bad[0] == 422
    assert "inget aktivt personalkonto" in bad[1]
    status, _, _ = send(
        annika,
        meeting["id"],
        "kalender",
        kind="personal",
        address="bertil@region.example.se",
        username="bertil",
    )
    assert status == 303
    (message,) = smtp_server[0].messages()
    assert f"/moten/{meeting['id']}/starta" in str(event_of(message)[1]["DESCRIPTION"])
    for username, expected in (("bertil", 200), ("cecilia", 404)):
        with TestClient(
            create_app(mailing_ctx.settings, mailing_ctx), base_url="http://vardmote.test"
        ) as other:
            sign_in(other, username)
            assert other.get(f"/moten/{meeting['id']}/starta").status_code == expected


def test_a_changed_time_updates_every_invitation_and_marks_the_message_unread_again(
    ctx: Context, annika: TestClient, olle: Personnummer, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    to_inbox(annika, meeting["id"], str(olle))
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    with ctx.db.session() as s:
        s.scalars(select(InboxMessage)).one().read_at = dt.datetime.now(dt.UTC)
    page = annika.get(f"/moten/{meeting['id']}/andra")
    response = annika.post(
        f"/moten/{meeting['id']}/andra",
        data={
            "csrf": csrf_of(page.text),
            "title": meeting["title"],
            "start": local(8, 10),
            "end": local(8, 10, 30),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    first, update = smtp_server[0].messages()
    _, before = event_of(first)
    calendar, after = event_of(update)
    assert calendar["METHOD"] == "REQUEST"
    assert after["UID"] == before["UID"]
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART").astimezone(TZ).strftime("%H:%M") == "10:00"
    with ctx.db.session() as s:
        assert s.scalars(select(InboxMessage)).one().read_at is None
    assert [d["recipient_kind"] for d in audit_details(ctx, "invitation.updated")] == ["extern"]
    assert [d["recipient_kind"] for d in audit_details(ctx, "message.updated")] == ["patient"]


def test_removing_a_recipient_cancels_their_invitation_and_stops_their_link_only(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    send(annika, meeting["id"], "kalender", kind="tolk")
    external, interpreter = recipients(ctx)
    page = annika.get(f"/moten/{meeting['id']}")
    response = annika.post(
        f"/moten/{meeting['id']}/mottagare/{external.id}/ta-bort",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cancel = smtp_server[0].messages()[-1]
    calendar, event = event_of(cancel)
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert SOCIAL_SERVICES in cancel["To"]
    assert INTERPRETER_SERVICE not in cancel["To"]
    assert meeting["title"] not in cancel.as_string()  # a cancellation carries no title
    with ctx.db.session() as s:
        links = {r.kind: s.get(MeetingLink, r.link_id) for r in (external, interpreter)}
        tokens = {
            kind: ctx.sealer.unseal(link.token_sealed) for kind, link in links.items() if link is not None
        }
    guest = TestClient(create_app(ctx.settings, ctx), base_url="http://vardmote.test")
    assert guest.get(f"/m/{tokens['extern']}").status_code == 410
    assert guest.get(f"/m/{tokens['tolk']}").status_code == 200
    removed = annika.post(
        f"/moten/{meeting['id']}/mottagare/999999/ta-bort",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert removed.status_code == 404


def test_cancelling_the_meeting_cancels_every_calendar_invitation(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    send(annika, meeting["id"], "kalender", kind="tolk")
    page = annika.get(f"/moten/{meeting['id']}")
    annika.post(f"/moten/{meeting['id']}/avboka", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    cancels = [m for m in smtp_server[0].messages() if event_of(m)[0]["METHOD"] == "CANCEL"]
    assert sorted(m["To"].addresses[0].addr_spec for m in cancels) == sorted(
        [SOCIAL_SERVICES, INTERPRETER_SERVICE]
    )
    assert all(r.removed_at is not None for r in recipients(ctx))


def test_a_mail_server_that_is_down_delays_the_invitation_never_the_sending(
    ctx: Context, clinician: User
) -> None:
    settings = dataclasses.replace(
        ctx.settings, smtp_host="127.0.0.1", smtp_port=9, smtp_starttls=False, mail_retry_seconds=3600
    )
    down = Context(settings, ctx.db)
    with TestClient(create_app(settings, down), base_url="http://vardmote.test") as client:
        sign_in(client, "annika")
        meeting = protected(client)
        status, page, _ = send(client, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
        assert status == 303
        assert [r.address for r in recipients(ctx)] == [SOCIAL_SERVICES]
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
        while "Inte skickad – försöker igen" not in page:
            assert dt.datetime.now(dt.UTC) < deadline, "the failed attempt never reached the page"
            page = client.get(f"/moten/{meeting['id']}").text
        section = page.split('id="skicka"')[1]
        assert "Inte skickad – försöker igen" in section.split(SOCIAL_SERVICES)[1].split("</li>")[0]


def test_the_page_shows_whom_the_link_was_sent_to_without_names_or_whole_numbers(
    ctx: Context, annika: TestClient, olle: Personnummer
) -> None:
    meeting = protected(annika)
    to_inbox(annika, meeting["id"], str(olle))
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    page = annika.get(f"/moten/{meeting['id']}").text
    section = page.split('id="skicka"')[1]
    assert "Meddelande i inkorgen" in section
    assert "Kalenderinbjudan" in section
    assert olle.masked() in section
    assert SOCIAL_SERVICES in section
    assert "Olle" not in page
    assert str(olle) not in page
    assert path_of(meeting["guest_url"])  # the general link is still offered beside the personal ones


def test_a_personnummer_in_the_invitations_message_is_refused_with_the_message_and_the_text_is_kept(
    ctx: Context, annika: TestClient, olle: Personnummer, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika, "Samverkansmöte SIP")
    note = f"Gäller patient {olle.digits[2:8]}-{olle.digits[8:]}, se journalen."
    status, page, _ = send(
        annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES, note=note
    )
    assert status == 422
    assert MESSAGE in page
    shown = html.unescape(page)
    short = f"{olle.digits[2:8]}-{olle.digits[8:]}"
    assert f'Ta bort "{short}" ur Meddelande.' in shown.split('id="fel-body"')[1]
    assert f">{note}</textarea>" in shown
    assert smtp_server[0].messages() == []
    assert recipients(ctx) == []
    status, _, _ = send(
        annika,
        meeting["id"],
        "kalender",
        kind="extern",
        address=SOCIAL_SERVICES,
        note="Välkomna! Vi börjar med en kort presentationsrunda.",
    )
    assert status == 303
    (message,) = smtp_server[0].messages()
    description = str(event_of(message)[1]["DESCRIPTION"])
    assert description.startswith("Välkomna! Vi börjar med en kort presentationsrunda.")
    assert "» Anslut till videomötet: http://vardmote.test/m/" in description


def test_a_guardian_of_a_child_under_13_is_refused_in_any_order_and_under_any_kind(
    ctx: Context, annika: TestClient, olle: Personnummer
) -> None:
    maria = str(number_born(38, "386"))
    meeting = protected(annika)
    # Maria first, as a relative: allowed until the child's message says who the patient is...
    assert to_inbox(annika, meeting["id"], maria, kind="narstaende")[0] == 303
    # ...then the child is refused until Maria's own message is removed.
    status, page, _ = to_inbox(annika, meeting["id"], str(olle))
    assert status == 422
    assert "en vårdnadshavare har redan fått ett eget meddelande" in page
    (first,) = recipients(ctx)
    remove(annika, meeting["id"], first.id)
    assert to_inbox(annika, meeting["id"], str(olle))[0] == 303
    # A registered guardian is refused also when staff call her a relative.
    status, page, _ = to_inbox(annika, meeting["id"], maria, kind="narstaende")
    assert status == 422
    assert "Patienten är under 13 år. Meddelandet går till barnets inkorg" in page


def test_a_guardians_own_address_and_name_are_kept_out_of_invitations_too(
    ctx: Context, annika: TestClient, olle: Personnummer, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    to_inbox(annika, meeting["id"], str(olle))
    status, page, _ = send(
        annika, meeting["id"], "kalender", kind="extern", address="maria.andersson@example.se"
    )
    assert status == 422
    assert "aldrig med e-post" in page
    status, page, _ = send(
        annika,
        meeting["id"],
        "kalender",
        kind="extern",
        address=SOCIAL_SERVICES,
        note="Mamma Maria kommer också.",
    )
    assert status == 422
    assert MESSAGE in page
    assert smtp_server[0].messages() == []


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("åsa@kommun.example.se", id="non-ascii"),
        pytest.param("a" * 250 + "@kommun.example.se", id="too-long"),
        pytest.param("socialtjansten@kommun", id="no-domain"),
        pytest.param("socialtjansten@kommun.example.se\r\nBcc: x@y.se", id="header-injection"),
    ],
)
def test_a_wrong_address_is_refused_in_swedish_and_nothing_is_sent(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int], address: str
) -> None:
    meeting = protected(annika)
    status, page, _ = send(
        annika, meeting["id"], "kalender", kind="extern", address=address.replace("\\r\\n", "\r\n")
    )
    assert status == 422
    assert "Skriv en e-postadress" in page
    assert smtp_server[0].messages() == []
    assert recipients(ctx) == []


def test_an_address_removed_and_invited_again_gets_a_new_event_that_its_calendar_accepts(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    (first,) = recipients(ctx)
    remove(annika, meeting["id"], first.id)
    assert send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)[0] == 303
    request, cancel, again = (event_of(m) for m in smtp_server[0].messages())
    assert cancel[0]["METHOD"] == "CANCEL"
    assert cancel[1]["UID"] == request[1]["UID"]
    assert again[0]["METHOD"] == "REQUEST"
    assert again[1]["UID"] != cancel[1]["UID"]
    assert [r.link.recipient for r in recipients(ctx) if r.removed_at is None and r.link] == ["Extern part"]


def test_revoking_a_sent_link_by_aterkalla_removes_the_recipient_and_cancels_their_invitation(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    meeting = protected(annika)
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    (recipient,) = recipients(ctx)
    page = annika.get(f"/moten/{meeting['id']}")
    annika.post(
        f"/moten/{meeting['id']}/lankar/{recipient.link_id}/aterkalla", data={"csrf": csrf_of(page.text)}
    )
    assert event_of(smtp_server[0].messages()[-1])[0]["METHOD"] == "CANCEL"
    assert recipients(ctx)[0].removed_at is not None


def test_changing_to_an_internal_type_cancels_guests_and_keeps_the_colleagues_invitation(
    ctx: Context, annika: TestClient, smtp_server: tuple[SmtpInbox, int]
) -> None:
    make_user(ctx, "bertil")
    meeting = protected(annika)
    send(annika, meeting["id"], "kalender", kind="extern", address=SOCIAL_SERVICES)
    send(
        annika,
        meeting["id"],
        "kalender",
        kind="personal",
        address="bertil@region.example.se",
        username="bertil",
    )
    page = annika.get(f"/moten/{meeting['id']}")
    annika.post(f"/moten/{meeting['id']}/typ", data={"csrf": csrf_of(page.text), "type_key": "internt"})
    cancels = [m for m in smtp_server[0].messages() if event_of(m)[0]["METHOD"] == "CANCEL"]
    assert [m["To"].addresses[0].addr_spec for m in cancels] == [SOCIAL_SERVICES]
    assert {r.kind: r.removed_at is None for r in recipients(ctx)} == {"extern": False, "personal": True}


def test_the_under_13_rule_counts_the_childs_age_on_the_day_of_the_meeting(
    ctx: Context, annika: TestClient
) -> None:
    # Twelve today and thirteen on the meeting's day (in a week): no ombud, the guardian may get
    # a message of her own.
    today = dt.datetime.now(TZ).date()
    born = today.replace(year=today.year - 13) + dt.timedelta(days=3)
    nine = born.strftime("%y%m%d") + "238"
    almost = Personnummer(born.strftime("%Y%m%d") + "238" + str(check_digit(nine)))
    assert almost.age_on(today) == 12
    meeting = protected(annika)  # booked a week from today
    status, page, _ = to_inbox(annika, meeting["id"], str(almost))
    assert status == 303
    assert "Patienten är under 13 år" not in page
    assert to_inbox(annika, meeting["id"], str(number_born(40)), kind="vardnadshavare")[0] == 303
