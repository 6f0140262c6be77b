"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests, one that refuses at first, a relay that
accepts connections and never answers, readers of the calendar invitations they got, and a wait for
the outbox worker (invitations leave after commit, from the outbox table)."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar

from vardmote.db import Database
from vardmote.invitations.outbox import unsent


def wait_for_outbox(db: Database, timeout: float = 20.0) -> None:
    """wait_for_outbox returns once no message in db's outbox is waiting or being sent (sent or
    given up), polling; it fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while (left := unsent(db)) > 0:
        assert time.monotonic() < deadline, f"the outbox still holds {left} unsent message(s)"
        time.sleep(0.02)


class SmtpInbox:
    """Inbox is the aiosmtpd handler: it keeps every message the server accepted."""

    def __init__(self, refuse_first: int = 0, delay: float = 0.0) -> None:
        self.envelopes: list[Any] = []
        self.delay = delay
        """Seconds the server takes over each message before it answers."""
        self.refuse_first = refuse_first
        """How many messages to refuse (451, try again later) before accepting."""
        self.refused = 0
        self.outbox: Database | None = None
        """When set, messages() first waits until this database's outbox is empty."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        if self.refused < self.refuse_first:
            self.refused += 1
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        """wait_for returns once the server has accepted count messages, for a server whose
        outbox the test cannot read (another process's); it fails the test after timeout."""
        deadline = time.monotonic() + timeout
        while len(self.envelopes) < count:
            assert time.monotonic() < deadline, f"{len(self.envelopes)} of {count} messages arrived"
            time.sleep(0.02)

    def messages(self) -> list[EmailMessage]:
        """messages are the messages accepted so far (after the outbox emptied, when one is set)."""
        if self.outbox is not None:
            wait_for_outbox(self.outbox)
        parsed: list[EmailMessage] = []
        for envelope in self.envelopes:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    """smtp_server is a real SMTP server on 127.0.0.1 in a thread, and its port."""
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextlib.contextmanager
def running_smtp_server(inbox: SmtpInbox) -> Iterator[int]:
    """running_smtp_server runs a real SMTP server on 127.0.0.1 with inbox as its handler, in a
    thread, and gives its port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


class StalledRelay:
    """StalledRelay is a mail relay that accepts TCP connections on 127.0.0.1 and never says
    anything: an SMTP client waits for its greeting until its own timeout. Closing it closes
    every connection it holds, so waiting clients then fail at once."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="stalled-relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        """close stops accepting and closes every held connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self.listener.close()
        for connection in self.accepted:
            connection.close()
        self._thread.join(timeout=5)


def calendar_part(message: EmailMessage) -> EmailMessage:
    """calendar_part is the message's one text/calendar part."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    part = parts[0]
    assert isinstance(part, EmailMessage)
    return part


def event_of(message: EmailMessage) -> tuple[Calendar, Any]:
    """event_of is the calendar of the message's text/calendar part and its one event.

    The event is typed Any: icalendar types a property as a union of some thirty
    value classes, and a test reads each as the one it knows it is.
    """
    data = calendar_part(message).get_payload(decode=True)
    assert isinstance(data, bytes)
    calendar = Calendar.from_ical(data.decode("utf-8"))
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]
