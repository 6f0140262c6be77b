"""Messages from the browser: a frame becomes one typed command, or a ProtocolError.

:func:`decode` does everything that needs no room: the frame size, JSON, the
``type``, and each field's type and bounds. What the room's state decides
(who may, in which state) is left to :class:`vardmote.rooms.room.Room`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from vardmote.rooms import names, texts
from vardmote.rooms.effects import Pc
from vardmote.rooms.errors import ErrorCode, ProtocolError

MAX_FRAME_BYTES = 64 * 1024
"""Largest text frame accepted; SDP offers with several streams stay well below it."""
MESSAGE_BURST = 50
"""Rate limit per connection (``vardmote.lib.ratelimit.TokenBucket``): messages at once;
an offer's ICE candidates come in a burst."""
MESSAGES_PER_SECOND = 20.0
"""Rate limit per connection: messages per second on average."""
MAX_SDP_CHARS = 60_000
MAX_NAME_CHARS = 60
MAX_CHAT_CHARS = 2000
MAX_ID_CHARS = 64
MAX_TOKEN_CHARS = 200
MAX_CANDIDATE_CHARS = 2000

ConnectionState = Literal["connected", "reconnecting"]
"""What a ``connection`` report says of the browser's media: up, or being restored."""
MediaPath = Literal["direct", "relay"]
"""Whether the browser's media goes straight to Janus or through the TURN relay."""
Quality = Literal["good", "poor"]
"""``poor``: much packet loss or a long round trip (the browser decides from its statistics)."""

_CONNECTION_STATES: frozenset[str] = frozenset({"connected", "reconnecting"})
_MEDIA_PATHS: frozenset[str] = frozenset({"direct", "relay"})
_QUALITIES: frozenset[str] = frozenset({"good", "poor"})

NAME_INVALID = texts.name_invalid(MAX_NAME_CHARS)
CHAT_INVALID = texts.chat_invalid(MAX_CHAT_CHARS)


@dataclass(frozen=True)
class Join:
    """join: the first message; link (a guest link's token), device (a room device's) or the staff cookie."""

    link: str | None
    name: str | None
    resume: str | None
    device: str | None = None
    """A registered room device's token (never together with link)."""
    keep_media: bool = False
    """With resume: the client kept its PeerConnections (its connection went with a vardmote
    process) and goes on with them if the room kept its media (vardmote.rooms.handover)."""


@dataclass(frozen=True)
class Leave:
    """leave: the participant leaves for good."""


@dataclass(frozen=True)
class Offer:
    """offer: the browser offers a publisher (``publisher`` or ``screen``)."""

    pc: Pc
    sdp: str


@dataclass(frozen=True)
class Answer:
    """answer: the browser answers the server's subscriber offer."""

    pc: Pc
    sdp: str


@dataclass(frozen=True)
class Candidate:
    """candidate: one trickled ICE candidate; None means end of candidates."""

    pc: Pc
    candidate: Mapping[str, Any] | None


@dataclass(frozen=True)
class ShareStart:
    """share_start: the participant wants to share their screen."""


@dataclass(frozen=True)
class ShareStop:
    """share_stop: the participant stops sharing."""


@dataclass(frozen=True)
class MediaState:
    """media_state: what the browser is sending."""

    camera: bool
    microphone: bool


@dataclass(frozen=True)
class RaiseHand:
    """raise_hand: the sender raises their hand."""


@dataclass(frozen=True)
class LowerHand:
    """lower_hand: the sender's own hand, or (hosts) someone else's."""

    participant: str | None


@dataclass(frozen=True)
class Chat:
    """chat: a message to the room (in anonymous meetings, an attendee's to hosts)."""

    text: str


@dataclass(frozen=True)
class IceServers:
    """ice_servers: an admitted participant asks for fresh relay credentials (before an ICE restart)."""


@dataclass(frozen=True)
class IceRestart:
    """ice_restart: the browser's subscriber lost its path; Janus is asked for an offer that
    restarts ICE (a publisher restarts with a new ``offer`` of its own)."""

    pc: Pc


@dataclass(frozen=True)
class ConnectionReport:
    """connection: how the browser's media connections are doing (from their statistics)."""

    state: ConnectionState
    path: MediaPath | None
    """``relay`` when the selected candidate pair goes through the TURN relay; None: not known."""
    quality: Quality


@dataclass(frozen=True)
class Admit:
    """admit ("Tillåt"): host lets a participant in from the lobby."""

    participant: str


@dataclass(frozen=True)
class Deny:
    """deny ("Neka"): host turns a participant away from the lobby."""

    participant: str


@dataclass(frozen=True)
class Remove:
    """remove ("Ta bort från mötet"): host removes a participant; the link is barred."""

    participant: str


@dataclass(frozen=True)
class Mute:
    """mute: host mutes one participant's microphone."""

    participant: str


@dataclass(frozen=True)
class MuteAllGuests:
    """mute_all_guests ("Tysta alla gäster")."""


@dataclass(frozen=True)
class Lock:
    """lock: no new guests."""


@dataclass(frozen=True)
class Unlock:
    """unlock: new guests again."""


@dataclass(frozen=True)
class SetGuestsMayUnmute:
    """guests_may_unmute: whether host-muted guests may turn their microphone on."""

    allowed: bool


@dataclass(frozen=True)
class GiveFloor:
    """give_floor: anonymous meetings; the attendee may publish."""

    participant: str


@dataclass(frozen=True)
class TakeFloor:
    """take_floor: anonymous meetings; the attendee's streams stop."""

    participant: str


@dataclass(frozen=True)
class End:
    """end ("Avsluta mötet"): ends the meeting for everyone."""


Command = (
    Join
    | Leave
    | Offer
    | Answer
    | Candidate
    | ShareStart
    | ShareStop
    | MediaState
    | RaiseHand
    | LowerHand
    | Chat
    | IceServers
    | IceRestart
    | ConnectionReport
    | Admit
    | Deny
    | Remove
    | Mute
    | MuteAllGuests
    | Lock
    | Unlock
    | SetGuestsMayUnmute
    | GiveFloor
    | TakeFloor
    | End
)
"""Every message a browser may send."""

HOST_COMMANDS: frozenset[type] = frozenset(
    {Admit, Deny, Remove, Mute, MuteAllGuests, Lock, Unlock, SetGuestsMayUnmute, GiveFloor, TakeFloor, End}
)
"""Commands only an admitted host may send (lower_hand for another is checked apart)."""

_PCS: frozenset[str] = frozenset({"publisher", "screen", "subscriber"})


def _has_bad_characters(value: str, allowed: str = "") -> bool:
    """_has_bad_characters: control characters (but those allowed) and lone surrogates."""
    return any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in value)


class _Fields:
    """_Fields reads the fields of one message, raising bad_message naming the field."""

    def __init__(self, obj: Mapping[str, Any], request: str) -> None:
        self.obj = obj
        self.request = request

    def bad(self, field: str, text: str | None = None) -> ProtocolError:
        return ProtocolError(ErrorCode.BAD_MESSAGE, text or texts.field_invalid(field), self.request)

    def text(
        self, field: str, max_chars: int, *, optional: bool = False, newlines: bool = False
    ) -> str | None:
        value = self.obj.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
            raise self.bad(field)
        if _has_bad_characters(value):
            raise self.bad(field)
        return value

    def required_text(self, field: str, max_chars: int) -> str:
        value = self.text(field, max_chars)
        assert value is not None
        return value

    def boolean(self, field: str) -> bool:
        value = self.obj.get(field)
        if not isinstance(value, bool):
            raise self.bad(field)
        return value

    def pc(self) -> Pc:
        value = self.obj.get("pc")
        if not isinstance(value, str) or value not in _PCS:  # a list or object is no pc (nor hashable)
            raise self.bad("pc")
        return cast(Pc, value)

    def sdp(self) -> str:
        value = self.obj.get("sdp")
        if not isinstance(value, str) or not value.startswith("v=0") or len(value) > MAX_SDP_CHARS:
            raise self.bad("sdp")
        return value

    def participant(self, *, optional: bool = False) -> str | None:
        return self.text("participant", MAX_ID_CHARS, optional=optional)

    def target(self) -> str:
        return self.required_text("participant", MAX_ID_CHARS)


def _join(f: _Fields) -> Join:
    name = f.obj.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise f.bad("name", NAME_INVALID)
        name = " ".join(name.split())
        problem = names.refusal(name, MAX_NAME_CHARS)
        if problem is not None:
            raise f.bad("name", problem)
    link = f.text("link", MAX_TOKEN_CHARS, optional=True)
    device = f.text("device", MAX_TOKEN_CHARS, optional=True)
    if link is not None and device is not None:
        raise f.bad("device", texts.LINK_OR_DEVICE)
    keep_media = f.obj.get("keep_media", False)
    if not isinstance(keep_media, bool):
        raise f.bad("keep_media")
    return Join(
        link=link,
        name=name,
        resume=f.text("resume", MAX_TOKEN_CHARS, optional=True),
        device=device,
        keep_media=keep_media,
    )


def _candidate(f: _Fields) -> Candidate:
    pc = f.pc()
    raw = f.obj.get("candidate", "missing")
    if raw is None:
        return Candidate(pc, None)
    if not isinstance(raw, Mapping):
        raise f.bad("candidate")
    line = raw.get("candidate")
    mid = raw.get("sdpMid")
    index = raw.get("sdpMLineIndex")
    if (
        not isinstance(line, str)
        or len(line) > MAX_CANDIDATE_CHARS
        or not (mid is None or (isinstance(mid, str) and len(mid) <= MAX_ID_CHARS))
        or not (index is None or (type(index) is int and 0 <= index < 1000))
        or (mid is None and index is None)
    ):
        raise f.bad("candidate")
    return Candidate(pc, {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index})


def _connection(f: _Fields) -> ConnectionReport:
    state, path, quality = f.obj.get("state"), f.obj.get("path", "missing"), f.obj.get("quality")
    if not isinstance(state, str) or state not in _CONNECTION_STATES:
        raise f.bad("state", texts.CONNECTION_STATE_INVALID)
    if path is not None and (not isinstance(path, str) or path not in _MEDIA_PATHS):
        raise f.bad("path", texts.CONNECTION_PATH_INVALID)
    if not isinstance(quality, str) or quality not in _QUALITIES:
        raise f.bad("quality", texts.CONNECTION_QUALITY_INVALID)
    return ConnectionReport(
        cast(ConnectionState, state), cast("MediaPath | None", path), cast(Quality, quality)
    )


def _chat(f: _Fields) -> Chat:
    text = f.obj.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHAT_CHARS:
        raise f.bad("text", CHAT_INVALID)
    if _has_bad_characters(text, allowed="\n"):
        raise f.bad("text", CHAT_INVALID)
    return Chat(text)


_PARSERS: dict[str, Callable[[_Fields], Command]] = {
    "join": _join,
    "leave": lambda f: Leave(),
    "offer": lambda f: Offer(f.pc(), f.sdp()),
    "answer": lambda f: Answer(f.pc(), f.sdp()),
    "candidate": _candidate,
    "share_start": lambda f: ShareStart(),
    "share_stop": lambda f: ShareStop(),
    "media_state": lambda f: MediaState(f.boolean("camera"), f.boolean("microphone")),
    "raise_hand": lambda f: RaiseHand(),
    "lower_hand": lambda f: LowerHand(f.participant(optional=True)),
    "chat": _chat,
    "ice_servers": lambda f: IceServers(),
    "ice_restart": lambda f: IceRestart(f.pc()),
    "connection": _connection,
    "admit": lambda f: Admit(f.target()),
    "deny": lambda f: Deny(f.target()),
    "remove": lambda f: Remove(f.target()),
    "mute": lambda f: Mute(f.target()),
    "mute_all_guests": lambda f: MuteAllGuests(),
    "lock": lambda f: Lock(),
    "unlock": lambda f: Unlock(),
    "guests_may_unmute": lambda f: SetGuestsMayUnmute(f.boolean("allowed")),
    "give_floor": lambda f: GiveFloor(f.target()),
    "take_floor": lambda f: TakeFloor(f.target()),
    "end": lambda f: End(),
}
"""Each message type and how its fields are read."""

MESSAGE_TYPES: frozenset[str] = frozenset(_PARSERS)
"""Every type a browser may send."""


def decode(frame: str | bytes) -> Command:
    """decode turns one WebSocket frame into a command, or raises ProtocolError.

    Binary frames and frames over MAX_FRAME_BYTES are refused before any
    parsing; the glue closes the connection after ``too_large``.
    """
    if isinstance(frame, bytes):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, texts.TEXT_FRAMES_ONLY)
    if len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE)
    try:
        obj = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_MESSAGE) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE)
    kind = obj["type"]
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE)
    return parser(_Fields(obj, kind))


def request_type(command: Command) -> str:
    """request_type is the protocol's ``type`` of a command (for errors and the audit)."""
    return _TYPE_OF[type(command)]


_TYPE_OF: dict[type, str] = {
    Join: "join",
    Leave: "leave",
    Offer: "offer",
    Answer: "answer",
    Candidate: "candidate",
    ShareStart: "share_start",
    ShareStop: "share_stop",
    MediaState: "media_state",
    RaiseHand: "raise_hand",
    LowerHand: "lower_hand",
    Chat: "chat",
    IceServers: "ice_servers",
    IceRestart: "ice_restart",
    ConnectionReport: "connection",
    Admit: "admit",
    Deny: "deny",
    Remove: "remove",
    Mute: "mute",
    MuteAllGuests: "mute_all_guests",
    Lock: "lock",
    Unlock: "unlock",
    SetGuestsMayUnmute: "guests_may_unmute",
    GiveFloor: "give_floor",
    TakeFloor: "take_floor",
    End: "end",
}
