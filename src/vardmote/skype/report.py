"""Report: the command's text for a Skype listing and a rebooking, in Swedish.

The output may end up in a shell log, so a subject with personal data is never
printed (only "(titeln har personuppgifter)") and personal data is named by
kind and field, never quoted. Attendees' addresses are printed: they are the
staff and partners who must be invited again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from vardmote.lib.timeutil import WEEKDAYS_SHORT
from vardmote.skype.calendar_export import MAX_OCCURRENCES
from vardmote.skype.listing import Listing, SkypeMeeting
from vardmote.skype.rebooking import Outcome

INDENT = "    "


def when(meeting: SkypeMeeting, tz: ZoneInfo) -> str:
    """when is e.g. "2027-01-04 mån 09:00–09:30", or "… heldag" for an all-day event."""
    start = meeting.occurrence.starts_at.astimezone(tz)
    end = meeting.occurrence.ends_at.astimezone(tz)
    day = f"{start:%Y-%m-%d} {WEEKDAYS_SHORT[start.weekday()]}"
    if meeting.occurrence.all_day:
        return f"{day} heldag"
    if start.date() != end.date():
        return f"{day} {start:%H:%M}–{end:%Y-%m-%d} {end:%H:%M}"
    return f"{day} {start:%H:%M}–{end:%H:%M}"


def _outcome_line(outcome: Outcome, url: Callable[[str], str]) -> str:
    if outcome.status == "rebooked":
        return f"Ombokat: {url('/moten/' + str(outcome.meeting_id))}"
    if outcome.status == "already":
        return f"Redan ombokat tidigare: {url('/moten/' + str(outcome.meeting_id))}"
    return f"Kunde inte bokas om: {outcome.problem}"


def meeting_lines(
    meeting: SkypeMeeting, tz: ZoneInfo, outcome: Outcome | None, url: Callable[[str], str]
) -> list[str]:
    """meeting_lines describes one Skype meeting: when, title, recurrence, its Skype organiser, flags,
    who to invite again."""
    marker = "  [återkommande]" if meeting.occurrence.recurring else ""
    lines = [f"{when(meeting, tz)}  {meeting.shown_title}{marker}"]
    if meeting.occurrence.organiser:
        lines.append(f"{INDENT}Organisatör i Skype: {meeting.occurrence.organiser}")
    if meeting.flags:
        lines.append(f"{INDENT}PERSONUPPGIFTER: {meeting.personal_data}")
    invite = ", ".join(str(a) for a in meeting.invite_again) or "(inga deltagare i Skypemötet)"
    lines.append(f"{INDENT}Bjud in igen: {invite}")
    if outcome is not None:
        lines.append(INDENT + _outcome_line(outcome, url))
    return lines


def summary_lines(listing: Listing, outcomes: Sequence[Outcome] | None = None) -> list[str]:
    """summary_lines counts what was listed (and rebooked), and says where listing stopped."""
    lines = [
        f"Skypemöten från och med {listing.cutoff.isoformat()}: {len(listing.meetings)} "
        f"({listing.flagged} med personuppgifter, {listing.recurring} tillfällen av återkommande möten). "
        f"Händelser i filen: {listing.events}."
    ]
    last = listing.horizon - dt.timedelta(days=1)
    lines.append(
        f"Återkommande möten visas till och med {last.isoformat()}, "
        f"högst {MAX_OCCURRENCES} tillfällen per serie."
    )
    if listing.cut_series:
        lines.append(f"{listing.cut_series} serier har fler tillfällen än som visas: boka om dem för hand.")
    if listing.unreadable:
        lines.append(f"{listing.unreadable} händelser saknar läsbar starttid och visas inte.")
    if outcomes is not None:
        count = {s: sum(1 for o in outcomes if o.status == s) for s in ("rebooked", "already", "refused")}
        lines.append(
            f"Ombokade nu: {count['rebooked']}, redan ombokade: {count['already']}, "
            f"kunde inte bokas om: {count['refused']}."
        )
        if count["rebooked"]:
            lines.append("Skicka anslutningslänken till dem som ska bjudas in igen (Skicka anslutningslänk).")
    return lines


def report(
    listing: Listing,
    tz: ZoneInfo,
    url: Callable[[str], str],
    outcomes: Sequence[Outcome] | None = None,
) -> list[str]:
    """report is the whole output: one block per meeting, then the summary."""
    lines: list[str] = []
    for i, meeting in enumerate(listing.meetings):
        lines += meeting_lines(meeting, tz, outcomes[i] if outcomes is not None else None, url)
    if listing.meetings:
        lines.append("")
    return lines + summary_lines(listing, outcomes)
