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

This module owns joining, resuming, taking over, dropping, the reconnect
window and what everyone is told as the room changes (``sync``). The rules
it applies live apart: :mod:`.limits` (the participant limit),
:mod:`.host_left` (the countdown after the last host leaves),
:mod:`.publishing` (who may publish), :mod:`.participant_commands` and
:mod:`.host_commands` (one function per message), :mod:`.texts` (the
Swedish sentences).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vardmote.rooms import (
    booking_changes,
    handover,
    host_commands,
    joining,
    limits,
    network,
    participant_commands,
    texts,
)
from vardmote.rooms import messages as m
from vardmote.rooms.effects import (
    Audit,
    CloseConnection,
    ConnId,
    DestroyJanusRoom,
    Effect,
    JanusDetach,
    JanusMute,
    JanusUnpublish,
    Send,
    SendError,
    SendWithIceServers,
    SetSubscriptions,
    StreamKind,
    StreamRef,
)
from vardmote.rooms.errors import DEFAULT_TEXT, ErrorCode
from vardmote.rooms.host_left import (
    Change,
    HostLeftCountdown,
    ended_message,
    host_left_message,
    host_returned_message,
)
from vardmote.rooms.participant import (
    Identity,
    Participant,
    State,
    actor_of,
    identity_key,
    is_shared,
)
from vardmote.rooms.policy import Role, RoomPolicy
from vardmote.rooms.publishing import may_publish
from vardmote.rooms.visibility import may_see, visible_participants

Effects = list[Effect]
Handler = Callable[["Room", Participant, Any, float], Effects]
"""Handler applies one command of an admitted participant (or a lobby's ``leave``)."""

_HANDLERS: Mapping[type, Handler] = {
    **participant_commands.HANDLERS,
    **network.HANDLERS,
    **host_commands.HANDLERS,
}
_LOBBY_ALLOWED = frozenset({m.Leave})
"""Commands a participant in the lobby may send."""


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
        lobby_limit: int | None = None,
    ) -> None:
        self.meeting_id = meeting_id
        self.policy = policy
        self.lobby_limit = lobby_limit
        """Guests at most waiting in the lobby (VARDMOTE_LOBBY_LIMIT); None: no bound."""
        self.reconnect_seconds = reconnect_seconds
        self.host_left = HostLeftCountdown(host_left_seconds)
        """The countdown that ends the meeting for the guests once every host has left."""
        self._new_secret = new_secret
        self.participants: dict[str, Participant] = {}
        """Participants in the lobby or the meeting, in joining order (the gone are dropped)."""
        self.locked = False
        self.guests_may_unmute = True
        self.barred: set[str] = set()
        """Identity keys removed with "Ta bort från mötet"; they cannot come back."""
        self.ended = False
        self.links_expire_at: float | None = None
        """When, on the room's clock, every link of the meeting stops working (the booking's end
        and its grace); set by the I/O edge. Whoever came by a link goes then."""
        self._conns: dict[ConnId, str] = {}
        self._next_id = 1
        self._hand_seq = 0
        self._hosts_were_present = False
        self._subscribed: dict[str, frozenset[StreamRef]] = {}
        self._hands_sent: dict[str, tuple[str, ...]] = {}
        self._had_participants = False

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
    def lobby_count(self) -> int:
        """lobby_count is how many wait in the lobby, dropped ones within their window included."""
        return sum(1 for p in self.participants.values() if p.state is State.LOBBY)

    @property
    def admitted_count(self) -> int:
        """admitted_count is what the limit counts: admitted participants, dropped ones included."""
        return limits.counted(self.participants.values())

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
        host_left_deadline = self.host_left.deadline()
        if host_left_deadline is not None:
            times.append(host_left_deadline)
        if self.links_expire_at is not None:
            times.append(self.links_expire_at)
        return min(times, default=None)

    # ---- connections ---------------------------------------------------------------------------

    def join(
        self,
        conn: ConnId,
        identity: Identity,
        name: str | None,
        now: float,
        resume: str | None = None,
        keep_media: bool = False,
    ) -> Effects:
        """join lets a proven identity in on connection conn (the ``join`` message).

        The glue has already resolved the link (not_found, link_gone), the room
        device or the staff session. name is the guest's chosen name; staff and
        room devices use the name they are registered with. keep_media: a resuming
        client still has its PeerConnections (:mod:`.handover`).
        """
        if conn in self._conns:
            already = DEFAULT_TEXT[ErrorCode.ALREADY_JOINED]
            return [SendError(conn, ErrorCode.ALREADY_JOINED, already, "join")]
        role = joining.role_of(self.policy, identity)
        key = identity_key(identity)
        same = [p for p in self.participants.values() if identity_key(p.identity) == key]
        resumed = None
        if resume is not None:
            token = resume.encode()
            resumed = next((p for p in same if hmac.compare_digest(p.resume_token.encode(), token)), None)
        if resumed is not None:
            if keep_media and handover.media_kept(resumed):
                return handover.resume_with_media(self, resumed, conn, now)
            return self._resume(resumed, conn, now)
        # A second connection of one person takes over; on a shared link it is someone else.
        existing = None if is_shared(identity) else next(iter(same), None)
        refusal = joining.join_refusal(self, identity, role, existing)
        if refusal is not None:
            code, text = refusal
            return [
                SendError(conn, code, text, "join"),
                CloseConnection(conn, "refused"),
                Audit("meeting.join_refused", actor_of(identity), {"reason": str(code)}),
            ]
        assert role is not None
        display_name = joining.display_name(identity, name)
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
        enters = joining.enters_directly(self.policy, role)
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
        effects.append(self.to_participant(p, self.joined_message(p, resumed=False)))
        if p.state is State.LOBBY:
            effects.append(Send((conn,), {"type": "lobby", "hosts_present": self._hosts_present()}))
        effects += self.announce(p, frozenset({p.id}))
        return effects + self.sync(now)

    def _resume(self, p: Participant, conn: ConnId, now: float) -> Effects:
        effects: Effects = []
        if p.conn is not None:
            effects += [
                Send((p.conn,), {"type": "taken_over", "message": texts.TAKEN_OVER}),
                CloseConnection(p.conn, "taken_over"),
            ]
            del self._conns[p.conn]
            if p.admitted:
                effects.append(JanusDetach(p.id))
        elif p.media_kept:
            effects.append(JanusDetach(p.id))  # lost with its process; this client negotiates afresh
        before = self.viewers_of(p)
        p.conn = conn
        p.dropped_at = None
        p.media_kept = False
        p.streams.clear()
        p.may_share = False
        p.forget_connection_report()  # its PeerConnections are negotiated afresh
        p.resume_token = self._new_secret()
        self._conns[conn] = p.id
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        effects.append(Audit("meeting.resumed", p.actor, {"participant": p.id, "state": str(p.state)}))
        effects.append(self.to_participant(p, self.joined_message(p, resumed=True)))
        if p.state is State.LOBBY:
            effects.append(Send((conn,), {"type": "lobby", "hosts_present": self._hosts_present()}))
        if self.host_left.running and p.admitted and not p.is_host:
            effects.append(Send((conn,), host_left_message(self.host_left.seconds_left(now))))
        effects += self.announce(p, before)
        return effects + self.sync(now)

    def _take_over(self, old: Participant) -> Effects:
        effects: Effects = []
        if old.conn is not None:
            effects += [
                Send((old.conn,), {"type": "taken_over", "message": texts.TAKEN_OVER}),
                CloseConnection(old.conn, "taken_over"),
            ]
        effects.append(Audit("meeting.taken_over", old.actor, {"participant": old.id}))
        return effects + self.take_out(old)

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
        before = self.viewers_of(p)
        p.conn = None
        p.dropped_at = now
        p.streams.clear()
        p.may_share = False
        p.forget_connection_report()
        effects: Effects = [JanusDetach(p.id)] if p.admitted else []
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        return effects + self.announce(p, before) + self.sync(now)

    def tick(self, now: float) -> Effects:
        """tick applies the reconnect window, the host-left timeout and the links' expiry (call it
        at next_deadline)."""
        effects: Effects = []
        if self.links_expire_at is not None and now >= self.links_expire_at:
            self.links_expire_at = None
            effects += booking_changes.links_expired(self, now)
        for p in list(self.participants.values()):
            if p.dropped_at is not None and now >= p.dropped_at + self.reconnect_seconds:
                effects.append(
                    Audit("meeting.left", p.actor, {"participant": p.id, "reason": "connection_lost"})
                )
                effects += self.take_out(p)
        effects += self.sync(now)
        if self.host_left.has_run_out(now):
            self.host_left.stop()
            guests = [p for p in self.participants.values() if p.admitted and not p.is_host]
            effects.append(Audit("meeting.host_left_timeout", "system", {"removed": len(guests)}))
            message = ended_message()
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
                effects += self.take_out(p)
            effects += self.sync(now)
        return effects

    def handle(self, conn: ConnId, command: m.Command, now: float) -> Effects:
        """handle applies one decoded message from connection conn (anything but ``join``)."""
        request = m.request_type(command)
        p = self.participant_for(conn)
        if isinstance(command, m.Join):
            if p is None:
                raise ValueError("join goes through Room.join, with the identity the glue proved")
            return [SendError(conn, ErrorCode.ALREADY_JOINED, DEFAULT_TEXT[ErrorCode.ALREADY_JOINED])]
        if p is None:
            return [SendError(conn, ErrorCode.NOT_JOINED, DEFAULT_TEXT[ErrorCode.NOT_JOINED], request)]
        someone_elses_hand = isinstance(command, m.LowerHand) and command.participant not in (None, p.id)
        if (type(command) in m.HOST_COMMANDS or someone_elses_hand) and not (p.is_host and p.admitted):
            return host_commands.refuse(self, p, request, getattr(command, "participant", None))
        if not p.admitted and type(command) not in _LOBBY_ALLOWED:
            return [self.refusal(p, ErrorCode.NOT_ADMITTED, request=request)]
        return _HANDLERS[type(command)](self, p, command, now)

    # ---- media, from the glue ------------------------------------------------------------------

    def stream_started(self, participant_id: str, kind: StreamKind, now: float) -> Effects:
        """stream_started: Janus reports a publisher of the participant is up.

        A publisher the rules no longer allow (the floor was taken, the share
        stopped, the participant left while it was negotiated) is unpublished.
        Every audio stream of a host-muted participant (the camera's microphone, a
        screen share's sound) is muted again in Janus.
        """
        p = self.participants.get(participant_id)
        if p is None or p.conn is None or not p.admitted or not may_publish(self.policy, p, kind):
            return [JanusUnpublish(participant_id, kind)] if p is not None else []
        before = self.viewers_of(p)
        p.streams.add(kind)
        effects: Effects = [JanusMute(p.id, muted=True)] if p.host_muted else []
        return effects + self.announce(p, before) + self.sync(now)

    def media_stalled(self, participant_id: str, stalled: bool, now: float) -> Effects:
        """media_stalled: Janus receives nothing from the participant's camera publisher (stalled),
        or receives it again; they are shown as reconnecting meanwhile (:mod:`.network`)."""
        return network.media_stalled(self, participant_id, stalled)

    def stream_stopped(self, participant_id: str, kind: StreamKind, now: float) -> Effects:
        """stream_stopped: Janus reports a publisher of the participant is gone."""
        p = self.participants.get(participant_id)
        if p is None or kind not in p.streams:
            return []
        before = self.viewers_of(p)
        p.streams.discard(kind)
        return self.announce(p, before) + self.sync(now)

    # ---- bookkeeping ---------------------------------------------------------------------------

    def refusal(
        self, p: Participant, code: ErrorCode, text: str | None = None, request: str | None = None
    ) -> SendError:
        """refusal is the error p is sent (the code's default text unless text is given)."""
        return SendError(p.conn or "", code, text or DEFAULT_TEXT[code], request)

    def to_participant(self, p: Participant, message: dict[str, Any]) -> Effect:
        """to_participant sends message to p's connection; an admitted p's gets relay credentials
        (``ice_servers``) added by the glue, a p in the lobby's never does."""
        conn = p.conn or ""
        return SendWithIceServers(conn, p.id, message) if p.admitted else Send((conn,), message)

    def conns_of(self, participants: Iterable[Participant]) -> tuple[ConnId, ...]:
        """conns_of is the current connections of participants (the dropped have none)."""
        return tuple(p.conn for p in participants if p.conn is not None)

    def viewers_of(self, subject: Participant) -> frozenset[str]:
        """viewers_of is the ids of everyone who may see subject now (take it before a change)."""
        return frozenset(v.id for v in self.participants.values() if may_see(self.policy, v, subject))

    def announce(self, subject: Participant, before: frozenset[str]) -> Effects:
        """announce tells everyone who saw or now sees subject: add, update or remove."""
        after = self.viewers_of(subject)
        effects: Effects = []
        for change, ids in (("remove", before - after), ("add", after - before), ("update", after & before)):
            viewers = [self.participants[i] for i in sorted(ids) if i in self.participants]
            for for_host in (True, False):
                shown = {"id": subject.id} if change == "remove" else subject.entry(for_host)
                conns = self.conns_of(v for v in viewers if v.is_host == for_host)
                if conns:
                    message = {"type": "participant", "change": change, "participant": shown}
                    effects.append(Send(conns, message))
        return effects

    def next_hand_turn(self, now: float) -> tuple[float, int]:
        """next_hand_turn is the place in the hands queue of a hand raised now (after every earlier one)."""
        self._hand_seq += 1
        return (now, self._hand_seq)

    def forget_everyone(self) -> None:
        """forget_everyone empties the room when the meeting ends; barred links and settings stay."""
        self.participants.clear()
        self._conns.clear()
        self._subscribed.clear()
        self._hands_sent.clear()
        self.host_left.stop()
        self._hosts_were_present = False
        self._had_participants = False

    def take_out(self, p: Participant) -> Effects:
        """take_out takes p out of the room; the caller audits and closes the connection."""
        before = self.viewers_of(p)
        was_admitted = p.admitted
        p.state = State.GONE
        if p.conn is not None:
            self._conns.pop(p.conn, None)
        del self.participants[p.id]
        self._subscribed.pop(p.id, None)
        self._hands_sent.pop(p.id, None)
        has_media = p.conn is not None or p.media_kept
        effects: Effects = [JanusDetach(p.id)] if was_admitted and has_media else []
        # The participant's own connection is closing; the others are told.
        return effects + self.announce(p, before - {p.id})

    def _hosts_present(self) -> bool:
        return any(p.is_host and p.admitted for p in self.participants.values())

    def settings_message(self) -> dict[str, Any]:
        """settings_message is the ``settings`` message: locked and whether guests may unmute."""
        return {"type": "settings", "locked": self.locked, "guests_may_unmute": self.guests_may_unmute}

    def snapshot(self, p: Participant) -> dict[str, Any]:
        """snapshot is what p sees on joining or admission: participants, hands and settings."""
        if not p.admitted:
            return {"participants": [p.entry()], "hands": [], "settings": self._settings_message_body()}
        hands = tuple(q.id for q in self.hands_queue() if may_see(self.policy, p, q))
        self._hands_sent[p.id] = hands  # the snapshot carries them; sync sends only changes
        return {
            "participants": [q.entry(p.is_host) for q in self.visible_to(p.id)],
            "hands": list(hands),
            "settings": self._settings_message_body(),
        }

    def _settings_message_body(self) -> dict[str, bool]:
        return {"locked": self.locked, "guests_may_unmute": self.guests_may_unmute}

    def forget_conn(self, conn: ConnId) -> None:
        """forget_conn: conn is no one's connection any more (for :mod:`.handover`)."""
        self._conns.pop(conn, None)

    def remember_conn(self, conn: ConnId, p: Participant) -> None:
        """remember_conn: conn is p's connection now (for :mod:`.handover`)."""
        self._conns[conn] = p.id

    def new_resume_token(self) -> str:
        """new_resume_token makes the secret a participant resumes with."""
        return self._new_secret()

    def joined_message(self, p: Participant, *, resumed: bool) -> dict[str, Any]:
        """joined_message is the ``joined`` p is sent on joining or resuming."""
        return {
            "type": "joined",
            "participant": p.id,
            "role": str(p.role),
            "state": str(p.state),
            "resumed": resumed,
            "resume": p.resume_token,
            "policy": self.policy.client_view(),
            **self.snapshot(p),
        }

    def sync(self, now: float) -> Effects:
        """sync brings everything derived up to date: the host-left countdown, the
        lobby's hosts_present, each participant's streams and hands queue."""
        effects: Effects = []
        present = self._hosts_present()
        admitted = [p for p in self.participants.values() if p.admitted]
        if present != self._hosts_were_present:
            lobby = [p for p in self.participants.values() if p.state is State.LOBBY]
            if lobby:
                effects.append(Send(self.conns_of(lobby), {"type": "lobby", "hosts_present": present}))
        guests = [p for p in admitted if not p.is_host]
        change = self.host_left.follow(
            hosts_were_present=self._hosts_were_present, hosts_present=present, guests=bool(guests), now=now
        )
        if change is Change.STARTED:
            effects.append(Audit("meeting.host_left", "system", {"guests": len(guests)}))
            message = host_left_message(self.host_left.full_seconds())
            effects.append(Send(self.conns_of(guests), message))
        elif change is Change.STOPPED:
            effects.append(Send(self.conns_of(admitted), host_returned_message()))
        self._hosts_were_present = present
        # Whoever was lost with a vardmote process still sends media (handover.py).
        publishers = [p for p in admitted if p.streams and (p.conn is not None or p.media_kept)]
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
