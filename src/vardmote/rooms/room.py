"""Room: the live state of one meeting and the rules of docs/protocol.md.

A :class:`Room` is pure: it does no I/O and reads no clock. Every public method
takes ``now`` (monotonic seconds) and returns the effects the glue must carry
out, in order (:mod:`vardmote.rooms.effects`). Refusals are effects too
(``SendError``), never exceptions.

Concurrency: a Room is not thread- or task-safe. The glue calls it with the
room's lock held (or from one task per room) and carries out the effects in
the order given before the next call.

Lifetime: the glue keeps one Room per meeting while the meeting's links work,
so that removed links stay barred and settings hold across an empty room.
``DestroyJanusRoom`` is returned when the room empties or ends; the glue makes
the Janus room again before relaying the next offer.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from vardmote.rooms import errors as texts
from vardmote.rooms import messages as m
from vardmote.rooms.effects import (
    Audit,
    CloseConnection,
    ConnId,
    DestroyJanusRoom,
    Effect,
    JanusAnswer,
    JanusCandidate,
    JanusDetach,
    JanusMute,
    JanusOffer,
    JanusUnpublish,
    Send,
    SendError,
    SetSubscriptions,
    StreamKind,
    StreamRef,
)
from vardmote.rooms.errors import ErrorCode
from vardmote.rooms.participant import (
    Device,
    Identity,
    LinkHolder,
    Participant,
    Staff,
    State,
    actor_of,
    identity_key,
    is_shared,
)
from vardmote.rooms.policy import Role, RoomPolicy
from vardmote.rooms.visibility import may_see, visible_participants

DENIED = "Vårdpersonalen har inte släppt in dig i mötet."
REMOVED = "Vårdpersonalen har tagit bort dig från mötet."
TAKEN_OVER = "Du har anslutit till mötet i ett annat fönster eller på en annan enhet."
ENDED = "Mötet är avslutat."
ENDED_HOST_LEFT = "Vårdpersonalen har lämnat mötet, så mötet är avslutat."

Effects = list[Effect]


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


class Room:
    """Room is one meeting's participants, lobby, hands, mutes, floor and timers."""

    def __init__(
        self,
        meeting_id: str,
        policy: RoomPolicy,
        *,
        reconnect_seconds: float,
        host_left_seconds: float,
        new_secret: Callable[[], str] = _new_secret,
    ) -> None:
        self.meeting_id = meeting_id
        self.policy = policy
        self.reconnect_seconds = reconnect_seconds
        self.host_left_seconds = host_left_seconds
        self._new_secret = new_secret
        self.participants: dict[str, Participant] = {}
        """Participants in the lobby or the meeting, in joining order (the gone are dropped)."""
        self.locked = False
        self.guests_may_unmute = True
        self.barred: set[str] = set()
        """Identity keys removed with "Ta bort från mötet"; they cannot come back."""
        self.host_left_since: float | None = None
        self.ended = False
        self._conns: dict[ConnId, str] = {}
        self._next_id = 1
        self._hand_seq = 0
        self._hosts_were_present = False
        self._subscribed: dict[str, frozenset[StreamRef]] = {}
        self._hands_sent: dict[str, tuple[str, ...]] = {}
        self._had_participants = False
        self._handlers: dict[type, Callable[[Participant, Any, float], Effects]] = {
            m.Leave: self._leave,
            m.Offer: self._offer,
            m.Answer: self._answer,
            m.Candidate: self._candidate,
            m.ShareStart: self._share_start,
            m.ShareStop: self._share_stop,
            m.MediaState: self._media_state,
            m.RaiseHand: self._raise_hand,
            m.LowerHand: self._lower_hand,
            m.Chat: self._chat,
            m.Admit: self._admit,
            m.Deny: self._deny,
            m.Remove: self._remove,
            m.Mute: self._mute,
            m.MuteAllGuests: self._mute_all_guests,
            m.Lock: self._lock,
            m.Unlock: self._unlock,
            m.SetGuestsMayUnmute: self._set_guests_may_unmute,
            m.GiveFloor: self._give_floor,
            m.TakeFloor: self._take_floor,
            m.End: self._end,
        }
        self._lobby_allowed = frozenset({m.Leave})

    # ---- reading -------------------------------------------------------------------------------

    def participant_for(self, conn: ConnId) -> Participant | None:
        """participant_for is the participant whose current connection is conn."""
        pid = self._conns.get(conn)
        return None if pid is None else self.participants[pid]

    def visible_to(self, participant_id: str) -> list[Participant]:
        """visible_to is the participant list one participant may see."""
        viewer = self.participants[participant_id]
        return visible_participants(self.policy, self.participants.values(), viewer)

    def hands_queue(self) -> list[Participant]:
        """hands_queue is every raised hand, in the order hands went up."""
        raised = [p for p in self.participants.values() if p.admitted and p.hand_raised_at is not None]
        return sorted(raised, key=lambda p: p.hand_raised_at or (0.0, 0))

    @property
    def admitted_count(self) -> int:
        """admitted_count is what the limit counts: admitted participants, dropped ones included."""
        return sum(1 for p in self.participants.values() if p.admitted)

    @property
    def is_empty(self) -> bool:
        """is_empty tells whether nobody is in the lobby or the meeting."""
        return not self.participants

    def next_deadline(self) -> float | None:
        """next_deadline is the earliest time tick has something to do, or None."""
        times = [
            p.dropped_at + self.reconnect_seconds
            for p in self.participants.values()
            if p.dropped_at is not None
        ]
        if self.host_left_since is not None:
            times.append(self.host_left_since + self.host_left_seconds)
        return min(times, default=None)

    # ---- connections ---------------------------------------------------------------------------

    def join(
        self, conn: ConnId, identity: Identity, name: str | None, now: float, resume: str | None = None
    ) -> Effects:
        """join lets a proven identity in on connection conn (the ``join`` message).

        The glue has already resolved the link (not_found, link_gone), the room
        device or the staff session. name is the guest's chosen name; staff and
        room devices use the name they are registered with.
        """
        if conn in self._conns:
            already = texts.DEFAULT_TEXT[ErrorCode.ALREADY_JOINED]
            return [SendError(conn, ErrorCode.ALREADY_JOINED, already, "join")]
        role = self._role_of(identity)
        key = identity_key(identity)
        same = [p for p in self.participants.values() if identity_key(p.identity) == key]
        resumed = None
        if resume is not None:
            token = resume.encode()
            resumed = next((p for p in same if hmac.compare_digest(p.resume_token.encode(), token)), None)
        if resumed is not None:
            return self._resume(resumed, conn, now)
        # A second connection of one person takes over; on a shared link it is someone else.
        existing = None if is_shared(identity) else next(iter(same), None)
        refusal = self._refuse_join(identity, role, existing)
        if refusal is not None:
            code, text = refusal
            return [
                SendError(conn, code, text, "join"),
                CloseConnection(conn, "refused"),
                Audit("meeting.join_refused", actor_of(identity), {"reason": str(code)}),
            ]
        assert role is not None
        match identity:
            case Staff():
                display_name: str | None = identity.display_name
            case Device():
                display_name = identity.name
            case LinkHolder():
                display_name = name
        if not display_name:
            return [
                SendError(conn, ErrorCode.BAD_MESSAGE, m.NAME_INVALID, "join"),
                CloseConnection(conn, "refused"),
            ]
        effects: Effects = []
        if existing is not None:
            effects += self._take_over(existing)
        if self.ended and role is Role.HOST:
            self.ended = False
        enters = role is Role.HOST or not self.policy.guests_wait_in_lobby
        p = Participant(
            id=f"p{self._next_id}",
            identity=identity,
            role=role,
            name=display_name,
            state=State.ADMITTED if enters else State.LOBBY,
            resume_token=self._new_secret(),
            conn=conn,
        )
        self._next_id += 1
        self.participants[p.id] = p
        self._conns[conn] = p.id
        effects.append(Audit("meeting.joined", p.actor, {"participant": p.id, "state": str(p.state)}))
        effects.append(Send((conn,), self._joined_message(p, resumed=False)))
        if p.state is State.LOBBY:
            effects.append(Send((conn,), {"type": "lobby", "hosts_present": self._hosts_present()}))
        effects += self._announce(p, frozenset({p.id}))
        return effects + self._sync(now)

    def _role_of(self, identity: Identity) -> Role | None:
        """_role_of is the role identity has in this meeting (None: the type lets it not in)."""
        match identity:
            case Staff():
                return Role.HOST
            case LinkHolder():
                return self.policy.link_role
            case Device():
                return Role.ROOM_DEVICE if self.policy.room_devices else None

    def _refuse_join(
        self, identity: Identity, role: Role | None, existing: Participant | None
    ) -> tuple[ErrorCode, str] | None:
        if role is None:
            text = texts.NO_DEVICES if isinstance(identity, Device) else texts.STAFF_ONLY
            return ErrorCode.NOT_ALLOWED, text
        if self.ended and role is not Role.HOST:
            return ErrorCode.MEETING_ENDED, ENDED
        if not is_shared(identity) and identity_key(identity) in self.barred:
            return ErrorCode.REMOVED, texts.DEFAULT_TEXT[ErrorCode.REMOVED]
        if role is not Role.HOST and self.locked:
            return ErrorCode.LOCKED, texts.DEFAULT_TEXT[ErrorCode.LOCKED]
        enters = role is Role.HOST or not self.policy.guests_wait_in_lobby
        freed = 1 if existing is not None and existing.admitted else 0
        limit = self.policy.participant_limit
        if enters and limit is not None and self.admitted_count - freed >= limit:
            return ErrorCode.MEETING_FULL, texts.meeting_full(limit)
        return None

    def _resume(self, p: Participant, conn: ConnId, now: float) -> Effects:
        effects: Effects = []
        if p.conn is not None:
            effects += [
                Send((p.conn,), {"type": "taken_over", "message": TAKEN_OVER}),
                CloseConnection(p.conn, "taken_over"),
            ]
            del self._conns[p.conn]
            if p.admitted:
                effects.append(JanusDetach(p.id))
        before = self._viewers(p)
        p.conn = conn
        p.dropped_at = None
        p.streams.clear()
        p.may_share = False
        p.resume_token = self._new_secret()
        self._conns[conn] = p.id
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        effects.append(Audit("meeting.resumed", p.actor, {"participant": p.id, "state": str(p.state)}))
        effects.append(Send((conn,), self._joined_message(p, resumed=True)))
        if p.state is State.LOBBY:
            effects.append(Send((conn,), {"type": "lobby", "hosts_present": self._hosts_present()}))
        if self.host_left_since is not None and p.admitted and not p.is_host:
            left = max(0, math.ceil(self.host_left_since + self.host_left_seconds - now))
            effects.append(Send((conn,), self._host_left_message(left)))
        effects += self._announce(p, before)
        return effects + self._sync(now)

    def _take_over(self, old: Participant) -> Effects:
        effects: Effects = []
        if old.conn is not None:
            effects += [
                Send((old.conn,), {"type": "taken_over", "message": TAKEN_OVER}),
                CloseConnection(old.conn, "taken_over"),
            ]
        effects.append(Audit("meeting.taken_over", old.actor, {"participant": old.id}))
        return effects + self._gone(old)

    def drop(self, conn: ConnId, now: float) -> Effects:
        """drop records that connection conn was lost without ``leave``.

        The participant keeps their place for reconnect_seconds; their Janus
        handles go now, and a resumed client negotiates afresh. A connection
        the room already closed (left, removed, taken over) is ignored.
        """
        pid = self._conns.pop(conn, None)
        if pid is None:
            return []
        p = self.participants[pid]
        before = self._viewers(p)
        p.conn = None
        p.dropped_at = now
        p.streams.clear()
        p.may_share = False
        effects: Effects = [JanusDetach(p.id)] if p.admitted else []
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        return effects + self._announce(p, before) + self._sync(now)

    def tick(self, now: float) -> Effects:
        """tick applies the reconnect window and the host-left timeout (call it at next_deadline)."""
        effects: Effects = []
        for p in list(self.participants.values()):
            if p.dropped_at is not None and now >= p.dropped_at + self.reconnect_seconds:
                effects.append(
                    Audit("meeting.left", p.actor, {"participant": p.id, "reason": "connection_lost"})
                )
                effects += self._gone(p)
        effects += self._sync(now)
        if self.host_left_since is not None and now >= self.host_left_since + self.host_left_seconds:
            self.host_left_since = None
            guests = [p for p in self.participants.values() if p.admitted and not p.is_host]
            effects.append(Audit("meeting.host_left_timeout", "system", {"removed": len(guests)}))
            message = {"type": "ended", "reason": "host_left", "message": ENDED_HOST_LEFT}
            for p in guests:  # all closed first, so that none is told of the others leaving
                if p.conn is not None:
                    effects += [
                        Send((p.conn,), message),
                        CloseConnection(p.conn, "host_left"),
                        JanusDetach(p.id),
                    ]
                    del self._conns[p.conn]
                    p.conn = None
            for p in guests:
                effects += self._gone(p)
            effects += self._sync(now)
        return effects

    def handle(self, conn: ConnId, command: m.Command, now: float) -> Effects:
        """handle applies one decoded message from connection conn (anything but ``join``)."""
        request = m.request_type(command)
        p = self.participant_for(conn)
        if isinstance(command, m.Join):
            if p is None:
                raise ValueError("join goes through Room.join, with the identity the glue proved")
            return [SendError(conn, ErrorCode.ALREADY_JOINED, texts.DEFAULT_TEXT[ErrorCode.ALREADY_JOINED])]
        if p is None:
            return [SendError(conn, ErrorCode.NOT_JOINED, texts.DEFAULT_TEXT[ErrorCode.NOT_JOINED], request)]
        someone_elses_hand = isinstance(command, m.LowerHand) and command.participant not in (None, p.id)
        if (type(command) in m.HOST_COMMANDS or someone_elses_hand) and not (p.is_host and p.admitted):
            return self._refuse_host_command(p, request, getattr(command, "participant", None))
        if not p.admitted and type(command) not in self._lobby_allowed:
            return [self._error(p, ErrorCode.NOT_ADMITTED, request=request)]
        return self._handlers[type(command)](p, command, now)

    # ---- media, from the glue ------------------------------------------------------------------

    def stream_started(self, participant_id: str, kind: StreamKind, now: float) -> Effects:
        """stream_started: Janus reports a publisher of the participant is up.

        A publisher the rules no longer allow (the floor was taken, the share
        stopped, the participant left while it was negotiated) is unpublished.
        A camera of a host-muted participant is muted again in Janus.
        """
        p = self.participants.get(participant_id)
        if p is None or p.conn is None or not p.admitted or not self._may_publish(p, kind):
            return [JanusUnpublish(participant_id, kind)] if p is not None else []
        before = self._viewers(p)
        p.streams.add(kind)
        effects: Effects = [JanusMute(p.id, muted=True)] if kind == "camera" and p.host_muted else []
        return effects + self._announce(p, before) + self._sync(now)

    def stream_stopped(self, participant_id: str, kind: StreamKind, now: float) -> Effects:
        """stream_stopped: Janus reports a publisher of the participant is gone."""
        p = self.participants.get(participant_id)
        if p is None or kind not in p.streams:
            return []
        before = self._viewers(p)
        p.streams.discard(kind)
        return self._announce(p, before) + self._sync(now)

    # ---- participant messages ------------------------------------------------------------------

    def _leave(self, p: Participant, command: m.Leave, now: float) -> Effects:
        conn = p.conn
        effects: Effects = [Audit("meeting.left", p.actor, {"participant": p.id, "reason": "left"})]
        effects += self._gone(p)
        if conn is not None:
            effects.append(CloseConnection(conn, "left"))
        return effects + self._sync(now)

    def _may_publish(self, p: Participant, kind: StreamKind) -> bool:
        if self.policy.anonymous and not p.is_host and not p.floor:
            return False
        return kind == "camera" or p.may_share

    def _publish_refusal(self, p: Participant, pc: str, request: str) -> SendError | None:
        if pc == "subscriber":
            return None
        if self.policy.anonymous and not p.is_host and not p.floor:
            return self._error(p, ErrorCode.NOT_ALLOWED, texts.NEEDS_FLOOR, request)
        if pc == "screen" and not p.may_share:
            return self._error(p, ErrorCode.NOT_ALLOWED, texts.SHARE_FIRST, request)
        return None

    def _offer(self, p: Participant, command: m.Offer, now: float) -> Effects:
        if command.pc == "subscriber":
            return [self._error(p, ErrorCode.NOT_ALLOWED, texts.WRONG_DIRECTION, "offer")]
        refusal = self._publish_refusal(p, command.pc, "offer")
        if refusal is not None:
            return [refusal]
        full = command.pc == "screen" and self.policy.full_resolution_sharing
        return [JanusOffer(p.id, command.pc, command.sdp, full_resolution=full)]

    def _answer(self, p: Participant, command: m.Answer, now: float) -> Effects:
        if command.pc != "subscriber":
            return [self._error(p, ErrorCode.NOT_ALLOWED, texts.WRONG_DIRECTION, "answer")]
        return [JanusAnswer(p.id, command.sdp)]

    def _candidate(self, p: Participant, command: m.Candidate, now: float) -> Effects:
        refusal = self._publish_refusal(p, command.pc, "candidate")
        if refusal is not None:
            return [refusal]
        return [JanusCandidate(p.id, command.pc, command.candidate)]

    def _share_start(self, p: Participant, command: m.ShareStart, now: float) -> Effects:
        if self.policy.anonymous and not p.is_host and not p.floor:
            return [self._error(p, ErrorCode.NOT_ALLOWED, texts.NEEDS_FLOOR, "share_start")]
        effects: Effects = []
        if not p.may_share:
            p.may_share = True
            effects.append(Audit("meeting.share_started", p.actor, {"participant": p.id}))
        message = {"type": "share_started", "full_resolution": self.policy.full_resolution_sharing}
        return [*effects, Send(self._conns_of([p]), message)]

    def _share_stop(self, p: Participant, command: m.ShareStop, now: float) -> Effects:
        if not p.may_share and "screen" not in p.streams:
            return []
        return self._stop_share(p, now)

    def _stop_share(self, p: Participant, now: float) -> Effects:
        before = self._viewers(p)
        p.may_share = False
        effects: Effects = [Audit("meeting.share_stopped", p.actor, {"participant": p.id})]
        if "screen" in p.streams:
            p.streams.discard("screen")
            effects.append(JanusUnpublish(p.id, "screen"))
        return effects + self._announce(p, before) + self._sync(now)

    def _media_state(self, p: Participant, command: m.MediaState, now: float) -> Effects:
        effects: Effects = []
        if command.microphone and p.host_muted:
            if not p.is_host and not self.guests_may_unmute:
                return [self._error(p, ErrorCode.NOT_ALLOWED, texts.CANNOT_UNMUTE, "media_state")]
            p.host_muted = False
            effects.append(JanusMute(p.id, muted=False))
        before = self._viewers(p)
        p.camera, p.microphone = command.camera, command.microphone
        return effects + self._announce(p, before)

    def _raise_hand(self, p: Participant, command: m.RaiseHand, now: float) -> Effects:
        if p.hand_raised_at is None:
            self._hand_seq += 1
            p.hand_raised_at = (now, self._hand_seq)
        return self._sync(now)

    def _lower_hand(self, p: Participant, command: m.LowerHand, now: float) -> Effects:
        target_id = command.participant or p.id
        target = self.participants.get(target_id)
        if target is None or not target.admitted:
            return [self._error(p, ErrorCode.NOT_FOUND, texts.NOT_IN_MEETING, "lower_hand")]
        target.hand_raised_at = None
        return self._sync(now)

    def _chat(self, p: Participant, command: m.Chat, now: float) -> Effects:
        to_hosts = self.policy.anonymous and not p.is_host
        audience = [q for q in self.participants.values() if q.admitted and (q.is_host or not to_hosts)]
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
        return [Send(self._conns_of(audience), message)]

    # ---- host commands -------------------------------------------------------------------------

    def _refuse_host_command(self, p: Participant, request: str, target: str | None) -> Effects:
        details: dict[str, Any] = {"participant": p.id, "command": request}
        if target is not None:
            details["target"] = target
        return [
            self._error(p, ErrorCode.NOT_ALLOWED, texts.ONLY_HOSTS, request),
            Audit("meeting.host_command_refused", p.actor, details),
        ]

    def _target(
        self, host: Participant, pid: str, request: str, *, state: State | None
    ) -> Participant | SendError:
        target = self.participants.get(pid)
        if target is None or (state is not None and target.state is not state):
            text = texts.NOT_IN_LOBBY if state is State.LOBBY else texts.NOT_IN_MEETING
            return self._error(host, ErrorCode.NOT_FOUND, text, request)
        return target

    def _admit(self, host: Participant, command: m.Admit, now: float) -> Effects:
        target = self._target(host, command.participant, "admit", state=State.LOBBY)
        if isinstance(target, SendError):
            return [target]
        limit = self.policy.participant_limit
        if limit is not None and self.admitted_count >= limit:
            details = {"participant": target.actor, "reason": "meeting_full", "limit": limit}
            return [
                self._error(host, ErrorCode.MEETING_FULL, texts.meeting_full(limit), "admit"),
                Audit("meeting.admit_refused", host.actor, details),
            ]
        before = self._viewers(target)
        target.state = State.ADMITTED
        effects: Effects = [Audit("meeting.admitted", host.actor, {"participant": target.actor})]
        if target.conn is not None:
            effects.append(Send((target.conn,), {"type": "admitted", **self._snapshot(target)}))
        return effects + self._announce(target, before) + self._sync(now)

    def _deny(self, host: Participant, command: m.Deny, now: float) -> Effects:
        target = self._target(host, command.participant, "deny", state=State.LOBBY)
        if isinstance(target, SendError):
            return [target]
        return self._send_away(host, target, "meeting.denied", {"type": "denied", "message": DENIED}, now)

    def _remove(self, host: Participant, command: m.Remove, now: float) -> Effects:
        target = self._target(host, command.participant, "remove", state=None)
        if isinstance(target, SendError):
            return [target]
        if target is host:
            return [self._error(host, ErrorCode.NOT_ALLOWED, texts.NOT_ONESELF, "remove")]
        if not is_shared(target.identity):
            self.barred.add(identity_key(target.identity))
        return self._send_away(host, target, "meeting.removed", {"type": "removed", "message": REMOVED}, now)

    def _send_away(
        self, host: Participant, target: Participant, action: str, message: dict[str, Any], now: float
    ) -> Effects:
        conn = target.conn
        effects: Effects = [Audit(action, host.actor, {"participant": target.actor})]
        if conn is not None:
            effects.append(Send((conn,), message))
        effects += self._gone(target)
        if conn is not None:
            effects.append(CloseConnection(conn, message["type"]))
        return effects + self._sync(now)

    def _mute(self, host: Participant, command: m.Mute, now: float) -> Effects:
        target = self._target(host, command.participant, "mute", state=State.ADMITTED)
        if isinstance(target, SendError):
            return [target]
        if target is host:
            return [self._error(host, ErrorCode.NOT_ALLOWED, texts.NOT_ONESELF, "mute")]
        effects = self._host_mute(host, target)
        return [Audit("meeting.muted", host.actor, {"participant": target.actor}), *effects]

    def _mute_all_guests(self, host: Participant, command: m.MuteAllGuests, now: float) -> Effects:
        guests = [p for p in self.participants.values() if p.admitted and not p.is_host]
        effects: Effects = [Audit("meeting.muted_all_guests", host.actor, {"count": len(guests)})]
        for guest in guests:
            effects += self._host_mute(host, guest)
        return effects

    def _host_mute(self, host: Participant, target: Participant) -> Effects:
        before = self._viewers(target)
        target.host_muted = True
        target.microphone = False
        effects: Effects = [JanusMute(target.id, muted=True)]
        if target.conn is not None:
            may_unmute = target.is_host or self.guests_may_unmute
            effects.append(Send((target.conn,), {"type": "muted", "by": host.id, "may_unmute": may_unmute}))
        return effects + self._announce(target, before)

    def _lock(self, host: Participant, command: m.Lock, now: float) -> Effects:
        return self._change_settings(host, "meeting.locked", {}, locked=True)

    def _unlock(self, host: Participant, command: m.Unlock, now: float) -> Effects:
        return self._change_settings(host, "meeting.unlocked", {}, locked=False)

    def _set_guests_may_unmute(self, host: Participant, command: m.SetGuestsMayUnmute, now: float) -> Effects:
        details = {"allowed": command.allowed}
        return self._change_settings(
            host, "meeting.guests_may_unmute", details, guests_may_unmute=command.allowed
        )

    def _change_settings(
        self,
        host: Participant,
        action: str,
        details: dict[str, Any],
        *,
        locked: bool | None = None,
        guests_may_unmute: bool | None = None,
    ) -> Effects:
        changed = (locked is not None and locked != self.locked) or (
            guests_may_unmute is not None and guests_may_unmute != self.guests_may_unmute
        )
        if not changed:
            return [Send(self._conns_of([host]), self._settings_message())]
        self.locked = self.locked if locked is None else locked
        self.guests_may_unmute = self.guests_may_unmute if guests_may_unmute is None else guests_may_unmute
        admitted = [p for p in self.participants.values() if p.admitted]
        return [Audit(action, host.actor, details), Send(self._conns_of(admitted), self._settings_message())]

    def _give_floor(self, host: Participant, command: m.GiveFloor, now: float) -> Effects:
        target = self._floor_target(host, command.participant, "give_floor")
        if isinstance(target, SendError):
            return [target]
        if target.floor:
            return []
        before = self._viewers(target)
        target.floor = True
        target.hand_raised_at = None
        effects: Effects = [Audit("meeting.floor_given", host.actor, {"participant": target.actor})]
        if target.conn is not None:
            effects.append(Send((target.conn,), {"type": "floor", "granted": True}))
        return effects + self._announce(target, before) + self._sync(now)

    def _take_floor(self, host: Participant, command: m.TakeFloor, now: float) -> Effects:
        target = self._floor_target(host, command.participant, "take_floor")
        if isinstance(target, SendError):
            return [target]
        if not target.floor:
            return []
        before = self._viewers(target)
        target.floor = False
        target.may_share = False
        target.camera = target.microphone = False
        effects: Effects = [Audit("meeting.floor_taken", host.actor, {"participant": target.actor})]
        effects += [JanusUnpublish(target.id, kind) for kind in sorted(target.streams)]
        target.streams.clear()
        if target.conn is not None:
            effects.append(Send((target.conn,), {"type": "floor", "granted": False}))
        return effects + self._announce(target, before) + self._sync(now)

    def _floor_target(self, host: Participant, pid: str, request: str) -> Participant | SendError:
        if not self.policy.anonymous:
            return self._error(host, ErrorCode.NOT_ALLOWED, texts.FLOOR_ONLY_ANONYMOUS, request)
        target = self._target(host, pid, request, state=State.ADMITTED)
        if not isinstance(target, SendError) and target.is_host:
            return self._error(host, ErrorCode.NOT_ALLOWED, texts.FLOOR_NOT_FOR_HOSTS, request)
        return target

    def _end(self, host: Participant, command: m.End, now: float) -> Effects:
        effects: Effects = [Audit("meeting.ended", host.actor, {"participants": self.admitted_count})]
        message = {"type": "ended", "reason": "ended_by_host", "message": ENDED}
        for p in list(self.participants.values()):
            if p.conn is not None:
                effects += [Send((p.conn,), message), CloseConnection(p.conn, "ended")]
            if p.admitted and p.conn is not None:
                effects.append(JanusDetach(p.id))
            p.state = State.GONE
        self.participants.clear()
        self._conns.clear()
        self._subscribed.clear()
        self._hands_sent.clear()
        self.host_left_since = None
        self._hosts_were_present = False
        self._had_participants = False
        self.ended = True
        return [*effects, DestroyJanusRoom()]

    # ---- bookkeeping ---------------------------------------------------------------------------

    def _error(
        self, p: Participant, code: ErrorCode, text: str | None = None, request: str | None = None
    ) -> SendError:
        return SendError(p.conn or "", code, text or texts.DEFAULT_TEXT[code], request)

    def _conns_of(self, participants: Iterable[Participant]) -> tuple[ConnId, ...]:
        return tuple(p.conn for p in participants if p.conn is not None)

    def _viewers(self, subject: Participant) -> frozenset[str]:
        return frozenset(v.id for v in self.participants.values() if may_see(self.policy, v, subject))

    def _announce(self, subject: Participant, before: frozenset[str]) -> Effects:
        """_announce tells everyone who saw or now sees subject: add, update or remove."""
        after = self._viewers(subject)
        effects: Effects = []
        for change, ids in (("remove", before - after), ("add", after - before), ("update", after & before)):
            viewers = [self.participants[i] for i in sorted(ids) if i in self.participants]
            for for_host in (True, False):
                shown = {"id": subject.id} if change == "remove" else subject.entry(for_host)
                conns = self._conns_of(v for v in viewers if v.is_host == for_host)
                if conns:
                    message = {"type": "participant", "change": change, "participant": shown}
                    effects.append(Send(conns, message))
        return effects

    def _gone(self, p: Participant) -> Effects:
        """_gone takes p out of the room; the caller audits and closes the connection."""
        before = self._viewers(p)
        was_admitted = p.admitted
        p.state = State.GONE
        if p.conn is not None:
            self._conns.pop(p.conn, None)
        del self.participants[p.id]
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        effects: Effects = [JanusDetach(p.id)] if was_admitted and p.conn is not None else []
        # The participant's own connection is closing; the others are told.
        return effects + self._announce(p, before - {p.id})

    def _hosts_present(self) -> bool:
        return any(p.is_host and p.admitted for p in self.participants.values())

    def _settings_message(self) -> dict[str, Any]:
        return {"type": "settings", "locked": self.locked, "guests_may_unmute": self.guests_may_unmute}

    def _host_left_message(self, seconds: int) -> dict[str, Any]:
        return {"type": "host_left", "seconds": seconds, "message": texts.host_left(seconds)}

    def _snapshot(self, p: Participant) -> dict[str, Any]:
        if not p.admitted:
            return {"participants": [p.entry()], "hands": [], "settings": self._settings_message_body()}
        hands = tuple(q.id for q in self.hands_queue() if may_see(self.policy, p, q))
        self._hands_sent[p.id] = hands  # the snapshot carries them; _sync sends only changes
        return {
            "participants": [q.entry(p.is_host) for q in self.visible_to(p.id)],
            "hands": list(hands),
            "settings": self._settings_message_body(),
        }

    def _settings_message_body(self) -> dict[str, bool]:
        return {"locked": self.locked, "guests_may_unmute": self.guests_may_unmute}

    def _joined_message(self, p: Participant, *, resumed: bool) -> dict[str, Any]:
        return {
            "type": "joined",
            "participant": p.id,
            "role": str(p.role),
            "state": str(p.state),
            "resumed": resumed,
            "resume": p.resume_token,
            "policy": self.policy.client_view(),
            **self._snapshot(p),
        }

    def _sync(self, now: float) -> Effects:
        """_sync brings everything derived up to date: the host-left countdown, the
        lobby's hosts_present, each participant's streams and hands queue."""
        effects: Effects = []
        present = self._hosts_present()
        admitted = [p for p in self.participants.values() if p.admitted]
        if present != self._hosts_were_present:
            lobby = [p for p in self.participants.values() if p.state is State.LOBBY]
            if lobby:
                effects.append(Send(self._conns_of(lobby), {"type": "lobby", "hosts_present": present}))
        guests = [p for p in admitted if not p.is_host]
        if self._hosts_were_present and not present and guests and self.host_left_since is None:
            self.host_left_since = now
            seconds = math.ceil(self.host_left_seconds)
            effects.append(Audit("meeting.host_left", "system", {"guests": len(guests)}))
            effects.append(Send(self._conns_of(guests), self._host_left_message(seconds)))
        elif present and self.host_left_since is not None:
            self.host_left_since = None
            effects.append(Send(self._conns_of(admitted), {"type": "host_returned"}))
        self._hosts_were_present = present
        publishers = [p for p in admitted if p.streams and p.conn is not None]
        queue = self.hands_queue()
        for viewer in admitted:
            if viewer.conn is None:
                continue
            streams = frozenset(
                StreamRef(s.id, kind)
                for s in publishers
                if s is not viewer and may_see(self.policy, viewer, s)
                for kind in s.streams
            )
            if streams != self._subscribed.get(viewer.id, frozenset()):
                self._subscribed[viewer.id] = streams
                shown = [ref.as_message() for ref in sorted(streams)]
                effects.append(SetSubscriptions(viewer.id, streams))
                effects.append(Send((viewer.conn,), {"type": "streams", "streams": shown}))
            hands = tuple(q.id for q in queue if may_see(self.policy, viewer, q))
            if hands != self._hands_sent.get(viewer.id, ()):
                self._hands_sent[viewer.id] = hands
                effects.append(Send((viewer.conn,), {"type": "hands", "queue": list(hands)}))
        if not self.participants and self._had_participants:
            effects.append(DestroyJanusRoom())
        self._had_participants = bool(self.participants)
        return effects
