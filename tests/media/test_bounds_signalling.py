"""Bounds on the signalling WebSocket, through the real protocol against ``vardmote serve``.

The server (with its Janus: without media there is no live meeting to wait
in) runs with small bounds: a lobby of 3, 8 connections per address, 3 s to
send ``join``. Each test shows one bound answering in Swedish with its close
code, and that the connection's neighbours go on: a frame announced at 16 MiB
is closed by the WebSocket layer before its payload is sent (1009), a socket
without ``join`` is closed at the deadline, the ninth socket from one address
and the fourth guest in the lobby are refused with ``too_many``, a flood of
frames is closed after repeated ``rate_limited``, and a lobby guest sending
host commands leaves one audit entry with the count, not one each.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
from typing import Any

import pytest
import websockets
from live_clients import Person, people
from sqlalchemy import select

import servers
from servers import Booking, Server
from vardmote.audit.models import AuditEntry
from vardmote.rooms import texts
from vardmote.rooms.messages import MESSAGE_BURST
from vardmote.web.signalling import REFUSALS_BEFORE_CLOSE

pytestmark = pytest.mark.media

LOBBY_LIMIT = 3
CONNECTIONS_PER_ADDRESS = 8
JOIN_DEADLINE_SECONDS = 3

server = servers.server_fixture(
    "bounds",
    env={
        "VARDMOTE_LOBBY_LIMIT": str(LOBBY_LIMIT),
        "VARDMOTE_CONNECTIONS_PER_ADDRESS": str(CONNECTIONS_PER_ADDRESS),
        "VARDMOTE_JOIN_DEADLINE_SECONDS": str(JOIN_DEADLINE_SECONDS),
    },
)
annika = servers.annika
meeting = servers.meeting


async def _closed(person: Person, timeout: float = 5.0) -> tuple[int | None, str]:
    async with asyncio.timeout(timeout):
        await person.closed.wait()
    return person.close_code, person.ws.close_reason or ""


def _refusal_entries(server: Server, meeting_id: str) -> list[dict[str, Any]]:
    db = server.database()
    try:
        with db.session() as s:
            rows = s.scalars(
                select(AuditEntry)
                .where(AuditEntry.meeting_id == meeting_id)
                .where(AuditEntry.action == "meeting.host_command_refused")
                .order_by(AuditEntry.id)
            ).all()
            return [{"actor": r.actor, **json.loads(r.details)} for r in rows]
    finally:
        db.dispose()


async def _wait_for_entries(server: Server, meeting_id: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        while True:
            found = _refusal_entries(server, meeting_id)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)


async def test_a_frame_announced_at_16_mib_is_closed_before_its_payload_is_sent(
    server: Server, meeting: Booking
) -> None:
    async with people(server, meeting, "") as room:
        guest = await room.connect("David")
        # A masked text frame whose header announces 16 MiB, and only its first kilobyte.
        header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 16 * 1024 * 1024) + os.urandom(4)
        transport = guest.ws.transport
        transport.write(header + os.urandom(1024))
        started = time.monotonic()
        code, _ = await _closed(guest)
        assert code == 1009, "message too big: refused from the frame's header"
        assert time.monotonic() - started < 2
        # The rest of the server goes on: a frame of 60 KB on another socket is read and answered.
        other = await room.connect("Maria")
        await other.send_raw(json.dumps({"type": "join", "link": meeting.link, "name": "x" * 60_000}))
        refused = await other.wait_error("bad_message")
        assert refused["request"] == "join"


async def test_a_socket_that_sends_no_join_is_closed_at_the_deadline(
    server: Server, meeting: Booking
) -> None:
    async with people(server, meeting, "") as room:
        silent = await room.connect("Tyst")
        chatty = await room.connect("Pratig")
        joined = await room.guest("David")
        started = time.monotonic()
        await chatty.send({"type": "raise_hand"})  # not a join: it does not stop the clock
        await chatty.wait_error("not_joined")
        for person in (silent, chatty):
            code, reason = await _closed(person, timeout=JOIN_DEADLINE_SECONDS + 3)
            assert (code, reason) == (1008, "join_deadline")
            assert person.errors("not_joined")[-1]["message"] == texts.JOIN_TOO_LATE
        assert time.monotonic() - started >= JOIN_DEADLINE_SECONDS - 0.5
        await asyncio.sleep(1)
        assert not joined.closed.is_set(), "a socket that joined has no deadline"


async def test_one_socket_more_than_an_address_may_open_is_refused_with_too_many(
    server: Server, meeting: Booking
) -> None:
    await asyncio.sleep(0.5)  # the sockets of earlier tests are counted out
    async with people(server, meeting, "") as room:
        held = [await room.connect(f"Gäst {n}") for n in range(CONNECTIONS_PER_ADDRESS)]
        for person in held:
            await person.send({"type": "raise_hand"})
            await person.wait_error("not_joined")  # accepted and served
        extra = await room.connect("En för mycket")
        code, reason = await _closed(extra)
        assert (code, reason) == (1013, "too_many")
        refused = extra.errors("too_many")
        assert [(e["message"], e["request"]) for e in refused] == [(texts.TOO_MANY_CONNECTIONS, "join")]
        await held[0].close()
        await asyncio.sleep(0.3)
        again = await room.connect("Igen")
        await again.send({"type": "raise_hand"})
        await again.wait_error("not_joined")


async def test_one_guest_more_than_the_lobby_holds_is_refused_and_the_lobby_goes_on(
    server: Server, meeting: Booking, annika: str
) -> None:
    await asyncio.sleep(0.5)
    async with people(server, meeting, annika) as room:
        host = await room.host()
        waiting = [await room.guest(f"Gäst {n}") for n in range(LOBBY_LIMIT)]
        late = await room.connect("Sen")
        answer = await late.join(meeting.link)
        assert (answer["type"], answer["code"], answer["message"]) == ("error", "too_many", texts.LOBBY_FULL)
        assert await _closed(late) == (1000, "refused")
        assert all(not p.closed.is_set() for p in waiting)
        await host.send({"type": "admit", "participant": waiting[0].id})
        await waiting[0].wait_for("admitted")
        now = await room.guest("Sen igen")
        assert now.participant is not None


async def test_a_flood_of_frames_is_refused_then_closed(server: Server, meeting: Booking) -> None:
    await asyncio.sleep(0.5)
    async with people(server, meeting, "") as room:
        guest = await room.guest()
        neighbour = await room.guest("Maria")
        for _ in range(MESSAGE_BURST + REFUSALS_BEFORE_CLOSE + 250):
            try:
                await guest.send({"type": "raise_hand"})
            except websockets.ConnectionClosed:
                break
        code, reason = await _closed(guest)
        assert (code, reason) == (1008, "rate_limited")
        limited = guest.errors("rate_limited")
        assert limited[0]["message"] == texts.RATE_LIMITED
        assert limited[-1]["message"] == texts.FLOODING
        assert len(guest.errors("not_admitted")) >= MESSAGE_BURST - 1  # the join took one
        await neighbour.send({"type": "raise_hand"})
        await neighbour.wait_error("not_admitted")


async def test_host_commands_from_the_lobby_are_audited_once_with_their_count(
    server: Server, meeting: Booking
) -> None:
    """The issue's probe: a lobby guest sending ``end`` 25 times a second (here for 4 s) wrote
    one audit entry each; now one entry for the connection, with the count."""
    await asyncio.sleep(0.5)
    async with people(server, meeting, "") as room:
        guest = await room.guest()
        sent = locks = 0
        started = time.monotonic()
        while time.monotonic() - started < 4:
            await guest.send({"type": "end"})
            sent += 1
            if sent % 10 == 0:
                await guest.send({"type": "lock"})
                locks += 1
            await asyncio.sleep(0.04)

        def refused() -> list[dict[str, Any]]:
            return [e for e in guest.errors("not_allowed") if e["message"] == texts.ONLY_HOSTS]

        async with asyncio.timeout(5):
            while len(refused()) < sent + locks:
                await asyncio.sleep(0.05)
        assert guest.errors("rate_limited") == []
        assert len(refused()) == sent + locks
        assert _refusal_entries(server, meeting.meeting_id) == [], "nothing while the connection is open"
        participant = guest.id
        await guest.close()
        (entry,) = await _wait_for_entries(server, meeting.meeting_id, 1)
        assert entry["actor"].startswith("guest:")
        assert entry["participant"] == participant
        assert entry["count"] == sent + locks
        assert entry["commands"] == {"end": sent, "lock": locks}
        await asyncio.sleep(0.5)
        assert len(_refusal_entries(server, meeting.meeting_id)) == 1
