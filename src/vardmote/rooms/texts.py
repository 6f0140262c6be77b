"""Texts: every Swedish sentence the live meeting shows people, in one place.

The rules (:mod:`.room`, :mod:`.host_commands`, :mod:`.messages`, ...) and
their I/O edge (:mod:`.live`) name a sentence here and never write one
themselves, so that one situation always reads the same. :mod:`.errors`
gives each error code its default sentence from this module.

Pages and the browser show these as they are (``docs/protocol.md``: the
``message`` of ``error``, ``denied``, ``removed``, ``ended`` ...).
"""

from __future__ import annotations

# ---- default sentence of each error code (errors.DEFAULT_TEXT) --------------------------------

BAD_MESSAGE = "Meddelandet kunde inte läsas."
UNKNOWN_TYPE = "Okänd meddelandetyp."
TOO_LARGE = "Meddelandet är för stort."
RATE_LIMITED = "För många meddelanden på kort tid. Vänta en stund."
NOT_JOINED = "Anslut till mötet först."
ALREADY_JOINED = "Du är redan ansluten till mötet."
NOT_FOUND = "Deltagaren finns inte i mötet."
LINK_GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)
NOT_ALLOWED = "Det är inte tillåtet i det här mötet."
NOT_ADMITTED = "Du väntar i lobbyn. En värd släpper in dig när mötet börjar."
MEETING_FULL = "Mötet är fullt."
LOCKED = "Mötet är låst. Det går inte att ansluta just nu."
BARRED = "Du har tagits bort från mötet och kan inte ansluta igen med den här länken."
MEETING_ENDED = "Mötet är avslutat."
"""Said to a guest who joins an ended meeting, and to everyone when a host presses "Avsluta mötet"."""
MEDIA_UNAVAILABLE = "Videotjänsten svarar inte just nu. Försök igen om en stund."
SERVICE_UNAVAILABLE = "Mötestjänsten svarar inte just nu. Sidan försöker igen av sig själv."
"""Janus is not answering; the client may offer again."""
TOO_MANY = "Det är för många anslutningar just nu. Försök igen om en stund."

# ---- bounds on connections (vardmote.web.signalling) -------------------------------------------

LOBBY_FULL = "Det är för många som väntar i lobbyn just nu. Försök igen om en stund."
"""A guest who would wait in a lobby that already holds VARDMOTE_LOBBY_LIMIT guests."""
TOO_MANY_CONNECTIONS = (
    "Det finns för många öppna anslutningar från din adress. Stäng andra fönster och försök igen."
)
"""A WebSocket beyond VARDMOTE_CONNECTIONS_PER_ADDRESS from one address."""
JOIN_TOO_LATE = "Anslutningen stängdes eftersom den inte anslöt till mötet i tid. Ladda om sidan."
"""A WebSocket that sent no valid join within VARDMOTE_JOIN_DEADLINE_SECONDS."""
FLOODING = "För många meddelanden på kort tid. Anslutningen stängs."
"""A connection whose frames went over the rate limit again and again."""

# ---- refusals with more to say than the code's default -----------------------------------------

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
RESTART_BY_OFFER = "Den anslutningen startas om med ett nytt erbjudande (offer) från webbläsaren."
"""An ``ice_restart`` for a publisher: the browser restarts its own connections with a new offer."""
RESTART_FAILED = "Mottagningen kunde inte startas om just nu. Den startas om igen av sig själv."
"""An ``ice_restart`` with nothing to restart, or one Janus refused: the browser tries again later."""

# ---- connection reports (messages.decode) -------------------------------------------------------

CONNECTION_STATE_INVALID = "Fältet 'state' ska vara ”connected” eller ”reconnecting”."
CONNECTION_PATH_INVALID = "Fältet 'path' ska vara ”direct”, ”relay” eller null."
CONNECTION_QUALITY_INVALID = "Fältet 'quality' ska vara ”good” eller ”poor”."

# ---- reading a frame (messages.decode) ---------------------------------------------------------

MEETING_NOT_FOUND = "Mötet finns inte."
SIGN_IN_OR_LINK = "Logga in eller använd din länk till mötet."
NO_ROOM = "Videomöten är avstängda i den här installationen."
LINK_OR_DEVICE = "Anslut antingen med en länk eller som rumsenhet, inte båda."
TEXT_FRAMES_ONLY = "Skicka meddelanden som text (JSON)."

# ---- what a participant is told when they have to go ------------------------------------------

DENIED = "Vårdpersonalen har inte släppt in dig i mötet."
REMOVED = "Vårdpersonalen har tagit bort dig från mötet."
TAKEN_OVER = "Du har anslutit till mötet i ett annat fönster eller på en annan enhet."
ENDED_HOST_LEFT = "Vårdpersonalen har lämnat mötet, så mötet är avslutat."
MEETING_CANCELLED = "Mötet är avbokat."
"""Said to everyone in a meeting that staff cancel ("Avboka") while it is live."""
MEETING_UNPROTECTED = "Mötet är inte längre ett videomöte. Kontakta din mottagning om du har frågor."
"""Said to everyone in a meeting whose protection staff remove ("Ta bort möte") while it is live."""
HOSTING_WITHDRAWN = "Du är inte längre inbjuden att leda det här mötet."
"""Said to a colleague whose staff invitation is removed while they host the meeting."""
ACCOUNT_CLOSED = (
    "Ditt konto är inaktiverat, så du kan inte vara kvar i mötet. Kontakta din administratör om det är fel."
)
"""Said to a staff member whose account is deactivated while they are in the meeting."""
TYPE_CHANGED = "Vårdpersonalen har ändrat mötet. Anslut igen, så väntar du i lobbyn tills du blir insläppt."
"""Said to every guest when staff give a live meeting another type ("Välj om mötestyp")."""


NAME_INVISIBLE = (
    "Namnet innehåller tecken som inte syns, till exempel osynliga mellanrum eller tecken som "
    "vänder skrivriktningen. Skriv ditt namn med vanliga bokstäver."
)
"""The refusal of a guest's name with a control or format character (rooms.names)."""
NAME_LOOKS_LIKE_ROLE = (
    "Namnet får inte se ut som en roll i mötet, till exempel ”mötesorganisatör”, ”värd” eller "
    "”vårdpersonal”. Skriv bara ditt namn."
)
"""The refusal of a guest's name that reads as a host's role (rooms.names)."""


def name_invalid(max_chars: int) -> str:
    """name_invalid is the refusal of a guest's name that is empty or too long."""
    return f"Skriv ditt namn med högst {max_chars} tecken."


def chat_invalid(max_chars: int) -> str:
    """chat_invalid is the refusal of a chat message that is empty or too long."""
    return f"Ett chattmeddelande ska ha 1–{max_chars} tecken."


def field_invalid(field: str) -> str:
    """field_invalid is the refusal of a message whose field is missing or wrong."""
    return f"Fältet {field!r} saknas eller är fel."


def meeting_full(limit: int) -> str:
    """meeting_full is the reason "Tillåt" (or a direct entry) is refused at the limit."""
    return f"Mötet är fullt: högst {limit} deltagare får vara med."


def host_left(seconds: int) -> str:
    """host_left is what admitted participants are told when the last host has gone."""
    return (
        f"Vårdpersonalen har lämnat mötet. Mötet avslutas om {seconds} sekunder"
        " om ingen från vårdpersonalen kommer tillbaka."
    )
