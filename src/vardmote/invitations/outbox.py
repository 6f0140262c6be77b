"""Outbox: e-mail leaves after the change is saved, from a table, by a worker off the event loop.

Sending a calendar invitation, an update or a CANCEL never talks to a mail server in the
request. `enqueue` writes the message as built (after the personal-data guard) to the
``mail_outbox`` table in the transaction of the change, so the change and its mail are saved
together or not at all. After commit the process's `OutboxWorker` is woken (and it polls as
well, for what other processes queued) and sends each due message with the configured
`Mailer` (SMTP, or the outbox folder) in a thread of its own, never on the event loop: a
relay that is down or stalled delays mail, never the service, never the change.

| state   | meaning                                       | meeting page                         |
|---------|-----------------------------------------------|--------------------------------------|
| waiting | due at ``next_attempt_at`` | after a failed attempt: "Inte skickad – försöker igen" |
| sending | claimed by one worker until ``claimed_until`` | as waiting                           |
| sent    | the mailer took it                            | nothing                              |
| failed  | ``mail_attempts`` attempts failed: given up   | "Kunde inte skickas"                 |

A failed attempt waits ``mail_retry_seconds``, doubled for each attempt after the first (at
most an hour). The audit gets ``invitation.retrying`` at the first failure and
``invitation.not_sent`` when the message is given up (once each, not per attempt), with the
error's kind and never an address.

Several processes share the table: a worker claims a message with
``UPDATE … SET state='sending' WHERE id=… AND state=<as read> AND attempts=<as read>``, which
one worker wins on SQLite and PostgreSQL alike, and writes the outcome only while its claim
token is still the row's. A claim is renewed before each attempt and lapses after a while
longer than any attempt can take (`claim_seconds`), so a message whose worker died is sent by
another; only then can a message leave twice (the relay took it, the process died before it
wrote so).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.db import Database, utcnow
from vardmote.invitations.events import MailQueued
from vardmote.invitations.mail import Mailer, MailNotSent, mailer_from
from vardmote.invitations.models import MeetingRecipient, OutboxMail
from vardmote.lib.events import EventBus
from vardmote.settings import Settings

log = logging.getLogger("vardmote.invitations.outbox")

WAITING = "waiting"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"

RETRYING_TEXT = "Inte skickad – försöker igen"
"""Next to a recipient whose e-mail failed at least once and is still being tried."""
GAVE_UP_TEXT = "Kunde inte skickas"
"""Next to a recipient whose e-mail was given up after the last attempt."""

ACTOR = "system:outbox"
"""The audit actor of the worker's entries."""

MAX_WAIT_SECONDS = 3600.0
"""The longest wait between two attempts, however many came before."""

BATCH = 20
"""Messages one round claims at most."""


def enqueue(
    bus: EventBus[Any] | None,
    s: Session,
    meeting_id: str,
    recipient: MeetingRecipient | None,
    method: str,
    message: EmailMessage,
) -> OutboxMail:
    """enqueue writes message to the outbox in s's transaction; the worker sends it after commit.

    bus gets a MailQueued event, so that the process's worker is woken once the transaction
    commits (nothing is sent when it rolls back)."""
    to = message["To"].addresses
    row = OutboxMail(
        meeting_id=meeting_id,
        recipient_id=recipient.id if recipient is not None else None,
        method=method,
        address=to[0].addr_spec if to else "",
        message=message.as_bytes(policy=SMTP),
        state=WAITING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    s.add(row)
    if bus is not None:
        bus.publish(s, MailQueued(meeting_id))
    return row


def retry_wait(settings: Settings, attempts: int) -> float:
    """retry_wait is the seconds to wait after the attempts-th failed attempt (1 for the first)."""
    return float(min(settings.mail_retry_seconds * 2 ** max(attempts - 1, 0), MAX_WAIT_SECONDS))


def claim_seconds(settings: Settings) -> float:
    """claim_seconds is how long a claim holds: longer than the slowest attempt can take (each
    SMTP step may wait smtp_timeout_seconds; a message takes some eight steps)."""
    return float(max(60, 10 * settings.smtp_timeout_seconds))


def error_kind(error: BaseException) -> str:
    """error_kind names what went wrong without anything personal: the class of the cause
    (``TimeoutError``, ``ConnectionRefusedError``, ``SMTPRecipientsRefused``) and an SMTP code."""
    cause = error.__cause__ if isinstance(error, MailNotSent) and error.__cause__ is not None else error
    kind = type(cause).__name__
    code = getattr(cause, "smtp_code", None)
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        codes = {c for c, _ in cause.recipients.values()}
        code = min(codes) if codes else None
    return f"{kind} {code}"[:60] if isinstance(code, int) else kind[:60]


@dataclass(frozen=True)
class MailStates:
    """MailStates is what the meeting page says of each recipient's e-mail, by recipient id."""

    texts: dict[int, str]

    def of(self, recipient_id: int) -> str:
        """of is the text next to the recipient, or empty when there is nothing to say."""
        return self.texts.get(recipient_id, "")


def mail_states(s: Session, meeting_id: str) -> MailStates:
    """mail_states reads, for each recipient of the meeting, their latest e-mail's state:
    "Inte skickad – försöker igen" while a failed one is tried again, "Kunde inte skickas" when
    it was given up, nothing otherwise (waiting for its first attempt, or sent)."""
    latest: dict[int, tuple[str, int]] = {}
    rows = s.execute(
        select(OutboxMail.recipient_id, OutboxMail.state, OutboxMail.attempts)
        .where(OutboxMail.meeting_id == meeting_id, OutboxMail.recipient_id.is_not(None))
        .order_by(OutboxMail.id)
    )
    for recipient_id, state, attempts in rows:
        if recipient_id is not None:
            latest[recipient_id] = (state, attempts)
    texts: dict[int, str] = {}
    for recipient_id, (state, attempts) in latest.items():
        if state == FAILED:
            texts[recipient_id] = GAVE_UP_TEXT
        elif state in (WAITING, SENDING) and attempts > 0:
            texts[recipient_id] = RETRYING_TEXT
    return MailStates(texts)


def unsent(db: Database) -> int:
    """unsent is how many messages are waiting or being sent (given up ones not counted)."""
    with db.session() as s:
        found = s.scalar(select(func.count()).where(OutboxMail.state.in_((WAITING, SENDING))))
        return int(found or 0)


def _rows_changed(s: Session, statement: Update) -> int:
    result = s.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


@dataclass
class Claimed:
    """Claimed is one message a worker holds: its row id, the claim token and the bytes to send."""

    id: int
    claim: str
    attempts: int
    meeting_id: str
    method: str
    recipient_kind: str | None
    message: bytes


class OutboxSender:
    """OutboxSender does the worker's blocking work: claims due messages, sends them with the
    mailer and writes each outcome. Every method blocks (database, network): call it in a thread."""

    def __init__(self, db: Database, settings: Settings, mailer: Mailer | None = None) -> None:
        self.db = db
        self.settings = settings
        self.mailer = mailer if mailer is not None else mailer_from(settings)

    def claim_due(self, now: dt.datetime | None = None) -> list[Claimed]:
        """claim_due claims up to BATCH due messages (waiting and due, or sending with a lapsed
        claim); a message another worker claimed first is skipped. When another worker won every
        message read, the due ones are read again (a few times), so that a worker does not stop
        while messages behind those are due."""
        now = now or utcnow()
        for _ in range(5):
            candidates, claimed = self._claim(now)
            if claimed or not candidates:
                return claimed
        return []

    def _claim(self, now: dt.datetime) -> tuple[int, list[Claimed]]:
        claimed: list[Claimed] = []
        with self.db.session() as s:
            candidates = s.execute(
                select(OutboxMail.id, OutboxMail.state, OutboxMail.attempts)
                .where(
                    ((OutboxMail.state == WAITING) & (OutboxMail.next_attempt_at <= now))
                    | ((OutboxMail.state == SENDING) & (OutboxMail.claimed_until < now))
                )
                .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
                .limit(BATCH)
            ).all()
        until = now + dt.timedelta(seconds=claim_seconds(self.settings))
        for row_id, state, attempts in candidates:
            token = secrets.token_hex(16)
            with self.db.session() as s:
                won = _rows_changed(
                    s,
                    update(OutboxMail)
                    .where(
                        OutboxMail.id == row_id, OutboxMail.state == state, OutboxMail.attempts == attempts
                    )
                    .values(state=SENDING, claim=token, claimed_until=until)
                    .execution_options(synchronize_session=False),
                )
                if won != 1:
                    continue
                row = s.get(OutboxMail, row_id)
                assert row is not None
                kind = (
                    s.scalar(select(MeetingRecipient.kind).where(MeetingRecipient.id == row.recipient_id))
                    if row.recipient_id is not None
                    else None
                )
                claimed.append(
                    Claimed(row.id, token, row.attempts, row.meeting_id, row.method, kind, row.message)
                )
        return len(candidates), claimed

    def send(self, item: Claimed) -> bool:
        """send sends one claimed message and writes the outcome; True when it went. The claim is
        renewed first (the messages of a round are sent one after the other, and a slow relay may
        outlast the claims of the last ones); a message whose claim another worker took since is
        left to it (False)."""
        renewed = utcnow() + dt.timedelta(seconds=claim_seconds(self.settings))
        with self.db.session() as s:
            held = _rows_changed(
                s,
                update(OutboxMail)
                .where(OutboxMail.id == item.id, OutboxMail.claim == item.claim)
                .values(claimed_until=renewed)
                .execution_options(synchronize_session=False),
            )
        if held != 1:
            return False
        message = message_from_bytes(item.message, _class=EmailMessage, policy=SMTP)
        try:
            self.mailer.send(message)
        except (MailNotSent, OSError, smtplib.SMTPException) as e:
            self._failed(item, error_kind(e))
            return False
        with self.db.session() as s:
            s.execute(
                update(OutboxMail)
                .where(OutboxMail.id == item.id, OutboxMail.claim == item.claim)
                .values(state=SENT, sent_at=utcnow(), claim=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )
        return True

    def _failed(self, item: Claimed, kind: str) -> None:
        attempts = item.attempts + 1
        gave_up = attempts >= self.settings.mail_attempts
        values: dict[str, object] = {
            "attempts": attempts,
            "last_error": kind,
            "claim": None,
            "claimed_until": None,
        }
        if gave_up:
            values["state"] = FAILED
        else:
            values["state"] = WAITING
            values["next_attempt_at"] = utcnow() + dt.timedelta(seconds=retry_wait(self.settings, attempts))
        with self.db.session() as s:
            written = _rows_changed(
                s,
                update(OutboxMail)
                .where(OutboxMail.id == item.id, OutboxMail.claim == item.claim)
                .values(**values)
                .execution_options(synchronize_session=False),
            )
            if written != 1:
                return  # the claim lapsed and another worker has the message now
            log.warning(
                "e-mail %s (%s) attempt %d of %d failed: %s%s",
                item.id,
                item.method,
                attempts,
                self.settings.mail_attempts,
                kind,
                ", given up" if gave_up else "",
            )
            details = {
                "outbox": item.id,
                "method": item.method,
                "recipient_kind": item.recipient_kind,
                "attempts": attempts,
                "error": kind,
            }
            if gave_up:
                record(s, ACTOR, "invitation.not_sent", item.meeting_id, details)
            elif attempts == 1:
                record(s, ACTOR, "invitation.retrying", item.meeting_id, details)

    def next_due(self) -> dt.datetime | None:
        """next_due is when the next waiting message is due (or a claim lapses); None when none."""
        with self.db.session() as s:
            waiting = s.scalar(
                select(OutboxMail.next_attempt_at)
                .where(OutboxMail.state == WAITING)
                .order_by(OutboxMail.next_attempt_at)
                .limit(1)
            )
            lapsing = s.scalar(
                select(OutboxMail.claimed_until)
                .where(OutboxMail.state == SENDING)
                .order_by(OutboxMail.claimed_until)
                .limit(1)
            )
        found = [t for t in (waiting, lapsing) if t is not None]
        return min(found) if found else None

    def round(self) -> int:
        """round claims what is due and sends it, one message after the other; returns how many
        were attempted."""
        claimed = self.claim_due()
        for item in claimed:
            self.send(item)
        return len(claimed)

    def send_due(self) -> int:
        """send_due runs rounds until nothing is due now; returns how many were attempted. For the
        command line and tests, which have no worker."""
        total = 0
        while attempted := self.round():
            total += attempted
        return total


class OutboxWorker:
    """OutboxWorker is the process's asyncio task that empties the outbox.

    It runs `OutboxSender.send_due` in a daemon thread of its own (a stalled relay holds that
    thread only, never the event loop, the request threads or the process's exit), then sleeps
    until it is woken (a MailQueued committed in this process), the next message is due, or
    poll_seconds pass (for messages other processes queued)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        mailer: Mailer | None = None,
        *,
        poll_seconds: float = 5.0,
    ) -> None:
        self.sender = OutboxSender(db, settings, mailer)
        self.poll_seconds = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, bus: EventBus[Any]) -> None:
        """subscribe wakes this worker after each commit that queued mail through bus."""
        bus.subscribe(MailQueued, self._on_queued)

    def _on_queued(self, _: MailQueued) -> None:
        self.wake()

    def wake(self) -> None:
        """wake makes the worker look at the outbox now; callable from any thread."""
        loop, woken = self._loop, self._woken
        if loop is None or woken is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the worker has stopped
            loop.call_soon_threadsafe(woken.set)

    def start(self) -> None:
        """start runs the worker as a task of the running loop."""
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="vardmote-outbox")

    async def stop(self) -> None:
        """stop ends the task; an attempt under way in the thread is left to end by its timeout."""
        task, self._task = self._task, None
        self._loop = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _in_thread(self, work: Callable[[], object]) -> object:
        """_in_thread runs work in a daemon thread of its own and awaits its result. Not an
        executor: their threads are waited for when the process exits, and an attempt on a
        stalled relay would then hold a stopping process for up to the SMTP timeout (a message
        whose attempt is cut off that way keeps its claim until it lapses, and is sent then)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()

        def settle(result: object, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def run() -> None:
            result: object = None
            error: BaseException | None = None
            try:
                result = work()
            except BaseException as e:  # handed to the awaiting task
                error = e
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody awaits it any more
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=run, name="vardmote-outbox", daemon=True).start()
        return await future

    async def _run(self) -> None:
        assert self._woken is not None
        while True:
            self._woken.clear()
            wait = self.poll_seconds
            try:
                await self._in_thread(self.sender.send_due)
                due = await self._in_thread(self.sender.next_due)
                if isinstance(due, dt.datetime):
                    wait = max(0.0, min(wait, (due - utcnow()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the outbox round failed; trying again in %s s", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout=wait)
