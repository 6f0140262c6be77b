"""Protocol errors: the fixed list of codes and the default Swedish text of each.

Every refusal in ``docs/protocol.md`` is one :class:`ErrorCode` with a Swedish
``message``, written in :mod:`.texts`. :class:`ProtocolError` is raised only
by :mod:`.messages` when a frame cannot become a command; the room itself
never raises for a refusal but returns a ``SendError`` effect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from vardmote.rooms import texts


class ErrorCode(StrEnum):
    """ErrorCode is the stable, program-readable reason of a refusal."""

    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    NOT_FOUND = "not_found"
    LINK_GONE = "link_gone"
    NOT_ALLOWED = "not_allowed"
    NOT_ADMITTED = "not_admitted"
    MEETING_FULL = "meeting_full"
    LOCKED = "locked"
    REMOVED = "removed"
    MEETING_ENDED = "meeting_ended"
    MEDIA_UNAVAILABLE = "media_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    """The service cannot reach what it shares live meetings through (Redis): reconnect later."""
    TOO_MANY = "too_many"
    """A bound is reached (the lobby, connections from one address): try again in a while."""
    RESTART_FAILED = "restart_failed"
    """An ``ice_restart`` found nothing to restart, or Janus refused it: the rest goes on."""


DEFAULT_TEXT: dict[ErrorCode, str] = {
    ErrorCode.BAD_MESSAGE: texts.BAD_MESSAGE,
    ErrorCode.UNKNOWN_TYPE: texts.UNKNOWN_TYPE,
    ErrorCode.TOO_LARGE: texts.TOO_LARGE,
    ErrorCode.RATE_LIMITED: texts.RATE_LIMITED,
    ErrorCode.NOT_JOINED: texts.NOT_JOINED,
    ErrorCode.ALREADY_JOINED: texts.ALREADY_JOINED,
    ErrorCode.NOT_FOUND: texts.NOT_FOUND,
    ErrorCode.LINK_GONE: texts.LINK_GONE,
    ErrorCode.NOT_ALLOWED: texts.NOT_ALLOWED,
    ErrorCode.NOT_ADMITTED: texts.NOT_ADMITTED,
    ErrorCode.SERVICE_UNAVAILABLE: texts.SERVICE_UNAVAILABLE,
    ErrorCode.MEETING_FULL: texts.MEETING_FULL,
    ErrorCode.LOCKED: texts.LOCKED,
    ErrorCode.REMOVED: texts.BARRED,
    ErrorCode.MEETING_ENDED: texts.MEETING_ENDED,
    ErrorCode.MEDIA_UNAVAILABLE: texts.MEDIA_UNAVAILABLE,
    ErrorCode.TOO_MANY: texts.TOO_MANY,
    ErrorCode.RESTART_FAILED: texts.RESTART_FAILED,
}
"""The text of each code where nothing more specific is said (the sentences live in :mod:`.texts`)."""


class ProtocolError(Exception):
    """ProtocolError is a frame that cannot become a command; ``request`` is its type if known."""

    def __init__(self, code: ErrorCode, message_sv: str | None = None, request: str | None = None) -> None:
        self.code = code
        self.message_sv = message_sv or DEFAULT_TEXT[code]
        self.request = request
        super().__init__(f"{code}: {self.message_sv}")


def error_frame(code: str, message_sv: str, request: str | None = None) -> dict[str, Any]:
    """error_frame is an ``error`` message as the protocol sends it (request only when known)."""
    frame: dict[str, Any] = {"type": "error", "code": str(code), "message": message_sv}
    if request is not None:
        frame["request"] = request
    return frame
