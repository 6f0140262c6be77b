"""Helpers for the room tests: named people, a room driven by protocol frames, effect filters."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from vardmote.meetings.types import DEFAULT_TYPES
from vardmote.rooms import messages
from vardmote.rooms.effects import Audit, CloseConnection, Effect, Send, SendError, SendWithIceServers
from vardmote.rooms.participant import Device, Identity, LinkHolder, Staff
from vardmote.rooms.policy import RoomPolicy
from vardmote.rooms.room import Room

RECONNECT_SECONDS = 30
HOST_LEFT_SECONDS = 60


@dataclass(frozen=True)
class Person:
    """Person is someone who joins: their connection id, identity and chosen name."""

    conn: str
    identity: Identity
    name: str | None = None


CLINICIAN = Person("annika", Staff("annika", "Annika Berg"))
"""The clinician who booked the meeting and hosts it."""
COLLEAGUE = Person("bertil", Staff("bertil", "Bertil Ek"))
"""A second clinician, also a host."""
PATIENT = Person("david", LinkHolder(11), "David")
GUARDIAN = Person("maria", LinkHolder(12), "Maria")
INTERPRETER = Person("sara", LinkHolder(13), "Sara, tolk")
CHILD = Person("elsa", LinkHolder(14), "Elsa")
ROOM_DEVICE = Person("vardrum3", Device(7, "Vårdrum 3, Allergimottagning"))
"""The registered room computer a patient at the clinic joins from (Vårdrum)."""


def guest(n: int) -> Person:
    """guest is the n-th extra guest of a big meeting, with a link of their own."""
    return Person(f"guest{n}", LinkHolder(100 + n), f"Gäst {n}")


def policy_of(key: str) -> RoomPolicy:
    """policy_of is the policy of one of the real default meeting types."""
    row = next(row for row in DEFAULT_TYPES if row["key"] == key)
    return RoomPolicy.from_mapping(row)


class Meeting:
    """Meeting is a Room driven as the glue drives it: frames in, effects out, time passed in."""

    def __init__(self, policy: RoomPolicy | str = "vardmote_patient") -> None:
        counter = itertools.count(1)
        self.room = Room(
            "m-1",
            policy_of(policy) if isinstance(policy, str) else policy,
            reconnect_seconds=RECONNECT_SECONDS,
            host_left_seconds=HOST_LEFT_SECONDS,
            new_secret=lambda: f"resume-{next(counter)}",
        )
        self.now = 0.0

    def join(self, who: Person, *, conn: str | None = None, resume: str | None = None) -> list[Effect]:
        """join joins who on their own connection (or conn)."""
        return self.room.join(conn or who.conn, who.identity, who.name, self.now, resume)

    def send(self, who: Person | str, message: dict[str, Any]) -> list[Effect]:
        """send sends one message as a frame from who's connection."""
        conn = who if isinstance(who, str) else who.conn
        return self.room.handle(conn, messages.decode(json.dumps(message)), self.now)

    def pid(self, who: Person | str) -> str:
        """pid is the participant id of who's current connection."""
        conn = who if isinstance(who, str) else who.conn
        p = self.room.participant_for(conn)
        assert p is not None, f"{conn} is not in the room"
        return p.id

    def state(self, who: Person) -> str:
        """state is who's state in the room."""
        return str(self.room.participants[self.pid(who)].state)

    def admitted(self, *people: Person) -> None:
        """admitted joins people and lets the guests in, with CLINICIAN as host."""
        for who in people:
            self.join(who)
            if not isinstance(who.identity, Staff):
                assert not errors(self.send(CLINICIAN, {"type": "admit", "participant": self.pid(who)}))

    def later(self, seconds: float) -> list[Effect]:
        """later lets time pass and ticks the room."""
        self.now += seconds
        return self.room.tick(self.now)


def to(effects: list[Effect], who: Person | str, kind: str | None = None) -> list[dict[str, Any]]:
    """to is the messages sent to who's connection, of one type if given."""
    conn = who if isinstance(who, str) else who.conn
    sent: list[dict[str, Any]] = []
    for e in effects:
        if isinstance(e, Send) and conn in e.to:
            sent.append(dict(e.message))
        if isinstance(e, SendWithIceServers) and e.to == conn:
            sent.append(dict(e.message))  # the glue adds ice_servers (rooms.network)
        if isinstance(e, SendError) and e.to == conn:
            sent.append(e.as_message())
    return [msg for msg in sent if kind is None or msg["type"] == kind]


def errors(effects: list[Effect]) -> list[SendError]:
    """errors is every refusal in effects."""
    return [e for e in effects if isinstance(e, SendError)]


def only_error(effects: list[Effect]) -> tuple[str, str]:
    """only_error is (code, message) of the one refusal in effects."""
    found = errors(effects)
    assert len(found) == 1, f"expected one error, got {found}"
    return found[0].code, found[0].message_sv


def audits(effects: list[Effect], action: str | None = None) -> list[Audit]:
    """audits is every audit entry in effects, of one action if given."""
    return [e for e in effects if isinstance(e, Audit) and (action is None or e.action == action)]


def closed(effects: list[Effect]) -> list[str]:
    """closed is the connections effects close."""
    return [e.conn for e in effects if isinstance(e, CloseConnection)]


def of(effects: list[Effect], kind: type) -> list[Any]:
    """of is the effects of one class."""
    return [e for e in effects if isinstance(e, kind)]
