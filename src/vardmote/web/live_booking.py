"""Live booking: the live meetings of this process follow their bookings at once.

The meetings layer publishes what changed (vardmote.meetings.events); this
module subscribes the live rooms to it when the app starts with media on
(app.py), as after-commit subscribers: a change that is rolled back never
reaches a room. What a room then does is the pure rule in
vardmote.rooms.booking_changes:

- ``link.revoked``: whoever came by the link gets ``link_gone`` and goes;
- ``meeting.cancelled`` and ``meeting.type_removed``: ``ended`` for everyone;
- ``meeting.type_chosen``: the new type's rules, read from the database, hold
  from now; guests get ``ended`` (``type_changed``) and may come back;
- ``meeting.changed``: the meeting's new end decides when its links stop
  working; whoever came by one goes then (``link_gone``);
- ``hosting.withdrawn``: the colleague whose staff invitation was removed gets
  ``removed`` and goes;
- ``hosting.account_closed``: a staff member whose account was deactivated gets
  ``removed`` and goes. Accounts are deactivated on the command line (``vardmote user
  deactivate``), in another process, so this one is not an event of the bus: each
  process's account watch (watch_accounts) looks every ACCOUNT_WATCH_SECONDS at the
  accounts of the staff in the live meetings it runs and hands the change to each
  meeting as the others are.

With several processes (``VARDMOTE_REDIS_URL``) the events go through Redis
instead (follow_the_booking_shared, vardmote.cluster.bus) and the meeting's
owner applies the same change (booking_change) from its inbox.

Concurrency: subscribers run in the thread that committed (a page's event
loop or the thread pool), so each change is handed to the app's event loop
and applied there under the meeting's lock, in the order it was published.
A meeting with no live room is left alone: the next join reads the booking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from vardmote.accounts.service import closed_accounts
from vardmote.cluster.bus import RedisEventRelay
from vardmote.context import Context
from vardmote.invitations.events import HostAccountClosed, HostingWithdrawn
from vardmote.lib.events import DomainEvent
from vardmote.meetings import links
from vardmote.meetings.events import (
    LinkRevoked,
    MeetingCancelled,
    MeetingChanged,
    MeetingTypeChosen,
    MeetingTypeRemoved,
)
from vardmote.meetings.models import Meeting
from vardmote.meetings.types import get_type
from vardmote.rooms import texts
from vardmote.rooms.live import LiveMeeting
from vardmote.rooms.participant import Staff
from vardmote.rooms.policy import RoomPolicy
from vardmote.rooms.registry import LiveMeetings

log = logging.getLogger("vardmote.live_booking")

Change = Callable[[LiveMeeting], Awaitable[None]]
"""Change is what one booking event does to a live meeting."""

FOLLOWED = (
    LinkRevoked,
    MeetingCancelled,
    MeetingTypeRemoved,
    MeetingChanged,
    MeetingTypeChosen,
    HostingWithdrawn,
)
"""The domain events live meetings follow."""


def booking_change(ctx: Context) -> Callable[[DomainEvent], Change | None]:
    """booking_change maps a domain event to what it does to its live meeting (None: nothing).
    The booking is read again from ctx's database where the event does not carry it."""

    def policy_of(type_key: str) -> RoomPolicy:
        with ctx.db.session() as s:
            return RoomPolicy.from_meeting_type(get_type(s, type_key))

    async def retype(meeting: LiveMeeting, type_key: str) -> None:
        await meeting.type_changed(await run_in_threadpool(policy_of, type_key))

    def links_expire_at(meeting_id: str) -> dt.datetime | None:
        with ctx.db.session() as s:
            meeting = s.get(Meeting, meeting_id)
            return links.expires_at(ctx, meeting) if meeting is not None else None

    async def moved(meeting: LiveMeeting) -> None:
        at = await run_in_threadpool(links_expire_at, meeting.meeting_id)
        if at is not None:
            await meeting.links_expire(at)

    def change(e: DomainEvent) -> Change | None:
        match e:
            case LinkRevoked():
                return lambda m: m.link_gone(e.link_id)
            case MeetingCancelled():
                return lambda m: m.meeting_over("cancelled", texts.MEETING_CANCELLED)
            case MeetingTypeRemoved():
                return lambda m: m.meeting_over("unprotected", texts.MEETING_UNPROTECTED)
            case MeetingChanged():
                return moved
            case MeetingTypeChosen():
                return lambda m: retype(m, e.to_type)
            case HostingWithdrawn():
                return lambda m: m.hosting_withdrawn(e.username)
            case HostAccountClosed():
                return lambda m: m.hosting_withdrawn(e.username, texts.ACCOUNT_CLOSED)
        return None

    return change


def room_policy_reader(ctx: Context) -> Callable[[str], Awaitable[RoomPolicy | None]]:
    """room_policy_reader reads a meeting's room policy from its booking (None: cancelled, not
    protected or unknown), for a process that starts running a meeting it has no snapshot of."""

    def read(meeting_id: str) -> RoomPolicy | None:
        with ctx.db.session() as s:
            meeting = s.get(Meeting, meeting_id)
            if meeting is None or meeting.cancelled_at is not None or meeting.meeting_type is None:
                return None
            return RoomPolicy.from_meeting_type(meeting.meeting_type)

    async def policy_of(meeting_id: str) -> RoomPolicy | None:
        return await run_in_threadpool(read, meeting_id)

    return policy_of


def follow_the_booking(ctx: Context, live: LiveMeetings, loop: asyncio.AbstractEventLoop) -> None:
    """follow_the_booking subscribes live's rooms (this process's) to the booking events of
    ctx's bus."""
    change_for = booking_change(ctx)

    def hand_over(e: DomainEvent) -> None:
        change = change_for(e)
        if change is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(_apply(live, getattr(e, "meeting_id", ""), change), loop)

    for event_type in FOLLOWED:
        ctx.events.subscribe(event_type, hand_over)


def follow_the_booking_shared(ctx: Context, relay: RedisEventRelay) -> None:
    """follow_the_booking_shared sends the booking events of ctx's bus to the Redis stream, from
    which one process hands each to its meeting's inbox (vardmote.cluster.bus)."""
    for event_type in FOLLOWED:
        ctx.events.subscribe(event_type, relay.publish)


async def _apply(live: LiveMeetings, meeting_id: str, change: Change) -> None:
    """_apply makes the change to the meeting's live room, if it has one; a failure is logged
    (the booking is saved by then, and the next join reads it)."""
    meeting = live.find(meeting_id)
    if meeting is None:
        return
    try:
        await change(meeting)
    except Exception:
        log.exception("the live meeting %s could not follow its booking", meeting_id)


ACCOUNT_WATCH_SECONDS = 10.0
"""How often each process looks at the accounts of the staff in its live meetings."""
ACCOUNT_WATCH_ACTOR = "system:accounts"


class RunsMeetings(Protocol):
    """RunsMeetings is LiveMeetings or vardmote.cluster's SharedLiveMeetings: the meetings this
    process runs (owns)."""

    def meetings(self) -> list[LiveMeeting]: ...


async def watch_accounts(
    ctx: Context, live: RunsMeetings, deliver: Callable[[DomainEvent], Awaitable[None]]
) -> None:
    """watch_accounts, until cancelled, hands ``HostAccountClosed`` to deliver for each staff
    member in a live meeting of this process whose account may be used no more (see
    accounts.service.closed_accounts): deliver applies it to this process's meeting
    (apply_here) or relays it to the meeting's inbox (SharedLiveMeetings.relay_booking)."""
    while True:
        await asyncio.sleep(ACCOUNT_WATCH_SECONDS)
        try:
            staff = {
                (meeting.meeting_id, p.identity.username)
                for meeting in live.meetings()
                for p in list(meeting.room.participants.values())
                if isinstance(p.identity, Staff)
            }
            if not staff:
                continue
            closed = await run_in_threadpool(_closed, ctx, {username for _, username in staff})
            for meeting_id, username in sorted(staff):
                if username in closed:
                    await deliver(HostAccountClosed(meeting_id, username, ACCOUNT_WATCH_ACTOR))
        except Exception:  # the next round tries again
            log.exception("the account watch failed")


def _closed(ctx: Context, usernames: set[str]) -> set[str]:
    with ctx.db.session() as s:
        return closed_accounts(ctx, s, usernames)


def apply_here(ctx: Context, live: LiveMeetings) -> Callable[[DomainEvent], Awaitable[None]]:
    """apply_here applies an event to this process's live meeting (one process, no Redis)."""
    change_for = booking_change(ctx)

    async def deliver(e: DomainEvent) -> None:
        change = change_for(e)
        if change is not None:
            await _apply(live, getattr(e, "meeting_id", ""), change)

    return deliver
