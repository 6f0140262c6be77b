"""Listing: the Skype meetings of a calendar export that start on or after the cut-off date.

The cut-off is a date in the service's time zone (Skype is switched off on 1
June in the seed); a meeting is listed when it starts at or after midnight
that day. Recurring series are listed occurrence by occurrence, up to
:data:`HORIZON_YEARS` years after the cut-off (see calendar_export for the
per-series limit). Each meeting is checked for personal data in its subject,
location and body; what is found is kept as kind and place, so that a listing
can say what without repeating it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vardmote.errors import InvalidInput
from vardmote.lib.text import has_control_characters
from vardmote.meetings.booking import MAX_TITLE
from vardmote.skype.calendar_export import Attendee, Occurrence, occurrences, read_calendar
from vardmote.skype.personal_data import FIELDS, Flag, describe, find_flags, mask
from vardmote.skype.recognition import classify

HORIZON_YEARS = 2
"""Occurrences of a series are listed up to this many years after the cut-off."""

MAX_LISTED = 5000
"""A file with more Skype meetings than this after the cut-off is refused (export a shorter period)."""

NEUTRAL_TITLE = "Ombokat Skypemöte"
"""The new meeting's title when the Skype meeting's subject carries personal data (or is empty)."""

TITLE_HIDDEN = "(titeln har personuppgifter)"
"""What a listing shows instead of a subject with personal data."""


@dataclass(frozen=True)
class SkypeMeeting:
    """SkypeMeeting is one Skype meeting (or occurrence of a series) found after the cut-off."""

    occurrence: Occurrence
    reason: str
    """Why it is taken for a Skype meeting, in Swedish."""
    flags: tuple[Flag, ...]
    """Personal data found in SUMMARY, LOCATION and DESCRIPTION (kinds and places, never the text)."""

    @property
    def source(self) -> str:
        """source is the key the rebooking is remembered by (SkypeRebooking.source)."""
        return self.occurrence.source

    @property
    def summary(self) -> str:
        """summary is the subject as written, whitespace collapsed; it may hold personal data."""
        return " ".join(self.occurrence.text.get("SUMMARY", "").split())

    @property
    def title_has_personal_data(self) -> bool:
        return any(f.field == "SUMMARY" for f in self.flags)

    @property
    def new_title(self) -> str:
        """new_title is the rebooked meeting's title: the subject, unless it carries personal data."""
        title = self.summary
        if not title or self.title_has_personal_data or has_control_characters(title):
            return NEUTRAL_TITLE
        return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"

    @property
    def shown_title(self) -> str:
        """shown_title is the subject for a command's output: hidden whole when it has personal data."""
        return TITLE_HIDDEN if self.title_has_personal_data else (self.summary or "(utan rubrik)")

    @property
    def masked_title(self) -> str:
        """masked_title is the subject with each piece of personal data replaced by its kind."""
        raw = self.occurrence.text.get("SUMMARY", "")
        masked = mask(raw, [f for f in self.flags if f.field == "SUMMARY"])
        return " ".join(masked.split()) or "(utan rubrik)"

    @property
    def personal_data(self) -> str:
        """personal_data says what was found where ("personnummer (Meddelande)"), empty if nothing."""
        return describe(list(self.flags))

    @property
    def invite_again(self) -> tuple[Attendee, ...]:
        """invite_again are the Skype meeting's attendees, who must be sent the new link."""
        return self.occurrence.attendees


@dataclass(frozen=True)
class Listing:
    """Listing is the Skype meetings after the cut-off, and what the file held besides."""

    meetings: list[SkypeMeeting]
    cutoff: dt.date
    horizon: dt.date
    """Occurrences of series are listed before this date."""
    events: int
    """VEVENTs in the file."""
    cut_series: int
    """Series with more occurrences than were listed."""
    unreadable: int
    """Events skipped because their start could not be read."""

    @property
    def flagged(self) -> int:
        return sum(1 for m in self.meetings if m.flags)

    @property
    def recurring(self) -> int:
        return sum(1 for m in self.meetings if m.occurrence.recurring)


def _judge(occurrence: Occurrence) -> str | None:
    verdict = classify(occurrence.text)
    if verdict.is_skype is None and occurrence.master_text is not None:
        verdict = classify(occurrence.master_text)
    return verdict.reason if verdict.is_skype else None


def _flags(occurrence: Occurrence, today: dt.date) -> tuple[Flag, ...]:
    found: list[Flag] = []
    for name in FIELDS:
        found += find_flags(name, occurrence.text.get(name, ""), today)
    return tuple(found)


def horizon_of(cutoff: dt.date) -> dt.date:
    """horizon_of is the day after the last day listed: HORIZON_YEARS after the cut-off."""
    try:
        return cutoff.replace(year=cutoff.year + HORIZON_YEARS)
    except ValueError:  # 29 February
        return cutoff.replace(year=cutoff.year + HORIZON_YEARS, day=28)


def find_skype_meetings(data: bytes, cutoff: dt.date, tz: ZoneInfo, today: dt.date) -> Listing:
    """find_skype_meetings reads a calendar export and lists its Skype meetings from the cut-off on.

    Raises InvalidInput (field ``file``) for a file that cannot be read; see calendar_export.
    today is the reference date for the century of short personnummer.
    """
    calendar = read_calendar(data)
    horizon = horizon_of(cutoff)
    expansion = occurrences(
        calendar,
        dt.datetime.combine(cutoff, dt.time(), tz),
        dt.datetime.combine(horizon, dt.time(), tz),
        tz,
    )
    meetings: list[SkypeMeeting] = []
    for occurrence in expansion.occurrences:
        reason = _judge(occurrence)
        if reason is None:
            continue
        meetings.append(SkypeMeeting(occurrence, reason, _flags(occurrence, today)))
        if len(meetings) > MAX_LISTED:
            raise InvalidInput.one(
                "file",
                f"Filen har fler än {MAX_LISTED} Skypemöten efter brytdatumet. "
                "Exportera en kortare period åt gången.",
            )
    return Listing(meetings, cutoff, horizon, expansion.events, expansion.cut_series, expansion.unreadable)
