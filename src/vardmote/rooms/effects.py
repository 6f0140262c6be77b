"""Effects: what a room asks the glue to do after each event.

The room's methods change its state and return a list of effects, in the
order they must be carried out; the glue (the WebSocket endpoint and the
Janus runtime) carries them out and decides nothing itself. Messages to
browsers are addressed to **connection ids**, so that a connection that was
taken over can still be told; Janus effects are addressed to **participant
ids**, because a participant's Janus handles outlive no connection but are
named after the participant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vardmote.rooms.errors import error_frame

ConnId = str
"""The glue's id of one WebSocket connection (opaque to the room)."""

StreamKind = Literal["camera", "screen"]
"""A publisher in Janus: camera and microphone, or a screen share."""

PublisherPc = Literal["publisher", "screen"]
"""The browser's publishing peer connections."""

Pc = Literal["publisher", "screen", "subscriber"]
"""Every peer connection a participant has."""


@dataclass(frozen=True, order=True)
class StreamRef:
    """StreamRef names one stream: a participant's camera or screen publisher."""

    participant_id: str
    kind: StreamKind

    def as_message(self) -> dict[str, str]:
        """as_message is the stream as the ``streams`` message shows it."""
        return {"participant": self.participant_id, "kind": self.kind}


@dataclass(frozen=True)
class Send:
    """Send a message (a JSON object) to each of the connections ``to``."""

    to: tuple[ConnId, ...]
    message: Mapping[str, Any]


@dataclass(frozen=True)
class SendError:
    """SendError sends ``{"type": "error", "code", "message", "request"}`` to one connection."""

    to: ConnId
    code: str
    message_sv: str
    request: str | None = None

    def as_message(self) -> dict[str, Any]:
        """as_message is the error as the protocol sends it."""
        return error_frame(self.code, self.message_sv, self.request)


@dataclass(frozen=True)
class SendWithIceServers:
    """SendWithIceServers sends message to an admitted participant's connection with
    ``ice_servers`` added: relay credentials the glue makes for that participant (``[]`` when
    the service has no relay). The room holds no secret and reads no clock, so it never makes
    them itself; and it asks for them only for the admitted, never for the lobby."""

    to: ConnId
    participant_id: str
    message: Mapping[str, Any]


@dataclass(frozen=True)
class CloseConnection:
    """CloseConnection closes a connection once the messages before it are sent."""

    conn: ConnId
    reason: str
    """A short code for logs: left, denied, removed, ended, taken_over, refused, host_left."""


@dataclass(frozen=True)
class JanusOffer:
    """JanusOffer relays a browser's publisher offer to Janus; Janus's answer goes back
    as ``{"type": "answer", "pc": pc, "sdp": …}``. For ``screen`` with full_resolution
    the publisher gets no bitrate cap; then the glue calls ``Room.stream_started``."""

    participant_id: str
    pc: PublisherPc
    sdp: str
    full_resolution: bool = False


@dataclass(frozen=True)
class JanusAnswer:
    """JanusAnswer relays the browser's answer to the subscriber offer (Janus ``start``)."""

    participant_id: str
    sdp: str


@dataclass(frozen=True)
class JanusCandidate:
    """JanusCandidate trickles one ICE candidate (None: end of candidates) to Janus."""

    participant_id: str
    pc: Pc
    candidate: Mapping[str, Any] | None


@dataclass(frozen=True)
class JanusRestartIce:
    """JanusRestartIce asks Janus for a subscriber offer that restarts ICE (VideoRoom
    ``configure`` with ``restart``); it goes to the browser as the usual subscriber ``offer``."""

    participant_id: str


@dataclass(frozen=True)
class JanusMute:
    """JanusMute mutes (or un-mutes) every audio stream a participant publishes in Janus,
    the camera's microphone and a screen share's sound (VideoRoom ``moderate``), so a host
    mute holds whatever the browser does."""

    participant_id: str
    muted: bool


@dataclass(frozen=True)
class JanusUnpublish:
    """JanusUnpublish stops one publisher of a participant (floor taken, share stopped)."""

    participant_id: str
    kind: StreamKind


@dataclass(frozen=True)
class JanusDetach:
    """JanusDetach removes every Janus handle of a participant (publishers and
    subscriber): on leave, drop, removal (the kick), take-over and end."""

    participant_id: str


@dataclass(frozen=True)
class SetSubscriptions:
    """SetSubscriptions makes a participant's subscriber receive exactly these streams.

    The glue updates the Janus subscription (subscribe/unsubscribe) and sends the
    new subscriber offer with its mid → stream map. An empty set after a
    JanusDetach needs nothing done."""

    participant_id: str
    streams: frozenset[StreamRef]


@dataclass(frozen=True)
class DestroyJanusRoom:
    """DestroyJanusRoom destroys the meeting's VideoRoom room in Janus: the room emptied
    or was ended. It may come for a room never made in Janus (only a lobby), so
    destroying must do nothing when there is no room."""


@dataclass(frozen=True)
class Audit:
    """Audit writes one entry to the audit log for the room's meeting."""

    action: str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)


Effect = (
    Send
    | SendWithIceServers
    | SendError
    | CloseConnection
    | JanusOffer
    | JanusAnswer
    | JanusCandidate
    | JanusRestartIce
    | JanusMute
    | JanusUnpublish
    | JanusDetach
    | SetSubscriptions
    | DestroyJanusRoom
    | Audit
)
"""Everything a room can ask for."""
