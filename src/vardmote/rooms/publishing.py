"""Publishing: who may send camera, microphone and screen into the meeting.

The rule: in an anonymous meeting a guest publishes nothing until a host gives
them the floor; a screen is published only after ``share_start``. Offers and
candidates on the subscriber connection are the browser's replies, never
publishing. Pure: no I/O.
"""

from __future__ import annotations

from vardmote.rooms import texts
from vardmote.rooms.effects import StreamKind
from vardmote.rooms.participant import Participant
from vardmote.rooms.policy import RoomPolicy


def needs_floor(policy: RoomPolicy, p: Participant) -> bool:
    """needs_floor tells whether p may publish nothing until a host gives them the floor."""
    return policy.anonymous and not p.is_host and not p.floor


def may_publish(policy: RoomPolicy, p: Participant, kind: StreamKind) -> bool:
    """may_publish tells whether a publisher of kind that Janus reports up may stay."""
    if needs_floor(policy, p):
        return False
    return kind == "camera" or p.may_share


def publish_refusal(policy: RoomPolicy, p: Participant, pc: str) -> str | None:
    """publish_refusal is why p may not negotiate on connection pc, or None if they may."""
    if pc == "subscriber":
        return None
    if needs_floor(policy, p):
        return texts.NEEDS_FLOOR
    if pc == "screen" and not p.may_share:
        return texts.SHARE_FIRST
    return None
