"""Joining: who may come into a meeting, as what, under which name, and straight in or to the lobby.

The rules of ``join`` (docs/protocol.md, "Participant"): signed-in staff are
hosts and enter directly; a guest link gives the role the meeting type says
(none in a staff-only meeting); a registered room device joins only a Vårdrum
meeting. A guest is refused when the meeting is ended, their link was removed,
the meeting is locked, or they would enter directly and the limit is reached
(:mod:`.limits`), or would wait in a lobby that is full (the room's
``lobby_limit``, ``too_many``). Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vardmote.rooms import limits, texts
from vardmote.rooms.errors import DEFAULT_TEXT, ErrorCode
from vardmote.rooms.participant import (
    Device,
    Identity,
    LinkHolder,
    Participant,
    Staff,
    identity_key,
    is_shared,
)
from vardmote.rooms.policy import Role, RoomPolicy

if TYPE_CHECKING:
    from vardmote.rooms.room import Room


def role_of(policy: RoomPolicy, identity: Identity) -> Role | None:
    """role_of is the role identity has in the meeting (None: the type lets it not in)."""
    match identity:
        case Staff():
            return Role.HOST
        case LinkHolder():
            return policy.link_role
        case Device():
            return Role.ROOM_DEVICE if policy.room_devices else None


def enters_directly(policy: RoomPolicy, role: Role) -> bool:
    """enters_directly tells whether someone of role skips the lobby (hosts always do)."""
    return role is Role.HOST or not policy.guests_wait_in_lobby


def display_name(identity: Identity, chosen: str | None) -> str | None:
    """display_name is the name others see: staff and room devices as registered, a guest as chosen."""
    match identity:
        case Staff():
            return identity.display_name
        case Device():
            return identity.name
        case LinkHolder():
            return chosen


def join_refusal(
    room: Room, identity: Identity, role: Role | None, existing: Participant | None
) -> tuple[ErrorCode, str] | None:
    """join_refusal is why identity may not join room now, or None if it may.

    existing is the identity's own place in the room, which a new connection
    takes over (and so frees, if it was admitted).
    """
    if role is None:
        text = texts.NO_DEVICES if isinstance(identity, Device) else texts.STAFF_ONLY
        return ErrorCode.NOT_ALLOWED, text
    if room.ended and role is not Role.HOST:
        return ErrorCode.MEETING_ENDED, texts.MEETING_ENDED
    if not is_shared(identity) and identity_key(identity) in room.barred:
        return ErrorCode.REMOVED, DEFAULT_TEXT[ErrorCode.REMOVED]
    if role is not Role.HOST and room.locked:
        return ErrorCode.LOCKED, DEFAULT_TEXT[ErrorCode.LOCKED]
    freed = 1 if existing is not None and existing.admitted else 0
    limit = room.policy.participant_limit
    has_room = limits.has_room_for(room.policy, room.admitted_count, freed=freed)
    if enters_directly(room.policy, role):
        if limit is not None and not has_room:
            return ErrorCode.MEETING_FULL, texts.meeting_full(limit)
    elif not limits.lobby_has_room(
        room.lobby_limit, room.lobby_count, freed=existing is not None and not existing.admitted
    ):
        return ErrorCode.TOO_MANY, texts.LOBBY_FULL
    return None
