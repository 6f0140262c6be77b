"""Time: storage is UTC, people see and enter Europe/Stockholm (a setting)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

WEEKDAYS = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"]
WEEKDAYS_SHORT = ["mån", "tis", "ons", "tor", "fre", "lör", "sön"]
MONTHS = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
]


def local_to_utc(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """local_to_utc reads a naive wall-clock time in tz and returns aware UTC.

    A time that does not exist (the spring-forward hour) is moved forward, and
    an ambiguous one (the autumn hour) is read as the first, as calendars do.
    """
    # fold=0 does both (PEP 495): in the gap it applies the offset from before
    # the change (02:30 +01:00 is 03:30 +02:00), in the overlap it picks the first.
    return local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def to_local(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """to_local returns an aware moment in tz."""
    return moment.astimezone(tz)


def week_start(day: dt.date) -> dt.date:
    """week_start returns the Monday of day's ISO week."""
    return day - dt.timedelta(days=day.weekday())


def format_day(day: dt.date) -> str:
    """format_day gives e.g. 'tisdag 1 december'."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"
