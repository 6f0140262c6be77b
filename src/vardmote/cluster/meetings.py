"""Shared live meetings: any process serves any participant; one owner runs each meeting.

:class:`SharedLiveMeetings` stands where :class:`~vardmote.rooms.live.LiveMeetings`
stands in one process, behind the same door (``door(meeting_id)``) the
WebSocket uses. How it shares a meeting (docs/design-notes.md, "Several
processes"):

- **Relay.** A participant's ``join``, every later frame and the loss of the
  connection become items on the meeting's inbox stream, whichever process
  holds the WebSocket. Connection ids are ``<process>/<n>``, so the owner knows
  where each connection lives: it sends to its own sockets directly and to the
  others through their process's outbox channel.
- **Ownership.** The first process to see a meeting takes its lease (``SET NX``
  with a time to live, renewed twice a second). Only the owner reads the inbox,
  runs the Room and its timers and talks to Janus, so every timer fires once.
  A process that holds a connection of a meeting nobody owns takes it over,
  within a second of the lease running out, or at once when the owner hands
  it over (``released``).
- **Snapshot.** After every change the owner writes the room
  (vardmote.rooms.snapshot), its Janus session and handles and the inbox
  position to the meeting's state key, only while it still holds the lease.
  Items are applied at least once: an item read just before a kill may be
  applied again by the next owner.
- **Take-over.** The new owner loads the snapshot, claims the Janus session and
  adopts its handles (browsers' PeerConnections go on untouched), and treats
  the connections of processes that are no longer alive as lost with their
  process (vardmote.rooms.handover): their people keep their place and their
  media and come back with ``resume`` and ``keep_media``.
- **Hand-over** (SIGTERM, a rolling upgrade): the owner writes its last
  snapshot, leaves its Janus sessions to be claimed, gives up its leases and
  says so on ``released``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import vardmote.metrics as metrics
from vardmote.cluster import keys
from vardmote.lib.events import DomainEvent, from_json, to_json
from vardmote.media.plane import MediaPlane
from vardmote.rooms import messages as m
from vardmote.rooms import snapshot
from vardmote.rooms.effects import ConnId
from vardmote.rooms.errors import ProtocolError
from vardmote.rooms.live import AuditSink, Connection, LiveMeeting
from vardmote.rooms.participant import Identity
from vardmote.rooms.policy import RoomPolicy

log = logging.getLogger("vardmote.cluster")

LEASE_MS = 2000
"""How long a lease holds without renewal: an owner that dies is replaced after at most this."""
RENEW_SECONDS = 0.5
"""How often leases and the process's alive key are renewed, and ownerless meetings looked for."""
NODE_HEALTH_MS = 5000
"""A Janus node's shared health is forgotten this long after the last probe (then: up)."""
STATE_TTL_SECONDS = 24 * 3600
"""A meeting's state and inbox are forgotten a day after its last change."""
INBOX_MAXLEN = 10_000
"""The inbox keeps about this many items; a snapshot is always far more recent."""
IDLE_RELEASE_SECONDS = 60.0
"""An owner lets a meeting nobody is in go after this long: its Janus room and session end, and
its snapshot (barred people, the lock) waits in Redis for the next join, on any process."""
FRESH_INBOX_SECONDS = 30
"""A meeting with no snapshot starts reading its inbox this far back (older items are leftovers)."""

PolicyOf = Callable[[str], Awaitable[RoomPolicy | None]]
"""PolicyOf reads a meeting's room policy from the booking; None when it has none (cancelled)."""
BookingChange = Callable[[DomainEvent], Callable[[LiveMeeting], Awaitable[None]] | None]
"""BookingChange is what a domain event does to a live meeting (vardmote.web.live_booking)."""

# Renew a lease only while it is ours; write the state only while the lease is ours.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return 0"
)
_SAVE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3]) redis.call('expire', KEYS[3], ARGV[3]) "
    "return 1 end return 0"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class SharingUnavailable(Exception):
    """SharingUnavailable: Redis cannot be reached, so nothing can be relayed to a meeting."""


class RemoteConnection:
    """RemoteConnection is a participant's WebSocket held by another process, reached
    through that process's outbox channel."""

    def __init__(self, shared: SharedLiveMeetings, conn: ConnId) -> None:
        self._shared = shared
        self._conn = conn

    async def send(self, message: Mapping[str, Any]) -> None:
        await self._shared.to_process(self._conn, {"conn": self._conn, "send": dict(message)})

    async def close(self, reason: str) -> None:
        await self._shared.to_process(self._conn, {"conn": self._conn, "close": reason})


@dataclass
class _Owned:
    """_Owned is a meeting this process runs: its live room and where its inbox was read to."""

    live: LiveMeeting
    position: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    idle_since: float | None = None
    """Since when (monotonic) nobody has been in the meeting or connected to it."""


class SharedDoor:
    """SharedDoor is one meeting as this process's WebSockets reach it: everything goes to
    the meeting's inbox, whoever owns it."""

    def __init__(self, shared: SharedLiveMeetings, meeting_id: str) -> None:
        self._shared = shared
        self.meeting_id = meeting_id

    async def join(
        self,
        conn: ConnId,
        connection: Connection,
        identity: Identity,
        join: m.Join,
        links_expire_at: dt.datetime,
        policy: RoomPolicy,
    ) -> None:
        """join relays a proven join; the connection is this process's to hold. The owner
        reads the meeting's policy itself (it may be another process)."""
        self._shared.hold(self.meeting_id, conn, connection)
        item = {
            "kind": "join",
            "conn": conn,
            "identity": snapshot.dump_identity(identity),
            "name": join.name,
            "resume": join.resume,
            "keep_media": join.keep_media,
            "links_expire_at": links_expire_at.isoformat(),
        }
        await self._shared.relay(self.meeting_id, item)

    async def handle(self, conn: ConnId, command: m.Command, frame: str | bytes) -> None:
        """handle relays one checked frame (the owner decodes it again)."""
        text = frame.decode() if isinstance(frame, bytes) else frame
        await self._shared.relay(self.meeting_id, {"kind": "frame", "conn": conn, "frame": text})

    async def drop(self, conn: ConnId) -> None:
        """drop relays that the connection closed."""
        self._shared.let_go(conn)
        await self._shared.relay(self.meeting_id, {"kind": "drop", "conn": conn})

    async def lost(self, conn: ConnId) -> None:
        """lost relays that the connection closed because this process is stopping: its
        participant keeps their media and resumes on another process."""
        self._shared.let_go(conn)
        await self._shared.relay(self.meeting_id, {"kind": "lost", "conn": conn})


class SharedLiveMeetings:
    """SharedLiveMeetings runs this process's share of the live meetings through Redis."""

    def __init__(
        self,
        redis_url: str,
        plane: MediaPlane,
        audit: AuditSink,
        *,
        policy_of: PolicyOf,
        booking_change: BookingChange,
        host_left_seconds: int,
        reconnect_seconds: int,
        process: str | None = None,
    ) -> None:
        self.plane = plane
        self.process = process or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._redis: aioredis.Redis = aioredis.from_url(redis_url)
        self._audit = audit
        self._policy_of = policy_of
        self._booking_change = booking_change
        self._host_left = host_left_seconds
        self._reconnect = reconnect_seconds
        self._ids = itertools.count(1)
        self._owned: dict[str, _Owned] = {}
        self._taking: dict[str, asyncio.Lock] = {}
        self._local: dict[ConnId, tuple[str, Connection]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # ---- the door the WebSocket uses -----------------------------------------------------------

    def new_conn_id(self) -> ConnId:
        """new_conn_id names a new connection of this process: ``<process>/<n>``."""
        return f"{self.process}/{next(self._ids)}"

    def door(self, meeting_id: str) -> SharedDoor:
        """door is the meeting as a WebSocket reaches it."""
        return SharedDoor(self, meeting_id)

    def meetings(self) -> list[LiveMeeting]:
        """meetings are the live meetings this process owns now (for /metrics)."""
        return [owned.live for owned in self._owned.values()]

    def hold(self, meeting_id: str, conn: ConnId, connection: Connection) -> None:
        """hold: this process holds conn, a connection to meeting_id."""
        self._local[conn] = (meeting_id, connection)

    def let_go(self, conn: ConnId) -> None:
        """let_go: conn closed."""
        self._local.pop(conn, None)

    async def relay(self, meeting_id: str, item: Mapping[str, Any]) -> None:
        """relay adds item to the meeting's inbox; for a join, it makes sure someone owns the
        meeting (later items find an owner through the lease loop, within a second)."""
        try:
            await self._redis.xadd(
                keys.inbox(meeting_id), {"item": json.dumps(item)}, maxlen=INBOX_MAXLEN, approximate=True
            )
            if item.get("kind") in ("join", "booking"):
                await self._ensure_owner(meeting_id)
        except (RedisError, OSError) as e:
            log.warning("meeting %s: Redis unreachable, nothing relayed: %s", meeting_id, type(e).__name__)
            raise SharingUnavailable(str(e)) from e

    async def relay_booking(self, event: DomainEvent) -> None:
        """relay_booking hands a booking change to its meeting, if the meeting is live anywhere."""
        meeting_id = getattr(event, "meeting_id", None)
        if not isinstance(meeting_id, str):
            return
        if await self._redis.exists(keys.owner(meeting_id), keys.state(meeting_id)):
            await self.relay(meeting_id, {"kind": "booking", "event": to_json(event)})

    async def to_process(self, conn: ConnId, message: Mapping[str, Any]) -> None:
        """to_process sends a message for conn to the process holding it (or to it, if ours)."""
        process = keys.process_of(conn)
        if process == self.process:
            await self._deliver(message)
        else:
            await self._redis.publish(keys.outbox(process), json.dumps(message))

    # ---- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """start marks the process alive and listens to its outbox and to hand-overs."""
        await self._redis.set(keys.alive(self.process), "1", px=LEASE_MS)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(keys.outbox(self.process), keys.RELEASED)
        self._tasks = [
            asyncio.create_task(self._listen(pubsub), name="cluster-listen"),
            asyncio.create_task(self._renew(), name="cluster-renew"),
            asyncio.create_task(self._watch_nodes(), name="cluster-janus-health"),
        ]

    async def close(self) -> None:
        """close hands this process's meetings over (a rolling upgrade) and stops."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for meeting_id in list(self._owned):
            with contextlib.suppress(RedisError, OSError):
                await self._hand_over(meeting_id)
        await self.plane.abandon()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(keys.alive(self.process))
        await self._redis.aclose()

    async def _hand_over(self, meeting_id: str, *, end_media: bool = False) -> None:
        """_hand_over lets another process run the meeting: the last snapshot, the lease given
        up and said so. end_media: nobody is in it, so its Janus room and session end too;
        otherwise they are left for the next owner to claim."""
        owned = self._owned.pop(meeting_id)
        for task in owned.tasks:
            task.cancel()
        if end_media:
            await owned.live.close()
        await self._save(meeting_id, owned)
        await owned.live.release()
        await self._redis.eval(_RELEASE, 1, keys.owner(meeting_id), self.process)
        await self._redis.publish(keys.RELEASED, meeting_id)
        log.info("meeting %s %s", meeting_id, "let go (nobody in it)" if end_media else "handed over")

    async def _listen(self, pubsub: Any) -> None:
        """_listen delivers messages for this process's connections and takes over released meetings."""
        released = keys.RELEASED.encode()
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                if message["channel"] == released:
                    meeting_id = message["data"].decode()
                    if any(held == meeting_id for held, _ in self._local.values()):
                        await self._ensure_owner(meeting_id)
                else:
                    await self._deliver(json.loads(message["data"]))
            except (RedisError, OSError, ValueError):
                log.exception("cluster message not handled")

    async def _deliver(self, message: Mapping[str, Any]) -> None:
        held = self._local.get(str(message.get("conn")))
        if held is None:
            return
        _, connection = held
        if "send" in message:
            await connection.send(message["send"])
        elif "close" in message:
            self._local.pop(str(message.get("conn")), None)
            await connection.close(str(message["close"]))

    async def _renew(self) -> None:
        """_renew keeps this process alive and its leases held; takes meetings nobody owns;
        tells owned meetings of the connections whose process died."""
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self._redis.set(keys.alive(self.process), "1", px=LEASE_MS)
                for meeting_id in list(self._owned):
                    held = await self._redis.eval(_RENEW, 1, keys.owner(meeting_id), self.process, LEASE_MS)
                    if not held:
                        await self._lost_lease(meeting_id)
                    else:
                        await self._forget_dead_connections(meeting_id)
                        await self._release_if_idle(meeting_id)
                for meeting_id in {held for held, _ in self._local.values()} - set(self._owned):
                    await self._ensure_owner(meeting_id)
            except (RedisError, OSError):
                log.warning("Redis unreachable; retrying", exc_info=True)
            except Exception:
                log.exception("keeping the leases failed; trying again")

    async def _release_if_idle(self, meeting_id: str) -> None:
        owned = self._owned.get(meeting_id)
        if owned is None:
            return
        if not owned.live.idle:
            owned.idle_since = None
        elif owned.idle_since is None:
            owned.idle_since = time.monotonic()
        elif time.monotonic() - owned.idle_since >= IDLE_RELEASE_SECONDS:
            await self._hand_over(meeting_id, end_media=True)

    async def _watch_nodes(self) -> None:
        """_watch_nodes probes every Janus node twice a second and shares what it found through
        Redis; placement then follows what the processes found last (media.placement)."""
        nodes = list(self.plane.placement.nodes)
        health = self.plane.placement.health
        while True:
            try:
                for node in nodes:
                    up = await self.plane.node_up(node, timeout=1.0)
                    await self._redis.set(keys.janus_up(node.url), "1" if up else "0", px=NODE_HEALTH_MS)
                shared = await self._redis.mget([keys.janus_up(n.url) for n in nodes])
                for node, flag in zip(nodes, shared, strict=True):
                    up = flag != b"0"
                    health.mark(node.url, up)
                    metrics.janus_node_health(node.url, up)
            except (RedisError, OSError):
                log.warning("Redis unreachable; Janus health not shared", exc_info=True)
            except Exception:
                log.exception("probing the Janus nodes failed; trying again")
            await asyncio.sleep(RENEW_SECONDS)

    async def _lost_lease(self, meeting_id: str) -> None:
        owned = self._owned.pop(meeting_id, None)
        if owned is None:
            return
        log.warning("meeting %s: lease lost; another process runs it now", meeting_id)
        for task in owned.tasks:
            task.cancel()
        await owned.live.release()

    async def _forget_dead_connections(self, meeting_id: str) -> None:
        owned = self._owned.get(meeting_id)
        if owned is None:
            return
        conns = [p.conn for p in owned.live.room.participants.values() if p.conn is not None]
        processes = sorted({keys.process_of(c) for c in conns} - {self.process})
        if not processes:
            return
        alive = await self._redis.mget([keys.alive(p) for p in processes])
        dead = {p for p, flag in zip(processes, alive, strict=True) if flag is None}
        lost = [c for c in conns if keys.process_of(c) in dead]
        if lost:
            await owned.live.connections_lost(lost)

    # ---- owning a meeting ----------------------------------------------------------------------

    async def _ensure_owner(self, meeting_id: str) -> None:
        """_ensure_owner takes the meeting's lease if nobody holds it, and runs the meeting."""
        if meeting_id in self._owned or self._closing:
            return
        lock = self._taking.setdefault(meeting_id, asyncio.Lock())
        async with lock:
            if meeting_id in self._owned:
                return
            if not await self._redis.set(keys.owner(meeting_id), self.process, nx=True, px=LEASE_MS):
                return
            try:
                await self._take(meeting_id)
            except Exception:
                log.exception("meeting %s could not be taken over", meeting_id)
                await self._redis.eval(_RELEASE, 1, keys.owner(meeting_id), self.process)

    async def _take(self, meeting_id: str) -> None:
        raw = await self._redis.get(keys.state(meeting_id))
        now, wall = time.monotonic(), time.time()
        if raw is None:
            policy = await self._policy_of(meeting_id)
            if policy is None:
                raise LookupError(f"meeting {meeting_id} has no room policy")
            live = self._new_live(meeting_id, policy)
            position = f"{int((wall - FRESH_INBOX_SECONDS) * 1000)}-0"
            self._own(meeting_id, live, position)
            log.info("meeting %s: started here", meeting_id)
            return
        saved = json.loads(raw)
        room = snapshot.load(saved["room"], now=now, wall=wall)
        live = self._new_live(meeting_id, room.policy)
        live.room = room
        lost: list[ConnId] = []
        processes = sorted({keys.process_of(p.conn) for p in room.participants.values() if p.conn})
        alive = dict(zip(processes, await self._redis.mget([keys.alive(p) for p in processes]), strict=True))
        for p in room.participants.values():
            if p.conn is None:
                continue
            process = keys.process_of(p.conn)
            if process == self.process:
                held = self._local.get(p.conn)
                if held is None:
                    lost.append(p.conn)
                else:
                    live.attach(p.conn, held[1])
            elif alive.get(process) is None:
                lost.append(p.conn)
            else:
                live.attach(p.conn, RemoteConnection(self, p.conn))
        owned = self._own(meeting_id, live, str(saved["position"]), start=False)
        kept = await live.take_over_media(saved.get("media") or {})
        if lost:
            await live.connections_lost(lost)
        if saved.get("owner") != self.process:
            metrics.failover("process")
        log.info(
            "meeting %s: taken over from %s (media %s, %d connections lost)",
            meeting_id,
            saved.get("owner"),
            "kept" if kept else "lost",
            len(lost),
        )
        self._start(meeting_id, owned)

    def _new_live(self, meeting_id: str, policy: RoomPolicy) -> LiveMeeting:
        return LiveMeeting(
            meeting_id,
            policy,
            self.plane,
            self._audit,
            host_left_seconds=self._host_left,
            reconnect_seconds=self._reconnect,
        )

    def _own(self, meeting_id: str, live: LiveMeeting, position: str, *, start: bool = True) -> _Owned:
        owned = _Owned(live, position)
        live.on_change = owned.dirty.set
        self._owned[meeting_id] = owned
        if start:
            self._start(meeting_id, owned)
        return owned

    def _start(self, meeting_id: str, owned: _Owned) -> None:
        owned.dirty.set()
        owned.tasks = [
            asyncio.create_task(self._read_inbox(meeting_id, owned), name=f"inbox-{meeting_id}"),
            asyncio.create_task(self._keep_saved(meeting_id, owned), name=f"state-{meeting_id}"),
        ]

    async def _read_inbox(self, meeting_id: str, owned: _Owned) -> None:
        """_read_inbox applies the meeting's inbox in order, for as long as this process owns it."""
        reader: aioredis.Redis = self._redis
        while self._owned.get(meeting_id) is owned:
            try:
                found: Any = await reader.xread(
                    {keys.inbox(meeting_id): owned.position}, count=100, block=1000
                )
            except (RedisError, OSError):
                log.warning("meeting %s: inbox unreadable; retrying", meeting_id, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in found or ():
                for entry_id, fields in entries:
                    try:
                        await self._apply(owned.live, json.loads(fields[b"item"]))
                    except Exception:
                        log.exception("meeting %s: inbox item not applied", meeting_id)
                    owned.position = entry_id.decode()
                    owned.dirty.set()

    async def _apply(self, live: LiveMeeting, item: Mapping[str, Any]) -> None:
        kind = item.get("kind")
        conn = str(item.get("conn", ""))
        if kind == "join":
            await live.links_expire(dt.datetime.fromisoformat(item["links_expire_at"]))
            held = self._local.get(conn) if keys.process_of(conn) == self.process else None
            connection: Connection = held[1] if held is not None else RemoteConnection(self, conn)
            identity = snapshot.load_identity(item["identity"])
            await live.join(
                conn, connection, identity, item.get("name"), item.get("resume"), bool(item.get("keep_media"))
            )
        elif kind == "frame":
            try:
                command = m.decode(str(item["frame"]))
            except ProtocolError:
                return  # the receiving process answered it already
            await live.handle(conn, command)
        elif kind == "drop":
            await live.drop(conn)
        elif kind == "lost":
            await live.connections_lost([conn])
        elif kind == "booking":
            change = self._booking_change(from_json(str(item["event"])))
            if change is not None:
                await change(live)

    async def _keep_saved(self, meeting_id: str, owned: _Owned) -> None:
        """_keep_saved writes the meeting's snapshot after every change."""
        while self._owned.get(meeting_id) is owned:
            await owned.dirty.wait()
            owned.dirty.clear()
            try:
                await self._save(meeting_id, owned)
            except (RedisError, OSError):
                log.warning("meeting %s: snapshot not written; retrying", meeting_id, exc_info=True)
                await asyncio.sleep(0.2)
                owned.dirty.set()

    async def _save(self, meeting_id: str, owned: _Owned) -> None:
        async with owned.live.lock:
            now, wall = time.monotonic(), time.time()
            state = {
                "owner": self.process,
                "position": owned.position,
                "room": snapshot.dump(owned.live.room, now=now, wall=wall),
                "media": owned.live.media_state(),
            }
        saved = await self._redis.eval(
            _SAVE,
            3,
            keys.owner(meeting_id),
            keys.state(meeting_id),
            keys.inbox(meeting_id),
            self.process,
            json.dumps(state),
            STATE_TTL_SECONDS,
        )
        if not saved:
            await self._lost_lease(meeting_id)
