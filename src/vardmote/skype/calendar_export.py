"""Calendar export: read an iCalendar file (bytes) and list its event occurrences in a period.

:func:`read_calendar` checks the file before anything else: its size (at most
:data:`MAX_FILE_BYTES`, checked before parsing), its encoding (UTF-8, with or
without a byte-order mark) and that it is iCalendar with at least one event.
Each failure is an :class:`~vardmote.errors.InvalidInput` on the field ``file``
with a Swedish message that says what to do. Messages and logs never quote
the file: a calendar may hold patient data, and the parser's own errors do.

:func:`occurrences` expands recurring events (RRULE, RDATE, EXDATE and
RECURRENCE-ID overrides) with python-dateutil. Each series is expanded up to
``horizon`` and at most :data:`MAX_OCCURRENCES` occurrences from the start of
the period; what lies beyond is cut off and counted. Cancelled events
(STATUS:CANCELLED, or a file with METHOD:CANCEL) are left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr  # type: ignore[import-untyped]
from icalendar import Calendar
from icalendar.cal import Component
from icalendar.prop import vDDDLists, vDDDTypes

from vardmote.errors import InvalidInput
from vardmote.skype.recognition import TEXT_PROPERTIES as SEARCHED_PROPERTIES

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Largest calendar file read: 20 MB, years of an ordinary calendar."""

MAX_OCCURRENCES = 500
"""A recurring series contributes at most this many occurrences from the start of the period."""

MAX_STEPS = 100_000
"""Recurrence steps taken per series before giving up (a rule that repeats every minute since 1990)."""

DEFAULT_DURATION = dt.timedelta(minutes=30)
"""Length of a timed event with neither DTEND nor DURATION."""

MAX_SOURCE = 400
"""Longest source key stored (SkypeRebooking.source); longer ones are replaced by a hash."""

TEXT_PROPERTIES = (
    *SEARCHED_PROPERTIES,
    "X-MICROSOFT-ONLINEMEETINGINFORMATION",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
)
"""The properties an Occurrence carries as text, for recognition and the personal data check."""

TOO_LARGE = (
    f"Filen är för stor. Högst {MAX_FILE_BYTES // (1024 * 1024)} MB kan läsas; exportera en kortare period."
)
NOT_UTF8 = (
    "Filen är inte kodad i UTF-8 (den verkar vara sparad som Latin-1/Windows-1252). "
    "Exportera kalendern igen från Outlook (Arkiv › Spara kalender, filtyp iCalendar), "
    "eller öppna filen i en textredigerare och spara den med kodningen UTF-8."
)
NOT_ICALENDAR = (
    "Filen är ingen iCalendar-fil (.ics) eller så är den trasig. "
    "Exportera kalendern från Outlook med Arkiv › Spara kalender och välj filtypen iCalendar."
)
EMPTY = "Filen är tom. Välj den .ics-fil som Outlook sparade."
NO_EVENTS = "Filen innehåller inga kalenderhändelser. Kontrollera att rätt kalender och period exporterades."


@dataclass(frozen=True)
class Attendee:
    """Attendee is one invited address of an event, with its display name (CN) when given."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Occurrence:
    """Occurrence is one event, or one occurrence of a recurring event, as found in the file."""

    source: str
    """UID, or ``UID#<RECURRENCE-ID in UTC, ISO 8601>`` for an occurrence of a series."""
    starts_at: dt.datetime
    """UTC."""
    ends_at: dt.datetime
    """UTC."""
    all_day: bool
    recurring: bool
    text: dict[str, str]
    """The properties in TEXT_PROPERTIES that the event has, unescaped."""
    attendees: tuple[Attendee, ...]
    organiser: str
    """ORGANIZER's address, empty if none."""
    master_text: dict[str, str] | None = None
    """For a changed occurrence (RECURRENCE-ID), the series' own text: it is judged by that
    when its own text says nothing."""


@dataclass
class Expansion:
    """Expansion is every occurrence in the period and what had to be left out."""

    occurrences: list[Occurrence]
    events: int
    """VEVENTs in the file."""
    cut_series: int = 0
    """Series cut at MAX_OCCURRENCES or MAX_STEPS (their later occurrences are not listed)."""
    unreadable: int = 0
    """Components without a readable start, skipped."""


def read_calendar(data: bytes) -> Calendar:
    """read_calendar checks size, encoding and format, and returns the parsed calendar."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput.one("file", TOO_LARGE)
    if not data.strip():
        raise InvalidInput.one("file", EMPTY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput.one("file", NOT_UTF8) from None
    if "BEGIN:VCALENDAR" not in text[:4096].upper():
        raise InvalidInput.one("file", NOT_ICALENDAR)
    try:
        calendars = Calendar.from_ical(text, multiple=True)
    except (ValueError, TypeError, KeyError, IndexError):
        # The parser's message quotes the file: it is neither logged nor shown.
        raise InvalidInput.one("file", NOT_ICALENDAR) from None
    if not calendars:
        raise InvalidInput.one("file", NOT_ICALENDAR)
    calendar: Calendar = calendars[0]
    for extra in calendars[1:]:
        for component in extra.subcomponents:
            calendar.add_component(component)
    if not any(True for _ in calendar.walk("VEVENT")):
        raise InvalidInput.one("file", NO_EVENTS)
    return calendar


def _text(value: object) -> str:
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "to_ical") and not isinstance(value, str):
        raw = value.to_ical()
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return str(value)


def _texts(event: Component) -> dict[str, str]:
    return {name: _text(event[name]) for name in TEXT_PROPERTIES if name in event}


def _address(value: object) -> str:
    text = _text(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _attendees(event: Component) -> tuple[Attendee, ...]:
    raw = event.get("ATTENDEE", [])
    values = raw if isinstance(raw, list) else [raw]
    organiser = _address(event.get("ORGANIZER", "")).lower()
    out: dict[str, Attendee] = {}
    for value in values:
        address = _address(value)
        name = str(getattr(value, "params", {}).get("CN", "")).strip()
        if address and address.lower() != organiser and address.lower() not in out:
            out[address.lower()] = Attendee(address, name if name != address else "")
    return tuple(out.values())


def _aware(value: dt.date, tz: ZoneInfo) -> dt.datetime:
    """_aware is a DATE as local midnight, a floating time as local time; aware times as they are."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _start(event: Component) -> dt.date | None:
    prop = event.get("DTSTART")
    value = getattr(prop, "dt", None)
    return value if isinstance(value, dt.date) else None


def _duration(event: Component, start: dt.date, tz: ZoneInfo) -> dt.timedelta:
    end = getattr(event.get("DTEND"), "dt", None)
    if isinstance(end, dt.date) and type(end) is type(start):
        length = _aware(end, tz) - _aware(start, tz)
        if length >= dt.timedelta(0):
            return length
    duration = getattr(event.get("DURATION"), "dt", None)
    if isinstance(duration, dt.timedelta) and duration >= dt.timedelta(0):
        return duration
    return dt.timedelta(days=1) if not isinstance(start, dt.datetime) else DEFAULT_DURATION


def _key(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_key(uid: str, recurrence: dt.datetime | None) -> str:
    """source_key is the SkypeRebooking.source of an event or of one occurrence of a series."""
    key = uid if recurrence is None else f"{uid}#{_key(recurrence)}"
    if len(key) > MAX_SOURCE:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _uid(event: Component) -> str:
    uid = str(event.get("UID", "")).strip()
    if uid:
        return uid
    # No UID (not Outlook): the start and subject name the event, hashed.
    basis = _text(event.get("DTSTART", "")) + "\n" + _text(event.get("SUMMARY", ""))
    return "utan-uid:" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def _dates(event: Component, name: str, tz: ZoneInfo) -> list[dt.datetime]:
    raw = event.get(name, [])
    lists = raw if isinstance(raw, list) else [raw]
    out: list[dt.datetime] = []
    for item in lists:
        values = item.dts if isinstance(item, vDDDLists) else [item]
        for v in values:
            value = v.dt if isinstance(v, vDDDTypes) else getattr(v, "dt", None)
            if isinstance(value, tuple):  # a PERIOD: its start
                value = value[0]
            if isinstance(value, dt.date):
                out.append(_aware(value, tz))
    return out


def _rules(event: Component, start: dt.datetime) -> list[str]:
    raw = event.get("RRULE", [])
    rules = raw if isinstance(raw, list) else [raw]
    out = []
    for rule in rules:
        if not hasattr(rule, "to_ical"):
            continue
        parts = dict(rule)
        until = parts.get("UNTIL")
        if until:
            # dateutil needs UNTIL as aware as DTSTART: a DATE or floating UNTIL is read in DTSTART's zone.
            value = until[0]
            if not isinstance(value, dt.datetime):
                value = dt.datetime.combine(value, dt.time(23, 59, 59))
            if value.tzinfo is None:
                value = value.replace(tzinfo=start.tzinfo)
            parts["UNTIL"] = [value.astimezone(dt.UTC)]
        rule_type = type(rule)
        out.append(rule_type(parts).to_ical().decode())
    return out


def _series(event: Component, start: dt.datetime, tz: ZoneInfo) -> rruleset | None:
    rules = _rules(event, start)
    rdates = _dates(event, "RDATE", tz)
    if not rules and not rdates:
        return None
    series = rruleset()
    for rule in rules:
        try:
            series.rrule(rrulestr(rule, dtstart=start, ignoretz=False))
        except (ValueError, TypeError):
            continue  # an unreadable rule: the first occurrence is still listed
    series.rdate(start)
    for moment in rdates:
        series.rdate(moment)
    for moment in _dates(event, "EXDATE", tz):
        series.exdate(moment)
    return series


def _is_cancelled(event: Component) -> bool:
    return str(event.get("STATUS", "")).strip().upper() == "CANCELLED"


@dataclass
class _Window:
    """_Window is the period listed: from (inclusive) to horizon (exclusive), both aware."""

    start: dt.datetime
    horizon: dt.datetime
    tz: ZoneInfo


def _occurrence(
    event: Component, source: str, start: dt.datetime, length: dt.timedelta, all_day: bool, recurring: bool
) -> Occurrence:
    return Occurrence(
        source=source,
        starts_at=start.astimezone(dt.UTC),
        ends_at=(start + length).astimezone(dt.UTC),
        all_day=all_day,
        recurring=recurring,
        text=_texts(event),
        attendees=_attendees(event),
        organiser=_address(event.get("ORGANIZER", "")),
    )


def _expand(
    master: Component,
    overrides: dict[str, Component],
    window: _Window,
    expansion: Expansion,
) -> Iterator[Occurrence]:
    """_expand yields the occurrences of one event (series or single) that start in the window."""
    raw_start = _start(master)
    if raw_start is None:
        expansion.unreadable += 1
        return
    uid = _uid(master)
    all_day = not isinstance(raw_start, dt.datetime)
    start = _aware(raw_start, window.tz)
    length = _duration(master, raw_start, window.tz)
    series = _series(master, start, window.tz)
    if series is None:
        if not _is_cancelled(master) and window.start <= start < window.horizon:
            yield _occurrence(master, uid, start, length, all_day, False)
        return
    listed = 0
    for step, moment in enumerate(series):
        if moment >= window.horizon:
            break
        if step >= MAX_STEPS or listed >= MAX_OCCURRENCES:
            expansion.cut_series += 1
            break
        key = _key(moment)
        override = overrides.pop(key, None)
        if override is not None:
            if not _is_cancelled(override):
                changed = list(_changed(master, override, source_key(uid, moment), window, recurring=True))
                listed += len(changed)
                yield from changed
            continue
        if not _is_cancelled(master) and moment >= window.start:
            listed += 1
            yield _occurrence(master, source_key(uid, moment), moment, length, all_day, True)


def _changed(
    master: Component | None, override: Component, source: str, window: _Window, *, recurring: bool
) -> Iterator[Occurrence]:
    raw_start = _start(override)
    if raw_start is None:
        return
    start = _aware(raw_start, window.tz)
    if not window.start <= start < window.horizon:
        return
    found = _occurrence(
        override,
        source,
        start,
        _duration(override, raw_start, window.tz),
        not isinstance(raw_start, dt.datetime),
        recurring,
    )
    if master is not None:
        found = Occurrence(**{**found.__dict__, "master_text": _texts(master)})
    yield found


def occurrences(calendar: Calendar, start: dt.datetime, horizon: dt.datetime, tz: ZoneInfo) -> Expansion:
    """occurrences lists every occurrence starting in [start, horizon), in order of start.

    start and horizon are aware; floating times and dates in the file are read in tz.
    """
    events = list(calendar.walk("VEVENT"))
    expansion = Expansion([], len(events))
    if str(calendar.get("METHOD", "")).strip().upper() == "CANCEL":
        return expansion
    window = _Window(start, horizon, tz)
    masters: dict[str, Component] = {}
    overrides: dict[str, dict[str, Component]] = {}
    singles: list[Component] = []
    for event in events:
        recurrence = _dates(event, "RECURRENCE-ID", tz)
        if recurrence:
            overrides.setdefault(_uid(event), {})[_key(recurrence[0])] = event
        elif "UID" in event and _uid(event) not in masters:
            masters[_uid(event)] = event
        else:
            singles.append(event)
    found: list[Occurrence] = []
    for uid, master in masters.items():
        changed = overrides.pop(uid, {})
        found.extend(_expand(master, changed, window, expansion))
        # Changed occurrences the rule does not produce (beyond the steps taken, or moved in by RDATE).
        for override in changed.values():
            if not _is_cancelled(override):
                moved = _dates(override, "RECURRENCE-ID", tz)[0]
                found.extend(_changed(master, override, source_key(uid, moved), window, recurring=True))
    for single in singles:
        found.extend(_expand(single, {}, window, expansion))
    for uid, orphans in overrides.items():  # changed occurrences whose series is not in the file
        for override in orphans.values():
            if not _is_cancelled(override):
                moved = _dates(override, "RECURRENCE-ID", tz)[0]
                found.extend(_changed(None, override, source_key(uid, moved), window, recurring=True))
    unique = {o.source: o for o in found}
    expansion.occurrences = sorted(unique.values(), key=lambda o: (o.starts_at, o.source))
    return expansion
