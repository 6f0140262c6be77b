"""Bus: domain events through Redis, to the live meeting they concern, in the order they happened.

In one process the after-commit subscribers of vardmote.lib.events get every
event in the process that committed it. With several processes the live
meeting an event concerns may be run by another one, so with
``VARDMOTE_REDIS_URL`` the events of the live meetings go through Redis:

- after commit, the committing process queues the event; one writer task
  takes the queue in order and, for each event, appends it (its JSON, from
  ``lib.events.to_json``) to the ``vardmote:events`` stream and hands it to
  its meeting's inbox if the meeting is live on any process
  (SharedLiveMeetings.relay_booking), where the owner applies it between
  the participants' own messages. Two changes of one meeting saved one after
  the other therefore reach the room in that order;
- while Redis cannot be reached the writer keeps the events and tries again
  every half second; an event is lost only if its process dies before Redis
  answers again (the next join then reads the booking as it is).

We first let a consumer group hand each event to any one process; that lost
the order of two quick changes of one meeting (a review found it), and the
meeting's inbox gives durability across a change of owner already.

The stream keeps about :data:`EVENTS_MAXLEN` events for operators to read what
happened lately (``XRANGE vardmote:events - +``); events hold ids and staff
usernames, never a patient's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import vardmote.metrics as metrics
from vardmote.cluster import keys
from vardmote.cluster.meetings import SharingUnavailable
from vardmote.lib.events import DomainEvent, to_json

log = logging.getLogger("vardmote.cluster.bus")

EVENTS_MAXLEN = 10_000
RETRY_SECONDS = 0.5

Deliver = Callable[[DomainEvent], Awaitable[None]]


class RedisEventRelay:
    """RedisEventRelay carries this process's after-commit events to Redis and their meetings."""

    def __init__(self, redis_url: str, deliver: Deliver) -> None:
        self._redis: aioredis.Redis = aioredis.from_url(redis_url, max_connections=2)
        self._deliver = deliver
        self._outgoing: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None

    def publish(self, event: DomainEvent) -> None:
        """publish is an after-commit subscriber: it queues the event. It may be called from any
        thread (subscribers run in the thread that committed)."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._outgoing.put_nowait, event)

    async def start(self) -> None:
        """start begins writing what is published."""
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write(), name="bus-write")

    async def close(self) -> None:
        """close writes what is queued (for at most two seconds) and stops."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._outgoing.join()
        if self._writer is not None:
            self._writer.cancel()
        self._loop = None
        await self._redis.aclose()

    async def _write(self) -> None:
        """_write takes the queued events one at a time, so that their order holds."""
        while True:
            event = await self._outgoing.get()
            await self._hand_on(event)
            self._outgoing.task_done()

    async def _hand_on(self, event: DomainEvent) -> None:
        await self._until_done(event, self._append)
        await self._until_done(event, self._deliver)
        metrics.bus_event(event.name)

    async def _append(self, event: DomainEvent) -> None:
        await self._redis.xadd(keys.EVENTS, {"event": to_json(event)}, maxlen=EVENTS_MAXLEN, approximate=True)

    async def _until_done(self, event: DomainEvent, step: Deliver) -> None:
        """_until_done does step, again every half second while Redis cannot be reached."""
        while True:
            try:
                await step(event)
                return
            except (RedisError, OSError, SharingUnavailable) as e:
                log.warning("Redis unreachable; event %s waits: %s", event.name, type(e).__name__)
            except Exception:
                log.exception("event %s could not be handed on", event.name)
                return
            await asyncio.sleep(RETRY_SECONDS)
