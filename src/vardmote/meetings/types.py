"""Meeting types: the policy table of SPEC.md, as data.

:data:`DEFAULT_TYPES` is written into the ``meeting_types`` table when a row is
missing (:func:`ensure_meeting_types`); rows that exist are left alone, so an
administrator's limits survive restarts and upgrades. Everything else reads
the table through :func:`list_types` and :func:`get_type`, never the keys.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.errors import Forbidden, InvalidInput, NotFound
from vardmote.lib.text import is_key
from vardmote.meetings.models import MeetingType

MAX_CONFIGURABLE_LIMIT = 1000
"""Highest participant limit an administrator may set."""

DEFAULT_TYPES: list[dict[str, Any]] = [
    {
        "key": "vardmote_patient",
        "label": "Vårdmöte patient",
        "sort_order": 10,
        "description": [
            "Möte med enskild patient/närstående/tolk",
            "Behandlingsgrupp med flera patienter där integritetskänslig information delas mellan deltagare",
            "Samverkansmöte med extern professionell part om enskild patient, SIP",
        ],
        "participant_limit": 15,
        "limit_configurable": False,
        "lobby_rule": "guests_wait",
        "who_may_join": "staff_and_guests",
        "has_guest_link": True,
        "anonymous": False,
        "content_sharing": "standard",
        "booked_from": "booking_dialog",
    },
    {
        "key": "digitalt_vardmote",
        "label": "Digitalt vårdmöte",
        "sort_order": 20,
        "description": ["En patient och en vårdpersonal, bokat från journalsystemet"],
        "participant_limit": 2,
        "limit_configurable": False,
        "lobby_rule": "guests_wait",
        "who_may_join": "staff_and_guests",
        "has_guest_link": True,
        "anonymous": False,
        "content_sharing": "standard",
        "booked_from": "journal_api",
    },
    {
        "key": "informationsmote_patient",
        "label": "Informationsmöte patient",
        "sort_order": 30,
        "description": [
            "Föreläsning och utbildning med patient/närstående där innehållet är generellt "
            "och av allmän karaktär.",
        ],
        "participant_limit": 100,
        "limit_configurable": True,
        "lobby_rule": "guests_wait",
        "who_may_join": "staff_and_guests",
        "has_guest_link": True,
        "anonymous": True,
        "content_sharing": "standard",
        "booked_from": "booking_dialog",
    },
    {
        "key": "internt",
        "label": "Internt möte utan patient",
        "sort_order": 40,
        "description": ["Möte med sekretess mellan vårdpersonal/regionanställda."],
        "participant_limit": 50,
        "limit_configurable": True,
        "lobby_rule": "none",
        "who_may_join": "staff_only",
        "has_guest_link": False,
        "anonymous": False,
        "content_sharing": "standard",
        "booked_from": "booking_dialog",
    },
    {
        "key": "vardrum",
        "label": "Vårdrum",
        "sort_order": 50,
        "description": [
            "Patient kommer till mottagning och får hjälp att koppla upp till ett "
            "videosamtal med vårdpersonal på distans.",
        ],
        "participant_limit": 15,
        "limit_configurable": False,
        "lobby_rule": "guests_wait",
        "who_may_join": "staff_and_room_device",
        "has_guest_link": True,
        "anonymous": False,
        "content_sharing": "standard",
        "booked_from": "booking_dialog",
    },
    {
        "key": "mdk",
        "label": "MDK",
        "sort_order": 60,
        "description": [
            "För externa multidisciplinära vårdkonferenser, ronder på distans, delning av "
            "högupplösta bilder m.m.",
        ],
        "participant_limit": 15,
        "limit_configurable": False,
        "lobby_rule": "guests_wait",
        "who_may_join": "staff_and_guests",
        "has_guest_link": True,
        "anonymous": False,
        "content_sharing": "full_resolution",
        "booked_from": "booking_dialog",
    },
]


def ensure_meeting_types(s: Session) -> None:
    """ensure_meeting_types inserts every default type whose row is missing."""
    present = set(s.scalars(select(MeetingType.key)))
    for row in DEFAULT_TYPES:
        if row["key"] not in present:
            s.add(MeetingType(**row))
    s.flush()


def list_types(s: Session, *, bookable_only: bool = False) -> list[MeetingType]:
    """list_types returns the types in card order; bookable_only keeps the dialog's cards."""
    query = select(MeetingType).order_by(MeetingType.sort_order, MeetingType.key)
    if bookable_only:
        query = query.where(MeetingType.booked_from == "booking_dialog")
    return list(s.scalars(query))


def get_type(s: Session, key: str) -> MeetingType:
    """get_type returns the type with key, or raises InvalidInput naming the field."""
    row = s.get(MeetingType, key) if is_key(key) else None
    if row is None:
        raise InvalidInput.one("type_key", f"Okänd mötestyp: {key[:40]!r}.")
    return row


def limit_text(meeting_type: MeetingType) -> str | None:
    """limit_text is the card line, e.g. 'Deltagarbegränsning: max 15 personer'."""
    if meeting_type.participant_limit is None:
        return None
    return f"Deltagarbegränsning: max {meeting_type.participant_limit} personer"


def set_limit(s: Session, actor: str, key: str, limit: int) -> MeetingType:
    """set_limit changes a configurable participant limit (administrators only)."""
    row = s.get(MeetingType, key) if is_key(key) else None
    if row is None:
        raise NotFound("Mötestypen finns inte.")
    if not row.limit_configurable:
        raise Forbidden(f"Deltagarbegränsningen för {row.label} går inte att ändra.")
    if not 1 <= limit <= MAX_CONFIGURABLE_LIMIT:
        raise InvalidInput.one(
            "participant_limit",
            f"Deltagarbegränsningen ska vara ett heltal från 1 till {MAX_CONFIGURABLE_LIMIT}.",
        )
    if row.participant_limit != limit:
        record(
            s,
            actor,
            "meeting_type.limit_changed",
            details={"type": key, "from": row.participant_limit, "to": limit},
        )
        row.participant_limit = limit
    return row
