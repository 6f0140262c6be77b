"""Registered room devices (Vårdrum) on a live server: ``join`` with a device token.

As in ``test_live_meeting.py`` (the clients are ``live_clients.py``'s, the
server and its fixtures tests/servers.py's): ``vardmote serve`` runs as a subprocess with its embedded
Janus, one for this module. The room computer in Vårdrum 3 at the allergy
clinic is registered in the server's database as ``vardmote device add``
does; Annika books a "Vårdrum" meeting through the API and hosts it from afar.
"""

from __future__ import annotations

import asyncio

import pytest
from live_clients import Message, Person, people
from sqlalchemy import select

import servers
from servers import Booking, Server, book_protected_meeting
from vardmote.accounts.devices import add_device, revoke_device
from vardmote.audit.models import AuditEntry
from vardmote.demo import CLINIC

pytestmark = pytest.mark.media

ROOM = "Vårdrum 3, Allergimottagning"
NOT_REGISTERED = "Rumsenheten är inte registrerad. Kontrollera enhetens nyckel eller kontakta förvaltningen."
REVOKED = "Rumsenheten är avregistrerad och kan inte ansluta. Kontakta förvaltningen."
NO_DEVICES = "Rumsenheter kan bara ansluta till möten av typen Vårdrum."

# The module's server (pytest finds fixtures by the module's names), and the fixtures on it.
server = servers.server_fixture("room-device")
annika = servers.annika
meeting = servers.meeting


@pytest.fixture
def vardrum(server: Server, annika: str) -> Booking:
    """vardrum is a "Vårdrum" meeting booked for tomorrow."""
    return book_protected_meeting(server, session=annika, type_key="vardrum")


def register(server: Server, name: str) -> tuple[int, str]:
    """register adds a room device at the demo clinic in the server's database; (its id, its token)."""
    db = server.database()
    try:
        with db.session() as s:
            device, token = add_device(s, name, CLINIC, actor="system:cli")
            return device.id, token
    finally:
        db.dispose()


def revoke(server: Server, name: str) -> None:
    db = server.database()
    try:
        with db.session() as s:
            revoke_device(s, name, actor="system:cli")
    finally:
        db.dispose()


async def join_as_device(person: Person, token: str) -> Message:
    """join_as_device sends ``join`` with the device's token and returns ``joined`` (or the error)."""
    mark = len(person.messages)
    await person.send({"type": "join", "device": token})
    async with asyncio.timeout(5):
        while True:
            for message in person.messages[mark:]:
                if message.get("type") == "joined":
                    person.participant, person.resume = message["participant"], message["resume"]
                    return message
                if message.get("type") == "error":
                    return message
            await asyncio.sleep(0.02)


async def test_a_registered_device_waits_in_the_lobby_until_the_host_lets_it_in_and_then_is_seen(
    server: Server, vardrum: Booking, annika: str
) -> None:
    device_id, token = register(server, ROOM)
    async with people(server, vardrum, annika) as room:
        host = await room.host(publish=True)
        computer = await room.connect("rumsdator")
        joined = await join_as_device(computer, token)
        assert (joined["type"], joined["role"], joined["state"]) == ("joined", "room_device", "lobby")
        assert joined["participants"][0]["name"] == ROOM
        await computer.wait_for("lobby", lambda m: m["hosts_present"])
        knocked = await host.wait_for("participant", lambda m: m["participant"]["id"] == computer.id)
        assert knocked["participant"]["role"] == "room_device"

        await host.send({"type": "admit", "participant": computer.id})
        await computer.wait_for("admitted")
        await computer.publish()
        assert await host.wait_for_frames(computer.id, 11) > 10
        assert await computer.wait_for_frames(host.id, 11) > 10

        patient = await room.guest("David", vardrum.link)  # at home, on the meeting's link
        assert patient.of_type("joined")[0]["role"] == "guest"

    db = server.database()
    try:
        with db.session() as s:
            query = select(AuditEntry.actor).where(
                AuditEntry.meeting_id == vardrum.meeting_id, AuditEntry.action == "meeting.joined"
            )
            assert f"device:{device_id}" in set(s.scalars(query))
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        pytest.param("A" * 43, "not_found", NOT_REGISTERED, id="unknown-token"),
        pytest.param("inte-en-nyckel", "not_found", NOT_REGISTERED, id="not-a-token"),
    ],
)
async def test_an_unknown_device_token_is_not_found_and_the_connection_closed(
    server: Server, vardrum: Booking, token: str, code: str, message: str
) -> None:
    async with people(server, vardrum, "") as room:
        stranger = await room.connect("okänd dator")
        refused = await join_as_device(stranger, token)
        assert refused == {"type": "error", "code": code, "message": message, "request": "join"}
        async with asyncio.timeout(5):
            await stranger.closed.wait()


async def test_a_revoked_device_is_not_allowed_in_any_more(server: Server, vardrum: Booking) -> None:
    _, token = register(server, "Vårdrum 5")
    revoke(server, "Vårdrum 5")
    async with people(server, vardrum, "") as room:
        computer = await room.connect("rumsdator")
        refused = await join_as_device(computer, token)
        assert refused == {"type": "error", "code": "not_allowed", "message": REVOKED, "request": "join"}
        async with asyncio.timeout(5):
            await computer.closed.wait()


async def test_a_registered_device_is_not_allowed_in_a_meeting_of_another_type(
    server: Server, meeting: Booking
) -> None:
    _, token = register(server, "Vårdrum 6")
    async with people(server, meeting, "") as room:
        computer = await room.connect("rumsdator")
        refused = await join_as_device(computer, token)
        assert refused == {"type": "error", "code": "not_allowed", "message": NO_DEVICES, "request": "join"}
