"""Hand-over of a Janus session with a real Janus: a vardmote that dies leaves its
meetings' sessions to another, and the media does not notice.

Janus keeps a session whose connection went away for ``reclaim_session_timeout``
seconds (VARDMOTE_JANUS_RECLAIM_SECONDS), counted from its last request, and a
``claim`` on another connection takes it over. The first vardmote is played by
a JanusClient whose TCP connection is aborted, as a kill -9 would leave it: no
``destroy``, no WebSocket close. The browsers are aiortc peers, whose
PeerConnections go to Janus and never to vardmote.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from janus_fixtures import connected, janus_settings, room_control
from rtc_peers import EventLog, RtcPublisher, RtcSubscriber

from vardmote.media import videoroom
from vardmote.media.embedded import EmbeddedJanus
from vardmote.media.janus import JanusClient, JanusError, JanusSession
from vardmote.media.placement import SingleNode
from vardmote.media.plane import MediaPlane
from vardmote.media.videoroom import PLUGIN, SubscribeTo

pytestmark = pytest.mark.media

MEETING = "mote-c1a1m0"
SESSION_NOT_FOUND = 458
"""Janus's JANUS_ERROR_SESSION_NOT_FOUND."""
WATCHDOG = 2.0
"""Janus looks for expired sessions every 2 s, so one ends up to 2 s after its time."""


@asynccontextmanager
async def janus_reclaiming(tmp_path: Path, seconds: int) -> AsyncIterator[EmbeddedJanus]:
    """janus_reclaiming is a running Janus that keeps orphaned sessions for seconds."""
    settings = dataclasses.replace(janus_settings(tmp_path), janus_reclaim_seconds=seconds)
    janus = EmbeddedJanus(settings)
    await janus.start()
    try:
        yield janus
    finally:
        await janus.stop()


async def kill(client: JanusClient) -> None:
    """kill drops client's TCP connection the way a killed process does: no destroy, no close frame."""
    client._ws.transport.abort()
    await asyncio.wait_for(client.wait_closed(), 5)


class FrameClock:
    """FrameClock notes when a subscriber's video frame count grows (every 5 ms)."""

    def __init__(self, view: RtcSubscriber) -> None:
        self.view = view
        self.arrivals: list[tuple[float, int]] = []
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        seen = self.view.video_frames
        while True:
            await asyncio.sleep(0.005)
            if self.view.video_frames != seen:
                seen = self.view.video_frames
                self.arrivals.append((time.monotonic(), seen))

    def frames_between(self, start: float, end: float) -> int:
        counts = [n for t, n in self.arrivals if start <= t <= end]
        return counts[-1] - counts[0] if len(counts) > 1 else 0

    def longest_gap(self, start: float, end: float) -> tuple[float, float]:
        """longest_gap is the longest time without a frame between start and end, and when it began."""
        times = [start, *(t for t, _ in self.arrivals if start <= t <= end), end]
        return max((b - a, a) for a, b in itertools.pairwise(times))

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_a_claimed_session_keeps_its_media_and_answers_the_new_client(tmp_path: Path) -> None:
    async with (
        janus_reclaiming(tmp_path, 30) as janus,
        room_control(janus) as (_, rooms),
    ):
        await rooms.create(MEETING)
        first = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
        session = await first.create_session()
        clinician = await RtcPublisher.join(session, MEETING, "Annika Testsson")
        patient = await RtcPublisher.join(session, MEETING, "Patient", publish=False)
        view = await RtcSubscriber.join(
            session, MEETING, [SubscribeTo(clinician.id)], private_id=patient.joined.private_id
        )
        assert await view.wait_for_frames(10, timeout=8.0) >= 10
        clock = FrameClock(view)
        try:
            await asyncio.sleep(0.5)
            killed_at = time.monotonic()
            await kill(first)
            assert clinician.handle.closed  # the old client is told its connection is gone

            await asyncio.sleep(1.5)  # nobody holds the session
            async with connected(janus) as second:
                claimed = await second.claim_session(session.id)
                claimed_at = time.monotonic()
                clinician_events, patient_events = EventLog(), EventLog()
                publisher = claimed.adopt(clinician.handle.id, PLUGIN, on_event=clinician_events)
                claimed.adopt(patient.handle.id, PLUGIN, on_event=patient_events)
                claimed.adopt(view.handle.id, PLUGIN)

                # Requests on adopted handles work: Janus answers the new connection.
                assert await videoroom.configure(publisher, bitrate=256_000) is None
                assert {p.id for p in await rooms.participants(MEETING)} == {clinician.id, patient.id}
                await asyncio.sleep(0.5)
                checked_at = time.monotonic()
                gap, began = clock.longest_gap(killed_at - 0.5, checked_at)
                while_orphaned = clock.frames_between(killed_at, claimed_at)
                print(
                    f"longest frame gap {gap * 1000:.0f} ms, from {began - killed_at:+.2f} s after the kill "
                    f"(claimed at +{claimed_at - killed_at:.2f} s); {while_orphaned} frames while orphaned"
                )
                assert gap < 0.5
                assert while_orphaned > 20  # 30 frames a second for about 1.5 s

                # Events of the adopted handles reach the new connection.
                await videoroom.unpublish(publisher)
                hangup = await clinician_events.wait_for("hangup")
                assert hangup.message["sender"] == clinician.handle.id
                told = await patient_events.wait_for(lambda e: "unpublished" in e.data)
                assert told.data["unpublished"] == clinician.id
                await claimed.destroy()
        finally:
            await clock.stop()
            await view.pc.close()
            await clinician.pc.close()
            await patient.pc.close()


async def test_events_between_claim_and_adopt_are_kept_for_the_handle(tmp_path: Path) -> None:
    async with janus_reclaiming(tmp_path, 30) as janus, room_control(janus) as (_, rooms):
        await rooms.create(MEETING)
        first = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
        session = await first.create_session()
        handle = await session.attach(PLUGIN)
        joined = await videoroom.join_as_publisher(handle, MEETING, "Patient")
        await kill(first)
        async with connected(janus) as second:
            claimed = await second.claim_session(session.id)
            await rooms.kick(MEETING, joined.id)
            await asyncio.sleep(0.3)
            events = EventLog()
            claimed.adopt(handle.id, PLUGIN, on_event=events)
            left = await events.wait_for(lambda e: "leaving" in e.data)
            assert left.data["reason"] == "kicked"


async def test_a_session_claimed_from_a_live_connection_outlives_that_connection(tmp_path: Path) -> None:
    async with janus_reclaiming(tmp_path, 2) as janus, room_control(janus) as (_, rooms):
        await rooms.create(MEETING)
        async with connected(janus) as second:
            first = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
            session = await first.create_session(keepalive_interval=None)
            old_events = EventLog()
            handle = await session.attach(PLUGIN, on_event=old_events)
            joined = await videoroom.join_as_publisher(handle, MEETING, "Patient")

            claimed = await second.claim_session(session.id)
            events = EventLog()
            claimed.adopt(handle.id, PLUGIN, on_event=events)
            await rooms.kick(MEETING, joined.id)
            await events.wait_for(lambda e: "leaving" in e.data)
            assert old_events.events == []  # the old connection hears nothing more, and is not told

            await first.close()  # Janus no longer ties the session to that connection
            await asyncio.sleep(2 + 2 * WATCHDOG + 1)  # two watchdog rounds: Janus may run late under load
            await claimed.keepalive()
            assert await second.claim_session(session.id) is claimed


async def test_a_session_not_claimed_in_time_is_gone(tmp_path: Path) -> None:
    async with janus_reclaiming(tmp_path, 2) as janus:
        first = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
        session = await first.create_session(keepalive_interval=None)
        await session.attach(PLUGIN)
        await kill(first)
        await asyncio.sleep(2 + 2 * WATCHDOG + 1)  # two watchdog rounds: Janus may run late under load
        async with connected(janus) as second:
            with pytest.raises(JanusError) as gone:
                await second.claim_session(session.id)
            assert gone.value.code == SESSION_NOT_FOUND
            assert second.sessions == ()
            with pytest.raises(JanusError) as unknown:
                await second.claim_session(4_711_000_000)
            assert unknown.value.code == SESSION_NOT_FOUND


async def test_without_reclaiming_a_session_ends_with_its_connection(tmp_path: Path) -> None:
    async with janus_reclaiming(tmp_path, 0) as janus:
        first = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
        session = await first.create_session(keepalive_interval=None)
        await kill(first)
        await asyncio.sleep(0.5)  # Janus ends it as soon as it notices the connection is gone
        async with connected(janus) as second:
            with pytest.raises(JanusError) as gone:
                await second.claim_session(session.id)
            assert gone.value.code == SESSION_NOT_FOUND


async def test_the_plane_hands_sessions_over_between_processes(tmp_path: Path) -> None:
    async with janus_reclaiming(tmp_path, 30) as janus, room_control(janus) as (_, rooms):
        await rooms.create(MEETING)
        node = janus.node
        old = MediaPlane(SingleNode(node))
        shared = await old.session_for(node)
        meeting: JanusSession = await old.new_session(node)
        other = await old.new_session(node)
        assert len({shared.id, meeting.id, other.id}) == 3
        assert meeting.client is shared.client  # one connection per node
        handle = await meeting.attach(PLUGIN)
        joined = await videoroom.join_as_publisher(handle, MEETING, "Patient")
        events = EventLog()
        handle_events = handle.events
        await old.abandon()
        assert meeting.ended
        assert handle_events.empty()  # abandoned quietly: no "closed" events

        new = MediaPlane(SingleNode(node))
        claimed = await new.claim_session(node, meeting.id)
        assert claimed.client is (await new.session_for(node)).client
        claimed.adopt(handle.id, PLUGIN, on_event=events)
        await rooms.kick(MEETING, joined.id)
        await events.wait_for(lambda e: "leaving" in e.data)

        await new.close()  # close destroys the sessions it holds: nothing is left to claim
        last = MediaPlane(SingleNode(node))
        try:
            with pytest.raises(JanusError):
                await last.claim_session(node, meeting.id)
            assert await last.node_up(node)
        finally:
            await last.close()
