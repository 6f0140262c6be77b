"""Screen sharing, "Avsluta mötet" and the anonymous meeting, end to end on a live server.

As in ``test_live_meeting.py`` (the clients are ``live_clients.py``'s, the
server and its fixtures tests/servers.py's): ``vardmote serve`` runs as a subprocess with its embedded
Janus (one for this module), Annika books meetings through the API and hosts
them, and the guests are aiortc peers on the meeting WebSocket. What the tests
look at is what a browser would see, plus three views from outside: Janus
itself (with the secrets in the server's var folder), the REMB bitrate caps
Janus sends a publisher, and the server's audit log in its database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from live_clients import (
    extra_links,
    feeds_in_janus,
    frames_stop,
    participants_named,
    people,
    room_in_janus,
)
from sqlalchemy import select

import servers
from servers import Booking, Server, book_protected_meeting
from vardmote.audit.models import AuditEntry

pytestmark = pytest.mark.media

ROOM_BITRATE = 1_024_000
"""The bitrate cap of every Janus room vardmote makes (``RoomOptions.bitrate``)."""
NEEDS_FLOOR = "I det här mötet sänds ditt ljud och din bild bara när en värd ger dig ordet."
SHARE_FIRST = "Starta skärmdelningen först."

# The module's server (pytest finds fixtures by the module's names), and the fixtures on it.
server = servers.server_fixture("live-sharing")
annika = servers.annika
meeting = servers.meeting


async def eventually(what: str, check: Callable[[], Any], *, timeout: float = 5.0) -> Any:
    """eventually returns the first truthy result of check (a function or a coroutine function),
    polled every 0.1 s; what says in a failure what did not come true."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def audit_entries(server: Server, meeting_id: str, *actions: str) -> list[tuple[str, str, Any]]:
    """audit_entries are the meeting's audit entries of these actions, in order: (action, actor, details).

    The server writes them after it has sent its messages, so this waits (up to
    5 s) until there is one of each action.
    """
    db = server.database()

    def read() -> list[tuple[str, str, Any]] | None:
        with db.session() as s:
            rows = s.scalars(
                select(AuditEntry)
                .where(AuditEntry.meeting_id == meeting_id)
                .where(AuditEntry.action.in_(actions))
                .order_by(AuditEntry.id)
            ).all()
            found = [(r.action, r.actor, json.loads(r.details)) for r in rows]
        return found if {action for action, _, _ in found} == set(actions) else None

    try:
        found: list[tuple[str, str, Any]] = await eventually(f"audit entries {actions}", read)
    finally:
        db.dispose()
    return found


async def test_a_screen_share_is_its_own_publisher_stream_that_the_host_receives_until_share_stop(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        await david.publish()
        assert await host.wait_for_frames(david.id, 11, kind="camera") > 10

        await david.send({"type": "share_start"})
        started = await david.wait_for("share_started")
        assert started == {"type": "share_started", "full_resolution": False}
        mark = len(host.messages)
        await david.share_screen()

        both = [{"participant": david.id, "kind": "camera"}, {"participant": david.id, "kind": "screen"}]
        streams = await host.wait_for("streams", lambda m: len(m["streams"]) == 2, after=mark)
        assert streams["streams"] == both
        offer = await host.wait_for(
            "offer", lambda m: any(s["kind"] == "screen" for s in m["streams"]), after=mark
        )
        assert {(s["participant"], s["kind"]) for s in offer["streams"] if s["type"] == "video"} == {
            (david.id, "camera"),
            (david.id, "screen"),
        }
        assert await host.wait_for_frames(david.id, 11, kind="screen") > 10
        assert host.frame_sizes[(david.id, "screen")] == david.screen_size
        assert host.frame_sizes[(david.id, "camera")] == david.video_size
        assert set(await feeds_in_janus(server, meeting.meeting_id)) == {
            f"{david.id}-camera",
            f"{david.id}-screen",
        }
        # A standard meeting's share keeps the room's cap: Janus asks for no more than it (REMB).
        await eventually("a REMB for the share", lambda: david.screen_remb)
        assert max(david.screen_remb) == ROOM_BITRATE

        mark = len(host.messages)
        await david.send({"type": "share_stop"})
        streams = await host.wait_for("streams", after=mark)
        assert streams["streams"] == [{"participant": david.id, "kind": "camera"}]
        assert await frames_stop(host, david.id, kind="screen")
        before = host.frames_from(david.id, "camera")
        assert await host.wait_for_frames(david.id, before + 11, kind="camera") > before + 10
        assert set(await feeds_in_janus(server, meeting.meeting_id)) == {f"{david.id}-camera"}

        entries = await audit_entries(
            server, meeting.meeting_id, "meeting.share_started", "meeting.share_stopped"
        )
        assert [action for action, _, _ in entries] == ["meeting.share_started", "meeting.share_stopped"]
        assert {actor for _, actor, _ in entries} == {entries[0][1]}
        assert entries[0][1].startswith("guest:")
        assert all(details == {"participant": david.id} for _, _, details in entries)
        assert host.errors() == []
        assert david.errors() == []
        assert host.of_type("client_failure") == []
        assert david.of_type("client_failure") == []


async def test_an_mdk_meeting_shares_at_full_resolution_with_no_bitrate_cap(
    server: Server, annika: str
) -> None:
    mdk = book_protected_meeting(server, session=annika, type_key="mdk")
    async with people(server, mdk, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        david.screen_size = (1280, 720)  # sent as it is: no scaleResolutionDownBy

        await david.send({"type": "share_start"})
        started = await david.wait_for("share_started")
        assert started == {"type": "share_started", "full_resolution": True}
        await david.share_screen()
        assert await host.wait_for_frames(david.id, 11, kind="screen") > 10
        assert host.frame_sizes[(david.id, "screen")] == (1280, 720)

        # Janus caps a publisher by REMB; a standard share gets its ramp-up before the first
        # frames are through (see the test above). An MDK share gets none: it is not capped.
        await asyncio.sleep(1.0)
        assert david.screen_remb == []
        assert host.errors() == []
        assert david.errors() == []


async def test_a_screen_offer_without_an_accepted_share_start_is_not_allowed(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)

        mark = await david.offer_publisher_raw("screen")
        refused = await david.wait_error("not_allowed", after=mark)
        assert (refused["message"], refused["request"]) == (SHARE_FIRST, "offer")

        await david.send({"type": "share_start"})  # accepted, then stopped: no longer allowed
        await david.wait_for("share_started")
        await david.send({"type": "share_stop"})
        mark = await david.offer_publisher_raw("screen")
        refused = await david.wait_error("not_allowed", after=mark)
        assert (refused["message"], refused["request"]) == (SHARE_FIRST, "offer")

        await asyncio.sleep(0.3)
        assert david.of_type("answer") == []
        assert host.of_type("streams") == []
        assert host.of_type("offer") == []


async def test_avsluta_mötet_ends_it_for_everyone_and_links_get_meeting_ended_until_a_host_is_back(
    server: Server, meeting: Booking, annika: str
) -> None:
    (eva_link,) = extra_links(server, meeting.meeting_id, 1)
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host)
        await david.publish()
        eva = await room.guest("Eva", eva_link)  # still in the lobby
        assert await host.wait_for_frames(david.id, 11) > 10
        async with room_in_janus(server) as janus:
            assert await janus.exists(meeting.meeting_id)

            await host.send({"type": "end"})
            for person in (host, david, eva):
                ended = await person.wait_for("ended")
                assert ended == {"type": "ended", "reason": "ended_by_host", "message": "Mötet är avslutat."}
                async with asyncio.timeout(5):
                    await person.closed.wait()

            async def room_gone() -> bool:
                return not await janus.exists(meeting.meeting_id)

            await eventually("the Janus room destroyed", room_gone)

        for link in (meeting.link, eva_link):
            again = await room.connect("David")
            refused = await again.join(link)
            assert (refused["type"], refused.get("code"), refused.get("request")) == (
                "error",
                "meeting_ended",
                "join",
            )
            async with asyncio.timeout(5):
                await again.closed.wait()

        back = await room.host()  # a host starts the meeting again
        david_again = await room.guest("David")
        assert await david_again.wait_for("lobby") == {"type": "lobby", "hosts_present": True}

        entries = await audit_entries(server, meeting.meeting_id, "meeting.ended")
        assert [(actor, details) for _, actor, details in entries] == [("user:annika", {"participants": 2})]
        refusals = await audit_entries(server, meeting.meeting_id, "meeting.join_refused")
        assert [details for _, _, details in refusals] == [{"reason": "meeting_ended"}] * 2
        assert back.errors() == []
        assert host.errors() == []
        assert david.errors() == []


async def test_an_anonymous_meeting_shows_attendees_only_the_host_and_the_floor_lets_one_be_heard_by_hosts(
    server: Server, annika: str
) -> None:
    lecture = book_protected_meeting(server, session=annika, type_key="informationsmote_patient")
    first, second = extra_links(server, lecture.meeting_id, 2)
    async with people(server, lecture, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David", first)
        eva = await room.admitted_guest(host, "Eva", second)

        for attendee in (david, eva):
            joined_list = (await attendee.wait_for("admitted"))["participants"]
            assert {p["id"] for p in joined_list} == {host.id, attendee.id}
            streams = await attendee.wait_for("streams")
            assert streams["streams"] == [{"participant": host.id, "kind": "camera"}]
            assert await attendee.wait_for_frames(host.id, 11) > 10

        mark = await david.offer_publisher_raw()
        refused = await david.wait_error("not_allowed", after=mark)
        assert (refused["message"], refused["request"]) == (NEEDS_FLOOR, "offer")
        mark = len(david.messages)
        await david.send({"type": "share_start"})
        refused = await david.wait_error("not_allowed", after=mark)
        assert (refused["message"], refused["request"]) == (NEEDS_FLOOR, "share_start")

        mark = len(host.messages)
        await host.send({"type": "give_floor", "participant": david.id})
        assert await david.wait_for("floor") == {"type": "floor", "granted": True}
        await david.publish()
        streams = await host.wait_for("streams", after=mark)
        assert streams["streams"] == [{"participant": david.id, "kind": "camera"}]
        assert await host.wait_for_frames(david.id, 11) > 10
        assert f"{david.id}-camera" in await feeds_in_janus(server, lecture.meeting_id)

        await asyncio.sleep(1.0)  # time enough for Eva to get David's video if she were sent it
        assert eva.frames_from(david.id) == 0
        assert set().union(*map(participants_named, eva.messages)) == {host.id, eva.id}
        assert set().union(*map(participants_named, david.messages)) == {host.id, david.id}
        assert {m["participant"]["id"] for m in host.of_type("participant")} >= {david.id, eva.id}
        assert [m["streams"] for m in david.of_type("streams")] == [
            [{"participant": host.id, "kind": "camera"}]
        ]
        assert eva.frames_from(host.id) > 10
        assert david.frames_from(host.id) > 10
        assert host.errors() == []
        assert eva.errors() == []
