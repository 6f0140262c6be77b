"""Rebooking: book a protected meeting for each Skype meeting, once.

Each Skype meeting (or occurrence) becomes one protected meeting booked
through :func:`vardmote.meetings.service.book`, with the same start and end,
the chosen meeting type and the subject as title — or "Ombokat Skypemöte"
when the subject carries personal data. Nothing else is copied: not the
body, the location nor the attendees. The attendees are listed as "invite
again": they get the new link through "Skicka anslutningslänk", where the
invitation guard checks what is sent.

Everything runs in the caller's transaction. A meeting whose source is in
``skype_rebookings`` is reported as already rebooked and not booked again;
two rebookings of the same meeting at once collide on the table's unique
source, and the second fails whole (Conflict) rather than booking twice. A
meeting the booking rules refuse (it has passed, lasts over 12 hours, lies
over two years ahead) is reported with the reason and the others go on: the
rules are checked before anything of it is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.accounts.models import User
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.errors import Conflict, InvalidInput
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import book
from vardmote.meetings.types import get_type
from vardmote.skype.listing import SkypeMeeting
from vardmote.skype.models import SkypeRebooking

DEFAULT_TYPE = "vardmote_patient"
"""The meeting type a Skype meeting becomes unless another is chosen."""

CONFLICT = (
    "Några av mötena bokades om av någon annan samtidigt. Inget har sparats; "
    "läs in filen igen för att se vilka som redan är ombokade."
)

Status = Literal["rebooked", "already", "refused"]


@dataclass(frozen=True)
class Rebookable:
    """Rebookable is what rebooking needs of one Skype meeting, and what is shown of it afterwards.

    It holds no text of the Skype meeting that carried personal data: title is the
    new meeting's title and label the subject with personal data masked.
    """

    source: str
    title: str
    label: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    recurring: bool
    personal_data: str
    """What kinds of personal data the Skype meeting had, and where; empty if none."""
    invite_again: tuple[str, ...]
    """The attendees, as "Name <address>"."""
    skype_organiser: str = ""
    """The Skype meeting's organiser (ORGANIZER): a meeting organised outside the region is not ours to
    rebook, and the administrator deselects it."""

    @classmethod
    def of(cls, meeting: SkypeMeeting) -> Rebookable:
        """of takes what rebooking needs from a listed Skype meeting."""
        return cls(
            source=meeting.source,
            title=meeting.new_title,
            label=meeting.masked_title,
            starts_at=meeting.occurrence.starts_at,
            ends_at=meeting.occurrence.ends_at,
            recurring=meeting.occurrence.recurring,
            personal_data=meeting.personal_data,
            invite_again=tuple(str(a) for a in meeting.invite_again),
            skype_organiser=meeting.occurrence.organiser,
        )

    def to_json(self) -> dict[str, Any]:
        """to_json is the Rebookable as JSON data (times as ISO 8601 in UTC)."""
        data = asdict(self)
        data["starts_at"] = self.starts_at.isoformat()
        data["ends_at"] = self.ends_at.isoformat()
        data["invite_again"] = list(self.invite_again)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rebookable:
        """from_json reads what to_json wrote; raises ValueError/KeyError/TypeError on anything else."""
        return cls(
            source=str(data["source"]),
            title=str(data["title"]),
            label=str(data["label"]),
            starts_at=dt.datetime.fromisoformat(data["starts_at"]).astimezone(dt.UTC),
            ends_at=dt.datetime.fromisoformat(data["ends_at"]).astimezone(dt.UTC),
            recurring=bool(data["recurring"]),
            personal_data=str(data["personal_data"]),
            invite_again=tuple(str(a) for a in data["invite_again"]),
            skype_organiser=str(data.get("skype_organiser", "")),
        )


@dataclass(frozen=True)
class Outcome:
    """Outcome is what became of one Skype meeting: rebooked now, already rebooked, or refused."""

    item: Rebookable
    status: Status
    meeting_id: str | None = None
    """The protected meeting (new, or the earlier one when already rebooked)."""
    problem: str = ""
    """Why it was refused, in Swedish."""


def check_type(s: Session, type_key: str) -> str:
    """check_type returns type_key if it is a type the booking dialog books, else raises InvalidInput."""
    meeting_type = get_type(s, type_key)
    if meeting_type.booked_from != "booking_dialog":
        raise InvalidInput.one(
            "type_key", f"{meeting_type.label} bokas från journalsystemet, inte i bokningsdialogen."
        )
    return meeting_type.key


def rebooked_meetings(s: Session, sources: Sequence[str]) -> dict[str, str]:
    """rebooked_meetings maps each of sources that is already rebooked to its protected meeting's id."""
    found: dict[str, str] = {}
    for i in range(0, len(sources), 500):
        rows = s.execute(
            select(SkypeRebooking.source, SkypeRebooking.meeting_id).where(
                SkypeRebooking.source.in_(sources[i : i + 500])
            )
        )
        found.update({source: meeting_id for source, meeting_id in rows})
    return found


def _refusal(e: InvalidInput) -> str:
    return " ".join(dict.fromkeys(f.message for f in e.fields)) or e.message


def _source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _form(ctx: Context, item: Rebookable) -> BookingForm:
    return BookingForm(
        title=item.title,
        start=item.starts_at.astimezone(ctx.tz).isoformat(),
        end=item.ends_at.astimezone(ctx.tz).isoformat(),
    )


def rebook(
    ctx: Context,
    s: Session,
    organiser: User,
    items: Sequence[Rebookable],
    type_key: str,
    actor: str,
) -> list[Outcome]:
    """rebook books a protected meeting of type_key, organised by organiser, for each item not yet
    rebooked, and audits each as ``skype.rebooked`` by actor."""
    type_key = check_type(s, type_key)
    outcomes: list[Outcome] = []
    for item in items:
        earlier = s.scalar(select(SkypeRebooking).where(SkypeRebooking.source == item.source))
        if earlier is not None:
            outcomes.append(Outcome(item, "already", earlier.meeting_id))
            continue
        try:
            meeting = book(ctx, s, organiser, _form(ctx, item), type_key)[0]
        except InvalidInput as e:
            outcomes.append(Outcome(item, "refused", problem=_refusal(e)))
            continue
        s.add(SkypeRebooking(source=item.source, meeting_id=meeting.id, rebooked_by=actor))
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(CONFLICT) from None
        record(
            s,
            actor,
            "skype.rebooked",
            meeting.id,
            {
                "source_hash": _source_hash(item.source),
                "organiser": organiser.username,
                "type": type_key,
                "recurring": item.recurring,
                "invite_again": len(item.invite_again),
            },
        )
        outcomes.append(Outcome(item, "rebooked", meeting.id))
    return outcomes
