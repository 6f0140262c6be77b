"""Real media through a real Janus: aiortc peers publish, subscribe, get muted and removed.

The clinician publishes a synthetic camera and a silent microphone; the patient
joins the same room (as a participant who sends nothing) and subscribes to
the clinician's feed on one PeerConnection, counting the frames it decodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from janus_fixtures import room_control, running_janus
from rtc_peers import RtcPublisher, RtcSubscriber

from vardmote.media import videoroom
from vardmote.media.janus import JanusError, JanusSession
from vardmote.media.videoroom import RoomControl, SubscribeTo, UnsubscribeFrom

pytestmark = pytest.mark.media

MEETING = "mote-7d1a09"


@dataclass
class Meeting:
    """Meeting is a room with the clinician publishing and the patient watching her."""

    session: JanusSession
    rooms: RoomControl
    clinician: RtcPublisher
    patient: RtcPublisher
    patient_view: RtcSubscriber


@asynccontextmanager
async def meeting(tmp_path: Path) -> AsyncIterator[Meeting]:
    async with running_janus(tmp_path) as janus, room_control(janus) as (session, rooms):
        await rooms.create(MEETING)
        clinician = await RtcPublisher.join(session, MEETING, "Annika Testsson")
        patient = await RtcPublisher.join(session, MEETING, "Patient", publish=False)
        assert [feed.id for feed in patient.joined.feeds] == [clinician.id]
        view = await RtcSubscriber.join(
            session, MEETING, [SubscribeTo(clinician.id)], private_id=patient.joined.private_id
        )
        try:
            yield Meeting(session, rooms, clinician, patient, view)
        finally:
            await view.close()
            await patient.close()
            await clinician.close()


async def test_the_patient_receives_the_clinicians_video(tmp_path: Path) -> None:
    async with meeting(tmp_path) as m:
        streams = m.patient_view.subscription.streams if m.patient_view.subscription else ()
        assert [(s.type, s.feed_id, s.feed_display) for s in streams] == [
            ("audio", m.clinician.id, "Annika Testsson"),
            ("video", m.clinician.id, "Annika Testsson"),
        ]
        received = await m.patient_view.wait_for_frames(11, timeout=8.0)
        assert received > 10
        assert {t.kind for t in m.patient_view.tracks} == {"audio", "video"}


async def test_a_subscription_needs_a_participants_private_id(tmp_path: Path) -> None:
    async with meeting(tmp_path) as m:
        stranger = await m.session.attach(videoroom.PLUGIN)
        with pytest.raises(JanusError) as refused:
            await videoroom.join_as_subscriber(
                stranger, MEETING, [SubscribeTo(m.clinician.id)], private_id=None
            )
        assert refused.value.code == videoroom.UNAUTHORIZED


async def test_muting_the_clinicians_microphone_is_reported_to_everyone(tmp_path: Path) -> None:
    async with meeting(tmp_path) as m:
        microphone = m.clinician.mid_of("audio")
        await m.rooms.moderate(MEETING, m.clinician.id, microphone, mute=True)
        expected = {"videoroom": "event", "room": MEETING, "id": m.clinician.id, "mid": microphone}
        for person in (m.clinician, m.patient):
            event = await person.log.wait_for(lambda e: "moderation" in e.data)
            assert event.data == {**expected, "moderation": "muted"}
        late = await RtcPublisher.join(m.session, MEETING, "Tolk", publish=False)
        (feed,) = late.joined.feeds
        assert [(s.type, s.moderated) for s in feed.streams] == [("audio", True), ("video", False)]
        await m.rooms.moderate(MEETING, m.clinician.id, microphone, mute=False)
        event = await m.patient.log.wait_for(lambda e: e.data.get("moderation") == "unmuted")
        assert event.data["mid"] == microphone
        await late.close()


async def test_kicking_the_clinician_hangs_her_up_and_stops_the_patients_video(tmp_path: Path) -> None:
    async with meeting(tmp_path) as m:
        assert await m.patient_view.wait_for_frames(5) >= 5
        await m.rooms.kick(MEETING, m.clinician.id)

        left = await m.clinician.log.wait_for(lambda e: "leaving" in e.data)
        assert left.data == {"videoroom": "event", "room": MEETING, "leaving": "ok", "reason": "kicked"}
        hangup = await m.clinician.log.wait_for("hangup")
        assert hangup.message["reason"] == "Close PC"
        told = await m.patient.log.wait_for(lambda e: "kicked" in e.data)
        assert told.data["kicked"] == m.clinician.id
        async with asyncio.timeout(5):
            while m.clinician.pc.connectionState != "closed":
                await asyncio.sleep(0.05)

        await asyncio.sleep(0.3)  # frames already on their way still arrive
        frames = m.patient_view.video_frames
        await asyncio.sleep(0.7)
        assert m.patient_view.video_frames == frames
        assert [p.id for p in await m.rooms.participants(MEETING)] == [m.patient.id]

        update = await videoroom.update(
            m.patient_view.handle, unsubscribe=[UnsubscribeFrom(feed=m.clinician.id)]
        )
        assert [s.active for s in update.streams] == [False, False]
        assert update.offer is not None
        await m.patient_view.answer(update.offer)
