"""Protocol errors: the fixed list of codes and the Swedish text people see.

Every refusal in ``docs/protocol.md`` is one :class:`ErrorCode` with a Swedish
``message``. :class:`ProtocolError` is raised only by :mod:`.messages` when a
frame cannot become a command; the room itself never raises for a refusal but
returns a ``SendError`` effect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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


DEFAULT_TEXT: dict[ErrorCode, str] = {
    ErrorCode.BAD_MESSAGE: "Meddelandet kunde inte läsas.",
    ErrorCode.UNKNOWN_TYPE: "Okänd meddelandetyp.",
    ErrorCode.TOO_LARGE: "Meddelandet är för stort.",
    ErrorCode.RATE_LIMITED: "För många meddelanden på kort tid. Vänta en stund.",
    ErrorCode.NOT_JOINED: "Anslut till mötet först.",
    ErrorCode.ALREADY_JOINED: "Du är redan ansluten till mötet.",
    ErrorCode.NOT_FOUND: "Deltagaren finns inte i mötet.",
    ErrorCode.LINK_GONE: (
        "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
        "Kontakta din mottagning om du behöver en ny länk."
    ),
    ErrorCode.NOT_ALLOWED: "Det är inte tillåtet i det här mötet.",
    ErrorCode.NOT_ADMITTED: "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
    ErrorCode.MEETING_FULL: "Mötet är fullt.",
    ErrorCode.LOCKED: "Mötet är låst. Det går inte att ansluta just nu.",
    ErrorCode.REMOVED: "Du har tagits bort från mötet och kan inte ansluta igen med den här länken.",
    ErrorCode.MEETING_ENDED: "Mötet är avslutat.",
    ErrorCode.MEDIA_UNAVAILABLE: "Videotjänsten svarar inte just nu. Försök igen om en liten stund.",
}
"""The text of each code where nothing more specific is said."""

ONLY_HOSTS = "Bara en värd kan göra det."
STAFF_ONLY = "Det här mötet är bara för inloggad personal."
NO_DEVICES = "Rumsenheter kan bara ansluta till möten av typen Vårdrum."
NO_IDENTITY = "Öppna mötet från din länk, eller logga in som personal."
CANNOT_UNMUTE = "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv."
NEEDS_FLOOR = "I det här mötet sänds ditt ljud och din bild bara när en värd ger dig ordet."
SHARE_FIRST = "Starta skärmdelningen först."
WRONG_DIRECTION = "Den anslutningen kan inte ta emot det meddelandet."
FLOOR_ONLY_ANONYMOUS = "Ordet ges bara i möten med anonymt deltagande."
FLOOR_NOT_FOR_HOSTS = "Värdar har alltid ordet."
NOT_ONESELF = "Det går inte att göra med dig själv."
NOT_IN_LOBBY = "Deltagaren väntar inte i lobbyn."
NOT_IN_MEETING = "Deltagaren är inte med i mötet."


def meeting_full(limit: int) -> str:
    """meeting_full is the reason "Tillåt" (or a direct entry) is refused at the limit."""
    return f"Mötet är fullt: högst {limit} deltagare får vara med."


def host_left(seconds: int) -> str:
    """host_left is what admitted participants are told when the last host has gone."""
    return (
        f"Vårdpersonalen har lämnat mötet. Mötet avslutas om {seconds} sekunder"
        " om ingen från vårdpersonalen kommer tillbaka."
    )


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
