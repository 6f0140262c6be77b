"""ICE restarts through vardmote with a real Janus: media comes back without leaving the meeting.

A network change (Wi-Fi to 4G, a VPN switched off) breaks a PeerConnection's
path; the browser restarts ICE instead of leaving (docs/protocol.md, "ICE
restart"): its ``publisher`` with a new offer of its own (new ICE credentials,
the same DTLS), its ``subscriber`` with ``{type: "ice_restart", pc:
"subscriber"}``, which makes the server ask Janus for an offer that restarts
ICE. Annika, a clinician, hosts; David, a patient, is admitted from the lobby.

aiortc cannot restart ICE by itself (its ICE transport starts once), so the
test's David does what a browser does, by hand: he keeps his PeerConnection and
its DTLS session, and gives its ICE agent (aioice) the new credentials:
Janus's new ones for the subscriber, new ones of his own for the publisher.

What these tests show is the signalling and that nothing is torn down: new ICE
credentials from Janus, the same DTLS, the same streams, the participant still
admitted, and video going on through the restart (Janus keeps the old path
until a new one is chosen, so video would go on here even if the new checks
failed). That media comes back over a new path after the old one is cut is
the browser test's (tests/e2e/test_networks.py: the patient's link down for 5 s).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from live_clients import People, Person, extra_links, only_local_candidates, people
from scale_out import scale_out

import servers
from netns import media_address
from servers import Booking, Server, book_protected_meeting

pytestmark = pytest.mark.media

server = servers.server_fixture("ice-restart")
annika = servers.annika
meeting = servers.meeting

_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_PWD = re.compile(r"^a=ice-pwd:(\S+)", re.MULTILINE)
_FINGERPRINT = re.compile(r"^a=fingerprint:(.+)$", re.MULTILINE)


def ufrag(sdp: str) -> str:
    """ufrag is the ICE username fragment of a description (its first, as BUNDLE shares one)."""
    found = _UFRAG.search(sdp)
    assert found is not None, sdp
    return found.group(1)


def ice_agents(pc: RTCPeerConnection) -> list[Any]:
    """ice_agents are the aioice connections of a PeerConnection's transports."""
    transports = {id(t.receiver.transport): t.receiver.transport for t in pc.getTransceivers()}
    return [dtls.transport._connection for dtls in transports.values()]


async def answer_restart(person: Person, offer: dict[str, Any]) -> None:
    """answer_restart answers Janus's restarting subscriber offer on the same PeerConnection: its
    ICE agent takes Janus's new credentials (a browser's setRemoteDescription does that)."""
    pc = person.subscriber
    assert pc is not None
    for agent in ice_agents(pc):
        agent.remote_username = _UFRAG.search(offer["sdp"]).group(1)  # type: ignore[union-attr]
        agent.remote_password = _PWD.search(offer["sdp"]).group(1)  # type: ignore[union-attr]
    await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    sdp = only_local_candidates(pc.localDescription.sdp, media_address())
    await person.send({"type": "answer", "pc": "subscriber", "sdp": sdp})


class Restarting(Person):
    """Restarting is a Person whose subscriber answers an ICE restart on the PeerConnection it has
    (Person makes a new one for new credentials, as after a Janus restart)."""

    restarts: list[dict[str, Any]]

    async def _answer(self, offer: dict[str, Any]) -> None:
        if self.subscriber is not None and self._subscriber_ufrag not in (None, ufrag(offer["sdp"])):
            self._subscriber_ufrag = ufrag(offer["sdp"])
            self.janus_sdps.append(offer["sdp"])
            await answer_restart(self, offer)
            self.offers_answered += 1
            async with self._changed:
                self._changed.notify_all()
            return
        await super()._answer(offer)


async def restarting_guest(room: People, host: Person) -> Restarting:
    """restarting_guest is David, admitted, whose subscriber can restart ICE."""
    ws = await websockets.connect(room.server.ws_url(room.meeting.meeting_id), max_size=None)
    david = Restarting(ws, "David")
    room.everyone.append(david)
    joined = await david.join(room.meeting.link)
    assert joined["state"] == "lobby", joined
    await host.send({"type": "admit", "participant": david.id})
    await david.wait_for("admitted")
    return david


async def test_a_subscriber_ice_restart_brings_a_new_offer_with_new_credentials_and_video_goes_on(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await restarting_guest(room, host)
        assert await david.wait_for_frames(host.id, 10) >= 10
        first = david.of_type("offer")[-1]

        mark = len(david.messages)
        await david.send({"type": "ice_restart", "pc": "subscriber"})
        again = await david.wait_for("offer", lambda m: m.get("pc") == "subscriber", after=mark)
        assert ufrag(again["sdp"]) != ufrag(first["sdp"])
        assert _FINGERPRINT.search(again["sdp"]).group(1) == _FINGERPRINT.search(first["sdp"]).group(1)  # type: ignore[union-attr]
        assert again["streams"] == first["streams"]
        assert again["streams"][0]["participant"] == host.id

        before = david.frames_from(host.id)
        assert await david.wait_for_frames(host.id, before + 30, timeout=10) >= before + 30
        assert david.errors() == []
        assert david.of_type("client_failure") == []
        assert [m for m in david.messages[mark:] if m.get("type") in {"lobby", "denied", "ended"}] == []


async def test_an_ice_restart_before_anything_is_received_is_answered_restart_failed_and_changes_nothing(
    server: Server, meeting: Booking, annika: str
) -> None:
    """Every ice_restart is answered (the browser stops waiting for an offer), and never with
    media_unavailable, which makes the browser offer its camera and screen again."""
    async with people(server, meeting, annika) as room:
        await room.host()
        david = await room.admitted_guest(room.everyone[0])
        mark = len(david.messages)
        await david.send({"type": "ice_restart", "pc": "subscriber"})
        refused = await david.wait_error("restart_failed", after=mark)
        assert refused["request"] == "ice_restart"
        assert (
            refused["message"]
            == "Mottagningen kunde inte startas om just nu. Den startas om igen av sig själv."
        )
        await david.send({"type": "ice_servers"})
        await david.wait_for("ice_servers", after=mark)
        assert [m for m in david.messages[mark:] if m.get("type") in {"offer", "error"}] == [refused]


async def test_a_publisher_offering_again_with_new_ice_credentials_gets_janus_new_ones_and_stays(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        await david.publish()
        assert await host.wait_for_frames(david.id, 10) >= 10
        pc = david.publisher
        assert pc is not None
        first_answer = david.janus_sdps[-1]

        # What createOffer({iceRestart: true}) gives: new ICE credentials, the same DTLS.
        own_ufrag, own_pwd = secrets.token_hex(4), secrets.token_hex(12)
        offer = only_local_candidates(pc.localDescription.sdp, media_address())
        offer = _UFRAG.sub(f"a=ice-ufrag:{own_ufrag}", offer)
        offer = _PWD.sub(f"a=ice-pwd:{own_pwd}", offer)
        mark = len(david.messages)
        await david.send({"type": "offer", "pc": "publisher", "sdp": offer})
        answer = await david.wait_for("answer", lambda m: m.get("pc") == "publisher", after=mark)
        assert ufrag(answer["sdp"]) != ufrag(first_answer)
        assert _FINGERPRINT.search(answer["sdp"]).group(1) == _FINGERPRINT.search(first_answer).group(1)  # type: ignore[union-attr]

        for agent in ice_agents(pc):
            agent._local_username, agent._local_password = own_ufrag, own_pwd
            agent.remote_username = ufrag(answer["sdp"])
            agent.remote_password = _PWD.search(answer["sdp"]).group(1)  # type: ignore[union-attr]
        before = host.frames_from(david.id)
        assert await host.wait_for_frames(david.id, before + 30, timeout=10) >= before + 30
        assert david.errors() == []
        await asyncio.sleep(0)


def entries_of(person: Person, subject: str, after: int) -> list[dict[str, Any]]:
    """entries_of is every participant entry of subject person was sent since after."""
    return [
        m["participant"]
        for m in person.messages[after:]
        if m.get("type") == "participant"
        and m["participant"].get("id") == subject
        and "name" in m["participant"]
    ]


async def test_when_a_guest_s_media_stops_arriving_the_host_sees_them_reconnecting_until_it_comes_back(
    server: Server, meeting: Booking, annika: str
) -> None:
    """Janus's ``media`` events (nothing received on the camera publisher's sound and picture)
    show the guest as reconnecting, also when their own network is down and they cannot say so."""
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        admitted = len(david.messages)
        await david.publish()
        assert await host.wait_for_frames(david.id, 10) >= 10
        pc = david.publisher
        assert pc is not None
        transports = {id(s.transport): s.transport for s in pc.getSenders()}.values()
        sending = {id(t): t._send_rtp for t in transports}

        async def lost(data: bytes) -> None:
            return None  # the network is down: nothing reaches Janus

        mark = len(host.messages)
        for transport in transports:
            transport._send_rtp = lost  # type: ignore[method-assign]
        stalled = await host.wait_for(
            "participant",
            lambda m: m["participant"].get("id") == david.id and m["participant"].get("reconnecting") is True,
            after=mark,
            timeout=8,
        )
        assert stalled["participant"]["state"] == "admitted"
        assert stalled["participant"]["connected"] is True

        mark = len(host.messages)
        for transport in transports:
            transport._send_rtp = sending[id(transport)]  # type: ignore[method-assign]
        await host.wait_for(
            "participant",
            lambda m: (
                m["participant"].get("id") == david.id and m["participant"].get("reconnecting") is False
            ),
            after=mark,
            timeout=8,
        )
        before = host.frames_from(david.id)
        assert await host.wait_for_frames(david.id, before + 10) >= before + 10
        gone = {"lobby", "denied", "removed", "ended"}
        assert [m for m in david.messages[admitted:] if m.get("type") in gone] == []


async def test_a_guest_s_connection_report_reaches_the_host_with_the_path_and_other_guests_without(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        (maria_link,) = extra_links(server, meeting.meeting_id, 1)
        maria = await room.admitted_guest(host, "Maria", maria_link)
        marks = len(host.messages), len(maria.messages)
        report = {"type": "connection", "state": "reconnecting", "path": "relay", "quality": "poor"}
        await david.send(report)
        seen = await host.wait_for(
            "participant", lambda m: m["participant"].get("id") == david.id, after=marks[0]
        )
        assert {k: seen["participant"][k] for k in ("reconnecting", "media_path", "poor_connection")} == {
            "reconnecting": True,
            "media_path": "relay",
            "poor_connection": True,
        }
        told = await maria.wait_for(
            "participant", lambda m: m["participant"].get("id") == david.id, after=marks[1]
        )
        assert told["participant"]["reconnecting"] is True
        assert "media_path" not in told["participant"]
        assert "poor_connection" not in told["participant"]

        mark = len(david.messages)
        await david.send({**report, "quality": "bad"})
        refused = await david.wait_error("bad_message", after=mark)
        assert refused["message"] == "Fältet 'quality' ska vara ”good” eller ”poor”."
        assert refused["request"] == "connection"


async def test_after_another_process_took_the_meeting_over_an_ice_restart_and_reports_still_work(
    tmp_path: Path,
) -> None:
    """Several processes (vardmote.cluster): the frames go to the meeting's owner through Redis;
    the process that took the meeting over knows the subscriber's streams from the snapshot
    (Janus's answer to a restart does not list them)."""
    async with scale_out(tmp_path) as topology:
        front = topology.front
        session = front.sign_in()
        booking = book_protected_meeting(front, session=session)
        async with people(front, booking, session) as room:
            host = await room.host(publish=True)
            david = await restarting_guest(room, host)
            assert await david.wait_for_frames(host.id, 10) >= 10
            streams = david.of_type("offer")[-1]["streams"]
            owner = topology.owner_of(booking.meeting_id)

            await asyncio.to_thread(owner.stop)  # a rolling upgrade: the meeting is handed over
            await asyncio.sleep(3)  # the stopped process's sockets close (1012); the others stay
            dropped = [person for person in (host, david) if person.closed.is_set()]
            assert host in dropped  # the first join made its process the owner
            for person in dropped:
                cookie = session if person is host else None
                joined = await person.reconnect(front, booking.meeting_id, session=cookie)
                assert joined.get("media_kept") is True, joined
                assert joined["ice_servers"] == []  # admitted; no relay in this topology
            assert topology.owner_of(booking.meeting_id) is topology.other_than(owner)
            mark = len(david.messages)
            await david.send({"type": "ice_servers"})
            assert (await david.wait_for("ice_servers", after=mark))["ice_servers"] == []

            mark = len(david.messages)
            await david.send({"type": "ice_restart", "pc": "subscriber"})
            again = await david.wait_for("offer", lambda m: m.get("pc") == "subscriber", after=mark)
            assert again["streams"] == streams
            before = david.frames_from(host.id)
            assert await david.wait_for_frames(host.id, before + 30, timeout=10) >= before + 30

            mark = len(host.messages)
            await david.send(
                {"type": "connection", "state": "connected", "path": "direct", "quality": "poor"}
            )
            seen = await host.wait_for(
                "participant", lambda m: m["participant"].get("poor_connection") is True, after=mark
            )
            assert seen["participant"]["id"] == david.id
            assert david.errors() == []


async def test_when_the_saved_meeting_does_not_know_the_streams_a_restart_subscribes_afresh(
    tmp_path: Path,
) -> None:
    """A rolling upgrade from the version before: its snapshot has no subscriber streams. The
    process that takes over does not send an offer with ``streams: []`` (the browser would
    forget whose video each mid is): it answers ``restart_failed`` and subscribes afresh, and
    the new subscriber's offer lists every stream again."""
    async with scale_out(tmp_path) as topology:
        first, second = topology.servers
        session = topology.front.sign_in()
        booking = book_protected_meeting(topology.front, session=session)
        # Both on one process: the other takes the meeting only when someone comes back to it,
        # after the snapshot was made to look like the earlier version's.
        async with people(first, booking, session) as room:
            host = await room.host(publish=True)
            david = await room.admitted_guest(host)
            assert await david.wait_for_frames(host.id, 10) >= 10
            before = [(s["participant"], s["kind"], s["type"]) for s in david.of_type("offer")[-1]["streams"]]
            assert (host.id, "camera", "video") in before
            assert topology.owner_of(booking.meeting_id) is first

            await asyncio.to_thread(first.stop)
            with redis.Redis.from_url(topology.redis.url, decode_responses=True) as client:
                key = f"vardmote:meeting:{booking.meeting_id}:state"
                saved = json.loads(str(client.get(key)))
                participants = saved["media"]["participants"]
                assert participants[david.id]["streams"]  # known: the rest of the test needs them gone
                for media in participants.values():  # the version before saved neither
                    media.pop("streams", None)
                    media.pop("camera_mids", None)
                client.set(key, json.dumps(saved), keepttl=True)
            await asyncio.sleep(3)
            for person in (host, david):
                cookie = session if person is host else None
                joined = await person.reconnect(topology.front, booking.meeting_id, session=cookie)
                assert joined.get("media_kept") is True, joined
            assert topology.owner_of(booking.meeting_id) is second

            mark = len(david.messages)
            await david.send({"type": "ice_restart", "pc": "subscriber"})
            refused = await david.wait_error("restart_failed", after=mark)
            assert refused["request"] == "ice_restart"
            again = await david.wait_for("offer", lambda m: m.get("pc") == "subscriber", after=mark)
            assert david.messages.index(refused) < david.messages.index(again)
            assert [(s["participant"], s["kind"], s["type"]) for s in again["streams"]] == before
            frames = david.frames_from(host.id)
            assert await david.wait_for_frames(host.id, frames + 30, timeout=10) >= frames + 30
            assert david.errors() == [refused]
            assert david.of_type("client_failure") == []
