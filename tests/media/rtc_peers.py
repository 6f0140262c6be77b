"""Python WebRTC peers (aiortc) that publish to and subscribe from a Janus VideoRoom.

Used by the media tests and by ``bench/join_latency.py``. Every peer is an
RTCPeerConnection with no ICE servers (:data:`NO_ICE_SERVERS`; a bare
``RTCPeerConnection()`` would ask stun.l.google.com), so media stays on this machine.
aiortc gathers all its candidates before it gives a description, so no
candidates are trickled.

- :class:`SyntheticCamera` makes video frames (a moving grey ramp) with no camera.
- :class:`EventLog` keeps a handle's events and lets a test wait for one.
- :class:`RtcPublisher` joins a room, publishes the synthetic camera and a
  silent microphone, and waits until Janus has the media (``webrtcup``).
- :class:`RtcSubscriber` subscribes one PeerConnection to streams and counts
  the video frames it decodes.

Concurrency: one event loop; the frame counters are updated by one task per
received track.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from fractions import Fraction

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from av import VideoFrame

from vardmote.media import videoroom
from vardmote.media.janus import JanusEvent, JanusHandle, JanusSession, Jsep
from vardmote.media.videoroom import PLUGIN, Joined, SubscribeTo, Subscription

NO_ICE_SERVERS = RTCConfiguration(iceServers=[])
"""Host candidates only: without a configuration aiortc adds Google's STUN server."""


class SyntheticCamera(VideoStreamTrack):
    """SyntheticCamera is a video track of frames made in memory, 30 per second."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.frames_sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(self.width, self.height, "yuv420p")
        shade = (self.frames_sent * 4) % 256
        luma = bytes((shade + x) % 256 for x in range(frame.planes[0].line_size))
        frame.planes[0].update(luma * self.height)
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = Fraction(time_base)
        self.frames_sent += 1
        return frame


class EventLog:
    """EventLog keeps every event of one handle, in order, for tests to wait on."""

    def __init__(self) -> None:
        self.events: list[JanusEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: JanusEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def kinds(self) -> list[str]:
        """kinds lists the kinds of the events so far."""
        return [e.kind for e in self.events]

    async def wait_for(self, match: Callable[[JanusEvent], bool] | str, timeout: float = 5.0) -> JanusEvent:
        """wait_for returns the first event (past or coming) of that kind or that matches."""
        test = match if callable(match) else (lambda e: e.kind == match)
        async with asyncio.timeout(timeout), self._changed:
            while True:
                found = next((e for e in self.events if test(e)), None)
                if found is not None:
                    return found
                await self._changed.wait()


def _jsep(description: RTCSessionDescription) -> Jsep:
    return {"type": description.type, "sdp": description.sdp}


def _description(jsep: Jsep) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"])


class RtcPublisher:
    """RtcPublisher is a participant who sends a synthetic camera and microphone."""

    def __init__(self, handle: JanusHandle, log: EventLog, joined: Joined, pc: RTCPeerConnection) -> None:
        self.handle = handle
        self.log = log
        """Events on the publisher's handle: other feeds, hangups, moderation."""
        self.joined = joined
        self.pc = pc
        self.camera = SyntheticCamera()

    @property
    def id(self) -> str:
        """id is the participant's id in the room."""
        return self.joined.id

    @classmethod
    async def join(
        cls, session: JanusSession, room: str, display: str, *, publish: bool = True
    ) -> RtcPublisher:
        """join enters the room and, unless publish is False, publishes camera and microphone."""
        log = EventLog()
        handle = await session.attach(PLUGIN, on_event=log)
        joined = await videoroom.join_as_publisher(handle, room, display)
        publisher = cls(handle, log, joined, RTCPeerConnection(NO_ICE_SERVERS))
        if publish:
            await publisher.publish()
        return publisher

    async def publish(self, timeout: float = 5.0) -> None:
        """publish offers camera and microphone to Janus, applies its answer and waits
        until Janus reports the PeerConnection up: only then may others subscribe."""
        self.pc.addTrack(AudioStreamTrack())
        self.pc.addTrack(self.camera)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await videoroom.publish(self.handle, _jsep(self.pc.localDescription))
        await self.pc.setRemoteDescription(_description(answer))
        await self.log.wait_for("webrtcup", timeout)

    def mid_of(self, kind: str) -> str:
        """mid_of returns the mid of this publisher's audio or video transceiver."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == kind and transceiver.mid is not None:
                return transceiver.mid
        raise LookupError(f"no {kind} transceiver")

    async def close(self) -> None:
        """close ends the PeerConnection and the handle."""
        await self.pc.close()
        await self.handle.detach()


class RtcSubscriber:
    """RtcSubscriber receives streams on one PeerConnection and counts video frames."""

    def __init__(self, handle: JanusHandle, pc: RTCPeerConnection) -> None:
        self.handle = handle
        self.pc = pc
        self.subscription: Subscription | None = None
        self.video_frames = 0
        self.first_frame_at: float | None = None
        self.tracks: list[MediaStreamTrack] = []
        self.ended = asyncio.Event()
        """Set when a received track ends."""
        self._readers: list[asyncio.Task[None]] = []
        self._frame_arrived = asyncio.Event()
        pc.on("track", self._on_track)

    @classmethod
    async def join(
        cls, session: JanusSession, room: str, streams: Sequence[SubscribeTo], *, private_id: int | None
    ) -> RtcSubscriber:
        """join subscribes to streams and answers Janus's offer."""
        subscriber = cls(await session.attach(PLUGIN), RTCPeerConnection(NO_ICE_SERVERS))
        subscription = await videoroom.join_as_subscriber(
            subscriber.handle, room, streams, private_id=private_id
        )
        subscriber.subscription = subscription
        assert subscription.offer is not None, "Janus sent no offer"
        await subscriber.answer(subscription.offer)
        return subscriber

    async def answer(self, offer: Jsep) -> None:
        """answer applies Janus's offer (a first one or a renegotiation) and starts."""
        await self.pc.setRemoteDescription(_description(offer))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await videoroom.start(self.handle, _jsep(self.pc.localDescription))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tracks.append(track)
        self._readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    self.video_frames += 1
                    if self.first_frame_at is None:
                        self.first_frame_at = time.monotonic()
                    self._frame_arrived.set()
        except MediaStreamError:
            self.ended.set()

    async def wait_for_frames(self, count: int, timeout: float = 5.0) -> int:
        """wait_for_frames waits until count video frames arrived; returns how many did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.video_frames < count:
                    self._frame_arrived.clear()
                    await self._frame_arrived.wait()
        return self.video_frames

    async def close(self) -> None:
        """close ends the PeerConnection, the frame readers and the handle."""
        await self.pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.handle.detach()
