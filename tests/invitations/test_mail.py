"""Mail: invitations reach a real SMTP server (aiosmtpd) as iCalendar that Outlook reads, or the outbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from smtp_helpers import SmtpInbox, calendar_part, event_of, free_port
from vardmote.invitations.guard import MESSAGE, KnownPerson, PersonalDataInInvitation
from vardmote.invitations.mail import (
    NOT_SENT,
    Invitation,
    MailNotSent,
    OutboxMailer,
    Person,
    SmtpMailer,
    mailer_from,
    send_invitation,
)
from vardmote.settings import Secret, Settings

SENDER = "vardmote@regionvastmanland.example.se"
NOW = dt.datetime(2024, 5, 10, 12, 0, tzinfo=dt.UTC)
STOCKHOLM_SUMMER = dt.timezone(dt.timedelta(hours=2))

# The clinician Åsa Öberg invites an external professional (Märta Ärlig at the municipality's
# social services) and an interpreter to a meeting about the patient Olle Svensson, nine.
CLINICIAN = Person("Åsa Öberg", "asa.oberg@regionvastmanland.example.se")
SOCIAL_WORKER = Person("Märta Ärlig", "marta.arlig@kommun.example.se")
INTERPRETER = Person("Tolk Bengtsson", "tolk.bengtsson@tolkservice.example.se")
OLLE = KnownPerson(names=("Olle Svensson", "Olle", "Svensson"))

INVITATION = Invitation(
    meeting_id="3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    sequence=0,
    method="REQUEST",
    subject="Skyddat digitalt vårdmöte – samordning inför skolstart",
    location="Skyddat videomöte med Region Västmanland",
    body=(
        "Välkommen till ett skyddat digitalt vårdmöte med Barn- och ungdomsmottagningen i Västerås.\n"
        "» Anslut till videomötet https://vardmote.example.se/g/abc123\n"
        "Så ansluter du: öppna länken i Chrome, Edge eller Safari några minuter före mötet."
    ),
    starts_at=dt.datetime(2024, 5, 15, 8, 40, tzinfo=STOCKHOLM_SUMMER),
    ends_at=dt.datetime(2024, 5, 15, 9, 10, tzinfo=STOCKHOLM_SUMMER),
    organiser=CLINICIAN,
    attendees=(SOCIAL_WORKER, INTERPRETER),
)


def _plain_smtp(port: int) -> SmtpMailer:
    return SmtpMailer(host="127.0.0.1", port=port, starttls=False, timeout=5)


def test_a_request_arrives_at_the_smtp_server_as_an_outlook_calendar_invitation(
    smtp_server: tuple[SmtpInbox, int],
) -> None:
    inbox, port = smtp_server
    send_invitation(_plain_smtp(port), INVITATION, sender=SENDER, known=[OLLE], now=NOW)

    [envelope] = inbox.envelopes
    assert envelope.mail_from == SENDER
    assert sorted(envelope.rcpt_tos) == sorted([SOCIAL_WORKER.email, INTERPRETER.email])
    [message] = inbox.messages()
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == INVITATION.subject
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/calendar"]
    plain = next(message.iter_parts())
    assert isinstance(plain, EmailMessage)
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == INVITATION.body

    part = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    calendar, event = event_of(message)
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f@vardmote"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == dt.datetime(2024, 5, 15, 6, 40, tzinfo=dt.UTC)
    assert event.decoded("DTEND") == dt.datetime(2024, 5, 15, 7, 10, tzinfo=dt.UTC)
    assert event["SUMMARY"] == "Skyddat digitalt vårdmöte – samordning inför skolstart"
    assert event["LOCATION"] == "Skyddat videomöte med Region Västmanland"
    assert event["DESCRIPTION"] == INVITATION.body
    assert event["ORGANIZER"] == "mailto:asa.oberg@regionvastmanland.example.se"
    assert event["ORGANIZER"].params["CN"] == "Åsa Öberg"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == [f"mailto:{SOCIAL_WORKER.email}", f"mailto:{INTERPRETER.email}"]
    assert attendees[0].params["CN"] == "Märta Ärlig"
    assert all(a.params["RSVP"] == "TRUE" for a in attendees)


def test_the_calendar_text_is_utf8_with_lines_folded_at_75_octets(smtp_server: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp_server
    send_invitation(_plain_smtp(port), INVITATION, sender=SENDER, now=NOW)

    [message] = inbox.messages()
    data = calendar_part(message).get_payload(decode=True)
    assert isinstance(data, bytes)
    text = data.decode("utf-8")
    assert "Västmanland" in text
    assert "Åsa Öberg" in text
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # folding never splits a letter such as å in two
    assert b"DTSTART:20240515T064000Z" in lines


def test_an_update_keeps_the_uid_and_raises_the_sequence(smtp_server: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp_server
    mailer = _plain_smtp(port)
    moved = dataclasses.replace(
        INVITATION,
        sequence=1,
        starts_at=INVITATION.starts_at + dt.timedelta(hours=1),
        ends_at=INVITATION.ends_at + dt.timedelta(hours=1),
    )
    send_invitation(mailer, INVITATION, sender=SENDER, now=NOW)
    send_invitation(mailer, moved, sender=SENDER, now=NOW)

    first, update = (event_of(m) for m in inbox.messages())
    assert update[0]["METHOD"] == "REQUEST"
    assert update[1]["UID"] == first[1]["UID"]
    assert update[1]["SEQUENCE"] > first[1]["SEQUENCE"]
    assert update[1].decoded("DTSTART") == dt.datetime(2024, 5, 15, 7, 40, tzinfo=dt.UTC)


def test_a_cancellation_says_cancel_and_cancelled(smtp_server: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp_server
    cancel = dataclasses.replace(INVITATION, method="CANCEL", sequence=2)
    send_invitation(_plain_smtp(port), cancel, sender=SENDER, now=NOW)

    [message] = inbox.messages()
    assert message["Subject"] == "Inställt: " + INVITATION.subject
    assert calendar_part(message).get_param("method") == "CANCEL"
    calendar, event = event_of(message)
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f@vardmote"
    assert event["SEQUENCE"] == 2


@pytest.mark.parametrize(
    ("changes", "field", "removal"),
    [
        pytest.param(
            {"body": INVITATION.body + "\nGäller pnr 19121212-1212."},
            "body",
            'Ta bort "19121212-1212" ur Meddelande.',
            id="personnummer-in-body",
        ),
        pytest.param(
            {"subject": "Vårdmöte 121212+1212"},
            "subject",
            'Ta bort "121212+1212" ur Ämne.',
            id="personnummer-in-subject",
        ),
        pytest.param(
            {"location": "Hemma hos Olle Svensson"},
            "location",
            'Ta bort "Olle Svensson" ur Plats.',
            id="patient-name-in-location",
        ),
    ],
)
def test_an_invitation_with_personal_data_is_refused_and_nothing_reaches_the_server(
    smtp_server: tuple[SmtpInbox, int], changes: dict[str, Any], field: str, removal: str
) -> None:
    inbox, port = smtp_server
    with pytest.raises(PersonalDataInInvitation) as caught:
        send_invitation(
            _plain_smtp(port),
            dataclasses.replace(INVITATION, **changes),
            sender=SENDER,
            known=[OLLE],
            now=NOW,
        )
    assert caught.value.message == MESSAGE == "Inga personuppgifter får förekomma i mötesinbjudan"
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, removal)]
    assert inbox.envelopes == []


def test_the_guard_does_not_read_inside_the_join_link_vardmote_wrote_but_does_elsewhere(
    smtp_server: tuple[SmtpInbox, int],
) -> None:
    # A random token may by chance hold digits that pass as a personnummer (12121212-1212 here).
    link = "https://vardmote.example.se/m/Ab3-12121212-1212-xYz"
    body = f"Välkommen.\n» Anslut till videomötet {link}"
    inbox, port = smtp_server
    with pytest.raises(PersonalDataInInvitation):
        send_invitation(_plain_smtp(port), dataclasses.replace(INVITATION, body=body), sender=SENDER, now=NOW)
    own = dataclasses.replace(INVITATION, body=body, own_links=(link,))
    send_invitation(_plain_smtp(port), own, sender=SENDER, now=NOW)
    assert link in str(event_of(inbox.messages()[0])[1]["DESCRIPTION"])
    with pytest.raises(PersonalDataInInvitation):  # the same number typed beside the link is still caught
        send_invitation(
            _plain_smtp(port),
            dataclasses.replace(own, body=body + "\nGäller 12121212-1212."),
            sender=SENDER,
            now=NOW,
        )


def test_a_server_that_is_down_gives_a_clear_swedish_error_and_sends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailNotSent) as caught:
        send_invitation(_plain_smtp(port), INVITATION, sender=SENDER, now=NOW)
    assert caught.value.message == NOT_SENT
    assert str(caught.value) == (
        "Inbjudan kunde inte skickas: e-postservern svarar inte eller tog inte emot den. Försök igen senare."
    )
    assert "Traceback" not in caught.value.message
    assert f"127.0.0.1:{port}" in caplog.text, "the log has the details"
    assert SOCIAL_WORKER.email not in caplog.text
    assert "vårdmöte" not in caplog.text


def test_a_server_without_starttls_is_not_used_in_clear_text(smtp_server: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp_server
    mailer = SmtpMailer("127.0.0.1", port, starttls=True, timeout=5)
    with pytest.raises(MailNotSent):
        send_invitation(mailer, INVITATION, sender=SENDER, now=NOW)
    assert inbox.envelopes == []


def test_a_server_that_refuses_the_message_sends_nothing(smtp_server: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp_server

    async def refuse(server: Any, session: Any, envelope: Any) -> str:
        return "554 Transaction failed"

    inbox.handle_DATA = refuse  # type: ignore[method-assign]
    with pytest.raises(MailNotSent):
        send_invitation(_plain_smtp(port), INVITATION, sender=SENDER, now=NOW)
    assert inbox.envelopes == []


def test_the_mailer_logs_in_when_an_account_is_configured() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.password == b"hemligt-losen")

    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        mailer = SmtpMailer(
            "127.0.0.1",
            port,
            username="vardmote",
            password=Secret("hemligt-losen"),
            starttls=False,
            timeout=5,
        )
        send_invitation(mailer, INVITATION, sender=SENDER, now=NOW)
        wrong = dataclasses.replace(mailer, password=Secret("fel"))
        with pytest.raises(MailNotSent):
            send_invitation(wrong, INVITATION, sender=SENDER, now=NOW)
    finally:
        controller.stop()
    assert seen == [(b"vardmote", b"hemligt-losen"), (b"vardmote", b"fel")]
    assert len(inbox.envelopes) == 1


def test_the_outbox_writes_one_whole_eml_file_named_without_personal_data(tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"
    send_invitation(OutboxMailer(outbox), INVITATION, sender=SENDER, now=NOW)

    files = list(outbox.iterdir())
    assert len(files) == 1, "no temporary file is left behind"
    [eml] = files
    assert eml.suffix == ".eml"
    assert not eml.name.startswith(".")
    assert re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{16}\.eml", eml.name), "the time and a random part only"
    assert eml.stat().st_mode & 0o777 == 0o600, "the file holds join links"
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    calendar, event = event_of(message)
    assert calendar["METHOD"] == "REQUEST"
    assert event["SUMMARY"] == INVITATION.subject


def test_an_outbox_that_cannot_be_written_gives_a_swedish_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(MailNotSent) as caught:
        send_invitation(OutboxMailer(blocked), INVITATION, sender=SENDER, now=NOW)
    assert caught.value.message == "Inbjudan kunde inte sparas i utkorgen. Försök igen senare."


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(Settings(var_dir=Path("/srv/vm")), OutboxMailer(Path("/srv/vm/outbox")), id="default"),
        pytest.param(
            Settings(outbox_dir=Path("/var/spool/vardmote")),
            OutboxMailer(Path("/var/spool/vardmote")),
            id="outbox-dir",
        ),
        pytest.param(
            Settings(smtp_host="smtp.region.example.se", smtp_port=25, smtp_starttls=False),
            SmtpMailer("smtp.region.example.se", 25, starttls=False),
            id="smtp-relay",
        ),
    ],
)
def test_the_mailer_is_smtp_when_a_host_is_set_else_the_outbox(settings: Settings, expected: object) -> None:
    chosen = mailer_from(settings)
    assert type(chosen) is type(expected)
    if isinstance(chosen, SmtpMailer):
        assert isinstance(expected, SmtpMailer)
        assert (chosen.host, chosen.port, chosen.starttls) == (
            expected.host,
            expected.port,
            expected.starttls,
        )
    else:
        assert chosen == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"sequence": -1}, "Invitation.sequence must be at least 0, got -1", id="negative-sequence"
        ),
        pytest.param({"attendees": ()}, "Invitation needs at least one attendee", id="no-attendees"),
        pytest.param(
            {"starts_at": dt.datetime(2024, 5, 15, 8, 40)},  # noqa: DTZ001 (naive on purpose)
            "Invitation times must be aware",
            id="naive-time",
        ),
        pytest.param(
            {"subject": "Vårdmöte\r\nBcc: alla@example.se"},
            "Invitation.subject must be one line",
            id="header-injection-in-subject",
        ),
    ],
)
def test_an_invitation_that_makes_no_sense_is_refused_when_made(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        dataclasses.replace(INVITATION, **changes)
