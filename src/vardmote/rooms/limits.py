"""Limits: the participant limit of a meeting type, who counts and whether one more fits.

One rule for both ways into the meeting: someone entering directly on
``join`` (a host, or a guest where the type has no lobby) and a host letting
someone in from the lobby with "Tillåt" (``admit``). The limit counts
admitted participants, hosts included and dropped ones within their
reconnect window too; the lobby does not count. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from vardmote.rooms.participant import Participant
from vardmote.rooms.policy import RoomPolicy


def counted(participants: Iterable[Participant]) -> int:
    """counted is what the limit counts: the admitted participants, dropped ones included."""
    return sum(1 for p in participants if p.admitted)


def has_room_for(policy: RoomPolicy, admitted: int, *, freed: int = 0) -> bool:
    """has_room_for tells whether one more participant may be admitted.

    admitted is :func:`counted` of the room; freed is the places the newcomer
    frees on the way in (1 when they take over their own admitted place on
    another device).
    """
    limit = policy.participant_limit
    return limit is None or admitted - freed < limit


def lobby_has_room(lobby_limit: int | None, waiting: int, *, freed: bool = False) -> bool:
    """lobby_has_room tells whether one more may wait in the lobby.

    waiting is how many wait there now; freed: the newcomer takes over their
    own place in the lobby (a second connection of the same person). A bound
    on the lobby keeps one meeting's link from filling the process.
    """
    return lobby_limit is None or waiting - (1 if freed else 0) < lobby_limit
