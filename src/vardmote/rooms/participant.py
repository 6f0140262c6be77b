"""Participants: who is in a room, as what, and what others see of them.

An :data:`Identity` is what the glue proved before the room saw anyone: a
signed-in staff member (the session cookie), the holder of a guest link, or a
registered room device (its token). The room never sees a token, only ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vardmote.rooms.effects import ConnId, StreamKind
from vardmote.rooms.messages import MediaPath
from vardmote.rooms.policy import Role


@dataclass(frozen=True)
class Staff:
    """Staff is a signed-in staff member; they join as host under their account's name."""

    username: str
    display_name: str


@dataclass(frozen=True)
class LinkHolder:
    """LinkHolder is whoever opened a guest link (the link's id, never its token).

    A personal link (made for one recipient) is one person: a second connection
    takes the first one's place, and removing them bars the link. The meeting's
    general link is ``shared``: everyone who opens it is a participant of their
    own (a patient and a relative at two devices), found again only by their
    resume token; removing one does not bar the link for the others.
    """

    link_id: int
    shared: bool = False
    invited_as: str | None = None
    """A personal link's recipient label ("Patient", "Tolk", "Extern part"): shown to hosts only."""


@dataclass(frozen=True)
class Device:
    """Device is a registered room device (Vårdrum); it joins under the name it was registered with."""

    device_id: int
    name: str


Identity = Staff | LinkHolder | Device
"""Who is joining, as the glue established it."""


def is_shared(identity: Identity) -> bool:
    """is_shared tells whether identity is the general link, which several people may use at once."""
    return isinstance(identity, LinkHolder) and identity.shared


def identity_key(identity: Identity) -> str:
    """identity_key is the same for two connections of one person, link or device: take-over by it
    (never for a shared link: see LinkHolder)."""
    match identity:
        case Staff():
            return f"user:{identity.username}"
        case LinkHolder():
            return f"link:{identity.link_id}"
        case Device():
            return f"device:{identity.device_id}"


def actor_of(identity: Identity) -> str:
    """actor_of is how the audit log names them: user:<username>, guest:<link id>, device:<device id>."""
    match identity:
        case Staff():
            return f"user:{identity.username}"
        case LinkHolder():
            return f"guest:{identity.link_id}"
        case Device():
            return f"device:{identity.device_id}"


class State(StrEnum):
    """State of a participant in a room."""

    LOBBY = "lobby"
    ADMITTED = "admitted"
    GONE = "gone"


@dataclass(eq=False)
class Participant:
    """Participant is one person or room device in a room (changed only by the Room)."""

    id: str
    identity: Identity
    role: Role
    name: str
    state: State
    resume_token: str
    conn: ConnId | None
    """The current connection; None while dropped."""
    dropped_at: float | None = None
    """Monotonic time the connection was lost; they keep their place for reconnect_seconds."""
    camera: bool = False
    microphone: bool = False
    host_muted: bool = False
    """A host muted the microphone; Janus drops its audio until it is cleared."""
    hand_raised_at: tuple[float, int] | None = None
    """When the hand went up, and a sequence number that orders equal times."""
    floor: bool = False
    """Anonymous meetings: a host gave this attendee the floor."""
    may_share: bool = False
    """share_start was accepted; a ``screen`` offer is allowed."""
    streams: set[StreamKind] = field(default_factory=set)
    """Publishers live in Janus (reported by the glue)."""
    media_kept: bool = False
    """The connection went with a vardmote process (:mod:`.handover`) while the participant's
    Janus handles stay: a resume with keep_media goes on with the same PeerConnections."""
    reconnecting: bool = False
    """The browser reports its media being restored (``connection`` with state ``reconnecting``)."""
    media_stalled: bool = False
    """Janus receives nothing, neither sound nor picture, on the participant's camera publisher
    (its ``media`` events): they are shown as reconnecting, also when their own network is down
    and they cannot say so."""
    media_path: MediaPath | None = None
    """How the browser's media goes, as it last reported: ``direct`` or through the ``relay``."""
    poor_connection: bool = False
    """The browser last reported much packet loss or a long round trip."""

    @property
    def actor(self) -> str:
        """actor is the participant as the audit log names them."""
        return actor_of(self.identity)

    @property
    def is_host(self) -> bool:
        """is_host tells whether the participant may use host commands."""
        return self.role is Role.HOST

    @property
    def admitted(self) -> bool:
        """admitted tells whether the participant is in the meeting (connected or not)."""
        return self.state is State.ADMITTED

    def entry(self, for_host: bool = False) -> dict[str, Any]:
        """entry is the participant as the participant list shows them; hosts also see what a
        guest was invited as (their personal link's label) and how their media goes."""
        shown: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "state": str(self.state),
            "camera": self.camera,
            "microphone": self.microphone,
            "host_muted": self.host_muted,
            "connected": self.conn is not None,
            "sharing": "screen" in self.streams,
            "floor": self.floor,
            "reconnecting": self.reconnecting or self.media_stalled,
        }
        if for_host and isinstance(self.identity, LinkHolder) and self.identity.invited_as:
            shown["invited_as"] = self.identity.invited_as
        if for_host:  # so that staff can help: the relay in use, a weak connection
            shown["media_path"] = self.media_path
            shown["poor_connection"] = self.poor_connection
        return shown

    def forget_connection_report(self) -> None:
        """forget_connection_report: the PeerConnections the report was about are gone."""
        self.reconnecting = self.media_stalled = self.poor_connection = False
        self.media_path = None
