"""Snapshot: a live meeting's Room as plain JSON, and back, on another process's clock.

Scale-out keeps each live meeting's :class:`~vardmote.rooms.room.Room` in Redis
after every change, so that when the process holding it dies another process
(maybe on another machine) takes the meeting over. :func:`dump` gives a
``json.dumps``-able dict of everything in the Room, private counters included;
:func:`load` rebuilds a Room that behaves exactly as the original would have.

Times: a Room keeps monotonic seconds of its own process (``dropped_at``, a hand's
turn, the host-left countdown's start, ``links_expire_at``). Monotonic clocks
mean nothing across processes, so every time goes out as wall-clock seconds
(``wall - now`` added) and comes back on the reading process's monotonic clock
(its ``wall - now`` taken away). Both sides pass ``now`` (their monotonic clock)
and ``wall`` (``time.time()``) read at the same moment; this module reads no clock
and does no I/O. The wall clocks of the processes must agree (NTP) as closely as
the timers need to be right.

What is not in a snapshot: the Room's ``new_secret`` function (a process's own;
:func:`load` takes one or uses the Room's default), and each participant's connection report
(:data:`NOT_SAVED`). Connection ids are kept as
they are: the process taking over must know them from its own WebSocket
connections, or drop them (``Room.drop``) so that their owners resume.

Malformed data or an unknown ``version`` raise ``ValueError`` and nothing else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from vardmote.rooms.effects import StreamKind, StreamRef
from vardmote.rooms.participant import Device, Identity, LinkHolder, Participant, Staff, State
from vardmote.rooms.policy import Role, RoomPolicy
from vardmote.rooms.room import Room

VERSION = 1
"""The snapshot format; :func:`load` refuses any other."""

E = TypeVar("E", Role, State)

_STREAM_KINDS: frozenset[str] = frozenset({"camera", "screen"})
_POLICY_FIELDS = tuple(f.name for f in dataclasses.fields(RoomPolicy))


def dump(room: Room, *, now: float, wall: float) -> dict[str, Any]:
    """dump is room as plain JSON; now is the room's monotonic clock and wall the wall clock, read
    together."""
    offset = wall - now

    def to_wall(t: float | None) -> float | None:
        return None if t is None else t + offset

    # The counters and the derived state sync keeps are private to Room; a snapshot is the
    # one place outside it that reads (and, in load, writes) them.
    return {
        "version": VERSION,
        "meeting_id": room.meeting_id,
        "policy": _dump_policy(room.policy),
        "reconnect_seconds": room.reconnect_seconds,
        "host_left": {"seconds": room.host_left.seconds, "since": to_wall(room.host_left.since)},
        "participants": [_dump_participant(p, to_wall) for p in room.participants.values()],
        "locked": room.locked,
        "guests_may_unmute": room.guests_may_unmute,
        "barred": sorted(room.barred),
        "ended": room.ended,
        "links_expire_at": to_wall(room.links_expire_at),
        "conns": dict(room._conns),
        "next_id": room._next_id,
        "hand_seq": room._hand_seq,
        "hosts_were_present": room._hosts_were_present,
        "subscribed": {
            pid: [[ref.participant_id, ref.kind] for ref in sorted(refs)]
            for pid, refs in room._subscribed.items()
        },
        "hands_sent": {pid: list(hands) for pid, hands in room._hands_sent.items()},
        "had_participants": room._had_participants,
    }


def load(data: Any, *, now: float, wall: float, new_secret: Callable[[], str] | None = None) -> Room:
    """load rebuilds the Room dump gave, on this process's clock (now, monotonic, and wall, read
    together); new_secret makes resume tokens (the Room's default if None). Raises ValueError on
    an unknown version or malformed data."""
    d = _Obj(data, "snapshot")
    version = d.raw("version")
    if type(version) is not int or version != VERSION:
        raise ValueError(f"room snapshot: unknown version {version!r} (this process reads {VERSION})")
    offset = wall - now

    def to_mono(t: float | None) -> float | None:
        return None if t is None else t - offset

    host_left = d.obj("host_left")
    extra: dict[str, Any] = {} if new_secret is None else {"new_secret": new_secret}
    room = Room(
        d.text("meeting_id"),
        _load_policy(d.obj("policy")),
        reconnect_seconds=d.number("reconnect_seconds"),
        host_left_seconds=host_left.number("seconds"),
        **extra,
    )
    room.host_left.since = to_mono(host_left.opt_number("since"))
    for i, raw in enumerate(d.array("participants")):
        p = _load_participant(_Obj(raw, f"participants[{i}]"), offset)
        if p.id in room.participants:
            raise ValueError(f"room snapshot: participant {p.id!r} twice")
        room.participants[p.id] = p
    room.locked = d.flag("locked")
    room.guests_may_unmute = d.flag("guests_may_unmute")
    room.barred = set(d.texts("barred"))
    room.ended = d.flag("ended")
    room.links_expire_at = to_mono(d.opt_number("links_expire_at"))

    conns = {conn: d.obj("conns").text(conn) for conn in d.obj("conns").names()}
    connected = [p for p in room.participants.values() if p.conn is not None]
    if conns != {p.conn: p.id for p in connected} or len(conns) != len(connected):
        raise ValueError("room snapshot: conns do not match the participants' connections")
    room._conns = conns
    room._next_id = d.integer("next_id")
    room._hand_seq = d.integer("hand_seq")
    room._hosts_were_present = d.flag("hosts_were_present")
    subscribed = d.obj("subscribed")
    room._subscribed = {
        pid: frozenset(_load_stream_ref(raw, f"subscribed.{pid}") for raw in subscribed.array(pid))
        for pid in subscribed.names()
    }
    hands_sent = d.obj("hands_sent")
    room._hands_sent = {pid: tuple(hands_sent.texts(pid)) for pid in hands_sent.names()}
    room._had_participants = d.flag("had_participants")
    if not set(room._subscribed) | set(room._hands_sent) <= set(room.participants):
        raise ValueError("room snapshot: subscribed or hands_sent names someone not in the room")
    return room


# ---- policy and identities -------------------------------------------------------------------


def _dump_policy(policy: RoomPolicy) -> dict[str, Any]:
    shown = {name: getattr(policy, name) for name in _POLICY_FIELDS}
    if policy.link_role is not None:
        shown["link_role"] = str(policy.link_role)
    return shown


def _load_policy(d: _Obj) -> RoomPolicy:
    if set(d.names()) != set(_POLICY_FIELDS):
        raise ValueError(f"room snapshot: policy must have exactly {sorted(_POLICY_FIELDS)}")
    limit = d.raw("participant_limit")
    if limit is not None and type(limit) is not int:
        raise ValueError(f"room snapshot: policy.participant_limit must be an integer or null, got {limit!r}")
    link_role = d.opt_text("link_role")
    role = None if link_role is None else _enum(Role, link_role, "policy.link_role")
    try:
        return RoomPolicy(
            participant_limit=limit,
            guests_wait_in_lobby=d.flag("guests_wait_in_lobby"),
            link_role=role,
            anonymous=d.flag("anonymous"),
            full_resolution_sharing=d.flag("full_resolution_sharing"),
            room_devices=d.flag("room_devices"),
        )
    except ValueError as err:  # the policy's own checks (a limit below 1, links making hosts)
        raise ValueError(f"room snapshot: policy: {err}") from err


def dump_identity(identity: Identity) -> dict[str, Any]:
    """dump_identity is who joined as plain JSON (a join relayed to another process)."""
    return _dump_identity(identity)


def load_identity(data: Any) -> Identity:
    """load_identity undoes dump_identity; ValueError for anything else."""
    return _load_identity(_Obj(data, "identity"))


def _dump_identity(identity: Identity) -> dict[str, Any]:
    match identity:
        case Staff():
            return {"kind": "staff", "username": identity.username, "display_name": identity.display_name}
        case LinkHolder():
            return {
                "kind": "link",
                "link_id": identity.link_id,
                "shared": identity.shared,
                "invited_as": identity.invited_as,
            }
        case Device():
            return {"kind": "device", "device_id": identity.device_id, "name": identity.name}


def _load_identity(d: _Obj) -> Identity:
    kind = d.text("kind")
    if kind == "staff":
        return Staff(username=d.text("username"), display_name=d.text("display_name"))
    if kind == "link":
        return LinkHolder(
            link_id=d.integer("link_id"), shared=d.flag("shared"), invited_as=d.opt_text("invited_as")
        )
    if kind == "device":
        return Device(device_id=d.integer("device_id"), name=d.text("name"))
    raise ValueError(f"room snapshot: {d.where}.kind must be staff, link or device, got {kind!r}")


# ---- participants ------------------------------------------------------------------------------


_PARTICIPANT_VALUES = (
    "id",
    "identity",
    "role",
    "name",
    "state",
    "resume_token",
    "conn",
    "dropped_at",
    "hand_raised_at",
    "streams",
)
"""The fields of a Participant written one by one; every other field is a flag (true or false)."""
NOT_SAVED = ("reconnecting", "media_stalled", "media_path", "poor_connection")
"""Fields of a Participant deliberately left out: how their media connection is doing, as the
browser last reported it (``connection``) and Janus last told (its ``media`` events). The
process taking a meeting over starts from "connected, path unknown"; the browser reports again
after every ``joined``, and Janus tells again when media stops. Leaving them out also keeps the
format, so that processes of the version before read these snapshots and the other way round."""
_PARTICIPANT_FLAGS = tuple(
    f.name
    for f in dataclasses.fields(Participant)
    if f.name not in _PARTICIPANT_VALUES and f.name not in NOT_SAVED
)
"""camera, microphone, host_muted, floor, may_share and any flag Participant gains."""


def _dump_participant(p: Participant, to_wall: Callable[[float | None], float | None]) -> dict[str, Any]:
    hand = None if p.hand_raised_at is None else [to_wall(p.hand_raised_at[0]), p.hand_raised_at[1]]
    flags = {name: getattr(p, name) for name in _PARTICIPANT_FLAGS}
    not_flags = [name for name, value in flags.items() if type(value) is not bool]
    if not_flags:  # a new field of Participant that snapshot.py must learn to write
        raise TypeError(f"room snapshot: Participant.{not_flags[0]} is not a flag; snapshot.py must know it")
    return {
        "id": p.id,
        "identity": _dump_identity(p.identity),
        "role": str(p.role),
        "name": p.name,
        "state": str(p.state),
        "resume_token": p.resume_token,
        "conn": p.conn,
        "dropped_at": to_wall(p.dropped_at),
        "hand_raised_at": hand,
        "streams": sorted(p.streams),
        **flags,
    }


def _load_participant(d: _Obj, offset: float) -> Participant:
    def to_mono(t: float | None) -> float | None:
        return None if t is None else t - offset

    expected = set(_PARTICIPANT_VALUES) | set(_PARTICIPANT_FLAGS)
    if set(d.names()) != expected:
        raise ValueError(f"room snapshot: {d.where} must have exactly {sorted(expected)}")
    hand_raw = d.raw("hand_raised_at")
    hand: tuple[float, int] | None = None
    if hand_raw is not None:
        if not (isinstance(hand_raw, list) and len(hand_raw) == 2):
            raise ValueError(f"room snapshot: {d.where}.hand_raised_at must be [time, sequence] or null")
        at, seq = _num(hand_raw[0], f"{d.where}.hand_raised_at[0]"), hand_raw[1]
        if type(seq) is not int:
            raise ValueError(f"room snapshot: {d.where}.hand_raised_at[1] must be an integer")
        hand = (at - offset, seq)
    streams = d.texts("streams")
    if not set(streams) <= _STREAM_KINDS:
        raise ValueError(f"room snapshot: {d.where}.streams must be camera or screen, got {streams!r}")
    p = Participant(
        id=d.text("id"),
        identity=_load_identity(d.obj("identity")),
        role=_enum(Role, d.text("role"), f"{d.where}.role"),
        name=d.text("name"),
        state=_enum(State, d.text("state"), f"{d.where}.state"),
        resume_token=d.text("resume_token"),
        conn=d.opt_text("conn"),
        dropped_at=to_mono(d.opt_number("dropped_at")),
        hand_raised_at=hand,
        streams={cast(StreamKind, kind) for kind in streams},
    )
    for name in _PARTICIPANT_FLAGS:
        setattr(p, name, d.flag(name))
    return p


def _load_stream_ref(raw: Any, where: str) -> StreamRef:
    if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(x, str) for x in raw)):
        raise ValueError(f"room snapshot: {where} must hold [participant, kind] pairs")
    if raw[1] not in _STREAM_KINDS:
        raise ValueError(f"room snapshot: {where}: unknown stream kind {raw[1]!r}")
    return StreamRef(raw[0], cast(StreamKind, raw[1]))


# ---- reading plain JSON strictly ---------------------------------------------------------------


def _enum(cls: type[E], value: str, where: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"room snapshot: {where} cannot be {value!r}") from None


def _num(value: Any, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"room snapshot: {where} must be a finite number, got {value!r}")
    return float(value)


class _Obj:
    """_Obj reads one JSON object of a snapshot, refusing a missing key or a value of another type."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise ValueError(f"room snapshot: {where} must be a JSON object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def names(self) -> list[str]:
        return list(self.data)

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise ValueError(f"room snapshot: {self.where} has no {key!r}")
        return self.data[key]

    def _typed(self, key: str, kind: type, name: str, *, optional: bool = False) -> Any:
        value = self.raw(key)
        if (value is None and optional) or type(value) is kind:
            return value
        raise ValueError(f"room snapshot: {self.where}.{key} must be {name}, got {value!r}")

    def text(self, key: str) -> str:
        return cast(str, self._typed(key, str, "a string"))

    def opt_text(self, key: str) -> str | None:
        return cast("str | None", self._typed(key, str, "a string or null", optional=True))

    def flag(self, key: str) -> bool:
        return cast(bool, self._typed(key, bool, "true or false"))

    def integer(self, key: str) -> int:
        return cast(int, self._typed(key, int, "an integer"))

    def number(self, key: str) -> float:
        return _num(self.raw(key), f"{self.where}.{key}")

    def opt_number(self, key: str) -> float | None:
        value = self.raw(key)
        return None if value is None else _num(value, f"{self.where}.{key}")

    def array(self, key: str) -> list[Any]:
        return cast("list[Any]", self._typed(key, list, "a list"))

    def texts(self, key: str) -> list[str]:
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"room snapshot: {self.where}.{key} must be a list of strings")
        return values

    def obj(self, key: str) -> _Obj:
        return _Obj(self.raw(key), f"{self.where}.{key}")
