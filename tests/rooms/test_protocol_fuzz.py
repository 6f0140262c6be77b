"""A protocol fuzzer (hypothesis, stateful): random and mutated frames from guests, lobby
guests, hosts and strangers, joins, resumes and time passing, in every default meeting type.

Whatever comes, the room:

- never raises (a frame the protocol refuses is refused with an error, as the glue does);
- never gives Janus anything of someone not admitted: no offer, answer or candidate relayed
  for them, no subscription for them or to their streams;
- never shows a name across the visibility rules: a guest waiting in the lobby is named only
  to hosts, and in an anonymous meeting an attendee is named only to hosts and to themself.

Names are unique words with digits and chat text has no digits, so a name found in a message
was put there by the room, not typed by someone.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from room_helpers import CLINICIAN, COLLEAGUE, ROOM_DEVICE, Meeting, Person

from vardmote.meetings.types import DEFAULT_TYPES
from vardmote.rooms import messages
from vardmote.rooms.effects import (
    Effect,
    JanusAnswer,
    JanusCandidate,
    JanusOffer,
    Send,
    SetSubscriptions,
)
from vardmote.rooms.participant import LinkHolder, State

GUESTS = [Person(f"g{n}", LinkHolder(200 + n), f"Gästnamn{n}7{n}") for n in range(5)]
SHARED = [Person(f"s{n}", LinkHolder(300), f"Delad{n}9{n}") for n in range(2)]
"""Two people by the meeting's general link (one LinkHolder, each a participant of their own)."""
PEOPLE = [CLINICIAN, COLLEAGUE, ROOM_DEVICE, *GUESTS, *SHARED]
STRANGER = "nobody"
"""A connection that never joined."""
TYPES = [row["key"] for row in DEFAULT_TYPES]

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzåäö ,.!?", max_size=40)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _words, st.just("p1"), st.just("x" * 300))
_TYPES_SENT = [*messages._PARSERS, "", "JOIN", "admit ", "nonsense"]


def _frames(targets: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """_frames are protocol objects: a known or unknown type with fields that fit or not."""
    target = st.sampled_from([*targets, "p999", "", "annika"]) if targets else st.just("p1")
    fields = st.dictionaries(
        st.sampled_from(["participant", "pc", "sdp", "candidate", "text", "allowed", "camera", "microphone"]),
        st.one_of(_scalars, target, st.dictionaries(_words, _scalars, max_size=3)),
        max_size=4,
    )
    well_formed = st.one_of(
        st.builds(lambda t: {"type": "admit", "participant": t}, target),
        st.builds(lambda t: {"type": "remove", "participant": t}, target),
        st.builds(lambda t: {"type": "deny", "participant": t}, target),
        st.builds(lambda t: {"type": "give_floor", "participant": t}, target),
        st.builds(lambda t: {"type": "mute", "participant": t}, target),
        st.builds(lambda text: {"type": "chat", "text": text}, _words),
        st.builds(
            lambda pc: {"type": "offer", "pc": pc, "sdp": "v=0\r\n"}, st.sampled_from(["publisher", "screen"])
        ),
        st.just({"type": "answer", "pc": "subscriber", "sdp": "v=0\r\n"}),
        st.just({"type": "candidate", "pc": "publisher", "candidate": {"candidate": "c", "sdpMid": "0"}}),
        st.just({"type": "share_start"}),
        st.just({"type": "raise_hand"}),
        st.just({"type": "leave"}),
        st.just({"type": "end"}),
        st.just({"type": "lock"}),
        st.just({"type": "mute_all_guests"}),
    )
    mutated = st.builds(lambda kind, rest: {**rest, "type": kind}, st.sampled_from(_TYPES_SENT), fields)
    return st.one_of(well_formed, mutated)


class RoomUnderFire(RuleBasedStateMachine):
    """RoomUnderFire drives one room with what hypothesis draws and checks every step."""

    @initialize(type_key=st.sampled_from(TYPES))
    def open_room(self, type_key: str) -> None:
        self.meeting = Meeting(type_key)
        self.effects: list[Effect] = []
        self.before: dict[str, tuple[State, bool]] = {}
        self.anonymous = self.meeting.room.policy.anonymous

    def _step(self, act: Any) -> None:
        room = self.meeting.room
        self.before = {p.id: (p.state, p.is_host) for p in room.participants.values()}
        self.effects = act()

    @rule(who=st.sampled_from(PEOPLE), resume=st.booleans())
    def join(self, who: Person, resume: bool) -> None:
        token = None
        if resume:
            known = [p for p in self.meeting.room.participants.values() if p.identity == who.identity]
            token = known[0].resume_token if known else "resume-none"
        self._step(lambda: self.meeting.join(who, resume=token))

    @rule(who=st.sampled_from([*PEOPLE, STRANGER]), data=st.data())
    def send(self, who: Person | str, data: st.DataObject) -> None:
        conn = who if isinstance(who, str) else who.conn
        frame = data.draw(_frames(list(self.meeting.room.participants)))
        try:
            command = messages.decode(json.dumps(frame))
        except messages.ProtocolError:
            return  # the glue answers with an error frame; the room never sees it
        if isinstance(command, messages.Join):
            return  # a join goes through Room.join, with the identity the glue proved
        if self.meeting.room.participant_for(conn) is None:
            return  # the glue refuses every frame before join (not_joined)
        self._step(lambda: self.meeting.room.handle(conn, command, self.meeting.now))

    @rule(seconds=st.sampled_from([0.5, 5, 31, 61]))
    def later(self, seconds: float) -> None:
        self._step(lambda: self.meeting.later(seconds))

    @invariant()
    def janus_hears_of_admitted_people_only(self) -> None:
        room = self.meeting.room
        admitted = {p.id for p in room.participants.values() if p.state is State.ADMITTED}
        for e in self.effects:
            if isinstance(e, JanusOffer | JanusAnswer | JanusCandidate):
                assert e.participant_id in admitted, e
            if isinstance(e, SetSubscriptions) and e.streams:
                assert e.participant_id in admitted, e
                assert {s.participant_id for s in e.streams} <= admitted, e

    @invariant()
    def names_stay_where_they_may_be_seen(self) -> None:
        room = self.meeting.room
        now = {p.id: (p.state, p.is_host) for p in room.participants.values()}
        by_conn = {p.conn: p for p in room.participants.values() if p.conn is not None}
        guests = [p for p in room.participants.values() if not p.is_host]
        for e in self.effects:
            if not isinstance(e, Send):
                continue
            text = json.dumps(e.message, ensure_ascii=False)
            for conn in e.to:
                reader = by_conn.get(conn)
                if (
                    reader is None
                    or now.get(reader.id, (None, False))[1]
                    or self.before.get(reader.id, (None, False))[1]
                ):
                    continue  # hosts see everyone; a connection gone this step gets only its goodbye
                for other in guests:
                    if other.id == reader.id:
                        continue
                    in_lobby = self.before.get(other.id, (State.LOBBY,))[0] is State.LOBBY and (
                        now[other.id][0] is State.LOBBY
                    )
                    if self.anonymous or in_lobby:
                        assert other.name not in text, (conn, other.name, e.message)


TestRoomUnderFire = RoomUnderFire.TestCase
TestRoomUnderFire.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
