"""Bus: domain events on a Redis stream, each applied by one process of the cluster.

In one process the after-commit subscribers of vardmote.lib.events get every
event in the process that committed it. With several processes the live
meeting an event concerns may be run by another one, so with
``VARDMOTE_REDIS_URL`` the events of the live meetings go through Redis:

- after commit, the committing process appends the event (its JSON, from
  ``lib.events.to_json``) to the ``vardmote:events`` stream, in the order
  they were published;
- every process reads that stream in the consumer group ``live``: Redis gives
  each event to one of them, which hands it to the meeting's inbox
  (SharedLiveMeetings.relay_booking) and acknowledges it;
- an event given to a process that died before acknowledging is claimed by
  another one after :data:`CLAIM_IDLE_MS`; so an event is applied at least
  once, and never lost with a process.

The stream keeps about :data:`EVENTS_MAXLEN` events: enough for operators to
read what happened lately (``XRANGE vardmote:events - +``); events hold ids,
never personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

import vardmote.metrics as metrics
from vardmote.cluster import keys
from vardmote.lib.events import DomainEvent, UnknownEvent, from_json, to_json

log = logging.getLogger("vardmote.cluster.bus")

EVENTS_MAXLEN = 10_000
CLAIM_IDLE_MS = 5_000
"""An event read by a process but not acknowledged this long is given to another one."""

Deliver = Callable[[DomainEvent], Awaitable[None]]


class RedisEventRelay:
    """RedisEventRelay carries after-commit events through the Redis stream to one process."""

    def __init__(self, redis_url: str, consumer: str, deliver: Deliver) -> None:
        self._redis: aioredis.Redis = aioredis.from_url(redis_url)
        self._consumer = consumer
        self._deliver = deliver
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def publish(self, event: DomainEvent) -> None:
        """publish is an after-commit subscriber: it queues the event for the stream. It may be
        called from any thread (subscribers run in the thread that committed)."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._outgoing.put_nowait, to_json(event))

    async def start(self) -> None:
        """start makes the consumer group if needed and begins writing and reading the stream."""
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(ResponseError):  # BUSYGROUP: another process made it
            await self._redis.xgroup_create(keys.EVENTS, keys.EVENTS_GROUP, id="$", mkstream=True)
        self._tasks = [
            asyncio.create_task(self._write(), name="bus-write"),
            asyncio.create_task(self._read(), name="bus-read"),
        ]

    async def close(self) -> None:
        """close writes what is queued (briefly) and stops."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._outgoing.join()
        for task in self._tasks:
            task.cancel()
        self._loop = None
        await self._redis.aclose()

    async def _write(self) -> None:
        """_write appends queued events to the stream, one at a time, so their order holds."""
        while True:
            text = await self._outgoing.get()
            await self._append(text)
            self._outgoing.task_done()

    async def _append(self, text: str) -> None:
        while True:
            try:
                await self._redis.xadd(keys.EVENTS, {"event": text}, maxlen=EVENTS_MAXLEN, approximate=True)
                break
            except (RedisError, OSError):
                log.warning("Redis unreachable; an event waits to be written", exc_info=True)
                await asyncio.sleep(0.5)

    async def _read(self) -> None:
        """_read takes this process's share of the events, and those a dead process left."""
        last_claim = 0.0
        while True:
            try:
                loop_time = asyncio.get_running_loop().time()
                if loop_time - last_claim > CLAIM_IDLE_MS / 1000:
                    last_claim = loop_time
                    claimed: Any = await self._redis.xautoclaim(
                        keys.EVENTS,
                        keys.EVENTS_GROUP,
                        self._consumer,
                        CLAIM_IDLE_MS,
                        start_id="0-0",
                        count=100,
                    )
                    await self._handle(claimed[1])
                found: Any = await self._redis.xreadgroup(
                    keys.EVENTS_GROUP, self._consumer, {keys.EVENTS: ">"}, count=50, block=1000
                )
                for _stream, entries in found or ():
                    await self._handle(entries)
            except (RedisError, OSError):
                log.warning("Redis unreachable; reading events again shortly", exc_info=True)
                await asyncio.sleep(0.5)

    async def _handle(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed from the stream meanwhile
            try:
                event = from_json(fields[b"event"].decode())
            except (UnknownEvent, ValueError, KeyError):
                log.warning("an event on the stream could not be read; skipped")
            else:
                metrics.bus_event(event.name)
                try:
                    await self._deliver(event)
                except Exception:
                    log.exception("event %s could not be handed to its meeting", event.name)
                    continue  # not acknowledged: claimed again later
            await self._redis.xack(keys.EVENTS, keys.EVENTS_GROUP, entry_id)
