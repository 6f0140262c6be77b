"""Two vardmote processes behind HAProxy share live meetings through Redis, with real Janus.

The topology (scale_out.py): Redis, one Janus node, two ``vardmote serve`` on one
database, HAProxy round-robin without stickiness. Annika and her guests are
aiortc peers on the meeting WebSocket through HAProxy, so their connections
land on both processes. What they receive is what a browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from live_clients import People, Person, people
from scale_out import Topology, scale_out

from servers import Booking, book_protected_meeting
from vardmote.accounts.service import deactivate_user
from vardmote.web.live_booking import ACCOUNT_WATCH_SECONDS

pytestmark = pytest.mark.media

MAX_MEDIA_GAP = 0.5
"""Seconds without a video frame that count as a break in media (the issue's bound)."""


def _entries(message: dict[str, object]) -> dict[str, dict[str, object]]:
    participants = message.get("participants")
    assert isinstance(participants, list), message
    return {p["id"]: p for p in participants}


@contextlib.asynccontextmanager
async def meeting_through_the_front(topology: Topology) -> AsyncIterator[tuple[People, Booking, str]]:
    """meeting_through_the_front is a protected meeting booked by Annika through HAProxy, with
    its people (who connect through HAProxy too), and her session."""
    front = topology.front
    annika = front.sign_in()
    booking = book_protected_meeting(front, session=annika)
    async with people(front, booking, annika) as room:
        yield room, booking, annika


async def _everyone_sees_everyone(everyone: list[Person]) -> None:
    """_everyone_sees_everyone waits until each person has video from each of the others."""
    for person in everyone:
        for other in everyone:
            if other is not person:
                before = person.frames_from(other.id)
                assert await person.wait_for_frames(other.id, before + 10, timeout=5) > before


async def _dropped(everyone: list[Person], within: float = 3.0) -> list[Person]:
    """_dropped is everyone whose WebSocket the server closed within a few seconds."""

    async def closed(person: Person) -> bool:
        try:
            async with asyncio.timeout(within):
                await person.closed.wait()
            return True
        except TimeoutError:
            return False

    found = await asyncio.gather(*(closed(p) for p in everyone))
    return [p for p, was in zip(everyone, found, strict=True) if was]


async def _come_back(
    topology: Topology, meeting_id: str, dropped: list[Person], annika: str, *, media: bool = True
) -> None:
    """_come_back does what each page does when its WebSocket closed: it resumes through the
    load balancer, keeping its PeerConnections."""
    for person in dropped:
        session = annika if person.name == "Annika" else None
        joined = await person.reconnect(topology.front, meeting_id, session=session)
        assert joined["type"] == "joined", joined
        assert joined.get("media_kept") is (True if media else None), joined


@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_a_process_killed_or_stopped_loses_no_one_and_no_frame(tmp_path: Path, how: str) -> None:
    """kill: SIGKILL mid-meeting (a crash); stop: SIGTERM (a rolling upgrade), which hands the
    meeting over at once."""
    async with (
        scale_out(tmp_path) as topology,
        meeting_through_the_front(topology) as (room, booking, annika),
    ):
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David")
        sara = await room.admitted_guest(host, "Sara")
        for guest in (david, sara):
            await guest.publish()
        everyone = [host, david, sara]
        await _everyone_sees_everyone(everyone)
        # What must survive: a raised hand, a host mute, the lock.
        await david.send({"type": "raise_hand"})
        await host.wait_for("hands", lambda m: m.get("queue") == [david.id])
        await host.send({"type": "mute", "participant": sara.id})
        await sara.wait_for("muted")
        await host.send({"type": "lock"})
        await host.wait_for("settings", lambda m: m.get("locked") is True)
        owner = topology.owner_of(booking.meeting_id)
        killed_at = time.monotonic()

        await asyncio.to_thread(owner.kill if how == "kill" else owner.stop)

        dropped = await _dropped(everyone)
        assert host in dropped  # the first join made its process the owner
        await _come_back(topology, booking.meeting_id, dropped, annika)
        await asyncio.sleep(2)  # media goes on through the take-over, and after it

        for person in everyone:
            gap = person.longest_frame_gap(killed_at)
            assert gap < MAX_MEDIA_GAP, f"{person.name}: {gap * 1000:.0f} ms without video"
        assert topology.owner_of(booking.meeting_id) is topology.other_than(owner)
        resumed = host.of_type("joined")[-1]
        entries = _entries(resumed)
        assert {str(e["name"]) for e in entries.values()} == {"Annika Berg", "David", "Sara"}
        assert {str(e["state"]) for e in entries.values()} == {"admitted"}
        assert entries[sara.id]["host_muted"] is True
        assert resumed["hands"] == [david.id]
        assert resumed["settings"]["locked"] is True
        for person in everyone:
            assert person.errors() == [], person.name


async def test_a_booking_change_saved_on_another_process_reaches_the_live_meeting(tmp_path: Path) -> None:
    async with (
        scale_out(tmp_path) as topology,
        meeting_through_the_front(topology) as (room, booking, annika),
    ):
        host = await room.host()
        david = await room.admitted_guest(host, "David")
        other = topology.other_than(topology.owner_of(booking.meeting_id))

        await asyncio.to_thread(other.call, "DELETE", f"/api/v1/meetings/{booking.meeting_id}", None, annika)

        for person in (host, david):
            ended = await person.wait_for("ended", timeout=5)
            assert ended["reason"] == "cancelled", ended
        assert len(david.of_type("ended")) == 1


async def test_a_host_whose_account_is_deactivated_leaves_the_meeting_another_process_runs(
    tmp_path: Path,
) -> None:
    """The owner's account watch finds it and hands the change to the meeting's inbox."""
    async with (
        scale_out(tmp_path) as topology,
        meeting_through_the_front(topology) as (room, booking, _session),
    ):
        host = await room.host()
        david = await room.admitted_guest(host, "David")
        db = topology.owner_of(booking.meeting_id).database()
        try:
            with db.session() as s:
                deactivate_user(s, "annika", actor="system:cli")
        finally:
            db.dispose()
        told = await host.wait_for("removed", timeout=ACCOUNT_WATCH_SECONDS + 5)
        assert told["message"].startswith("Ditt konto är inaktiverat"), told
        assert david.of_type("removed") == []
        assert not david.closed.is_set()


async def test_two_quick_changes_of_type_reach_the_live_meeting_in_the_order_they_were_saved(
    tmp_path: Path,
) -> None:
    async with (
        scale_out(tmp_path) as topology,
        meeting_through_the_front(topology) as (room, booking, annika),
    ):
        host = await room.host()
        other = topology.other_than(topology.owner_of(booking.meeting_id))
        path = f"/api/v1/meetings/{booking.meeting_id}/type"

        for type_key in ("informationsmote_patient", "vardmote_patient"):
            await asyncio.to_thread(other.call, "PUT", path, {"type_key": type_key}, annika)

        await asyncio.sleep(1)  # both changes reach the room
        david = await room.guest("David")
        joined = david.of_type("joined")[-1]
        assert joined["policy"]["anonymous"] is False, joined["policy"]
        assert host.errors() == []


async def test_the_host_left_countdown_fires_once_across_a_killed_process(tmp_path: Path) -> None:
    seconds = 6
    async with (
        scale_out(tmp_path, env={"VARDMOTE_HOST_LEFT_SECONDS": str(seconds)}) as topology,
        meeting_through_the_front(topology) as (room, booking, annika),
    ):
        host = await room.host()
        david = await room.admitted_guest(host, "David")
        sara = await room.admitted_guest(host, "Sara")
        owner = topology.owner_of(booking.meeting_id)
        await host.send({"type": "leave"})
        left_at = time.monotonic()
        for guest in (david, sara):
            await guest.wait_for("host_left")
        await asyncio.sleep(1.5)

        await asyncio.to_thread(owner.kill)

        # Nobody sends media here: there is none to keep, and the resumed say so.
        await _come_back(topology, booking.meeting_id, await _dropped([david, sara]), annika, media=False)
        for guest in (david, sara):
            ended = await guest.wait_for("ended", timeout=seconds + 5)
            assert ended["reason"] == "host_left", ended
        ended_after = time.monotonic() - left_at
        assert seconds - 0.5 < ended_after < seconds + 2.5, ended_after
        await asyncio.sleep(1.5)  # a second timer would have fired by now
        for guest in (david, sara):
            assert len(guest.of_type("ended")) == 1, guest.of_type("ended")


def _meeting_node(topology: Topology, meeting_id: str) -> str:
    """_meeting_node is the Janus node the meeting's owner runs it on (its last snapshot)."""
    with redis.Redis.from_url(topology.redis.url) as client:
        state = json.loads(client.get(f"vardmote:meeting:{meeting_id}:state") or b"{}")
    return str(state["media"]["node"])


async def test_a_dead_janus_node_moves_its_meetings_and_video_comes_back(tmp_path: Path) -> None:
    async with (
        scale_out(tmp_path, janus_nodes=2) as topology,
        meeting_through_the_front(topology) as (room, booking, _),
    ):
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David")
        sara = await room.admitted_guest(host, "Sara")
        everyone = [host, david, sara]
        for guest in (david, sara):
            await guest.publish()
        await _everyone_sees_everyone(everyone)
        node = _meeting_node(topology, booking.meeting_id)
        dying = next(j for j in topology.janus if j.node.url == node)
        marks = [len(p.messages) for p in everyone]
        died_at = time.monotonic()

        await dying.stop()

        for person, mark in zip(everyone, marks, strict=True):
            await person.wait_error("media_unavailable", after=mark)
        # What the page does on media_unavailable: offer again, which goes to a node that is up.
        await asyncio.gather(*(_publish_again(p) for p in everyone))
        await _everyone_sees_everyone(everyone)
        assert time.monotonic() - died_at < 5
        assert _meeting_node(topology, booking.meeting_id) != node


async def _publish_again(person: Person) -> None:
    """_publish_again offers again until it is answered (the first may still meet the dead node)."""
    async with asyncio.timeout(5):
        while True:
            try:
                await person.publish(timeout=2)
                return
            except (TimeoutError, AssertionError):
                await asyncio.sleep(0.3)


async def test_without_redis_a_message_gets_a_clear_answer_and_media_goes_on(tmp_path: Path) -> None:
    async with (
        scale_out(tmp_path) as topology,
        meeting_through_the_front(topology) as (room, _, _),
    ):
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David")
        assert await david.wait_for_frames(host.id, 10) > 0
        for server in topology.servers:
            server.expect_in_log("Redis|redis")

        topology.redis.kill()
        stopped_at = time.monotonic()

        await david.send({"type": "raise_hand"})
        refused = await david.wait_error("service_unavailable")
        assert refused["message"] == "Mötestjänsten svarar inte just nu. Sidan försöker igen av sig själv."
        async with asyncio.timeout(5):
            await david.closed.wait()
        await asyncio.sleep(1)
        assert david.longest_frame_gap(stopped_at) < MAX_MEDIA_GAP  # Janus goes on
