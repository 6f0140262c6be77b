"""The mail outbox: invitations leave after commit, from a table, tried again with growing waits
against a real SMTP server (aiosmtpd) that refuses at first, given up after the last attempt
(shown on the meeting page and in the audit, once each), sent once by two workers on one database,
and a relay that accepts and never answers delays mail, never the page that sent it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from booking_helpers import csrf_of, local, sign_in
from smtp_helpers import SmtpInbox, StalledRelay, event_of, running_smtp_server, wait_for_outbox
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.db import Database, utcnow
from vardmote.errors import InvalidInput
from vardmote.invitations import outbox, sending
from vardmote.invitations.mail import Invitation, Person, build_message
from vardmote.invitations.models import OutboxMail
from vardmote.meetings import service as meetings
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.models import Meeting
from vardmote.settings import Settings
from vardmote.web.send_view import send_view

SOCIAL_SERVICES = "socialtjansten@kommun.example.se"


@pytest.fixture
def refusing_smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    """refusing_smtp_server is a real SMTP server that refuses the first two messages (451, try
    again later) and accepts the rest."""
    inbox = SmtpInbox(refuse_first=2)
    with running_smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def stalled_relay() -> Iterator[StalledRelay]:
    """stalled_relay is a relay that accepts connections and never answers."""
    relay = StalledRelay()
    try:
        yield relay
    finally:
        relay.close()


def smtp_settings(
    ctx: Context,
    port: int,
    *,
    mail_attempts: int = 8,
    mail_retry_seconds: float = 30.0,
    smtp_timeout_seconds: int = 15,
) -> Settings:
    """smtp_settings is ctx's settings with mail to 127.0.0.1:port without TLS."""
    return dataclasses.replace(
        ctx.settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        mail_attempts=mail_attempts,
        mail_retry_seconds=mail_retry_seconds,
        smtp_timeout_seconds=smtp_timeout_seconds,
    )


def invite(ctx: Context, user: User, address: str = SOCIAL_SERVICES) -> str:
    """invite books a protected meeting and sends its calendar invitation to address through the
    service layer (no app, so no worker: the test drives the sender); returns the meeting's id."""
    with ctx.db.session() as s:
        booker = s.get(User, user.id)
        assert booker is not None
        (meeting,) = meetings.book(
            ctx,
            s,
            booker,
            BookingForm(title="Samverkansmöte", start=local(3, 9), end=local(3, 9, 30)),
            "vardmote_patient",
        )
        sending.send_calendar_invitation(ctx, s, booker, meeting, kind="extern", address=address)
        return meeting.id


def rows(db: Database) -> list[OutboxMail]:
    with db.session() as s:
        found = list(s.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        s.expunge_all()
        return found


def audit(db: Database, action: str) -> list[dict[str, object]]:
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        return [json.loads(e.details) for e in entries]


def states(ctx: Context, meeting_id: str) -> list[str]:
    """states is what the meeting page says next to each recipient of the meeting."""
    with ctx.db.session() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None
        return [r.mail_state for r in send_view(ctx, s, meeting).recipients]


def test_the_invitation_waits_in_the_outbox_until_the_change_is_saved(
    ctx: Context, clinician: User, smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, port = smtp_server
    mailing = Context(smtp_settings(ctx, port), ctx.db)
    meeting_id = invite(mailing, clinician)
    (row,) = rows(ctx.db)
    assert (row.state, row.attempts, row.method, row.address) == ("waiting", 0, "REQUEST", SOCIAL_SERVICES)
    assert row.meeting_id == meeting_id
    assert inbox.envelopes == []  # nothing left in the request
    assert outbox.OutboxSender(ctx.db, mailing.settings).send_due() == 1
    (message,) = inbox.messages()
    assert str(event_of(message)[1]["UID"]).startswith(meeting_id)
    (row,) = rows(ctx.db)
    assert row.state == "sent"
    assert row.sent_at is not None


def test_an_invitation_the_guard_refuses_leaves_nothing_in_the_outbox(ctx: Context, clinician: User) -> None:
    meeting_id = invite(ctx, clinician)
    with ctx.db.session() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.title = "Samverkansmöte 19121212-1212"  # as if saved before the guard existed
    with ctx.db.session() as s:
        booker, meeting = s.get(User, clinician.id), s.get(Meeting, meeting_id)
        assert booker is not None
        assert meeting is not None
        with pytest.raises(InvalidInput):
            sending.send_calendar_invitation(ctx, s, booker, meeting, kind="extern", address="a@b.se")
        s.rollback()
    assert [r.address for r in rows(ctx.db)] == [SOCIAL_SERVICES]  # the first one only


def test_a_refused_message_is_tried_again_with_growing_waits_and_sent_once_the_relay_takes_it(
    ctx: Context, clinician: User, refusing_smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, port = refusing_smtp_server  # refuses two messages (451), then accepts
    settings = smtp_settings(ctx, port, mail_attempts=5, mail_retry_seconds=30.0)
    mailing = Context(settings, ctx.db)
    meeting_id = invite(mailing, clinician)
    sender = outbox.OutboxSender(ctx.db, settings)

    before = utcnow()
    assert sender.round() == 1
    (row,) = rows(ctx.db)
    assert (row.state, row.attempts, row.last_error) == ("waiting", 1, "SMTPDataError 451")
    first_wait = (row.next_attempt_at - before).total_seconds()
    assert 29 <= first_wait <= 31
    assert states(ctx, meeting_id) == [outbox.RETRYING_TEXT]
    assert sender.claim_due(utcnow()) == []  # not due yet

    due = row.next_attempt_at + dt.timedelta(seconds=1)
    (claimed,) = sender.claim_due(due)
    before = utcnow()
    assert sender.send(claimed) is False
    (row,) = rows(ctx.db)
    assert row.attempts == 2
    assert 59 <= (row.next_attempt_at - before).total_seconds() <= 61  # twice the first wait

    (claimed,) = sender.claim_due(row.next_attempt_at + dt.timedelta(seconds=1))
    assert sender.send(claimed) is True
    assert len(inbox.envelopes) == 1
    assert [r.state for r in rows(ctx.db)] == ["sent"]
    assert states(ctx, meeting_id) == [""]
    (retrying,) = audit(ctx.db, "invitation.retrying")  # once, not per attempt
    assert retrying == {
        "outbox": row.id,
        "method": "REQUEST",
        "recipient_kind": "extern",
        "attempts": 1,
        "error": "SMTPDataError 451",
    }
    assert audit(ctx.db, "invitation.not_sent") == []
    assert SOCIAL_SERVICES not in json.dumps(retrying)


def test_a_message_that_keeps_failing_is_given_up_after_the_last_attempt_and_audited_once(
    ctx: Context, clinician: User, refusing_smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, port = refusing_smtp_server
    inbox.refuse_first = 100
    settings = smtp_settings(ctx, port, mail_attempts=3, mail_retry_seconds=30.0)
    meeting_id = invite(Context(settings, ctx.db), clinician)
    sender = outbox.OutboxSender(ctx.db, settings)
    later = utcnow()
    for _ in range(3):
        (claimed,) = sender.claim_due(later)
        assert sender.send(claimed) is False
        later += dt.timedelta(hours=2)
    (row,) = rows(ctx.db)
    assert (row.state, row.attempts) == ("failed", 3)
    assert sender.claim_due(later + dt.timedelta(days=1)) == []  # given up: never tried again
    assert inbox.envelopes == []
    assert states(ctx, meeting_id) == [outbox.GAVE_UP_TEXT]
    assert len(audit(ctx.db, "invitation.retrying")) == 1
    (gave_up,) = audit(ctx.db, "invitation.not_sent")
    assert gave_up["attempts"] == 3
    assert gave_up["error"] == "SMTPDataError 451"


def test_waits_double_up_to_an_hour(ctx: Context) -> None:
    settings = dataclasses.replace(ctx.settings, mail_retry_seconds=30.0)
    assert [outbox.retry_wait(settings, n) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_two_workers_on_one_database_send_each_message_once(
    ctx: Context, clinician: User, smtp_server: tuple[SmtpInbox, int], database_url: str
) -> None:
    inbox, port = smtp_server
    inbox.delay = 0.02  # each message takes a while, so that the two workers overlap
    settings = smtp_settings(ctx, port)
    mailing = Context(settings, ctx.db)
    meeting_id = invite(mailing, clinician)
    with ctx.db.session() as s:
        for n in range(40):
            invitation = Invitation(
                meeting_id=meeting_id,
                sequence=0,
                method="REQUEST",
                subject="Samverkansmöte",
                location="",
                body="Välkommen.",
                starts_at=dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC),
                ends_at=dt.datetime(2030, 1, 1, 10, tzinfo=dt.UTC),
                organiser=Person("Annika Berg", "vardmote@example.se"),
                attendees=(Person("Extern part", f"part{n}@kommun.example.se"),),
            )
            outbox.enqueue(None, s, meeting_id, None, "REQUEST", build_message(invitation, sender="v@x.se"))
    other = Database(database_url)  # another process's engine: its own connections
    try:
        workers = [outbox.OutboxSender(ctx.db, settings), outbox.OutboxSender(other, settings)]
        counts = [0, 0]
        start = threading.Barrier(2)

        def run(n: int) -> None:
            start.wait()
            counts[n] = workers[n].send_due()

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.dispose()
    addresses = sorted(e.rcpt_tos[0] for e in inbox.envelopes)
    assert addresses == sorted([SOCIAL_SERVICES] + [f"part{n}@kommun.example.se" for n in range(40)])
    assert sum(counts) == 41
    assert all(c > 0 for c in counts), counts  # both took part
    assert {r.state for r in rows(ctx.db)} == {"sent"}


def test_a_lapsed_claim_is_taken_over_and_the_message_sent_once(
    ctx: Context, clinician: User, smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, port = smtp_server
    settings = smtp_settings(ctx, port)
    invite(Context(settings, ctx.db), clinician)
    dead, alive = outbox.OutboxSender(ctx.db, settings), outbox.OutboxSender(ctx.db, settings)
    (lost,) = dead.claim_due()  # claimed, and then its worker stalled (or its process died)
    assert alive.claim_due() == []
    lapsed = utcnow() + dt.timedelta(seconds=outbox.claim_seconds(settings) + 1)
    (claimed,) = alive.claim_due(lapsed)
    assert dead.send(lost) is False  # its claim was taken over: it leaves the message alone
    assert alive.send(claimed) is True
    assert [r.state for r in rows(ctx.db)] == ["sent"]
    assert len(inbox.envelopes) == 1


def test_the_outbox_folder_default_gets_the_invitation_from_the_worker(
    ctx: Context, clinician: User, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox"
    settings = dataclasses.replace(ctx.settings, smtp_host="", outbox_dir=folder)
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        sign_in(client, "annika")
        meeting_id = invite(Context(settings, ctx.db), clinician)
        client.app.state.mail_worker.wake()  # type: ignore[attr-defined]
        wait_for_outbox(ctx.db)
    (written,) = folder.glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), _class=EmailMessage, policy=email.policy.default)
    assert SOCIAL_SERVICES in message["To"]
    assert str(event_of(message)[1]["UID"]).startswith(meeting_id)


def test_a_stalled_relay_delays_the_invitation_never_the_service(
    ctx: Context, clinician: User, stalled_relay: StalledRelay
) -> None:
    settings = smtp_settings(ctx, stalled_relay.port, smtp_timeout_seconds=60)
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        sign_in(client, "annika")
        meeting_id = invite(Context(settings, ctx.db), clinician)  # a meeting to send from
        page = client.get(f"/moten/{meeting_id}")
        started = time.monotonic()
        response = client.post(
            f"/moten/{meeting_id}/skicka/kalender",
            data={"csrf": csrf_of(page.text), "kind": "extern", "address": "a@b.se"},
            follow_redirects=False,
        )
        took = time.monotonic() - started
        assert response.status_code == 303
        assert took < 2, f"Skicka kalenderinbjudan took {took:.1f} s"
        deadline = time.monotonic() + 10
        while not stalled_relay.accepted:  # the worker is now waiting for a greeting
            assert time.monotonic() < deadline, "the worker never reached the relay"
            time.sleep(0.02)
        for path in ("/livez", f"/moten/{meeting_id}", "/kalender"):
            started = time.monotonic()
            assert client.get(path).status_code == 200
            assert time.monotonic() - started < 1, path
        assert outbox.unsent(ctx.db) == 2  # still stalled: nothing sent, nothing lost
        stalled_relay.close()  # the relay hangs up: the attempt fails and waits for the next
        deadline = time.monotonic() + 10
        while outbox.RETRYING_TEXT not in client.get(f"/moten/{meeting_id}").text:
            assert time.monotonic() < deadline, "the failed attempt never reached the page"
            time.sleep(0.05)


def test_the_service_stops_at_once_while_an_attempt_waits_on_a_stalled_relay(
    ctx: Context, clinician: User, stalled_relay: StalledRelay
) -> None:
    settings = smtp_settings(ctx, stalled_relay.port, smtp_timeout_seconds=60)
    client = TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test")
    with client:
        invite(Context(settings, ctx.db), clinician)
        client.app.state.mail_worker.wake()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not stalled_relay.accepted:
            assert time.monotonic() < deadline, "the worker never reached the relay"
            time.sleep(0.02)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3
    (row,) = rows(ctx.db)
    assert row.state == "sending"  # cut off: its claim lapses and another worker sends it


def test_the_meeting_page_says_kunde_inte_skickas_next_to_the_recipient_given_up(
    ctx: Context, clinician: User
) -> None:
    settings = smtp_settings(ctx, 9, mail_attempts=1)  # nothing listens on port 9: refused at once
    meeting_id = invite(ctx, clinician, "tolkservice@tolk.example.se")
    with ctx.db.session() as s:
        s.execute(update(OutboxMail).values(state="sent"))  # as if it had gone
    app = create_app(settings, Context(settings, ctx.db))
    with TestClient(app, base_url="http://vardmote.test") as client:
        sign_in(client, "annika")
        page = client.get(f"/moten/{meeting_id}")
        response = client.post(
            f"/moten/{meeting_id}/skicka/kalender",
            data={"csrf": csrf_of(page.text), "kind": "extern", "address": SOCIAL_SERVICES},
            follow_redirects=False,
        )
        assert response.status_code == 303
        wait_for_outbox(ctx.db)
        section = client.get(f"/moten/{meeting_id}").text.split('id="skicka"')[1]
    items = section.split("<li")[1:]
    (given_up,) = [item for item in items if SOCIAL_SERVICES in item]
    (sent,) = [item for item in items if "tolkservice@" in item]
    assert '<strong class="mail-state">Kunde inte skickas</strong>' in given_up
    assert "mail-state" not in sent
    (entry,) = audit(ctx.db, "invitation.not_sent")
    assert entry["error"] == "ConnectionRefusedError"
    assert audit(ctx.db, "invitation.retrying") == []  # the only attempt was the last
