"""Clients of a running vardmote: people in a live meeting, and a look into its Janus.

Used by ``test_live_meeting.py``, ``test_live_sharing_and_end.py``,
``test_room_device.py`` and ``bench/join_latency.py``. The server itself, its
``server`` fixture and booking are tests/servers.py's (``server_fixture``,
``annika``, ``meeting``, ``book_protected_meeting``), as for the browser tests.

- :func:`extra_links` gives the tokens of more guest links of a meeting.
- :class:`Person` is one browser: a WebSocket to ``/ws/meetings/{id}`` that
  speaks docs/protocol.md, a publisher PeerConnection (aiortc: a synthetic
  camera and a silent microphone), a screen PeerConnection (a synthetic screen,
  once asked) and a subscriber PeerConnection that answers every offer of the
  server and counts the video frames it decodes, by the participant (and the
  kind of stream) that sent them.
- :class:`People` (with :func:`people`) connects people to one meeting and
  closes them all; :func:`feeds_in_janus` and :func:`room_in_janus` look into
  the server's Janus with the secrets in its var folder.

Addresses: Janus 1.x never gathers candidates on a loopback interface and
aiortc skips 127.0.0.1, so the server's Janus is held to the veth address of
the tests' own network namespace (``netns.media_address``) and a Person
offers host candidates on that address only. Nothing leaves the namespace.
Every PeerConnection has no ICE servers.

Concurrency: one event loop. A Person's reader task keeps every message and
hands subscriber offers to one task, so they are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from typing import Any

import websockets
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, AudioStreamTrack, MediaStreamError
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame
from rtc_peers import SyntheticCamera
from websockets.asyncio.client import ClientConnection

from netns import media_address
from servers import Booking, Server
from vardmote.context import Context
from vardmote.media import videoroom
from vardmote.media.janus import JanusClient
from vardmote.media.videoroom import Feed, RoomControl
from vardmote.meetings import links
from vardmote.meetings.models import Meeting
from vardmote.settings import Secret

Message = dict[str, Any]


def extra_links(server: Server, meeting_id: str, count: int) -> list[str]:
    """extra_links makes count recipient links (one per invited person) in the server's database.

    A personal link is one person in the room (a second join on it takes the
    first one's place, and removing them bars it); the general link is shared.
    """
    db = server.database()
    try:
        ctx = Context(server.settings(), db)
        tokens = []
        with db.session() as s:
            meeting = s.get(Meeting, meeting_id)
            assert meeting is not None
            made = [
                links.make_link(ctx, s, meeting, "user:annika", links.RECIPIENT, f"gast{i}@example.se")
                for i in range(count)
            ]
            for link in made:
                token = ctx.sealer.unseal(link.token_sealed)
                assert token is not None
                tokens.append(token)
        return tokens
    finally:
        db.dispose()


# ---- people -----------------------------------------------------------------------------------


def peer_connection(*, max_bundle: bool = False) -> RTCPeerConnection:
    """peer_connection is an aiortc PeerConnection with no ICE servers at all.

    ``RTCPeerConnection()`` is not that: without a configuration aiortc asks
    stun.l.google.com for a server-reflexive candidate. max_bundle puts every
    m-line on one transport from the start; a subscriber needs it, since with
    aiortc's default (balanced) policy an offer of several video streams at once
    leaves all but the first video on a transport that BUNDLE then discards, and
    they never receive a packet.
    """
    policy = RTCBundlePolicy.MAX_BUNDLE if max_bundle else RTCBundlePolicy.BALANCED
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))


class PacedCamera(SyntheticCamera):
    """PacedCamera is a SyntheticCamera at fps frames per second (aiortc's own pace is 30)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        super().__init__(width, height)
        self.fps = fps
        self._started: float | None = None

    async def next_timestamp(self) -> tuple[int, Fraction]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.time()
        if self._started is None:
            self._started = now
        due = self._started + self.frames_sent / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        return int(self.frames_sent * VIDEO_CLOCK_RATE / self.fps), VIDEO_TIME_BASE


_ICE_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) .*$")


def only_local_candidates(sdp: str, address: str) -> str:
    """only_local_candidates keeps the ICE candidates on address and drops every other."""
    kept = []
    for line in sdp.splitlines():
        found = _CANDIDATE.match(line)
        if found is None or found.group(1) == address:
            kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def candidate_addresses(sdp: str) -> set[str]:
    """candidate_addresses lists the addresses of the ICE candidates in a description."""
    return {found.group(1) for line in sdp.splitlines() if (found := _CANDIDATE.match(line))}


class Closed(Exception):
    """Closed: the server closed the connection while a message was awaited."""


class Person:
    """Person is one browser in a meeting: a WebSocket, a publisher, a screen and a subscriber."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.messages: list[Message] = []
        self.participant: str | None = None
        """The participant id from ``joined``."""
        self.resume: str | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.camera: SyntheticCamera | None = None
        self.video_size = (320, 240)
        self.fps = 30.0
        """What publish() sends: the camera's frame size and rate."""
        self.microphone = True
        """Whether publish() sends a (silent) microphone too."""
        self.screen: RTCPeerConnection | None = None
        self.screen_size = (640, 360)
        self.screen_fps = 15.0
        """What share_screen() sends: a synthetic screen of this size and rate (video only)."""
        self.screen_remb: list[int] = []
        """Every bitrate cap (REMB, bits per second) Janus sent to this person's latest screen share."""
        self.offers_answered = 0
        self.janus_sdps: list[str] = []
        """Every description Janus sent this person (answers and subscriber offers)."""
        self.frames_by_mid: Counter[str] = Counter()
        self.first_frame_at: float | None = None
        self.frame_times: list[float] = []
        """When (monotonic) each video frame arrived, from anyone: the gaps in media."""
        self.link: str | None = None
        """The guest link this person joined by (for reconnect)."""
        self.ended_mids: set[str] = set()
        self._streams: dict[str, str] = {}  # subscriber mid -> participant id
        self._stream_kinds: dict[str, tuple[str, str]] = {}  # subscriber mid -> (participant, kind)
        self._subscriber_ufrag: str | None = None
        self._frames_by_participant: Counter[str] = Counter()
        self._frames_by_stream: Counter[tuple[str, str]] = Counter()
        self.frame_sizes: dict[tuple[str, str], tuple[int, int]] = {}
        """The size of the last video frame from each (participant, kind) stream."""
        self._changed = asyncio.Condition()
        self._offers: asyncio.Queue[Message] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._tasks.append(asyncio.create_task(self._read()))
        self._tasks.append(asyncio.create_task(self._answer_offers()))

    @classmethod
    async def connect(
        cls, server: Server, meeting_id: str, name: str, *, session: str | None = None
    ) -> Person:
        """connect opens the WebSocket; with session, as signed-in staff (the vm_session cookie)."""
        headers = {"Cookie": f"vm_session={session}"} if session else None
        ws = await websockets.connect(server.ws_url(meeting_id), additional_headers=headers, max_size=None)
        return cls(ws, name)

    @property
    def id(self) -> str:
        """id is the participant id this person got in ``joined``."""
        if self.participant is None:
            raise LookupError(f"{self.name} has not joined")
        return self.participant

    # ---- messages ------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        await self.ws.send(json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    def of_type(self, kind: str) -> list[Message]:
        """of_type lists the messages of one type received so far."""
        return [m for m in self.messages if m.get("type") == kind]

    def errors(self, code: str | None = None) -> list[Message]:
        return [m for m in self.of_type("error") if code is None or m.get("code") == code]

    async def wait_for(
        self,
        kind: str,
        match: Callable[[Message], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 5.0,
    ) -> Message:
        """wait_for returns the first message of kind (from index after) that matches."""

        def found() -> Message | None:
            return next(
                (m for m in self.messages[after:] if m.get("type") == kind and (match is None or match(m))),
                None,
            )

        async with asyncio.timeout(timeout), self._changed:
            while True:
                message = found()
                if message is not None:
                    return message
                if self.closed.is_set():
                    raise Closed(f"{self.name}: closed ({self.close_code}) before {kind!r}")
                await self._changed.wait()

    async def wait_error(self, code: str, *, after: int = 0, timeout: float = 5.0) -> Message:
        return await self.wait_for("error", lambda m: m.get("code") == code, after=after, timeout=timeout)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "offer" and message.get("pc") == "subscriber":
                    self._offers.put_nowait(message)
                elif message.get("type") == "candidate":
                    await self._add_candidate(message)
                async with self._changed:
                    self.messages.append(message)
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    # ---- joining -------------------------------------------------------------------------------

    async def join(self, link: str | None = None, *, resume: str | None = None) -> Message:
        """join sends join (as a guest with link, else as staff) and returns joined (or the error)."""
        mark = len(self.messages)
        message: Message = {"type": "join"}
        if link is not None:
            self.link = link
            message.update(link=link, name=self.name)
        if resume is not None:
            message["resume"] = resume
        await self.send(message)
        return await self._joined(mark)

    async def reconnect(self, server: Server, meeting_id: str, *, session: str | None = None) -> Message:
        """reconnect is what the page does when its WebSocket drops (a vardmote process died or
        handed over): a new WebSocket, ``join`` with the resume token and ``keep_media``, and the
        PeerConnections kept as they are. Returns ``joined`` (or the error)."""
        headers = {"Cookie": f"vm_session={session}"} if session else None
        url = server.ws_url(meeting_id)
        self.ws = await websockets.connect(url, additional_headers=headers, max_size=None)
        self.closed = asyncio.Event()
        self.close_code = None
        self._tasks.append(asyncio.create_task(self._read()))
        mark = len(self.messages)
        message: Message = {"type": "join", "resume": self.resume, "keep_media": True}
        if self.link is not None:
            message.update(link=self.link, name=self.name)
        await self.send(message)
        return await self._joined(mark)

    def longest_frame_gap(self, since: float) -> float:
        """longest_frame_gap is the longest time, in seconds, without a video frame from anyone
        between since and now."""
        times = [since, *(t for t in self.frame_times if t > since), time.monotonic()]
        return max(b - a for a, b in itertools.pairwise(times))

    async def _joined(self, mark: int) -> Message:
        async with asyncio.timeout(5), self._changed:
            while True:
                for m in self.messages[mark:]:
                    if m.get("type") == "joined":
                        self.participant, self.resume = m["participant"], m["resume"]
                        return m
                    if m.get("type") == "error":
                        return m
                await self._changed.wait()

    # ---- media ---------------------------------------------------------------------------------

    async def publish(self, *, timeout: float = 5.0) -> None:
        """publish offers camera and microphone on the ``publisher`` pc and applies the answer."""
        if self.publisher is not None:
            await self.publisher.close()
        self.publisher = peer_connection()
        self.camera = PacedCamera(*self.video_size, self.fps)
        if self.microphone:
            self.publisher.addTrack(AudioStreamTrack())
        self.publisher.addTrack(self.camera)
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        sdp = only_local_candidates(self.publisher.localDescription.sdp, media_address())
        mark = len(self.messages)
        await self.send({"type": "offer", "pc": "publisher", "sdp": sdp})
        answer = await self.wait_for(
            "answer", lambda m: m.get("pc") == "publisher", after=mark, timeout=timeout
        )
        self.janus_sdps.append(answer["sdp"])
        await self.publisher.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def offer_publisher_raw(self, pc_name: str = "publisher") -> int:
        """offer_publisher_raw sends a publisher (or screen) offer without waiting; returns the mark."""
        pc = peer_connection()
        pc.addTrack(SyntheticCamera(*self.video_size))
        await pc.setLocalDescription(await pc.createOffer())
        sdp = only_local_candidates(pc.localDescription.sdp, media_address())
        await pc.close()
        mark = len(self.messages)
        await self.send({"type": "offer", "pc": pc_name, "sdp": sdp})
        return mark

    async def share_screen(self, *, timeout: float = 5.0) -> None:
        """share_screen offers a synthetic screen on the ``screen`` pc and applies the answer.

        The server allows it only after ``share_started``. Every REMB that Janus
        sends back for it is kept in screen_remb.
        """
        if self.screen is not None:
            await self.screen.close()
        self.screen = peer_connection()
        self.screen_remb = []
        self._note_remb(self.screen.addTrack(PacedCamera(*self.screen_size, self.screen_fps)))
        await self.screen.setLocalDescription(await self.screen.createOffer())
        sdp = only_local_candidates(self.screen.localDescription.sdp, media_address())
        mark = len(self.messages)
        await self.send({"type": "offer", "pc": "screen", "sdp": sdp})
        answer = await self.wait_for("answer", lambda m: m.get("pc") == "screen", after=mark, timeout=timeout)
        self.janus_sdps.append(answer["sdp"])
        await self.screen.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    def _note_remb(self, sender: RTCRtpSender) -> None:
        """_note_remb keeps the bitrate of every REMB the sender obeys (aiortc has no event for it)."""
        handle = sender._handle_rtcp_packet

        async def note_and_handle(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                with contextlib.suppress(ValueError):
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                    if sender._ssrc in ssrcs:
                        self.screen_remb.append(bitrate)
            await handle(packet)

        sender._handle_rtcp_packet = note_and_handle  # type: ignore[method-assign]

    async def _answer_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            try:
                await self._answer(offer)
            except Exception as e:  # shown in the test's failure, not lost in a task
                async with self._changed:
                    self.messages.append({"type": "client_failure", "error": repr(e)})
                    self._changed.notify_all()

    async def _answer(self, offer: Message) -> None:
        ufrag = _ICE_UFRAG.search(offer["sdp"])
        credentials = ufrag.group(1) if ufrag else None
        if self.subscriber is not None and credentials != self._subscriber_ufrag:
            # A new Janus PeerConnection (Janus was restarted): aiortc cannot restart ICE
            # and DTLS on the old one, so the answer comes from a new one, as a browser may do.
            await self.subscriber.close()
            self.subscriber = None
        if self.subscriber is None:
            self.subscriber = peer_connection(max_bundle=True)
            self.subscriber.on("track", self._on_track)
        self._subscriber_ufrag = credentials
        self.janus_sdps.append(offer["sdp"])
        self._streams = {s["mid"]: s["participant"] for s in offer.get("streams", [])}
        self._stream_kinds = {s["mid"]: (s["participant"], s["kind"]) for s in offer.get("streams", [])}
        await self.subscriber.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        sdp = only_local_candidates(self.subscriber.localDescription.sdp, media_address())
        await self.send({"type": "answer", "pc": "subscriber", "sdp": sdp})
        self.offers_answered += 1
        async with self._changed:
            self._changed.notify_all()

    async def _add_candidate(self, message: Message) -> None:
        others: dict[str, RTCPeerConnection | None] = {"subscriber": self.subscriber, "screen": self.screen}
        pc = others.get(str(message.get("pc")), self.publisher)
        raw = message.get("candidate")
        if pc is None:
            return
        if raw is None:
            await pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(raw["candidate"].removeprefix("candidate:"))
        candidate.sdpMid = raw.get("sdpMid")
        candidate.sdpMLineIndex = raw.get("sdpMLineIndex")
        await pc.addIceCandidate(candidate)

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.subscriber is not None
        mid = next(
            (t.mid for t in self.subscriber.getTransceivers() if t.receiver.track is track and t.mid), "?"
        )
        self._tasks.append(asyncio.create_task(self._count(track, mid)))

    async def _count(self, track: MediaStreamTrack, mid: str) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind != "video" or not isinstance(frame, VideoFrame):
                    continue
                self.frames_by_mid[mid] += 1
                self._frames_by_participant[self._streams.get(mid, "?")] += 1
                stream = self._stream_kinds.get(mid, ("?", "?"))
                self._frames_by_stream[stream] += 1
                self.frame_sizes[stream] = (frame.width, frame.height)
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self.frame_times.append(time.monotonic())
                async with self._changed:
                    self._changed.notify_all()
        except MediaStreamError:
            self.ended_mids.add(mid)

    def frames_from(self, participant_id: str, kind: str | None = None) -> int:
        """frames_from is how many video frames arrived from a participant (kind: from that stream)."""
        if kind is None:
            return self._frames_by_participant[participant_id]
        return self._frames_by_stream[(participant_id, kind)]

    @property
    def video_frames(self) -> int:
        return sum(self.frames_by_mid.values())

    async def wait_for_frames(
        self, participant_id: str | None, count: int, timeout: float = 8.0, *, kind: str | None = None
    ) -> int:
        """wait_for_frames waits until count video frames arrived from a participant (None: anyone),
        from one kind of their streams if kind is given."""

        def have() -> int:
            return self.video_frames if participant_id is None else self.frames_from(participant_id, kind)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                while have() < count:
                    await self._changed.wait()
        return have()

    # ---- leaving -------------------------------------------------------------------------------

    async def drop(self) -> None:
        """drop closes the WebSocket without ``leave`` (a lost connection) and the PeerConnections."""
        await self.ws.close()
        await self.close_media()

    async def close_media(self) -> None:
        for pc in (self.publisher, self.screen, self.subscriber):
            if pc is not None:
                await pc.close()
        self.publisher = self.screen = self.subscriber = None

    async def close(self) -> None:
        """close ends everything of this person."""
        with contextlib.suppress(Exception):
            await self.ws.close()
        await self.close_media()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# ---- a meeting's people, and its Janus -----------------------------------------------------


class People:
    """People connects people to one meeting and closes them all at the end."""

    def __init__(self, server: Server, meeting: Booking, session: str) -> None:
        self.server = server
        self.meeting = meeting
        self.session = session
        self.everyone: list[Person] = []

    async def connect(self, name: str, *, staff: bool = False) -> Person:
        person = await Person.connect(
            self.server, self.meeting.meeting_id, name, session=self.session if staff else None
        )
        self.everyone.append(person)
        return person

    async def host(self, *, publish: bool = False) -> Person:
        """host is Annika, joined (and publishing if asked)."""
        annika = await self.connect("Annika", staff=True)
        joined = await annika.join()
        assert joined["type"] == "joined", joined
        assert joined["state"] == "admitted", joined
        if publish:
            await annika.publish()
        return annika

    async def guest(self, name: str = "David", link: str | None = None) -> Person:
        """guest is someone on a guest link, waiting in the lobby."""
        person = await self.connect(name)
        joined = await person.join(link or self.meeting.link)
        assert joined["type"] == "joined", joined
        assert joined["state"] == "lobby", joined
        return person

    async def admitted_guest(self, host: Person, name: str = "David", link: str | None = None) -> Person:
        person = await self.guest(name, link)
        await host.send({"type": "admit", "participant": person.id})
        await person.wait_for("admitted")
        return person

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.everyone), return_exceptions=True)


def participants_named(message: dict[str, Any]) -> set[str]:
    """participants_named is every participant id a server message names (entries, hands, streams, chat)."""
    named: set[str] = set()
    entry = message.get("participant")
    if isinstance(entry, dict):
        named.add(entry["id"])
    elif isinstance(entry, str):
        named.add(entry)
    named.update(p["id"] for p in message.get("participants", ()))
    named.update(message.get("hands", ()))
    named.update(message.get("queue", ()))
    named.update(s["participant"] for s in message.get("streams", ()))
    named.update(message[key] for key in ("from", "by") if key in message)
    return named


@contextlib.asynccontextmanager
async def people(server: Server, meeting: Booking, session: str) -> AsyncIterator[People]:
    everyone = People(server, meeting, session)
    try:
        yield everyone
    finally:
        await everyone.close()


async def feeds_in_janus(server: Server, room: str) -> dict[str, Feed]:
    """feeds_in_janus is who publishes in the room, as a newcomer in Janus sees them
    (the test's own way into the server's Janus, with the secrets in its var folder)."""
    keys = server.janus_secrets()
    async with await JanusClient.connect(server.janus_url, Secret(keys["api_secret"]), timeout=5.0) as client:
        session = await client.create_session()
        observer = await session.attach(videoroom.PLUGIN)
        joined = await videoroom.join_as_publisher(observer, room, "observatör")
        await session.destroy()
    return {feed.id: feed for feed in joined.feeds}


@contextlib.asynccontextmanager
async def room_in_janus(server: Server) -> AsyncIterator[RoomControl]:
    """room_in_janus is a RoomControl on the server's Janus, with the secrets in its var folder."""
    keys = server.janus_secrets()
    async with await JanusClient.connect(server.janus_url, Secret(keys["api_secret"]), timeout=5.0) as client:
        session = await client.create_session()
        try:
            yield RoomControl(await session.attach(videoroom.PLUGIN), Secret(keys["admin_key"]))
        finally:
            await session.destroy()


async def frames_stop(
    person: Person, sender: str, *, kind: str | None = None, settle: float = 0.5, quiet: float = 1.0
) -> bool:
    """frames_stop tells whether no video arrives from sender (kind: from that stream of
    theirs) once frames on their way are in."""
    await asyncio.sleep(settle)
    before = person.frames_from(sender, kind)
    await asyncio.sleep(quiet)
    return person.frames_from(sender, kind) == before
