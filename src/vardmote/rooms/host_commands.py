"""Host commands: what an admitted host may do to others and to the meeting.

"Tillåt" and "Neka" (``admit``/``deny``) for the lobby, "Ta bort från mötet"
(``remove``, which bars the link), "Stäng av mikrofon" and "Tysta alla
gäster" (``mute``/``mute_all_guests``), the settings (``lock``, ``unlock``,
``set_guests_may_unmute``), the floor of an anonymous meeting
(``give_floor``/``take_floor``) and "Avsluta mötet" (``end``).

Each command is a function of the :class:`~vardmote.rooms.room.Room`, the
host, the command and ``now``, returning effects; :data:`HANDLERS` is what the
room dispatches to. The room has already checked that the sender is an
admitted host (:func:`refuse` answers anyone else). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vardmote.rooms import limits, texts
from vardmote.rooms import messages as m
from vardmote.rooms.effects import (
    Audit,
    CloseConnection,
    DestroyJanusRoom,
    Effect,
    JanusDetach,
    JanusMute,
    JanusUnpublish,
    Send,
    SendError,
)
from vardmote.rooms.errors import ErrorCode
from vardmote.rooms.participant import Participant, State, identity_key, is_shared

if TYPE_CHECKING:
    from vardmote.rooms.room import Room

Effects = list[Effect]


def refuse(room: Room, p: Participant, request: str, target: str | None) -> Effects:
    """refuse answers a host command from someone who is not an admitted host.

    It is not audited here, one entry each: a guest could then write to the
    append-only audit log without end. The connection counts its refusals
    (:func:`refused_command`) and audits them once, with the count, when it closes.
    """
    return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.ONLY_HOSTS, request)]


def refused_command(message: Mapping[str, Any]) -> str | None:
    """refused_command is the host command a message sent to a participant refuses, if it is
    :func:`refuse`'s answer (the command's type), else None."""
    if (
        message.get("type") == "error"
        and message.get("code") == ErrorCode.NOT_ALLOWED
        and message.get("message") == texts.ONLY_HOSTS
    ):
        request = message.get("request")
        return request if isinstance(request, str) else None
    return None


def _target(
    room: Room, host: Participant, pid: str, request: str, *, state: State | None
) -> Participant | SendError:
    target = room.participants.get(pid)
    if target is None or (state is not None and target.state is not state):
        text = texts.NOT_IN_LOBBY if state is State.LOBBY else texts.NOT_IN_MEETING
        return room.refusal(host, ErrorCode.NOT_FOUND, text, request)
    return target


def admit(room: Room, host: Participant, command: m.Admit, now: float) -> Effects:
    """admit ("Tillåt") lets a participant in from the lobby if the limit has room."""
    target = _target(room, host, command.participant, "admit", state=State.LOBBY)
    if isinstance(target, SendError):
        return [target]
    limit = room.policy.participant_limit
    if limit is not None and not limits.has_room_for(room.policy, room.admitted_count):
        details = {"participant": target.actor, "reason": "meeting_full", "limit": limit}
        return [
            room.refusal(host, ErrorCode.MEETING_FULL, texts.meeting_full(limit), "admit"),
            Audit("meeting.admit_refused", host.actor, details),
        ]
    before = room.viewers_of(target)
    target.state = State.ADMITTED
    effects: Effects = [Audit("meeting.admitted", host.actor, {"participant": target.actor})]
    if target.conn is not None:
        effects.append(room.to_participant(target, {"type": "admitted", **room.snapshot(target)}))
    return effects + room.announce(target, before) + room.sync(now)


def deny(room: Room, host: Participant, command: m.Deny, now: float) -> Effects:
    """deny ("Neka") sends a participant in the lobby away."""
    target = _target(room, host, command.participant, "deny", state=State.LOBBY)
    if isinstance(target, SendError):
        return [target]
    message = {"type": "denied", "message": texts.DENIED}
    return send_away(room, host.actor, target, "meeting.denied", message, now)


def remove(room: Room, host: Participant, command: m.Remove, now: float) -> Effects:
    """remove ("Ta bort från mötet") sends a participant away and bars their own link."""
    target = _target(room, host, command.participant, "remove", state=None)
    if isinstance(target, SendError):
        return [target]
    if target is host:
        return [room.refusal(host, ErrorCode.NOT_ALLOWED, texts.NOT_ONESELF, "remove")]
    if not is_shared(target.identity):
        room.barred.add(identity_key(target.identity))
    message = {"type": "removed", "message": texts.REMOVED}
    return send_away(room, host.actor, target, "meeting.removed", message, now)


def send_away(
    room: Room, actor: str, target: Participant, action: str, message: dict[str, Any], now: float
) -> Effects:
    """send_away tells target message, takes them out of the room and closes their connection;
    audited as action by actor (a host, or the system when the booking changed)."""
    conn = target.conn
    effects: Effects = [Audit(action, actor, {"participant": target.actor})]
    if conn is not None:
        effects.append(Send((conn,), message))
    effects += room.take_out(target)
    if conn is not None:
        effects.append(CloseConnection(conn, message["type"]))
    return effects + room.sync(now)


def mute(room: Room, host: Participant, command: m.Mute, now: float) -> Effects:
    """mute turns off one admitted participant's microphone (not the host's own)."""
    target = _target(room, host, command.participant, "mute", state=State.ADMITTED)
    if isinstance(target, SendError):
        return [target]
    if target is host:
        return [room.refusal(host, ErrorCode.NOT_ALLOWED, texts.NOT_ONESELF, "mute")]
    effects = _host_mute(room, host, target)
    return [Audit("meeting.muted", host.actor, {"participant": target.actor}), *effects]


def mute_all_guests(room: Room, host: Participant, command: m.MuteAllGuests, now: float) -> Effects:
    """mute_all_guests ("Tysta alla gäster") mutes every admitted participant but the hosts."""
    guests = [p for p in room.participants.values() if p.admitted and not p.is_host]
    effects: Effects = [Audit("meeting.muted_all_guests", host.actor, {"count": len(guests)})]
    for guest in guests:
        effects += _host_mute(room, host, guest)
    return effects


def _host_mute(room: Room, host: Participant, target: Participant) -> Effects:
    before = room.viewers_of(target)
    target.host_muted = True
    target.microphone = False
    effects: Effects = [JanusMute(target.id, muted=True)]
    if target.conn is not None:
        may_unmute = target.is_host or room.guests_may_unmute
        effects.append(Send((target.conn,), {"type": "muted", "by": host.id, "may_unmute": may_unmute}))
    return effects + room.announce(target, before)


def lock(room: Room, host: Participant, command: m.Lock, now: float) -> Effects:
    """lock lets no more guests in (hosts still enter)."""
    return _change_settings(room, host, "meeting.locked", {}, locked=True)


def unlock(room: Room, host: Participant, command: m.Unlock, now: float) -> Effects:
    """unlock lets guests join again."""
    return _change_settings(room, host, "meeting.unlocked", {}, locked=False)


def set_guests_may_unmute(
    room: Room, host: Participant, command: m.SetGuestsMayUnmute, now: float
) -> Effects:
    """set_guests_may_unmute says whether host-muted guests may turn their microphone on again."""
    details = {"allowed": command.allowed}
    return _change_settings(
        room, host, "meeting.guests_may_unmute", details, guests_may_unmute=command.allowed
    )


def _change_settings(
    room: Room,
    host: Participant,
    action: str,
    details: dict[str, Any],
    *,
    locked: bool | None = None,
    guests_may_unmute: bool | None = None,
) -> Effects:
    changed = (locked is not None and locked != room.locked) or (
        guests_may_unmute is not None and guests_may_unmute != room.guests_may_unmute
    )
    if not changed:
        return [Send(room.conns_of([host]), room.settings_message())]
    room.locked = room.locked if locked is None else locked
    room.guests_may_unmute = room.guests_may_unmute if guests_may_unmute is None else guests_may_unmute
    admitted = [p for p in room.participants.values() if p.admitted]
    return [Audit(action, host.actor, details), Send(room.conns_of(admitted), room.settings_message())]


def give_floor(room: Room, host: Participant, command: m.GiveFloor, now: float) -> Effects:
    """give_floor lets a guest of an anonymous meeting be seen, heard and publish."""
    target = _floor_target(room, host, command.participant, "give_floor")
    if isinstance(target, SendError):
        return [target]
    if target.floor:
        return []
    before = room.viewers_of(target)
    target.floor = True
    target.hand_raised_at = None
    effects: Effects = [Audit("meeting.floor_given", host.actor, {"participant": target.actor})]
    if target.conn is not None:
        effects.append(Send((target.conn,), {"type": "floor", "granted": True}))
    return effects + room.announce(target, before) + room.sync(now)


def take_floor(room: Room, host: Participant, command: m.TakeFloor, now: float) -> Effects:
    """take_floor takes the floor back: the guest's camera, microphone and share stop."""
    target = _floor_target(room, host, command.participant, "take_floor")
    if isinstance(target, SendError):
        return [target]
    if not target.floor:
        return []
    before = room.viewers_of(target)
    target.floor = False
    target.may_share = False
    target.camera = target.microphone = False
    effects: Effects = [Audit("meeting.floor_taken", host.actor, {"participant": target.actor})]
    effects += [JanusUnpublish(target.id, kind) for kind in sorted(target.streams)]
    target.streams.clear()
    if target.conn is not None:
        effects.append(Send((target.conn,), {"type": "floor", "granted": False}))
    return effects + room.announce(target, before) + room.sync(now)


def _floor_target(room: Room, host: Participant, pid: str, request: str) -> Participant | SendError:
    if not room.policy.anonymous:
        return room.refusal(host, ErrorCode.NOT_ALLOWED, texts.FLOOR_ONLY_ANONYMOUS, request)
    target = _target(room, host, pid, request, state=State.ADMITTED)
    if not isinstance(target, SendError) and target.is_host:
        return room.refusal(host, ErrorCode.NOT_ALLOWED, texts.FLOOR_NOT_FOR_HOSTS, request)
    return target


def end(room: Room, host: Participant, command: m.End, now: float) -> Effects:
    """end ("Avsluta mötet") ends the meeting for everyone; only a host may open it again."""
    effects: Effects = [Audit("meeting.ended", host.actor, {"participants": room.admitted_count})]
    message = {"type": "ended", "reason": "ended_by_host", "message": texts.MEETING_ENDED}
    return effects + end_for_everyone(room, message)


def end_for_everyone(room: Room, message: dict[str, Any]) -> Effects:
    """end_for_everyone tells everyone message (an ``ended``), closes every connection, leaves
    Janus and empties the room; only a host may open it again."""
    effects: Effects = []
    for p in list(room.participants.values()):
        if p.conn is not None:
            effects += [Send((p.conn,), message), CloseConnection(p.conn, "ended")]
        if p.admitted and p.conn is not None:
            effects.append(JanusDetach(p.id))
        p.state = State.GONE
    room.forget_everyone()
    room.ended = True
    return [*effects, DestroyJanusRoom()]


HANDLERS: Mapping[type, Callable[[Room, Participant, Any, float], Effects]] = {
    m.Admit: admit,
    m.Deny: deny,
    m.Remove: remove,
    m.Mute: mute,
    m.MuteAllGuests: mute_all_guests,
    m.Lock: lock,
    m.Unlock: unlock,
    m.SetGuestsMayUnmute: set_guests_may_unmute,
    m.GiveFloor: give_floor,
    m.TakeFloor: take_floor,
    m.End: end,
}
"""HANDLERS is the host commands the room dispatches to, by message class."""
