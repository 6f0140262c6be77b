"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests, and readers of the calendar invitations it got."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar


class SmtpInbox:
    """Inbox is the aiosmtpd handler: it keeps every message the server accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
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
