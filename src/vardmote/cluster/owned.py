"""Owned: one live meeting this process runs, with its inbox worker, its snapshots and its lease.

An :class:`OwnedMeeting` is made by vardmote.cluster.meetings when this process takes a
meeting's lease, and stopped when it lets the meeting go or loses the lease. What it keeps:

- **the lease's validity on this process's own clock** (``valid_until``): the lease is taken
  or renewed at a moment, and holds ``LEASE_MS`` from then in Redis; this process counts it
  as its own only until a margin before that. Past it, the meeting does nothing more here
  (no item, no timer, no effect) until the lease is renewed or the meeting is let go, so
  that two processes never run one meeting, even when this one is cut off from Redis;
- **the inbox worker**: items read from the meeting's inbox stream (by the process's one
  reader, vardmote.cluster.meetings) are applied here in order, one at a time;
- **the snapshot**: written after every change, by a script that writes only while the
  lease is this process's, with the position of the last item applied. Then the inbox is
  trimmed up to that position: what was applied and saved is not kept (it may hold chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vardmote.cluster import keys
from vardmote.lib.events import DomainEvent, from_json
from vardmote.rooms import messages as m
from vardmote.rooms import snapshot
from vardmote.rooms.effects import ConnId
from vardmote.rooms.errors import ProtocolError
from vardmote.rooms.live import Connection, LiveMeeting

log = logging.getLogger("vardmote.cluster")

LEASE_MS = 2000
"""How long a lease holds in Redis without renewal: a dead owner is replaced after at most this."""
LEASE_MARGIN_SECONDS = 0.5
"""This process stops counting a lease as its own this long before it would run out in Redis."""
STATE_TTL_SECONDS = 24 * 3600
"""A meeting's state and inbox are forgotten a day after its last change."""

BookingChange = Callable[[DomainEvent], Callable[[LiveMeeting], Awaitable[None]] | None]
"""BookingChange is what a domain event does to a live meeting (vardmote.web.live_booking)."""
ConnectionOf = Callable[[ConnId], Connection]
"""ConnectionOf is how the meeting reaches a connection, here or on another process."""

# Write the state only while the lease is ours; then drop the inbox items it already holds.
_SAVE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3]) "
    "redis.call('xtrim', KEYS[3], 'MINID', ARGV[4]) redis.call('expire', KEYS[3], ARGV[3]) "
    "return 1 end return 0"
)


class OwnedMeeting:
    """OwnedMeeting is a live meeting run by this process while it holds the meeting's lease."""

    def __init__(
        self,
        redis: aioredis.Redis,
        process: str,
        live: LiveMeeting,
        position: str,
        *,
        connection_of: ConnectionOf,
        booking_change: BookingChange,
        lease_taken_at: float,
    ) -> None:
        self.live = live
        self.meeting_id = live.meeting_id
        self.position = position
        """The id of the last inbox item applied (what the snapshot says)."""
        self.read_to = position
        """The id of the last inbox item read (and queued)."""
        self.valid_until = lease_taken_at + LEASE_MS / 1000 - LEASE_MARGIN_SECONDS
        self.idle_since: float | None = None
        """Since when (monotonic) nobody has been in the meeting or connected to it."""
        self.released = False
        """The snapshot says the previous owner let the meeting go (not a failure)."""
        self._redis = redis
        self._process = process
        self._connection_of = connection_of
        self._booking_change = booking_change
        self._queue: asyncio.Queue[tuple[str, Mapping[str, Any]]] = asyncio.Queue()
        self._applying = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._renewal = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        live.on_change = self._dirty.set
        live.may_act = self.holds_lease

    def holds_lease(self) -> bool:
        """holds_lease tells whether this process may still act for the meeting."""
        return time.monotonic() < self.valid_until

    def renewed(self, at: float) -> None:
        """renewed: the lease was renewed by a request sent at monotonic time at."""
        self.valid_until = max(self.valid_until, at + LEASE_MS / 1000 - LEASE_MARGIN_SECONDS)
        self._renewal.set()

    def start(self) -> None:
        """start runs the inbox worker and the snapshots."""
        self._dirty.set()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"inbox-{self.meeting_id}"),
            asyncio.create_task(self._keep_saved(), name=f"state-{self.meeting_id}"),
        ]

    def enqueue(self, entries: list[tuple[bytes, Mapping[bytes, bytes]]]) -> None:
        """enqueue queues inbox entries read for this meeting, in order."""
        for entry_id, fields in entries:
            self.read_to = entry_id.decode()
            try:
                item = json.loads(fields[b"item"])
            except (KeyError, ValueError):
                log.warning("meeting %s: an inbox item could not be read; skipped", self.meeting_id)
                continue
            self._queue.put_nowait((self.read_to, item))

    async def stop(self) -> None:
        """stop stops the worker between two items (never within one) and the snapshots."""
        async with self._applying:
            for task in self._tasks:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def save(self, *, released: bool = False) -> bool:
        """save writes the snapshot while the lease is ours; tells whether it did."""
        async with self.live.lock:
            now, wall = time.monotonic(), time.time()
            state = {
                "owner": self._process,
                "position": self.position,
                "released": released,
                "room": snapshot.dump(self.live.room, now=now, wall=wall),
                "media": self.live.media_state(),
            }
        saved = await self._redis.eval(
            _SAVE,
            3,
            keys.owner(self.meeting_id),
            keys.state(self.meeting_id),
            keys.inbox(self.meeting_id),
            self._process,
            json.dumps(state),
            STATE_TTL_SECONDS,
            self.position,
        )
        return bool(saved)

    async def _work(self) -> None:
        while True:
            entry_id, item = await self._queue.get()
            while not self.holds_lease():
                # Until the lease is renewed, or the meeting is let go (this task is cancelled
                # here, and the next owner applies the item from the inbox).
                self._renewal.clear()
                await self._renewal.wait()
            async with self._applying:
                try:
                    await self._apply(item)
                except Exception:
                    log.exception("meeting %s: an inbox item was not applied", self.meeting_id)
                self.position = entry_id
                self._dirty.set()

    async def _apply(self, item: Mapping[str, Any]) -> None:
        live = self.live
        kind = item.get("kind")
        conn = str(item.get("conn", ""))
        if kind == "join":
            await live.links_expire(dt.datetime.fromisoformat(item["links_expire_at"]))
            identity = snapshot.load_identity(item["identity"])
            keep_media = bool(item.get("keep_media"))
            connection = self._connection_of(conn)
            await live.join(conn, connection, identity, item.get("name"), item.get("resume"), keep_media)
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

    async def _keep_saved(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                if not await self.save():
                    self.valid_until = 0.0  # the lease is someone else's: act no more
                    return
            except (RedisError, OSError):
                log.warning("meeting %s: snapshot not written; retrying", self.meeting_id, exc_info=True)
                await asyncio.sleep(0.2)
                self._dirty.set()
            except Exception:
                log.exception("meeting %s: snapshot not written", self.meeting_id)
                await asyncio.sleep(1.0)
                self._dirty.set()
