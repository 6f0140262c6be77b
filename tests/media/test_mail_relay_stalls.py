"""A mail relay that accepts connections and never answers delays mail, never a live meeting.

``vardmote serve`` with its embedded Janus sends its mail to a relay that accepts the TCP
connection and then says nothing (tests/smtp_helpers.py StalledRelay), with a 60 s SMTP timeout.
Annika hosts a meeting and David takes part, both on WebSockets with aiortc media; while the
outbox worker waits on the relay, "Skicka kalenderinbjudan" answers at once, chat goes both ways,
David's video keeps arriving, /livez and the meeting page answer, and the process stops on
SIGTERM at once. Before the outbox, one invitation froze the event loop for the whole timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from live_clients import people

import servers
from booking_helpers import csrf_of
from servers import Booking, Server, serve
from smtp_helpers import StalledRelay
from vardmote.invitations.outbox import unsent

pytestmark = pytest.mark.media

SOCIAL_SERVICES = "socialtjansten@kommun.example.se"

annika = servers.annika
meeting = servers.meeting


@pytest.fixture
def relay() -> Iterator[StalledRelay]:
    """relay accepts connections and never answers."""
    stalled = StalledRelay()
    try:
        yield stalled
    finally:
        stalled.close()


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory, relay: StalledRelay) -> Iterator[Server]:
    """server is ``vardmote serve`` with media, mailing through the stalled relay."""
    env = {
        "VARDMOTE_SMTP_HOST": "127.0.0.1",
        "VARDMOTE_SMTP_PORT": str(relay.port),
        "VARDMOTE_SMTP_STARTTLS": "0",
        "VARDMOTE_SMTP_TIMEOUT_SECONDS": "60",
    }
    with serve(tmp_path_factory.mktemp("stalled-relay") / "var", media=True, env=env) as running:
        yield running


def send_calendar_invitation(server: Server, session: str, meeting_id: str) -> tuple[int, float]:
    """send_calendar_invitation posts "Skicka kalenderinbjudan" from the meeting page as a browser
    does; returns the status and the seconds the post took."""
    with httpx.Client(base_url=server.url, cookies={"vm_session": session}, timeout=120) as client:
        page = client.get(f"/moten/{meeting_id}")
        assert page.status_code == 200
        started = time.monotonic()
        response = client.post(
            f"/moten/{meeting_id}/skicka/kalender",
            data={
                "csrf": csrf_of(page.text),
                "kind": "extern",
                "address": "socialtjansten@kommun.example.se",
            },
        )
        return response.status_code, time.monotonic() - started


def saying(text: str) -> Callable[[dict[str, Any]], bool]:
    """saying matches a chat message with this text (chat reaches its sender too)."""
    return lambda message: message.get("text") == text


def answer_time(server: Server, path: str, session: str) -> float:
    """answer_time is the seconds path took to answer 200."""
    with httpx.Client(base_url=server.url, cookies={"vm_session": session}, timeout=120) as client:
        started = time.monotonic()
        assert client.get(path).status_code == 200
        return time.monotonic() - started


async def test_a_live_meeting_keeps_working_while_the_mail_relay_stalls(
    server: Server, meeting: Booking, annika: str, relay: StalledRelay
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host)
        await david.publish()
        assert await host.wait_for_frames(david.id, 11) > 10

        status, took = await asyncio.to_thread(send_calendar_invitation, server, annika, meeting.meeting_id)
        assert status == 303  # back to the meeting page: it is in the outbox
        assert took < 2, f"Skicka kalenderinbjudan took {took:.1f} s"
        async with asyncio.timeout(10):
            while not relay.accepted:  # the worker now waits for the relay's greeting
                await asyncio.sleep(0.05)

        stall_began = time.monotonic()
        for n in range(5):
            for sender, receiver in ((host, david), (david, host)):
                mark = len(receiver.messages)
                text = f"{sender.name} {n}"
                await sender.send({"type": "chat", "text": text})
                chat = await receiver.wait_for("chat", saying(text), after=mark, timeout=2)
                assert chat["from"] == sender.id
        frames_before = len(host.frame_times)
        await asyncio.sleep(2)
        frames = len(host.frame_times) - frames_before
        assert frames > 20, f"only {frames} video frames from David in 2 s of the stall"
        for path in ("/livez", f"/moten/{meeting.meeting_id}"):
            seconds = await asyncio.to_thread(answer_time, server, path, annika)
            assert seconds < 1, f"{path} took {seconds:.1f} s"
        db = server.database()
        try:
            assert unsent(db) >= 1  # still waiting on the relay: delayed, not lost
        finally:
            db.dispose()
        assert time.monotonic() - stall_began < 30  # all of it within the stall (60 s timeout)
        assert host.errors() == []
        assert david.errors() == []

    stopping = time.monotonic()
    await asyncio.to_thread(server.stop)  # SIGTERM while the attempt still waits on the relay
    assert time.monotonic() - stopping < 5
