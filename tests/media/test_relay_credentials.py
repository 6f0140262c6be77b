"""Relay credentials through the meeting: only the admitted get them, and the relay takes them.

``vardmote serve`` runs its embedded coturn here (VARDMOTE_TURN=embedded, on the
test namespace's address). Annika, a clinician, hosts; David, a patient, waits
in the lobby until she lets him in. What the protocol promises
(docs/protocol.md, "Relay"): ``joined`` and ``admitted`` of the admitted carry
``ice_servers``, whose credentials the real relay accepts, made out to an opaque
holder and expiring an hour after the meeting's links do; someone in the lobby
gets none, and asking for them there is refused.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from aioice import stun
from live_clients import people

import servers
from netns import media_address
from relay_helpers import allocate, embedded_relay_env, free_port_pair
from servers import Booking, Server
from vardmote.settings import Settings

pytestmark = pytest.mark.media

NOT_ADMITTED = "Du väntar i lobbyn. En värd släpper in dig när mötet börjar."
CREDENTIAL_SECONDS = 900


TURN_PORT = free_port_pair(media_address(), set())
TLS_PORT = free_port_pair(media_address(), {TURN_PORT})

server = servers.server_fixture(
    "relay-credentials",
    env={
        **embedded_relay_env(TURN_PORT, TLS_PORT),
        "VARDMOTE_TURN_CREDENTIAL_SECONDS": str(CREDENTIAL_SECONDS),
    },
)
annika = servers.annika
meeting = servers.meeting


def links_expire_at(server: Server, booking: Booking) -> int:
    """links_expire_at is when the meeting's links stop working (Unix seconds): its booked end
    and the grace the server has (VARDMOTE_LINK_GRACE_MINUTES, the default here)."""
    found = server.call("GET", f"/api/v1/meetings/{booking.meeting_id}", token=booking.session)
    ends_at = dt.datetime.fromisoformat(found["ends_at"])
    return int((ends_at + dt.timedelta(minutes=Settings().link_grace_minutes)).timestamp())


async def test_only_the_admitted_get_relay_credentials_and_the_relay_takes_them(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        (hosts,) = host.of_type("joined")[-1]["ice_servers"]

        david = await room.guest()
        lobby = david.of_type("joined")[-1]
        assert lobby["state"] == "lobby"
        assert "ice_servers" not in lobby
        mark = len(david.messages)
        await david.send({"type": "ice_servers"})
        refused = await david.wait_error("not_admitted", after=mark)
        assert refused == {
            "type": "error",
            "code": "not_admitted",
            "message": NOT_ADMITTED,
            "request": "ice_servers",
        }
        assert david.of_type("ice_servers") == []

        await host.send({"type": "admit", "participant": david.id})
        (davids,) = (await david.wait_for("admitted"))["ice_servers"]
        port = TURN_PORT
        assert davids["urls"] == [
            f"turn:{media_address()}:{port}?transport=udp",
            f"turn:{media_address()}:{port}?transport=tcp",
            f"turns:{media_address()}:{TLS_PORT}?transport=tcp",
        ]
        expires, _, holder = davids["username"].partition(":")
        assert int(expires) == links_expire_at(server, meeting) + CREDENTIAL_SECONDS
        # Opaque: neither the person, their participant id nor the meeting, and not the host's.
        assert holder not in {"David", david.id, meeting.meeting_id}
        assert "David" not in davids["username"]
        assert meeting.meeting_id not in davids["username"]
        assert hosts["username"].partition(":")[2] != holder

        for transport in ("udp", "tcp"):
            relayed, _ = await allocate((media_address(), TURN_PORT), davids, transport)
            assert relayed == media_address()

        mark = len(david.messages)
        await david.send({"type": "ice_servers"})
        (fresh,) = (await david.wait_for("ice_servers", after=mark))["ice_servers"]
        assert fresh["urls"] == davids["urls"]
        assert fresh["username"].partition(":")[2] == holder
        assert david.errors() == [refused]


async def test_credentials_changed_by_hand_are_refused_by_the_relay(
    server: Server, meeting: Booking, annika: str
) -> None:
    """A lobby guest cannot make credentials of their own: the relay checks them against the
    secret only vardmote and coturn share (nor use a admitted person's after the fact with
    another expiry)."""
    async with people(server, meeting, annika) as room:
        host = await room.host()
        (hosts,) = host.of_type("joined")[-1]["ice_servers"]
        _, _, holder = hosts["username"].partition(":")
        forged = {**hosts, "username": f"{int(time.time()) + 10 * 365 * 24 * 3600}:{holder}"}
        with pytest.raises(stun.TransactionFailed) as refused:
            await allocate((media_address(), TURN_PORT), forged, "udp")
        assert refused.value.response.error_code == 401
