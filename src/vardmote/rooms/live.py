"""Live: the I/O edge of a meeting — carries out a Room's effects on Janus, sockets and the audit.

The rules in :mod:`vardmote.rooms.room` decide; this module only does what
they ask, in order. One :class:`LiveMeeting` per meeting holds the Room,
the connections and the participants' Janus handles:

- ``publisher`` and ``screen``: one VideoRoom publisher handle each, joined
  under the Janus id ``<participant>-camera`` / ``<participant>-screen``, so
  that feeds map back to participants without a table;
- ``subscriber``: one multistream subscriber handle per participant.

Concurrency: every call into the Room and the carrying out of its effects
happen with the meeting's lock held, so effects of one event are done before
the next event is seen. Janus events (a publisher's media is up, a hang-up)
come in on Janus's reader and take the same lock.

Janus failures never lose room state: the effect that failed is answered
with ``media_unavailable`` to the participant concerned, the Janus
connection is made again on the next request, and the client may offer
again. A subscriber ICE restart Janus refuses is answered ``restart_failed``
instead: the rest of the participant's media is fine.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import vardmote.metrics as metrics
from vardmote.media import videoroom as vr
from vardmote.media.janus import JanusEvent, JanusException, JanusHandle, JanusSession, Jsep
from vardmote.media.plane import MediaPlane
from vardmote.rooms import booking_changes, handover, texts
from vardmote.rooms import messages as m
from vardmote.rooms.effects import (
    Audit,
    CloseConnection,
    ConnId,
    DestroyJanusRoom,
    Effect,
    JanusAnswer,
    JanusCandidate,
    JanusDetach,
    JanusMute,
    JanusOffer,
    JanusRestartIce,
    JanusUnpublish,
    Send,
    SendError,
    SendWithIceServers,
    SetSubscriptions,
    StreamKind,
)
from vardmote.rooms.errors import ErrorCode, error_frame
from vardmote.rooms.participant import Identity
from vardmote.rooms.policy import RoomPolicy
from vardmote.rooms.room import Room

log = logging.getLogger("vardmote.live")

_MID = re.compile(r"^a=mid:(\S+)", re.MULTILINE)
_MEDIA_SECTION = re.compile(r"^m=(audio|video) ", re.MULTILINE)
_KINDS: dict[str, StreamKind] = {"publisher": "camera", "screen": "screen"}
STALL_SECONDS = 1.0
"""How long Janus must go on receiving nothing from a camera publisher (after the second it
waits itself) before the participant is shown reconnecting: a shorter blip shows nothing."""
_JANUS_GONE = frozenset({"closed", "timeout"})
"""Handle events that mean Janus itself is gone (the connection or the session), not one PC."""


class Connection(Protocol):
    """Connection is one browser's WebSocket as the meeting uses it."""

    async def send(self, message: Mapping[str, Any]) -> None:
        """send sends one JSON message; a closed connection drops it."""

    async def close(self, reason: str) -> None:
        """close closes the connection (once)."""


AuditSink = Callable[[str, str, str, Mapping[str, Any]], Awaitable[None]]
"""AuditSink writes (meeting id, actor, action, details) to the audit log."""


def feed_id(participant_id: str, kind: StreamKind) -> str:
    """feed_id is the Janus publisher id of a participant's camera or screen."""
    return f"{participant_id}-{kind}"


def audio_mids(sdp: str) -> list[str]:
    """audio_mids lists the mid of every audio m-line of an offer, in order: a camera publisher
    has its microphone, a screen share may carry a tab's or the system's sound, and a browser
    may offer more than one of either."""
    mids = []
    for section in re.split(r"^(?=m=)", sdp, flags=re.MULTILINE)[1:]:
        found = _MID.search(section)
        if section.startswith("m=audio ") and found is not None:
            mids.append(found.group(1))
    return mids


def media_mids(sdp: str) -> list[str]:
    """media_mids lists the mid of every audio and video m-line of an offer, in order (not a
    data channel's): what Janus tells in its ``media`` events whether it receives."""
    mids = []
    for section in re.split(r"^(?=m=)", sdp, flags=re.MULTILINE)[1:]:
        found = _MID.search(section)
        if _MEDIA_SECTION.match(section) and found is not None:
            mids.append(found.group(1))
    return mids


def relay_holder(key: str, meeting_id: str, participant_id: str) -> str:
    """relay_holder is the opaque name relay credentials are made out to (coturn logs it): a short
    HMAC of the meeting and the participant keyed with the relay's secret, so that it names
    neither the person nor the meeting to whoever reads coturn's log, and differs per meeting."""
    digest = hmac.new(key.encode(), f"{meeting_id}\0{participant_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def parse_feed_id(value: str) -> tuple[str, StreamKind] | None:
    """parse_feed_id undoes feed_id; None for a feed vardmote did not make."""
    participant, _, kind = value.rpartition("-")
    if kind == "camera":
        return participant, "camera"
    if kind == "screen":
        return participant, "screen"
    return None


class _HandleEvents:
    """_HandleEvents passes one Janus handle's events to its meeting, for as long as it is the
    participant's current handle for that PeerConnection: the events of a handle that was
    replaced (its meeting moved to another node) are old news."""

    def __init__(self, live: LiveMeeting, pid: str, pc: str) -> None:
        self._live = live
        self._pid = pid
        self._pc = pc
        self.handle_id: int | None = None
        """The handle's id, once Janus has given it."""

    async def __call__(self, event: JanusEvent) -> None:
        current = self._live.current_handle(self._pid, self._pc)
        if self.handle_id is not None and (current is None or current.id != self.handle_id):
            return
        await self._live._janus_event(self._pid, self._pc, event)


@dataclass
class _Media:
    """_Media is one participant's Janus side: handles, ids and the audio mids of each publisher."""

    handles: dict[str, JanusHandle] = field(default_factory=dict)
    private_id: int | None = None
    audio_mids: dict[str, list[str]] = field(default_factory=dict)
    """The mids of the audio streams each publisher (``publisher``, ``screen``) offered: a host
    mute silences every one of them."""
    subscribed: set[str] = field(default_factory=set)
    published: set[str] = field(default_factory=set)
    streams: tuple[vr.SubscribedStream, ...] | None = None
    """The subscriber's streams as Janus last listed them (an ICE restart's offer may not); None
    when not known (nothing subscribed yet, or a meeting an earlier version saved)."""
    camera_mids: list[str] = field(default_factory=list)
    """The audio and video mids of the camera publisher's last offer."""
    receiving: dict[str, bool] = field(default_factory=dict)
    """Whether Janus receives on each of them, as its ``media`` events last said."""


def _saved_audio_mids(saved: Mapping[str, Any]) -> dict[str, list[str]]:
    """_saved_audio_mids reads the audio mids of media_state, also as an earlier version saved
    them (one ``audio_mid``, the camera's)."""
    mids = saved.get("audio_mids")
    if isinstance(mids, dict):
        return {str(pc): [str(mid) for mid in found] for pc, found in mids.items()}
    old = saved.get("audio_mid")
    return {"publisher": [str(old)]} if old is not None else {}


def _saved_streams(saved: Mapping[str, Any]) -> tuple[vr.SubscribedStream, ...] | None:
    """_saved_streams reads the subscriber's streams of media_state: None when they were not
    saved (an earlier version, or not known then), which is not the same as none."""
    streams = saved.get("streams")
    if not isinstance(streams, list):
        return None
    return tuple(vr.SubscribedStream.from_janus(s) for s in streams)


class LiveMeeting:
    """LiveMeeting is one meeting's room with its connections and Janus handles."""

    def __init__(
        self,
        meeting_id: str,
        policy: RoomPolicy,
        plane: MediaPlane,
        audit: AuditSink,
        *,
        host_left_seconds: int,
        reconnect_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        lobby_limit: int | None = None,
    ) -> None:
        self.meeting_id = meeting_id
        self.room = Room(
            meeting_id,
            policy,
            host_left_seconds=host_left_seconds,
            reconnect_seconds=reconnect_seconds,
            lobby_limit=lobby_limit,
        )
        self.policy = policy
        self.lock = asyncio.Lock()
        self._plane = plane
        self._audit = audit
        self._clock = clock
        self._wall_clock = wall_clock
        self._node = plane.placement.node_for(meeting_id)
        self._conns: dict[ConnId, Connection] = {}
        self._media: dict[str, _Media] = {}
        self._session: JanusSession | None = None
        self._control: vr.RoomControl | None = None
        self._control_handle: JanusHandle | None = None
        self._janus_room = False
        self._timer: asyncio.Task[None] | None = None
        self._later: list[Effect] = []
        self._stall_checks: dict[str, asyncio.TimerHandle] = {}
        """A look, STALL_SECONDS after Janus said a camera publisher receives nothing, per participant."""
        self._stall_tasks: set[asyncio.Task[None]] = set()
        """Effects that carrying out an effect gave rise to (a meeting placed again)."""
        self.on_change: Callable[[], None] | None = None
        """Called after every change of the room (vardmote.cluster saves a snapshot then)."""
        self.may_act: Callable[[], bool] = lambda: True
        """Whether this process may act for the meeting (vardmote.cluster: it holds the lease)."""
        self.released = False
        """Called after every change of the room (vardmote.cluster saves a snapshot then)."""

    # ---- events from connections ---------------------------------------------------------------

    async def join(
        self,
        conn: ConnId,
        connection: Connection,
        identity: Identity,
        name: str | None,
        resume: str | None,
        keep_media: bool = False,
    ) -> None:
        """join lets a proven identity in on a new connection."""
        async with self.lock:
            self._conns[conn] = connection
            await self._apply(self.room.join(conn, identity, name, self._clock(), resume, keep_media))

    async def handle(self, conn: ConnId, command: m.Command) -> None:
        """handle applies one decoded message from conn."""
        async with self.lock:
            await self._apply(self.room.handle(conn, command, self._clock()))

    async def drop(self, conn: ConnId) -> None:
        """drop: the connection closed (the room ignores connections it closed itself)."""
        async with self.lock:
            self._conns.pop(conn, None)
            await self._apply(self.room.drop(conn, self._clock()))

    async def error(self, conn: ConnId, code: str, message: str, request: str | None = None) -> None:
        """error tells one connection of a refused frame (decoding, rate limit)."""
        connection = self._conns.get(conn)
        if connection is not None:
            await connection.send(error_frame(code, message, request))

    # ---- the booking changed (rooms.booking_changes) -------------------------------------------

    async def link_gone(self, link_id: int) -> None:
        """link_gone: one of the meeting's links stopped working; whoever came by it goes."""
        async with self.lock:
            await self._apply(booking_changes.link_gone(self.room, link_id, self._clock()))

    async def meeting_over(self, reason: str, message: str) -> None:
        """meeting_over: the meeting was cancelled or lost its protection; it ends for everyone."""
        async with self.lock:
            await self._apply(booking_changes.meeting_over(self.room, reason, message))

    async def links_expire(self, at: dt.datetime) -> None:
        """links_expire sets when the meeting's links stop working (UTC, from the booking); the
        room's timer then takes out whoever came by one."""
        async with self.lock:
            self.room.links_expire_at = self._clock() + (at - dt.datetime.now(dt.UTC)).total_seconds()
            await self._apply([])

    async def hosting_withdrawn(self, username: str, text: str = texts.HOSTING_WITHDRAWN) -> None:
        """hosting_withdrawn: a staff member may no longer host this meeting; they go, told text."""
        async with self.lock:
            await self._apply(booking_changes.hosting_withdrawn(self.room, username, self._clock(), text))

    async def type_changed(self, policy: RoomPolicy) -> None:
        """type_changed: the meeting has another type; its rules hold now, guests come back."""
        async with self.lock:
            self.policy = policy
            await self._apply(booking_changes.type_changed(self.room, policy, self._clock()))

    # ---- hand-over between vardmote processes (rooms.handover, vardmote.cluster) ---------------

    def attach(self, conn: ConnId, connection: Connection) -> None:
        """attach tells the meeting how to reach a connection the room already knows (a
        meeting taken over from another process: its participants' connections)."""
        self._conns[conn] = connection

    async def connections_lost(self, conns: list[ConnId]) -> None:
        """connections_lost: these connections went with their process; media stays, if the
        meeting still holds its Janus session."""
        async with self.lock:
            for conn in conns:
                self._conns.pop(conn, None)
            keep = self._session is not None and not self._session.ended
            await self._apply(handover.connections_lost(self.room, conns, self._clock(), keep_media=keep))

    def media_state(self) -> dict[str, Any]:
        """media_state is the meeting's Janus side as plain JSON: the node, the session and every
        handle, so that another process can claim them (take_over_media)."""
        session = self._session
        return {
            "node": self._node.url,
            "session": session.id if session is not None and not session.ended else None,
            "control": self._control_handle.id if self._control_handle is not None else None,
            "janus_room": self._janus_room,
            "participants": {
                pid: {
                    "handles": {pc: h.id for pc, h in media.handles.items() if not h.closed},
                    "private_id": media.private_id,
                    "audio_mids": media.audio_mids,
                    # What a process of an earlier version reads (the camera's microphone only).
                    "audio_mid": next(iter(media.audio_mids.get("publisher", ())), None),
                    "subscribed": sorted(media.subscribed),
                    "published": sorted(media.published),
                    "streams": None
                    if media.streams is None
                    else [dataclasses.asdict(s) for s in media.streams],
                    "camera_mids": media.camera_mids,
                }
                for pid, media in self._media.items()
            },
        }

    async def take_over_media(self, state: Mapping[str, Any]) -> bool:
        """take_over_media claims the Janus session of media_state and adopts its handles, so
        that media goes on untouched. When Janus no longer has the session (its node died, or
        nobody claimed it in time) every stream is taken as stopped and the connected
        participants are told media_unavailable, so that they offer again. Tells whether the
        media was kept."""
        async with self.lock:
            node = next((n for n in self._plane.placement.nodes if n.url == state.get("node")), None)
            session_id = state.get("session")
            if node is not None and isinstance(session_id, int):
                self._node = node
                try:
                    self._session = await self._plane.claim_session(node, session_id)
                except JanusException as e:
                    log.warning("meeting %s: Janus session could not be claimed: %s", self.meeting_id, e)
                    self._session = None
            if self._session is None:
                await self._media_lost(state)
                return False
            control = state.get("control")
            if isinstance(control, int):
                self._control_handle = self._session.adopt(control, vr.PLUGIN)
                self._control = vr.RoomControl(self._control_handle, self._node.admin_key)
                self._janus_room = bool(state.get("janus_room"))
            for pid, saved in (state.get("participants") or {}).items():
                media = _Media(
                    private_id=saved.get("private_id"),
                    audio_mids=_saved_audio_mids(saved),
                    subscribed=set(saved.get("subscribed") or ()),
                    published=set(saved.get("published") or ()),
                    # Both absent in what a process of the version before saved.
                    streams=_saved_streams(saved),
                    camera_mids=[str(mid) for mid in saved.get("camera_mids") or ()],
                )
                for pc, handle_id in (saved.get("handles") or {}).items():
                    events = self._on_event(pid, pc)
                    events.handle_id = handle_id
                    media.handles[pc] = self._session.adopt(handle_id, vr.PLUGIN, on_event=events)
                self._media[pid] = media
            await self._apply(await self._reconcile())
            return True

    async def _reconcile(self) -> list[Effect]:
        """_reconcile: what Janus told while no process held the session (a publisher's media
        came up, or hung up) is lost; what Janus publishes now is what the room takes as live."""
        if self._control is None or not self._janus_room:
            return []
        try:
            publishing = {p.id for p in await self._control.participants(self.meeting_id) if p.publisher}
        except JanusException:
            return []
        now = self._clock()
        effects: list[Effect] = []
        for pid, media in self._media.items():
            participant = self.room.participants.get(pid)
            if participant is None:
                continue
            for pc, kind in _KINDS.items():
                in_janus = feed_id(pid, kind) in publishing
                if in_janus and pc in media.published and kind not in participant.streams:
                    effects += self.room.stream_started(pid, kind, now)
                elif not in_janus and kind in participant.streams:
                    media.published.discard(pc)
                    effects += self.room.stream_stopped(pid, kind, now)
        return effects

    async def _media_lost(self, state: Mapping[str, Any]) -> None:
        """_media_lost: the Janus side of a taken-over meeting is gone; streams stop, people re-offer."""
        now = self._clock()
        for someone in self.room.participants.values():
            someone.media_kept = False  # nothing to go on with: a resume negotiates afresh
        for pid, saved in (state.get("participants") or {}).items():
            for pc in saved.get("published") or ():
                kind = _KINDS.get(pc)
                if kind is not None:
                    await self._apply(self.room.stream_stopped(pid, kind, now))
            participant = self.room.participants.get(pid)
            if participant is not None and participant.conn is not None and saved.get("published"):
                await self.error(participant.conn, ErrorCode.MEDIA_UNAVAILABLE, texts.MEDIA_UNAVAILABLE)
        await self._apply([])

    async def release(self) -> None:
        """release lets the meeting go without touching Janus: another process takes it over
        (with take_over_media). From now on this object does nothing: no timer, no effect, no
        Janus event; the connections stay open (their process still holds them)."""
        self.released = True
        self.on_change = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cancel_stall_checks()
        if self._session is not None:
            self._session.let_go()
        self._media.clear()
        self._conns.clear()
        self._session = None
        self._control = None
        self._control_handle = None

    @property
    def idle(self) -> bool:
        """idle tells whether nobody is connected or waiting to come back."""
        return self.room.is_empty and not self._conns

    async def close(self) -> None:
        """close stops the timer and leaves Janus (the service is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
        self._cancel_stall_checks()
        async with self.lock:
            for pid in list(self._media):
                await self._detach(pid)
            if self._janus_room and self._control is not None:
                with contextlib.suppress(JanusException):
                    await self._control.destroy(self.meeting_id)
            self._janus_room = False
            if self._session is not None:
                await self._session.destroy()
                self._session = None

    # ---- effects -------------------------------------------------------------------------------

    async def _apply(self, effects: list[Effect]) -> None:
        """_apply carries out effects in order; called with the lock held. A meeting that was
        released, or whose process may no longer act for it (its lease ran out), does nothing."""
        if self.released or not self.may_act():
            return
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            try:
                more = await self._do(effect)
            except JanusException as e:
                log.warning("meeting %s: Janus failed on %s: %s", self.meeting_id, type(effect).__name__, e)
                more = []
                pid = getattr(effect, "participant_id", None)
                participant = self.room.participants.get(pid) if pid else None
                if participant is not None and participant.conn is not None:
                    connection = self._conns.get(participant.conn)
                    if connection is not None:
                        await connection.send(
                            error_frame(ErrorCode.MEDIA_UNAVAILABLE, texts.MEDIA_UNAVAILABLE)
                        )
            queue[0:0] = more
            queue += self._later
            self._later.clear()
        self._arm_timer()
        if self.on_change is not None:
            self.on_change()

    async def _do(self, effect: Effect) -> list[Effect]:
        """_do carries out one effect and returns any effects that follow from it."""
        match effect:
            case Send(to=to, message=message):
                for conn in to:
                    connection = self._conns.get(conn)
                    if connection is not None:
                        await connection.send(message)
            case SendWithIceServers(to=to, participant_id=pid, message=message):
                connection = self._conns.get(to)
                if connection is not None:
                    await connection.send({**message, "ice_servers": self.ice_servers(pid)})
            case SendError(to=to, code=code, message_sv=text, request=request):
                connection = self._conns.get(to)
                if connection is not None:
                    await connection.send(error_frame(code, text, request))
            case CloseConnection(conn=conn, reason=reason):
                connection = self._conns.pop(conn, None)
                if connection is not None:
                    await connection.close(reason)
            case Audit(action=action, actor=actor, details=details):
                await self._audit(self.meeting_id, actor, action, details)
            case JanusOffer(participant_id=pid, pc=pc, sdp=sdp, full_resolution=full):
                return await self._publish(pid, pc, sdp, full)
            case JanusAnswer(participant_id=pid, sdp=sdp):
                handle = self._media.get(pid, _Media()).handles.get("subscriber")
                if handle is not None:
                    await vr.start(handle, {"type": "answer", "sdp": sdp})
            case JanusCandidate(participant_id=pid, pc=pc, candidate=candidate):
                handle = self._media.get(pid, _Media()).handles.get(pc)
                if handle is not None:
                    await handle.trickle(dict(candidate) if candidate is not None else None)
            case JanusRestartIce(participant_id=pid):
                await self._restart_subscriber_ice(pid)
            case JanusMute(participant_id=pid, muted=muted):
                await self._moderate_audio(pid, muted)
            case JanusUnpublish(participant_id=pid, kind=kind):
                pc = "publisher" if kind == "camera" else "screen"
                handle = self._media.get(pid, _Media()).handles.get(pc)
                if handle is not None:
                    with contextlib.suppress(JanusException):
                        await vr.unpublish(handle)
            case JanusDetach(participant_id=pid):
                await self._detach(pid)
            case SetSubscriptions(participant_id=pid, streams=streams):
                await self._subscribe(pid, {feed_id(s.participant_id, s.kind) for s in streams})
            case DestroyJanusRoom():
                if self._janus_room and self._control is not None:
                    with contextlib.suppress(JanusException):
                        await self._control.destroy(self.meeting_id)
                self._janus_room = False
            case _:
                raise TypeError(f"unknown effect {effect!r}")
        return []

    # ---- the relay ----------------------------------------------------------------------------

    def ice_servers(self, participant_id: str) -> list[dict[str, Any]]:
        """ice_servers are fresh relay credentials for one admitted participant (``[]`` without a
        relay). They expire credential_seconds after the meeting's links do (its booked end and
        grace, as the room knows it), and never sooner than credential_seconds from now."""
        relay = self._plane.relay
        if relay is None:
            return []
        now = self._wall_clock()
        links_end = self.room.links_expire_at
        booked_end = None if links_end is None else round(now + (links_end - self._clock()))
        expires_at = relay.expires_at(booked_end=booked_end, now=int(now))
        holder = relay_holder(relay.secret.reveal(), self.meeting_id, participant_id)
        return relay.ice_servers(holder, expires_at=expires_at)

    # ---- Janus ---------------------------------------------------------------------------------

    async def _janus_session(self) -> JanusSession:
        """_janus_session is the meeting's own Janus session (made again if Janus lost it), so
        that another vardmote process can claim it with every handle (vardmote.cluster)."""
        if self._session is None or self._session.ended:
            self._place_again()
            self._session = await self._plane.new_session(self._node)
        return self._session

    def _place_again(self) -> None:
        """_place_again moves the meeting to the node placement now gives (its node went down):
        the room is made there afresh, and every handle on the old node is forgotten, so that
        the next offers publish and subscribe on the new one."""
        node = self._plane.placement.node_for(self.meeting_id)
        if node.url == self._node.url:
            return
        log.warning(
            "meeting %s: Janus %s is down; the meeting moves to %s", self.meeting_id, self._node.url, node.url
        )
        metrics.failover("janus_node")
        self._node = node
        self._control = None
        self._control_handle = None
        self._janus_room = False
        now = self._clock()
        for someone in self.room.participants.values():
            someone.media_kept = False  # their handles were on the dead node
        for pid, media in self._media.items():
            # Streams still published on the dead node stop now (their handles' own "closed"
            # events, if still on the way, are ignored as not current), and their senders are
            # told to offer again; the room then subscribes everyone afresh on the new node.
            participant = self.room.participants.get(pid)
            for pc in sorted(media.published):
                self._later += self.room.stream_stopped(pid, _KINDS[pc], now)
            if media.published and participant is not None and participant.conn is not None:
                self._later.append(
                    SendError(participant.conn, ErrorCode.MEDIA_UNAVAILABLE, texts.MEDIA_UNAVAILABLE)
                )
            media.handles.clear()
            media.published.clear()
            media.subscribed.clear()
            media.private_id = None

    async def _ensure_room(self) -> vr.RoomControl:
        session = await self._janus_session()
        if self._control is None or self._control_handle is None or self._control_handle.closed:
            self._control_handle = await session.attach(vr.PLUGIN)
            self._control = vr.RoomControl(self._control_handle, self._node.admin_key)
            self._janus_room = False
        if not self._janus_room:
            if not await self._control.exists(self.meeting_id):
                publishers = 2 * (self.policy.participant_limit or 100)
                await self._control.create(self.meeting_id, vr.RoomOptions(publishers=min(publishers, 400)))
            self._janus_room = True
        return self._control

    async def _attach(self, pid: str, pc: str) -> JanusHandle:
        session = await self._janus_session()
        events = self._on_event(pid, pc)
        handle = await session.attach(vr.PLUGIN, on_event=events)
        events.handle_id = handle.id
        self._media.setdefault(pid, _Media()).handles[pc] = handle
        return handle

    def _on_event(self, pid: str, pc: str) -> _HandleEvents:
        return _HandleEvents(self, pid, pc)

    def current_handle(self, pid: str, pc: str) -> JanusHandle | None:
        """current_handle is the participant's handle for pc now, if any."""
        media = self._media.get(pid)
        return None if media is None else media.handles.get(pc)

    async def _ensure_publisher(self, pid: str, pc: str) -> JanusHandle:
        """_ensure_publisher joins the participant's camera (or screen) publisher handle."""
        await self._ensure_room()
        media = self._media.setdefault(pid, _Media())
        handle = media.handles.get(pc)
        if handle is not None and not handle.closed:
            return handle
        handle = await self._attach(pid, pc)
        kind = _KINDS[pc]
        joined = await vr.join_as_publisher(handle, self.meeting_id, pid, participant=feed_id(pid, kind))
        if pc == "publisher":
            media.private_id = joined.private_id
        return handle

    async def _publish(self, pid: str, pc: str, sdp: str, full_resolution: bool) -> list[Effect]:
        participant = self.room.participants.get(pid)
        if participant is None or participant.conn is None:
            return []
        handle = await self._ensure_publisher(pid, pc)
        media = self._media[pid]
        offer: Jsep = {"type": "offer", "sdp": sdp}
        bitrate = 0 if full_resolution else None  # 0: no cap (MDK shares at full resolution)
        if pc in media.published:
            answer = await vr.configure(handle, offer=offer, bitrate=bitrate)
        else:
            answer = await vr.publish(handle, offer, bitrate=bitrate)
            media.published.add(pc)
        media.audio_mids[pc] = audio_mids(sdp)
        if pc == "publisher":
            media.camera_mids = media_mids(sdp)
            media.receiving.clear()
        if participant.host_muted:
            # Silent from its first packet: a host mute holds for a share started (or a camera
            # offered again) while muted, before Janus reports the stream up.
            await self._moderate_audio(pid, True, only=pc)
        connection = self._conns.get(participant.conn)
        if connection is not None and answer is not None:
            await connection.send({"type": "answer", "pc": pc, "sdp": answer["sdp"]})
        return []

    async def _moderate_audio(self, pid: str, muted: bool, *, only: str | None = None) -> None:
        """_moderate_audio mutes (or releases) every audio stream the participant publishes, the
        camera's microphone and a screen share's sound alike (VideoRoom ``moderate``, one request
        per mid); only: just that publisher's. A stream Janus refuses does not keep the others
        from being muted; the first refusal is raised once all were tried."""
        media = self._media.get(pid)
        if media is None or self._control is None:
            return
        failed: JanusException | None = None
        for pc, mids in sorted(media.audio_mids.items()):
            if pc not in media.published or (only is not None and pc != only):
                continue
            for mid in mids:
                try:
                    await self._control.moderate(self.meeting_id, feed_id(pid, _KINDS[pc]), mid, mute=muted)
                except JanusException as e:
                    failed = failed or e
        if failed is not None:
            raise failed

    async def _subscribe(self, pid: str, wanted: set[str]) -> None:
        participant = self.room.participants.get(pid)
        if participant is None or participant.conn is None:
            return
        media = self._media.setdefault(pid, _Media())
        handle = media.handles.get("subscriber")
        if handle is None or handle.closed:
            if not wanted:
                return
            await self._ensure_publisher(pid, "publisher")  # require_pvtid: subscribe as a room member
            handle = await self._attach(pid, "subscriber")
            try:
                subscription = await vr.join_as_subscriber(
                    handle,
                    self.meeting_id,
                    [vr.SubscribeTo(f) for f in sorted(wanted)],
                    private_id=media.private_id,
                )
            except JanusException:
                # Not kept: a subscriber Janus refused is no member and takes no update; the
                # next change of streams makes a new one.
                media.handles.pop("subscriber", None)
                await handle.detach()
                raise
        else:
            add = wanted - media.subscribed
            drop = media.subscribed - wanted
            if not add and not drop:
                return
            subscription = await vr.update(
                handle,
                subscribe=[vr.SubscribeTo(f) for f in sorted(add)],
                unsubscribe=[vr.UnsubscribeFrom(feed=f) for f in sorted(drop)],
            )
        media.subscribed = set(wanted)
        if subscription.offer is not None:
            await self._send_subscriber_offer(participant.conn, subscription)

    async def _restart_subscriber_ice(self, pid: str) -> None:
        """_restart_subscriber_ice asks Janus for a subscriber offer that restarts ICE and sends it
        as the usual subscriber ``offer``. Every ``ice_restart`` is answered: when there is
        nothing to restart (nothing received yet: the first offer comes with the first stream;
        Janus ended the subscription) or Janus refuses, with ``restart_failed`` naming the request,
        never ``media_unavailable``, which would make the browser offer every connection again.
        When the streams are not known (a meeting an earlier version saved) no offer is sent
        with a guessed or empty stream list, and a subscriber Janus ended cannot restart: the
        subscription is made afresh on a new handle, whose first offer lists every stream,
        after the refusal."""
        participant = self.room.participants.get(pid)
        if participant is None or participant.conn is None:
            return
        conn = participant.conn
        media = self._media.get(pid)
        handle = media.handles.get("subscriber") if media is not None else None
        if media is None or handle is None:
            await self._refuse_restart(conn)
            return
        if handle.closed or media.streams is None:
            await self._refuse_restart(conn)
            await self._subscribe_afresh(pid, media)
            return
        try:
            subscription = await vr.restart_subscription(handle)
        except JanusException as e:
            log.warning("meeting %s: Janus refused a subscriber ICE restart: %s", self.meeting_id, e)
            await self._refuse_restart(conn)
            return
        if not subscription.listed:  # Janus's answer to configure need not list them
            subscription = vr.Subscription(media.streams, subscription.offer)
        await self._send_subscriber_offer(conn, subscription)

    async def _refuse_restart(self, conn: ConnId) -> None:
        connection = self._conns.get(conn)
        if connection is not None:
            await connection.send(error_frame(ErrorCode.RESTART_FAILED, texts.RESTART_FAILED, "ice_restart"))

    async def _subscribe_afresh(self, pid: str, media: _Media) -> None:
        """_subscribe_afresh ends the participant's subscriber handle and subscribes to the same
        feeds on a new one, so that Janus lists the streams again."""
        wanted = set(media.subscribed)
        old = media.handles.pop("subscriber", None)
        media.subscribed = set()
        media.streams = None
        if old is not None:
            with contextlib.suppress(JanusException):
                await old.detach()
        try:
            await self._subscribe(pid, wanted)
        except JanusException as e:
            # As any failed subscription: the next change of streams makes a new one.
            log.warning("meeting %s: a fresh subscription failed: %s", self.meeting_id, e)

    async def _send_subscriber_offer(self, conn: ConnId, subscription: vr.Subscription) -> None:
        participant = self.room.participant_for(conn)
        media = self._media.get(participant.id) if participant is not None else None
        listed = subscription.streams
        if media is not None:
            if subscription.listed:
                media.streams = subscription.streams
            else:
                # Janus changed them without saying how: the browser keeps the last map for
                # now, and the next ICE restart subscribes afresh rather than trust it.
                listed = media.streams or ()
                media.streams = None
        streams = []
        for s in listed:
            parsed = parse_feed_id(s.feed_id) if s.feed_id else None
            if parsed is not None and s.active:
                streams.append({"mid": s.mid, "participant": parsed[0], "kind": parsed[1], "type": s.type})
        connection = self._conns.get(conn)
        if connection is not None and subscription.offer is not None:
            await connection.send(
                {"type": "offer", "pc": "subscriber", "sdp": subscription.offer["sdp"], "streams": streams}
            )

    async def _detach(self, pid: str) -> None:
        media = self._media.pop(pid, None)
        if media is None:
            return
        for handle in media.handles.values():
            with contextlib.suppress(JanusException):
                await handle.detach()

    async def _janus_event(self, pid: str, pc: str, event: JanusEvent) -> None:
        """_janus_event takes what Janus tells about one of a participant's handles."""
        if pc == "subscriber":
            if event.jsep is not None and event.jsep.get("type") == "offer":
                # Janus renegotiated on its own (a publisher went away). Its event lists the
                # streams left, so the browser keeps knowing whose video each mid is.
                # Sent at once, not under the lock, to keep Janus's order of offers.
                participant = self.room.participants.get(pid)
                if participant is not None and participant.conn is not None:
                    streams = event.data.get("streams")
                    subscription = (
                        vr.Subscription(tuple(vr.SubscribedStream.from_janus(s) for s in streams), event.jsep)
                        if isinstance(streams, list)
                        else vr.Subscription((), event.jsep, listed=False)
                    )
                    await self._send_subscriber_offer(participant.conn, subscription)
            return
        kind = _KINDS.get(pc)
        if kind is None:
            return
        if event.kind == "media" and pc == "publisher":
            await self._camera_media(pid, event)
        elif event.kind == "webrtcup":
            async with self.lock:
                await self._apply(self.room.stream_started(pid, kind, self._clock()))
                if pc == "publisher":
                    await self._apply(self._media_flowing(pid))
        elif event.kind in {"hangup", "detached", *_JANUS_GONE} or (
            event.kind == "event" and event.data.get("unpublished") == "ok"
        ):
            async with self.lock:
                media = self._media.get(pid)
                was_published = media is not None and pc in media.published
                if media is not None:
                    media.published.discard(pc)
                await self._apply(self.room.stream_stopped(pid, kind, self._clock()))
                participant = self.room.participants.get(pid)
                if event.kind in _JANUS_GONE and was_published and participant and participant.conn:
                    # Janus died or dropped our session: the PeerConnection went with it, and
                    # only a new offer (to the restarted Janus) brings the stream back.
                    await self.error(participant.conn, ErrorCode.MEDIA_UNAVAILABLE, texts.MEDIA_UNAVAILABLE)

    async def _camera_media(self, pid: str, event: JanusEvent) -> None:
        """_camera_media follows Janus's ``media`` events on a camera publisher: when it receives
        nothing on any of its audio and video streams the participant is shown reconnecting, and
        no longer once anything arrives again."""
        mid, receiving = event.message.get("mid"), event.message.get("receiving")
        if not isinstance(mid, str) or not isinstance(receiving, bool):
            return  # Janus 1.x names the stream by its mid
        async with self.lock:
            media = self._media.get(pid)
            if media is None:
                return
            media.receiving[mid] = receiving
            # Judged only against the mids of the publisher's offer: a stream Janus said nothing
            # of may well be arriving.
            if not self._stalled(media):
                await self._apply(self.room.media_stalled(pid, False, self._clock()))
            elif pid not in self._stall_checks:
                # A blip shorter than STALL_SECONDS (on top of Janus's own second) shows nothing.
                loop = asyncio.get_running_loop()
                self._stall_checks[pid] = loop.call_later(STALL_SECONDS, self._check_stall, pid)

    def _cancel_stall_checks(self) -> None:
        for check in self._stall_checks.values():
            check.cancel()
        self._stall_checks.clear()

    @staticmethod
    def _stalled(media: _Media) -> bool:
        """_stalled tells whether Janus said it receives none of the camera publisher's streams,
        judged only against the mids of its offer (a stream Janus said nothing of may arrive)."""
        mids = media.camera_mids
        return bool(mids) and all(media.receiving.get(m) is False for m in mids)

    def _check_stall(self, pid: str) -> None:
        self._stall_checks.pop(pid, None)
        task = asyncio.get_running_loop().create_task(self._confirm_stall(pid))
        self._stall_tasks.add(task)
        task.add_done_callback(self._stall_tasks.discard)

    async def _confirm_stall(self, pid: str) -> None:
        """_confirm_stall shows the participant reconnecting if Janus still receives nothing."""
        async with self.lock:
            media = self._media.get(pid)
            if media is not None and self._stalled(media):
                await self._apply(self.room.media_stalled(pid, True, self._clock()))

    def _media_flowing(self, pid: str) -> list[Effect]:
        """_media_flowing: the camera publisher's PeerConnection is up (again), so media arrives."""
        media = self._media.get(pid)
        if media is not None:
            media.receiving.clear()
        return self.room.media_stalled(pid, False, self._clock())

    # ---- timers --------------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        """_arm_timer makes one task wait for the room's next deadline; called with the lock held.

        The deadlines are the room's (a reconnect window, the host-left countdown
        of :mod:`.host_left`); this edge only sleeps until then and ticks the room.
        """
        deadline = self.room.next_deadline()
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer = None
        if deadline is not None:
            self._timer = asyncio.create_task(self._wait_and_tick(deadline))

    async def _wait_and_tick(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self._clock()))
        async with self.lock:
            self._timer = None
            if self.released:
                return
            if not self.may_act():
                # The lease is being renewed (or the meeting will be let go): look again shortly.
                self._timer = asyncio.create_task(self._wait_and_tick(self._clock() + 0.1))
                return
            await self._apply(self.room.tick(self._clock()))
