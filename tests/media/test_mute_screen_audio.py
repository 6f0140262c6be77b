"""A host mute silences every audio stream, measured: what a listener hears through a real Janus.

As in ``test_live_meeting.py``: ``vardmote serve`` runs with its embedded Janus
(one for this module), Annika books and hosts, David joins on the guest link;
both are aiortc peers speaking docs/protocol.md. David's microphone is a 440 Hz
tone and the screen he shares carries a tab's sound (a 660 Hz tone, a second
audio track on the ``screen`` connection). Annika's subscriber decodes every
audio frame Janus forwards and keeps its loudness (RMS of the samples) per
stream: while David may be heard both are loud, once a host has muted him both
must be (near) silent, whatever his browser goes on sending.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time
from dataclasses import dataclass, field

import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from live_clients import (
    PacedCamera,
    People,
    Person,
    feeds_in_janus,
    only_local_candidates,
    peer_connection,
    people,
)
from websockets.asyncio.client import ClientConnection

import servers
from netns import media_address
from servers import Booking, Server

pytestmark = pytest.mark.media

server = servers.server_fixture("mute-audio")
annika = servers.annika
meeting = servers.meeting

RATE = 48_000
FRAME = 960  # 20 ms
AMPLITUDE = 8_000
LOUD = 1_000.0
"""RMS (of 16-bit samples) above which a stream is heard: the tones arrive at about 3,600–4,000."""
SILENT = 30.0
"""RMS below which a stream is taken as silent (no packets at all give 0)."""


class Tone(MediaStreamTrack):
    """Tone is a microphone (or a tab's sound) that plays one sine tone, 48 kHz mono, in real time."""

    kind = "audio"

    def __init__(self, hertz: float) -> None:
        super().__init__()
        self.hertz = hertz
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        wait = self._start + self._sent / RATE - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        step = 2 * math.pi * self.hertz / RATE
        samples = array.array("h", (int(AMPLITUDE * math.sin(step * (self._sent + i))) for i in range(FRAME)))
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(samples.tobytes())
        frame.pts = self._sent
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += FRAME
        return frame


@dataclass
class Heard:
    """Heard is what one received audio stream brought: (arrival time, sum of squares, samples) per frame."""

    frames: list[tuple[float, float, int]] = field(default_factory=list)

    def rms(self, since: float, until: float) -> float:
        """rms is the loudness of what arrived between since and until; 0 when nothing did."""
        picked = [(squares, n) for at, squares, n in self.frames if since <= at < until]
        samples = sum(n for _, n in picked)
        return math.sqrt(sum(s for s, _ in picked) / samples) if samples else 0.0


class Listener(Person):
    """Listener is a Person whose subscriber also decodes audio and keeps its loudness per stream,
    and who publishes tones: a microphone with the camera, a tab's sound with the screen."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        super().__init__(ws, name)
        self.heard: dict[tuple[str, str], Heard] = {}

    async def _count(self, track: MediaStreamTrack, mid: str) -> None:
        if track.kind == "video":
            await super()._count(track, mid)
            return
        try:
            while True:
                frame = await track.recv()
                stream = self._stream_kinds.get(mid, ("?", "?"))
                assert isinstance(frame, AudioFrame)
                samples = array.array(
                    "h", bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]
                )
                squares = float(sum(s * s for s in samples))
                self.heard.setdefault(stream, Heard()).frames.append(
                    (time.monotonic(), squares, len(samples))
                )
        except MediaStreamError:
            self.ended_mids.add(mid)

    async def loudness(self, participant: str, kind: str, seconds: float = 1.5) -> float:
        """loudness listens for seconds from now and is the RMS of what came from that stream."""
        since = time.monotonic()
        await asyncio.sleep(seconds)
        return self.heard.get((participant, kind), Heard()).rms(since, time.monotonic())

    async def publish_tone(self, hertz: float) -> None:
        """publish_tone offers the camera with a microphone that plays a tone."""
        self.publisher = peer_connection()
        self.publisher.addTrack(Tone(hertz))
        self.publisher.addTrack(PacedCamera(*self.video_size, self.fps))
        await self._offer_on("publisher", self.publisher)

    async def share_with_sound(self, hertz: float) -> None:
        """share_with_sound offers a screen share that carries a tab's sound (a tone)."""
        self.screen = peer_connection()
        self.screen.addTrack(PacedCamera(*self.screen_size, self.screen_fps))
        self.screen.addTrack(Tone(hertz))
        await self._offer_on("screen", self.screen)

    async def _offer_on(self, name: str, pc: RTCPeerConnection) -> None:
        await pc.setLocalDescription(await pc.createOffer())
        sdp = only_local_candidates(pc.localDescription.sdp, media_address())
        mark = len(self.messages)
        await self.send({"type": "offer", "pc": name, "sdp": sdp})
        answer = await self.wait_for("answer", lambda m: m.get("pc") == name, after=mark)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))


async def listening_host(server: Server, meeting: Booking, annika: str) -> Listener:
    host = await Listener.connect(server, meeting.meeting_id, "Annika", session=annika)
    assert isinstance(host, Listener)
    joined = await host.join()
    assert joined["state"] == "admitted", joined
    return host


async def heard_within(host: Listener, participant: str, kind: str, timeout: float = 10.0) -> float:
    """heard_within waits until the stream is loud and returns its loudness then."""
    loudness = 0.0
    async with asyncio.timeout(timeout):
        while loudness <= LOUD:
            loudness = await host.loudness(participant, kind, 0.5)
    return loudness


async def sharing_guest(room: People, host: Listener, server: Server, meeting: Booking) -> Listener:
    """sharing_guest is David, admitted, with his microphone (440 Hz) and a share with sound (660 Hz)."""
    david = await Listener.connect(server, meeting.meeting_id, "David")
    assert isinstance(david, Listener)
    room.everyone.append(david)
    joined = await david.join(meeting.link)
    assert joined["state"] == "lobby", joined
    await host.send({"type": "admit", "participant": david.id})
    await david.wait_for("admitted")
    await david.publish_tone(440)
    await david.send({"type": "share_start"})
    await david.wait_for("share_started")
    await david.share_with_sound(660)
    return david


async def test_a_host_mute_silences_the_microphone_and_the_shared_screens_sound(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await listening_host(server, meeting, annika)
        room.everyone.append(host)
        david = await sharing_guest(room, host, server, meeting)
        before = {kind: await heard_within(host, david.id, kind) for kind in ("camera", "screen")}
        print(f"before mute: rms camera={before['camera']:.0f} screen={before['screen']:.0f}")

        await host.send({"type": "mute", "participant": david.id})
        await david.wait_for("muted")
        await asyncio.sleep(0.5)  # what was on its way
        after = {kind: await host.loudness(david.id, kind) for kind in ("camera", "screen")}
        print(f"after mute: rms camera={after['camera']:.1f} screen={after['screen']:.1f}")
        assert after["camera"] < SILENT, after
        assert after["screen"] < SILENT, after
        assert await host.wait_for_frames(david.id, host.frames_from(david.id, "screen") + 5, kind="screen")

        feeds = await feeds_in_janus(server, meeting.meeting_id)
        for kind in ("camera", "screen"):
            moderated = {s.type: s.moderated for s in feeds[f"{david.id}-{kind}"].streams}
            assert moderated == {"audio": True, "video": False}, (kind, moderated)

        # Unmuting (guests may, in this meeting) gives David back both of his sounds.
        await david.send({"type": "media_state", "camera": True, "microphone": True})
        for kind in ("camera", "screen"):
            assert await heard_within(host, david.id, kind) > LOUD


async def test_tysta_alla_gaster_silences_every_sound_of_every_guest(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await listening_host(server, meeting, annika)
        room.everyone.append(host)
        david = await sharing_guest(room, host, server, meeting)
        for kind in ("camera", "screen"):
            assert await heard_within(host, david.id, kind) > LOUD

        await host.send({"type": "mute_all_guests"})
        await david.wait_for("muted")
        await asyncio.sleep(0.5)
        after = {kind: await host.loudness(david.id, kind) for kind in ("camera", "screen")}
        print(f"after Tysta alla gäster: rms camera={after['camera']:.1f} screen={after['screen']:.1f}")
        assert after["camera"] < SILENT, after
        assert after["screen"] < SILENT, after


async def test_a_share_started_while_muted_is_silent_from_the_start(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await listening_host(server, meeting, annika)
        room.everyone.append(host)
        david = await Listener.connect(server, meeting.meeting_id, "David")
        assert isinstance(david, Listener)
        room.everyone.append(david)
        await david.join(meeting.link)
        await host.send({"type": "admit", "participant": david.id})
        await david.wait_for("admitted")
        await david.publish_tone(440)
        assert await heard_within(host, david.id, "camera") > LOUD
        await host.send({"type": "mute", "participant": david.id})
        await david.wait_for("muted")

        await david.send({"type": "share_start"})
        await david.wait_for("share_started")
        started = time.monotonic()
        await david.share_with_sound(660)
        assert await host.wait_for_frames(david.id, 10, kind="screen") >= 10  # the share is up
        await asyncio.sleep(1.0)
        whole_share = host.heard.get((david.id, "screen"), Heard()).rms(started, time.monotonic())
        print(f"share started while muted: rms screen={whole_share:.1f}")
        assert whole_share < SILENT
        assert await host.loudness(david.id, "camera") < SILENT

        await david.send({"type": "media_state", "camera": True, "microphone": True})
        assert await heard_within(host, david.id, "screen") > LOUD
        assert await heard_within(host, david.id, "camera") > LOUD
