"""Shared live meetings: any process serves any participant; one owner runs each meeting.

:class:`SharedLiveMeetings` stands where :class:`~vardmote.rooms.registry.LiveMeetings`
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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import vardmote.metrics as metrics
from vardmote.cluster import keys
from vardmote.cluster.owned import LEASE_MS, BookingChange, OwnedMeeting
from vardmote.lib.events import DomainEvent, to_json
from vardmote.media.plane import MediaPlane
from vardmote.rooms import messages as m
from vardmote.rooms import snapshot, texts
from vardmote.rooms.effects import ConnId
from vardmote.rooms.errors import ErrorCode, error_frame
from vardmote.rooms.live import AuditSink, Connection, LiveMeeting
from vardmote.rooms.participant import Identity
from vardmote.rooms.policy import RoomPolicy

log = logging.getLogger("vardmote.cluster")

RENEW_SECONDS = 0.5
"""How often leases and the process's alive key are renewed, and ownerless meetings looked for."""
NODE_HEALTH_MS = 5000
"""A Janus node's shared health is forgotten this long after the last probe (then: up)."""
INBOX_MAXLEN = 10_000
"""The inbox keeps about this many items (it is trimmed to what no snapshot holds yet)."""
IDLE_RELEASE_SECONDS = 60.0
"""An owner lets a meeting nobody is in go after this long: its Janus room and session end, and
its snapshot (barred people, the lock) waits in Redis for the next join, on any process."""
FRESH_INBOX_SECONDS = 30
"""A meeting with no snapshot starts reading its inbox this far back (older items are leftovers)."""
READ_BLOCK_MS = 100
"""The process's one inbox reader waits this long for new items before it looks again at which
meetings it owns."""
MAX_CONNECTIONS = 50
"""Redis connections of a process for its commands (the reader and the listener have their own)."""
GIVE_UP_SECONDS = 30.0
"""A meeting that cannot be run (cancelled meanwhile) is not tried again for this long."""

PolicyOf = Callable[[str], Awaitable[RoomPolicy | None]]
"""PolicyOf reads a meeting's room policy from the booking; None when it has none (cancelled)."""

# Renew every lease given whose value is ours; answers 1 or 0 for each. (One Redis, not Redis
# Cluster: the keys of several meetings are used in one script.)
_RENEW = (
    "local renewed = {} "
    "for i, key in ipairs(KEYS) do "
    "if redis.call('get', key) == ARGV[1] then redis.call('pexpire', key, ARGV[2]) renewed[i] = 1 "
    "else renewed[i] = 0 end end "
    "return renewed"
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
        text = frame if isinstance(frame, str) else frame.decode(errors="replace")
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
        lobby_limit: int | None = None,
    ) -> None:
        self.plane = plane
        self.process = process or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._redis: aioredis.Redis = aioredis.from_url(redis_url, max_connections=MAX_CONNECTIONS)
        self._reader: aioredis.Redis = aioredis.from_url(redis_url, max_connections=1)
        self._listener: aioredis.Redis = aioredis.from_url(redis_url, max_connections=1)
        self._audit = audit
        self._policy_of = policy_of
        self._booking_change = booking_change
        self._host_left = host_left_seconds
        self._reconnect = reconnect_seconds
        self._lobby_limit = lobby_limit
        self._ids = itertools.count(1)
        self._owned: dict[str, OwnedMeeting] = {}
        self._taking: set[str] = set()
        self._given_up: dict[str, float] = {}
        self._local: dict[ConnId, tuple[str, Connection]] = {}
        self._chores: dict[str, asyncio.Task[None]] = {}
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
        meeting (later items find an owner through the lease loop, within half a second)."""
        try:
            await self._redis.xadd(
                keys.inbox(meeting_id), {"item": json.dumps(item)}, maxlen=INBOX_MAXLEN, approximate=True
            )
        except (RedisError, OSError) as e:
            log.warning("meeting %s: Redis unreachable, nothing relayed: %s", meeting_id, type(e).__name__)
            raise SharingUnavailable(str(e)) from e
        if item.get("kind") in ("join", "booking"):
            self._chore(f"take:{meeting_id}", self._ensure_owner, meeting_id)

    async def relay_booking(self, event: DomainEvent) -> None:
        """relay_booking hands a booking change to its meeting, if the meeting is live anywhere."""
        meeting_id = getattr(event, "meeting_id", None)
        if not isinstance(meeting_id, str):
            return
        if await self._redis.exists(keys.owner(meeting_id), keys.state(meeting_id)):
            await self.relay(meeting_id, {"kind": "booking", "event": to_json(event)})

    async def to_process(self, conn: ConnId, message: Mapping[str, Any]) -> None:
        """to_process sends a message for conn to the process holding it (or to it, if ours).
        Redis being unreachable loses the message (the page reconnects and resumes)."""
        process = keys.process_of(conn)
        if process == self.process:
            await self._deliver(message)
            return
        try:
            await self._redis.publish(keys.outbox(process), json.dumps(message))
        except (RedisError, OSError) as e:
            log.warning("a message for another process was lost: %s", type(e).__name__)

    # ---- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """start marks the process alive, reads the inboxes of the meetings it owns, listens to
        its outbox and to hand-overs, keeps its leases and watches the Janus nodes."""
        await self._redis.set(keys.alive(self.process), "1", px=LEASE_MS)
        self._tasks = [
            asyncio.create_task(self._listen(), name="cluster-listen"),
            asyncio.create_task(self._read_inboxes(), name="cluster-inboxes"),
            asyncio.create_task(self._renew(), name="cluster-renew"),
            asyncio.create_task(self._watch_nodes(), name="cluster-janus-health"),
        ]

    async def close(self) -> None:
        """close hands this process's meetings over (a rolling upgrade) and stops."""
        self._closing = True
        for task in [*self._tasks, *self._chores.values()]:
            task.cancel()
        for meeting_id in list(self._owned):
            with contextlib.suppress(RedisError, OSError):
                await self._hand_over(meeting_id)
        await self.plane.abandon()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(keys.alive(self.process))
        for client in (self._redis, self._reader, self._listener):
            await client.aclose()

    def _chore(self, key: str, work: Callable[[str], Coroutine[Any, Any, None]], meeting_id: str) -> None:
        """_chore runs work in a task of its own, once at a time per key, so that nothing slow
        (a take-over, a Janus call) holds up the lease loop or the delivery of messages."""
        running = self._chores.get(key)
        if (running is not None and not running.done()) or self._closing:
            return

        async def run() -> None:
            try:
                await work(meeting_id)
            except (RedisError, OSError):
                log.warning("%s: Redis unreachable", key, exc_info=True)
            except Exception:
                log.exception("%s failed", key)
            finally:
                self._chores.pop(key, None)

        self._chores[key] = asyncio.create_task(run(), name=key)

    async def _hand_over(self, meeting_id: str, *, end_media: bool = False) -> None:
        """_hand_over lets another process run the meeting: the last snapshot, the lease given
        up and said so. end_media: nobody is in it, so its Janus room and session end too;
        otherwise they are left for the next owner to claim."""
        owned = self._owned.pop(meeting_id, None)
        if owned is None:
            return
        await owned.stop()
        if end_media:
            await owned.live.close()
        if owned.holds_lease():
            await owned.save(released=True)
        await owned.live.release()
        await self._redis.eval(_RELEASE, 1, keys.owner(meeting_id), self.process)
        await self._redis.publish(keys.RELEASED, meeting_id)
        log.info("meeting %s %s", meeting_id, "let go (nobody in it)" if end_media else "handed over")

    async def _listen(self) -> None:
        """_listen delivers messages for this process's connections and takes over released
        meetings; it subscribes again after Redis was away."""
        released = keys.RELEASED.encode()
        while True:
            pubsub = self._listener.pubsub()
            try:
                await pubsub.subscribe(keys.outbox(self.process), keys.RELEASED)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    if message["channel"] == released:
                        meeting_id = message["data"].decode()
                        if any(held == meeting_id for held, _ in self._local.values()):
                            self._chore(f"take:{meeting_id}", self._ensure_owner, meeting_id)
                    else:
                        await self._deliver(json.loads(message["data"]))
            except (RedisError, OSError, ValueError):
                log.warning("listening to Redis failed; subscribing again", exc_info=True)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

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

    async def _read_inboxes(self) -> None:
        """_read_inboxes is the process's one reader of the inboxes of the meetings it owns
        (one blocking XREAD over them all, on a connection of its own); each meeting applies
        what is read in its own task."""
        while True:
            streams: dict[Any, Any] = {keys.inbox(mid): owned.read_to for mid, owned in self._owned.items()}
            if not streams:
                await asyncio.sleep(READ_BLOCK_MS / 1000)
                continue
            try:
                found: Any = await self._reader.xread(streams, count=100, block=READ_BLOCK_MS)
            except (RedisError, OSError):
                log.warning("the inboxes are unreadable; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for stream, entries in found or ():
                meeting_id = keys.meeting_of_inbox(stream.decode())
                owned = self._owned.get(meeting_id)
                if owned is not None and owned.read_to == streams.get(keys.inbox(meeting_id)):
                    owned.enqueue(entries)

    async def _renew(self) -> None:
        """_renew keeps this process alive and its leases held (one script for all); the slow
        work it finds to do runs as chores: meetings nobody owns taken, leases lost let go,
        connections of dead processes and idle meetings seen to."""
        while True:
            started = time.monotonic()
            try:
                await self._redis.set(keys.alive(self.process), "1", px=LEASE_MS)
                ids = list(self._owned)
                if ids:
                    renewed: Any = await self._redis.eval(
                        _RENEW, len(ids), *(keys.owner(i) for i in ids), self.process, LEASE_MS
                    )
                    for meeting_id, ok in zip(ids, renewed, strict=True):
                        owned = self._owned.get(meeting_id)
                        if owned is not None and ok:
                            owned.renewed(started)
            except (RedisError, OSError):
                log.warning("Redis unreachable; leases not renewed", exc_info=True)
            except Exception:
                log.exception("keeping the leases failed; trying again")
            for meeting_id, owned in list(self._owned.items()):
                if not owned.holds_lease():
                    self._chore(f"lost:{meeting_id}", self._lost_lease, meeting_id)
                else:
                    self._chore(f"dead:{meeting_id}", self._forget_dead_connections, meeting_id)
                    self._chore(f"idle:{meeting_id}", self._release_if_idle, meeting_id)
            for meeting_id in {held for held, _ in self._local.values()} - set(self._owned):
                self._chore(f"take:{meeting_id}", self._ensure_owner, meeting_id)
            await asyncio.sleep(max(0.05, RENEW_SECONDS - (time.monotonic() - started)))

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
        owned = self._owned.get(meeting_id)
        if owned is None or owned.holds_lease():
            return
        del self._owned[meeting_id]
        log.warning("meeting %s: lease lost; this process stops running it", meeting_id)
        await owned.stop()
        await owned.live.release()

    async def _forget_dead_connections(self, meeting_id: str) -> None:
        """_forget_dead_connections: connections of processes that are no longer alive are lost
        with them (their people keep their media and resume elsewhere). Should such a process
        still be there after all (it was cut off), its sockets are closed so that they
        reconnect."""
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
            for conn in lost:
                await self.to_process(conn, {"conn": conn, "close": RECONNECT})

    # ---- owning a meeting ----------------------------------------------------------------------

    async def _ensure_owner(self, meeting_id: str) -> None:
        """_ensure_owner takes the meeting's lease if nobody holds it, and runs the meeting."""
        if meeting_id in self._owned or meeting_id in self._taking or self._closing:
            return
        if time.monotonic() < self._given_up.get(meeting_id, 0.0):
            return
        self._taking.add(meeting_id)
        try:
            taken_at = time.monotonic()
            if not await self._redis.set(keys.owner(meeting_id), self.process, nx=True, px=LEASE_MS):
                return
            try:
                await self._take(meeting_id, taken_at)
            except Exception:
                log.exception("meeting %s could not be taken over", meeting_id)
                owned = self._owned.pop(meeting_id, None)
                if owned is not None:
                    await owned.stop()
                    await owned.live.release()
                await self._redis.eval(_RELEASE, 1, keys.owner(meeting_id), self.process)
        finally:
            self._taking.discard(meeting_id)

    async def _take(self, meeting_id: str, taken_at: float) -> None:
        raw = await self._redis.get(keys.state(meeting_id))
        saved: Any = None
        if raw is not None:
            try:
                saved = json.loads(raw)
                room = snapshot.load(saved["room"], now=time.monotonic(), wall=time.time())
            except (ValueError, KeyError, TypeError) as e:
                # Unreadable (a newer format during an upgrade, or damaged): the meeting starts
                # afresh, and everyone comes back through the lobby.
                log.error("meeting %s: its snapshot cannot be read (%s); it starts afresh", meeting_id, e)
                saved = None
        if saved is None:
            await self._start_fresh(meeting_id, taken_at)
            return
        live = self._new_live(meeting_id, room.policy)
        room.lobby_limit = self._lobby_limit  # a setting of this process, not of the snapshot
        live.room = room
        lost: list[ConnId] = []
        processes = sorted({keys.process_of(p.conn) for p in room.participants.values() if p.conn})
        alive = dict(zip(processes, await self._redis.mget([keys.alive(p) for p in processes]), strict=True))
        for p in room.participants.values():
            if p.conn is None:
                continue
            process = keys.process_of(p.conn)
            held = self._local.get(p.conn) if process == self.process else None
            if held is not None:
                live.attach(p.conn, held[1])
            elif process != self.process and alive.get(process) is not None:
                live.attach(p.conn, RemoteConnection(self, p.conn))
            else:
                lost.append(p.conn)
        owned = self._owned_meeting(live, str(saved["position"]), taken_at)
        owned.released = bool(saved.get("released"))
        self._owned[meeting_id] = owned
        kept = await live.take_over_media(saved.get("media") or {})
        if lost:
            await live.connections_lost(lost)
        if not owned.released:
            metrics.failover("process")
        log.info(
            "meeting %s: taken over from %s (media %s, %d connections lost)",
            meeting_id,
            saved.get("owner"),
            "kept" if kept else "lost",
            len(lost),
        )
        owned.start()

    async def _start_fresh(self, meeting_id: str, taken_at: float) -> None:
        policy = await self._policy_of(meeting_id)
        if policy is None:
            # Cancelled or no longer protected meanwhile: whoever waits here is told, and the
            # meeting is not tried again for a while.
            self._given_up[meeting_id] = time.monotonic() + GIVE_UP_SECONDS
            for held, connection in list(self._local.values()):
                if held == meeting_id:
                    await connection.send(error_frame(ErrorCode.NOT_FOUND, texts.MEETING_NOT_FOUND))
                    await connection.close("not_found")
            raise LookupError(f"meeting {meeting_id} has no room policy")
        seconds, micros = await self._redis.time()
        position = f"{int(seconds) * 1000 + int(micros) // 1000 - FRESH_INBOX_SECONDS * 1000}-0"
        owned = self._owned_meeting(self._new_live(meeting_id, policy), position, taken_at)
        self._owned[meeting_id] = owned
        owned.start()
        log.info("meeting %s: started here", meeting_id)

    def _new_live(self, meeting_id: str, policy: RoomPolicy) -> LiveMeeting:
        return LiveMeeting(
            meeting_id,
            policy,
            self.plane,
            self._audit,
            host_left_seconds=self._host_left,
            reconnect_seconds=self._reconnect,
            lobby_limit=self._lobby_limit,
        )

    def _owned_meeting(self, live: LiveMeeting, position: str, taken_at: float) -> OwnedMeeting:
        return OwnedMeeting(
            self._redis,
            self.process,
            live,
            position,
            connection_of=self._connection_of,
            booking_change=self._booking_change,
            lease_taken_at=taken_at,
        )

    def _connection_of(self, conn: ConnId) -> Connection:
        held = self._local.get(conn) if keys.process_of(conn) == self.process else None
        return held[1] if held is not None else RemoteConnection(self, conn)


RECONNECT = "reconnect"
"""The close reason that asks a page to reconnect at once (its WebSocket closes with 1012)."""
