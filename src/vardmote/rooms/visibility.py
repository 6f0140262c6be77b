"""Visibility: who may see whom. The participant list, the hands queue and the
streams a participant receives all follow :func:`may_see`.

- In the lobby one sees only oneself.
- An admitted host sees everyone in the lobby and in the meeting.
- An admitted guest or room device sees every admitted participant, except in
  an anonymous meeting, where they see only the hosts and themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from vardmote.rooms.participant import Participant, State
from vardmote.rooms.policy import RoomPolicy


def may_see(policy: RoomPolicy, viewer: Participant, subject: Participant) -> bool:
    """may_see tells whether viewer may see subject's entry, hand and streams."""
    if viewer.state is State.GONE or subject.state is State.GONE:
        return False
    if viewer.id == subject.id:
        return True
    if viewer.state is not State.ADMITTED:
        return False
    if viewer.is_host:
        return True
    if subject.state is not State.ADMITTED:
        return False
    return subject.is_host or not policy.anonymous


def visible_participants(
    policy: RoomPolicy, participants: Iterable[Participant], viewer: Participant
) -> list[Participant]:
    """visible_participants is the participant list viewer may see, in joining order."""
    return [p for p in participants if may_see(policy, viewer, p)]
