"""Participant commands: what every admitted participant may send, host or guest.

``leave`` ("Lämna"), the WebRTC negotiation (``offer``, ``answer``,
``candidate``), "Dela skärm" (``share_start``/``share_stop``), camera and
microphone (``media_state``), "Räck upp handen" (``raise_hand``/
``lower_hand``) and "Chatt" (``chat``). Who may publish what is the rule of
:mod:`.publishing`.

Each command is a function of the :class:`~vardmote.rooms.room.Room`, the
sender, the command and ``now``, returning effects; :data:`HANDLERS` is what
the room dispatches to. In the lobby only ``leave`` is let through (the room
checks). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vardmote.rooms import messages as m
from vardmote.rooms import texts
from vardmote.rooms.effects import (
    Audit,
    CloseConnection,
    Effect,
    JanusAnswer,
    JanusCandidate,
    JanusMute,
    JanusOffer,
    JanusUnpublish,
    Send,
)
from vardmote.rooms.errors import ErrorCode
from vardmote.rooms.participant import Participant
from vardmote.rooms.publishing import needs_floor, publish_refusal

if TYPE_CHECKING:
    from vardmote.rooms.room import Room

Effects = list[Effect]


def leave(room: Room, p: Participant, command: m.Leave, now: float) -> Effects:
    """leave ("Lämna"): p goes and their connection closes; the others are told."""
    conn = p.conn
    effects: Effects = [Audit("meeting.left", p.actor, {"participant": p.id, "reason": "left"})]
    effects += room.take_out(p)
    if conn is not None:
        effects.append(CloseConnection(conn, "left"))
    return effects + room.sync(now)


def offer(room: Room, p: Participant, command: m.Offer, now: float) -> Effects:
    """offer relays p's offer to publish camera or screen, if p may publish it."""
    if command.pc == "subscriber":
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.WRONG_DIRECTION, "offer")]
    refusal = publish_refusal(room.policy, p, command.pc)
    if refusal is not None:
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, refusal, "offer")]
    full = command.pc == "screen" and room.policy.full_resolution_sharing
    return [JanusOffer(p.id, command.pc, command.sdp, full_resolution=full)]


def answer(room: Room, p: Participant, command: m.Answer, now: float) -> Effects:
    """answer relays p's answer to Janus's offer of the streams p sees."""
    if command.pc != "subscriber":
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.WRONG_DIRECTION, "answer")]
    return [JanusAnswer(p.id, command.sdp)]


def candidate(room: Room, p: Participant, command: m.Candidate, now: float) -> Effects:
    """candidate relays one of p's ICE candidates on a connection p may use."""
    refusal = publish_refusal(room.policy, p, command.pc)
    if refusal is not None:
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, refusal, "candidate")]
    return [JanusCandidate(p.id, command.pc, command.candidate)]


def share_start(room: Room, p: Participant, command: m.ShareStart, now: float) -> Effects:
    """share_start ("Dela skärm") lets p offer a screen."""
    if needs_floor(room.policy, p):
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.NEEDS_FLOOR, "share_start")]
    effects: Effects = []
    if not p.may_share:
        p.may_share = True
        effects.append(Audit("meeting.share_started", p.actor, {"participant": p.id}))
    message = {"type": "share_started", "full_resolution": room.policy.full_resolution_sharing}
    return [*effects, Send(room.conns_of([p]), message)]


def share_stop(room: Room, p: Participant, command: m.ShareStop, now: float) -> Effects:
    """share_stop stops p's screen share (nothing if p was not sharing)."""
    if not p.may_share and "screen" not in p.streams:
        return []
    before = room.viewers_of(p)
    p.may_share = False
    effects: Effects = [Audit("meeting.share_stopped", p.actor, {"participant": p.id})]
    if "screen" in p.streams:
        p.streams.discard("screen")
        effects.append(JanusUnpublish(p.id, "screen"))
    return effects + room.announce(p, before) + room.sync(now)


def media_state(room: Room, p: Participant, command: m.MediaState, now: float) -> Effects:
    """media_state records p's camera and microphone; a host-muted guest may be kept muted."""
    effects: Effects = []
    if command.microphone and p.host_muted:
        if not p.is_host and not room.guests_may_unmute:
            return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.CANNOT_UNMUTE, "media_state")]
        p.host_muted = False
        effects.append(JanusMute(p.id, muted=False))
    before = room.viewers_of(p)
    p.camera, p.microphone = command.camera, command.microphone
    return effects + room.announce(p, before)


def raise_hand(room: Room, p: Participant, command: m.RaiseHand, now: float) -> Effects:
    """raise_hand ("Räck upp handen") puts p last in the hands queue (once)."""
    if p.hand_raised_at is None:
        p.hand_raised_at = room.next_hand_turn(now)
    return room.sync(now)


def lower_hand(room: Room, p: Participant, command: m.LowerHand, now: float) -> Effects:
    """lower_hand lowers p's hand, or (a host only; the room checks) someone else's."""
    target = room.participants.get(command.participant or p.id)
    if target is None or not target.admitted:
        return [room.refusal(p, ErrorCode.NOT_FOUND, texts.NOT_IN_MEETING, "lower_hand")]
    target.hand_raised_at = None
    return room.sync(now)


def chat(room: Room, p: Participant, command: m.Chat, now: float) -> Effects:
    """chat sends p's message to the admitted; in an anonymous meeting a guest writes to the hosts."""
    to_hosts = room.policy.anonymous and not p.is_host
    audience = [q for q in room.participants.values() if q.admitted and (q.is_host or not to_hosts)]
    if all(q is not p for q in audience):
        audience.append(p)
    message = {
        "type": "chat",
        "from": p.id,
        "name": p.name,
        "role": str(p.role),
        "text": command.text,
        "to_hosts": to_hosts,
    }
    return [Send(room.conns_of(audience), message)]


HANDLERS: Mapping[type, Callable[[Room, Participant, Any, float], Effects]] = {
    m.Leave: leave,
    m.Offer: offer,
    m.Answer: answer,
    m.Candidate: candidate,
    m.ShareStart: share_start,
    m.ShareStop: share_stop,
    m.MediaState: media_state,
    m.RaiseHand: raise_hand,
    m.LowerHand: lower_hand,
    m.Chat: chat,
}
"""HANDLERS is the participant commands the room dispatches to, by message class."""
