"""Room policy: what a meeting type's row means for the live meeting.

:class:`RoomPolicy` is read from a ``meeting_types`` row (the ORM object or a
mapping such as one of ``DEFAULT_TYPES``) through tables, never by testing a
type's key. An unknown value in a row is an error when the policy is made,
not a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar


class Role(StrEnum):
    """Role of a participant in a room."""

    HOST = "host"
    """Signed-in staff: enter directly, may use every host command."""
    GUEST = "guest"
    """Someone with a guest link: patient, relative, interpreter, external professional."""
    ROOM_DEVICE = "room_device"
    """A clinic's registered room device (Vårdrum), proven by its own token, not a link."""


_LOBBY_RULES: dict[str, bool] = {"guests_wait": True, "none": False}
"""lobby_rule → whether link holders wait in the lobby."""

_LINK_ROLES: dict[str, Role | None] = {
    "staff_and_guests": Role.GUEST,
    "staff_and_room_device": Role.GUEST,
    "staff_only": None,
}
"""who_may_join → the role a guest link gives (None: links let nobody in).

In a Vårdrum meeting a link is a patient or relative at home: a guest. The
room device itself joins with its own token (:data:`_ROOM_DEVICES`)."""

_ROOM_DEVICES: dict[str, bool] = {
    "staff_and_guests": False,
    "staff_and_room_device": True,
    "staff_only": False,
}
"""who_may_join → whether registered room devices may join."""

_CONTENT_SHARING: dict[str, bool] = {"standard": False, "full_resolution": True}
"""content_sharing → whether shares go at full resolution."""


class PolicyRow(Protocol):
    """PolicyRow is what RoomPolicy reads of a meeting type (``MeetingType`` has it)."""

    @property
    def participant_limit(self) -> int | None: ...
    @property
    def lobby_rule(self) -> str: ...
    @property
    def who_may_join(self) -> str: ...
    @property
    def has_guest_link(self) -> bool: ...
    @property
    def anonymous(self) -> bool: ...
    @property
    def content_sharing(self) -> str: ...


T = TypeVar("T")


def _look_up(table: Mapping[str, T], column: str, value: str) -> T:
    if value not in table:
        raise ValueError(f"meeting type {column} must be one of {sorted(table)}, got {value!r}")
    return table[value]


@dataclass(frozen=True)
class RoomPolicy:
    """RoomPolicy is the rules of one live meeting, as its type defines them."""

    participant_limit: int | None
    """Admitted participants at most (hosts included); None means no limit."""
    guests_wait_in_lobby: bool
    """Whether link holders and room devices wait in the lobby until a host admits them."""
    link_role: Role | None
    """The role a guest link gives; None when links let nobody in (internal meetings)."""
    anonymous: bool
    """Attendees see only hosts and publish nothing unless a host gives them the floor."""
    full_resolution_sharing: bool
    """Screen shares go at full resolution with no bitrate cap (MDK)."""
    room_devices: bool
    """Registered room devices may join (Vårdrum); they wait in the lobby as link holders do."""

    def __post_init__(self) -> None:
        if self.participant_limit is not None and self.participant_limit < 1:
            raise ValueError(f"participant_limit must be at least 1 or None, got {self.participant_limit}")
        if self.link_role is Role.HOST:
            raise ValueError("a guest link can never make a host")

    @classmethod
    def from_meeting_type(cls, row: PolicyRow) -> RoomPolicy:
        """from_meeting_type reads the policy of a ``MeetingType`` row."""
        link_role = _look_up(_LINK_ROLES, "who_may_join", row.who_may_join)
        return cls(
            participant_limit=row.participant_limit,
            guests_wait_in_lobby=_look_up(_LOBBY_RULES, "lobby_rule", row.lobby_rule),
            link_role=link_role if row.has_guest_link else None,
            anonymous=row.anonymous,
            full_resolution_sharing=_look_up(_CONTENT_SHARING, "content_sharing", row.content_sharing),
            room_devices=_look_up(_ROOM_DEVICES, "who_may_join", row.who_may_join),
        )

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> RoomPolicy:
        """from_mapping reads the policy of a row given as a mapping (e.g. ``DEFAULT_TYPES``)."""
        return cls.from_meeting_type(_MappingRow(row))

    def client_view(self) -> dict[str, Any]:
        """client_view is the policy as the ``joined`` message gives it to the browser."""
        return {
            "participant_limit": self.participant_limit,
            "lobby": self.guests_wait_in_lobby,
            "anonymous": self.anonymous,
            "content_sharing": "full_resolution" if self.full_resolution_sharing else "standard",
        }


@dataclass(frozen=True)
class _MappingRow:
    row: Mapping[str, Any]

    @property
    def participant_limit(self) -> int | None:
        value = self.row["participant_limit"]
        return None if value is None else int(value)

    @property
    def lobby_rule(self) -> str:
        return str(self.row["lobby_rule"])

    @property
    def who_may_join(self) -> str:
        return str(self.row["who_may_join"])

    @property
    def has_guest_link(self) -> bool:
        return bool(self.row["has_guest_link"])

    @property
    def anonymous(self) -> bool:
        return bool(self.row["anonymous"])

    @property
    def content_sharing(self) -> str:
        return str(self.row["content_sharing"])
