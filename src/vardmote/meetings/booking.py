"""Booking rules: validate a meeting form and expand a recurrence. Pure, no I/O.

The pages, the API and the command line all hand what a person typed to
:func:`validate_booking`, which either returns a :class:`Booking` that is safe
to store or raises :class:`~vardmote.errors.InvalidInput` naming every wrong
field in Swedish. Times are read as wall-clock time in the service's time zone
unless they carry an offset, and returned in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from vardmote.errors import FieldError, InvalidInput
from vardmote.lib.text import has_control_characters
from vardmote.lib.timeutil import local_to_utc

MAX_TITLE = 200
MAX_PARTICIPANTS = 100
MAX_OCCURRENCES = 100
"""A series has at most this many occurrences."""
MAX_DURATION = dt.timedelta(hours=12)
MAX_AHEAD = dt.timedelta(days=2 * 366)
"""Meetings (and series) may be booked at most this far ahead."""
PAST_TOLERANCE = dt.timedelta(minutes=5)
"""A start this much in the past is still accepted (a form filled in slowly)."""
FREQUENCIES = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}

_EMAIL = re.compile(r"^[^@\s<>\"',;\x00-\x1f\x7f]+@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;\x00-\x1f\x7f]+$")


@dataclass(frozen=True)
class Recurrence:
    """Recurrence is "Gör till återkommande": daily or weekly, until a date or count times."""

    frequency: str
    until: dt.date | None = None
    count: int | None = None


@dataclass(frozen=True)
class Booking:
    """Booking is a validated meeting form: the title, UTC times and participants."""

    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    recurrence: Recurrence | None = None


@dataclass
class BookingForm:
    """BookingForm is what a person typed, as text, before validation."""

    title: str = ""
    start: str = ""
    end: str = ""
    required: str | list[str] = ""
    optional: str | list[str] = ""
    frequency: str = ""
    until: str = ""
    count: str = ""


def parse_time(raw: str, tz: ZoneInfo) -> dt.datetime | None:
    """parse_time reads '2026-12-01T09:00' (or with a space, or an offset) as UTC."""
    text = raw.strip().replace(" ", "T", 1)
    if not text or len(text) > 40:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    try:
        if value.tzinfo is None:
            return local_to_utc(value, tz)
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def parse_addresses(raw: str | list[str]) -> list[str] | None:
    """parse_addresses splits on ';', ',' or new lines; None if one is not an address."""
    parts = raw if isinstance(raw, list) else re.split(r"[;,\n]", raw)
    out: list[str] = []
    for part in parts:
        address = part.strip()
        if not address:
            continue
        if len(address) > 254 or not _EMAIL.match(address):
            return None
        if address.lower() not in (a.lower() for a in out):
            out.append(address)
    return out


def _recurrence(
    form: BookingForm, start_local: dt.date | None, now: dt.datetime, errors: list[FieldError]
) -> Recurrence | None:
    frequency = form.frequency.strip()
    if not frequency:
        return None
    if frequency not in FREQUENCIES:
        errors.append(FieldError("frequency", "Välj om mötet återkommer varje dag eller varje vecka."))
        return None
    until_raw, count_raw = form.until.strip(), form.count.strip()
    if bool(until_raw) == bool(count_raw):
        errors.append(
            FieldError(
                "until",
                "Ange antingen ett slutdatum eller ett antal tillfällen för återkommande möte.",
            )
        )
        return None
    if count_raw:
        if not (count_raw.isascii() and count_raw.isdigit()) or not 2 <= int(count_raw) <= MAX_OCCURRENCES:
            errors.append(
                FieldError("count", f"Antal tillfällen ska vara ett heltal från 2 till {MAX_OCCURRENCES}.")
            )
            return None
        return Recurrence(frequency, count=int(count_raw))
    try:
        until = dt.date.fromisoformat(until_raw)
    except ValueError:
        errors.append(FieldError("until", "Slutdatum ska skrivas ÅÅÅÅ-MM-DD."))
        return None
    if start_local is not None and until <= start_local:
        errors.append(
            FieldError("until", "Slutdatum för återkommande möte måste vara efter första mötets dag.")
        )
        return None
    if until > (now + MAX_AHEAD).date():
        errors.append(FieldError("until", "Återkommande möten kan bokas högst två år framåt."))
        return None
    if start_local is not None:
        step_days = FREQUENCIES[frequency].days
        if (until - start_local).days // step_days + 1 > MAX_OCCURRENCES:
            errors.append(
                FieldError(
                    "until",
                    f"Ett återkommande möte kan ha högst "
                    f"{MAX_OCCURRENCES} tillfällen. Välj ett tidigare slutdatum.",
                )
            )
            return None
    return Recurrence(frequency, until=until)


def validate_booking(
    form: BookingForm, now: dt.datetime, tz: ZoneInfo, *, keep_start: dt.datetime | None = None
) -> Booking:
    """validate_booking checks every field and returns a Booking, or raises InvalidInput.

    keep_start is the stored start when an existing meeting is changed: leaving
    an ongoing meeting's start as it is does not count as booking in the past.
    """
    errors: list[FieldError] = []
    title = " ".join(form.title.split())
    if not title:
        errors.append(FieldError("title", "Ange en rubrik för mötet."))
    elif len(title) > MAX_TITLE:
        errors.append(FieldError("title", f"Rubriken får vara högst {MAX_TITLE} tecken (nu {len(title)})."))
    elif has_control_characters(title):
        errors.append(FieldError("title", "Rubriken innehåller otillåtna tecken (kontrolltecken)."))
    starts_at = parse_time(form.start, tz)
    ends_at = parse_time(form.end, tz)
    if starts_at is None:
        errors.append(FieldError("start", "Ange starttid som ÅÅÅÅ-MM-DD TT:MM."))
    if ends_at is None:
        errors.append(FieldError("end", "Ange sluttid som ÅÅÅÅ-MM-DD TT:MM."))
    if starts_at is not None:
        if starts_at < now - PAST_TOLERANCE and starts_at != keep_start:
            errors.append(FieldError("start", "Starttiden har redan passerat. Välj en tid framåt i tiden."))
        elif starts_at > now + MAX_AHEAD:
            errors.append(FieldError("start", "Möten kan bokas högst två år framåt."))
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            errors.append(FieldError("end", "Sluttiden måste vara efter starttiden."))
        elif ends_at - starts_at > MAX_DURATION:
            errors.append(FieldError("end", "Ett möte kan vara högst 12 timmar."))
    required = parse_addresses(form.required)
    optional = parse_addresses(form.optional)
    if required is None:
        errors.append(FieldError("required", "Skriv deltagarnas e-postadresser, åtskilda med semikolon."))
    if optional is None:
        errors.append(FieldError("optional", "Skriv deltagarnas e-postadresser, åtskilda med semikolon."))
    if required is not None and optional is not None:
        optional = [a for a in optional if a.lower() not in {r.lower() for r in required}]
        if len(required) + len(optional) > MAX_PARTICIPANTS:
            errors.append(
                FieldError("required", f"Högst {MAX_PARTICIPANTS} deltagare kan bjudas in till ett möte.")
            )
    start_day = starts_at.astimezone(tz).date() if starts_at is not None else None
    recurrence = _recurrence(form, start_day, now, errors)
    if errors:
        raise InvalidInput(errors)
    assert starts_at is not None
    assert ends_at is not None
    return Booking(title, starts_at, ends_at, required or [], optional or [], recurrence)


def occurrences(booking: Booking, tz: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """occurrences lists (start, end) in UTC for every occurrence of the booking.

    Steps are taken in wall-clock time, so a weekly 09:00 meeting stays at
    09:00 across the change to and from summer time.
    """
    if booking.recurrence is None:
        return [(booking.starts_at, booking.ends_at)]
    step = FREQUENCIES[booking.recurrence.frequency]
    local_start = booking.starts_at.astimezone(tz).replace(tzinfo=None)
    duration = booking.ends_at - booking.starts_at
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for i in range(MAX_OCCURRENCES):
        local = local_start + i * step
        if booking.recurrence.count is not None and i >= booking.recurrence.count:
            break
        if booking.recurrence.until is not None and local.date() > booking.recurrence.until:
            break
        start = local_to_utc(local, tz)
        out.append((start, start + duration))
    return out
