"""Booking rules: validate_booking, occurrences, parse_time and parse_addresses, without a database.

Every case runs at a fixed moment, Monday 5 January 2026 09:00 Swedish time, so
"in the past" and "two years ahead" are the same on every run. Summer time in
2026 starts on 29 March and ends on 25 October.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from vardmote.errors import FieldError, InvalidInput
from vardmote.meetings.booking import (
    BookingForm,
    occurrences,
    parse_addresses,
    parse_time,
    validate_booking,
)

TZ = ZoneInfo("Europe/Stockholm")
NOW = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
"""Monday 5 January 2026, 09:00 in Stockholm."""

GOOD = BookingForm(title="Uppföljning diabetes", start="2026-02-10T09:00", end="2026-02-10T09:30")
"""A Tuesday in winter, half an hour."""

ADDRESSES = "Skriv deltagarnas e-postadresser, åtskilda med semikolon."
EITHER = "Ange antingen ett slutdatum eller ett antal tillfällen för återkommande möte."
COUNT = "Antal tillfällen ska vara ett heltal från 2 till 100."


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """utc is an aware UTC moment."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def form(**changes: str) -> BookingForm:
    """form is the good form with some fields changed."""
    return replace(GOOD, **changes)


def refusal(f: BookingForm, **kwargs: dt.datetime) -> list[FieldError]:
    """refusal validates f and returns the field errors it must raise."""
    with pytest.raises(InvalidInput) as caught:
        validate_booking(f, NOW, TZ, **kwargs)
    return caught.value.fields


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"title": ""}, "title", "Ange en rubrik för mötet.", id="empty-title"),
        pytest.param({"title": "  \t \n "}, "title", "Ange en rubrik för mötet.", id="whitespace-title"),
        pytest.param(
            {"title": "R" * 201}, "title", "Rubriken får vara högst 200 tecken (nu 201).", id="201-char-title"
        ),
        pytest.param(
            {"start": "i morgon nio"}, "start", "Ange starttid som ÅÅÅÅ-MM-DD TT:MM.", id="unparsable-start"
        ),
        pytest.param(
            {"start": "2026-02-30T09:00"}, "start", "Ange starttid som ÅÅÅÅ-MM-DD TT:MM.", id="no-such-day"
        ),
        pytest.param({"start": ""}, "start", "Ange starttid som ÅÅÅÅ-MM-DD TT:MM.", id="empty-start"),
        pytest.param({"end": "halv tio"}, "end", "Ange sluttid som ÅÅÅÅ-MM-DD TT:MM.", id="unparsable-end"),
        pytest.param(
            {"end": "2026-02-10T08:30"},
            "end",
            "Sluttiden måste vara efter starttiden.",
            id="end-before-start",
        ),
        pytest.param(
            {"end": "2026-02-10T09:00"},
            "end",
            "Sluttiden måste vara efter starttiden.",
            id="end-equals-start",
        ),
        pytest.param(
            {"start": "2026-01-05T08:54", "end": "2026-01-05T09:30"},
            "start",
            "Starttiden har redan passerat. Välj en tid framåt i tiden.",
            id="start-six-minutes-ago",
        ),
        pytest.param(
            {"start": "2025-12-01T09:00", "end": "2025-12-01T09:30"},
            "start",
            "Starttiden har redan passerat. Välj en tid framåt i tiden.",
            id="start-last-month",
        ),
        pytest.param(
            {"start": "2028-01-07T09:01", "end": "2028-01-07T09:30"},
            "start",
            "Möten kan bokas högst två år framåt.",
            id="start-just-over-two-years-ahead",
        ),
        pytest.param(
            {"end": "2026-02-10T21:01"},
            "end",
            "Ett möte kan vara högst 12 timmar.",
            id="twelve-hours-one-minute",
        ),
        pytest.param({"required": "anna.andersson.example.se"}, "required", ADDRESSES, id="required-no-at"),
        pytest.param(
            {"required": "anna@example.se; bertil@"}, "required", ADDRESSES, id="required-half-address"
        ),
        pytest.param({"optional": "Anna <anna@example.se>"}, "optional", ADDRESSES, id="optional-with-name"),
        pytest.param(
            {"frequency": "monthly", "count": "3"},
            "frequency",
            "Välj om mötet återkommer varje dag eller varje vecka.",
            id="bad-frequency",
        ),
        pytest.param(
            {"frequency": "weekly", "until": "2026-03-10", "count": "3"},
            "until",
            EITHER,
            id="until-and-count",
        ),
        pytest.param({"frequency": "weekly"}, "until", EITHER, id="neither-until-nor-count"),
        pytest.param({"frequency": "weekly", "count": "1"}, "count", COUNT, id="count-1"),
        pytest.param({"frequency": "weekly", "count": "101"}, "count", COUNT, id="count-101"),
        pytest.param({"frequency": "weekly", "count": "abc"}, "count", COUNT, id="count-abc"),
        pytest.param({"frequency": "weekly", "count": "-3"}, "count", COUNT, id="count-negative"),
        pytest.param({"frequency": "weekly", "count": "²"}, "count", COUNT, id="count-superscript-digit"),
        pytest.param(
            {"frequency": "weekly", "until": "10/3 2026"},
            "until",
            "Slutdatum ska skrivas ÅÅÅÅ-MM-DD.",
            id="until-unparsable",
        ),
        pytest.param(
            {"frequency": "weekly", "until": "2026-02-09"},
            "until",
            "Slutdatum för återkommande möte måste vara efter första mötets dag.",
            id="until-before-start",
        ),
        pytest.param(
            {"frequency": "daily", "until": "2026-02-10"},
            "until",
            "Slutdatum för återkommande möte måste vara efter första mötets dag.",
            id="until-on-start-day",
        ),
        pytest.param(
            {"frequency": "daily", "until": "2026-05-21"},
            "until",
            "Ett återkommande möte kan ha högst 100 tillfällen. Välj ett tidigare slutdatum.",
            id="until-gives-101-occurrences",
        ),
        pytest.param(
            {
                "start": "2027-12-07T09:00",
                "end": "2027-12-07T10:00",
                "frequency": "weekly",
                "until": "2028-01-08",
            },
            "until",
            "Återkommande möten kan bokas högst två år framåt.",
            id="until-over-two-years-ahead",
        ),
    ],
)
def test_it_refuses_a_wrong_field_with_a_swedish_message(
    changes: dict[str, str], field: str, message: str
) -> None:
    assert refusal(form(**changes)) == [FieldError(field, message)]


def test_it_names_every_wrong_field_at_once() -> None:
    fields = refusal(form(title=" ", start="snart", end="sen", required="x", optional="y"))
    assert [f.field for f in fields] == ["title", "start", "end", "required", "optional"]


def test_it_accepts_the_edges_of_the_rules() -> None:
    exactly = form(
        title="R" * 200,
        start="2028-01-07T09:00",
        end="2028-01-07T21:00",
    )
    booking = validate_booking(exactly, NOW, TZ)
    assert booking.title == "R" * 200
    assert booking.starts_at == NOW + dt.timedelta(days=2 * 366)
    assert booking.ends_at - booking.starts_at == dt.timedelta(hours=12)


def test_it_accepts_a_start_a_few_minutes_ago_for_a_form_filled_in_slowly() -> None:
    booking = validate_booking(form(start="2026-01-05T08:56", end="2026-01-05T09:30"), NOW, TZ)
    assert booking.starts_at == utc(2026, 1, 5, 7, 56)


def test_it_keeps_a_stored_past_start_when_an_ongoing_meeting_is_changed() -> None:
    stored = utc(2026, 1, 5, 7, 30)
    changed = form(start="2026-01-05T08:30", end="2026-01-05T10:00")
    assert validate_booking(changed, NOW, TZ, keep_start=stored).starts_at == stored
    assert refusal(changed, keep_start=stored - dt.timedelta(minutes=1)) == [
        FieldError("start", "Starttiden har redan passerat. Välj en tid framåt i tiden.")
    ]


def test_it_tidies_the_title_spacing() -> None:
    booking = validate_booking(form(title="  Uppföljning \t hos\n dietist  "), NOW, TZ)
    assert booking.title == "Uppföljning hos dietist"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("2026-02-10T09:00", utc(2026, 2, 10, 8), id="winter-plus-one"),
        pytest.param("2026-06-10T09:00", utc(2026, 6, 10, 7), id="summer-plus-two"),
        pytest.param("2026-06-10 09:00", utc(2026, 6, 10, 7), id="space-instead-of-T"),
        pytest.param(" 2026-06-10T09:00 ", utc(2026, 6, 10, 7), id="surrounding-spaces"),
        pytest.param("2026-06-10T09:00+00:00", utc(2026, 6, 10, 9), id="offset-utc"),
        pytest.param("2026-06-10T09:00Z", utc(2026, 6, 10, 9), id="zulu"),
        pytest.param("2026-06-10T09:00-05:00", utc(2026, 6, 10, 14), id="offset-new-york"),
        pytest.param("2026-10-25T02:30", utc(2026, 10, 25, 0, 30), id="ambiguous-autumn-hour-is-the-first"),
        pytest.param("2026-03-29T02:30", utc(2026, 3, 29, 1, 30), id="missing-spring-hour-moves-forward"),
    ],
)
def test_it_reads_times_in_stockholm_and_returns_utc(local: str, expected: dt.datetime) -> None:
    parsed = parse_time(local, TZ)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == dt.timedelta(0)


def test_the_missing_spring_hour_lands_after_the_change_not_before() -> None:
    parsed = parse_time("2026-03-29T02:30", TZ)
    assert parsed is not None
    assert parsed.astimezone(TZ).strftime("%H:%M %z") == "03:30 +0200"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("2026-13-01T09:00", id="month-13"),
        pytest.param("2026-06-10T25:00", id="hour-25"),
        pytest.param("10/6 2026 09:00", id="swedish-prose"),
        pytest.param("2026-06-10T09:00:00.000000+00:00:00.000000", id="valid-but-over-40-characters"),
        pytest.param("0001-01-01T00:30", id="before-year-one-in-utc"),
    ],
)
def test_parse_time_gives_none_for_what_is_not_a_time(raw: str) -> None:
    assert parse_time(raw, TZ) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("anna@example.se", ["anna@example.se"], id="one"),
        pytest.param(
            "anna@example.se; bertil@example.se", ["anna@example.se", "bertil@example.se"], id="semicolon"
        ),
        pytest.param(
            "anna@example.se,bertil@example.se", ["anna@example.se", "bertil@example.se"], id="comma"
        ),
        pytest.param(
            "anna@example.se\n\nbertil@example.se\n", ["anna@example.se", "bertil@example.se"], id="new-lines"
        ),
        pytest.param(
            "anna@example.se; Anna@Example.SE; anna@example.se", ["anna@example.se"], id="duplicates-merged"
        ),
        pytest.param(["  anna@example.se ", "", "ANNA@example.se"], ["anna@example.se"], id="list"),
    ],
)
def test_parse_addresses_splits_and_merges(raw: str | list[str], expected: list[str]) -> None:
    assert parse_addresses(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("anna", id="no-at"),
        pytest.param("anna@example", id="no-dot-in-domain"),
        pytest.param("anna andersson@example.se", id="space-inside"),
        pytest.param('"anna"@example.se', id="quotes"),
        pytest.param("anna@@example.se", id="two-ats"),
        pytest.param("anna@example.se; <bertil@example.se>", id="angle-brackets"),
        pytest.param("a" * 244 + "@example.se", id="255-characters"),
        pytest.param(["anna@example.se", "bertil"], id="list-with-a-bad-one"),
    ],
)
def test_parse_addresses_gives_none_when_one_is_not_an_address(raw: str | list[str]) -> None:
    assert parse_addresses(raw) is None


def test_duplicate_participants_are_merged_and_optional_ones_that_are_required_dropped() -> None:
    booking = validate_booking(
        form(
            required="anna@example.se; bertil@example.se; ANNA@example.se",
            optional="Bertil@Example.se; cecilia@example.se; cecilia@example.se",
        ),
        NOW,
        TZ,
    )
    assert booking.required == ["anna@example.se", "bertil@example.se"]
    assert booking.optional == ["cecilia@example.se"]


def test_it_refuses_more_than_100_participants() -> None:
    many = "; ".join(f"deltagare{i}@example.se" for i in range(101))
    assert refusal(form(required=many)) == [
        FieldError("required", "Högst 100 deltagare kan bjudas in till ett möte.")
    ]


def test_a_single_meeting_has_one_occurrence() -> None:
    booking = validate_booking(GOOD, NOW, TZ)
    assert booking.recurrence is None
    assert occurrences(booking, TZ) == [(utc(2026, 2, 10, 8), utc(2026, 2, 10, 8, 30))]


def test_count_3_gives_3_occurrences_a_day_apart() -> None:
    booking = validate_booking(form(frequency="daily", count="3"), NOW, TZ)
    assert occurrences(booking, TZ) == [
        (utc(2026, 2, 10, 8), utc(2026, 2, 10, 8, 30)),
        (utc(2026, 2, 11, 8), utc(2026, 2, 11, 8, 30)),
        (utc(2026, 2, 12, 8), utc(2026, 2, 12, 8, 30)),
    ]


@pytest.mark.parametrize(
    ("frequency", "until", "expected"),
    [
        pytest.param("daily", "2026-02-14", 5, id="daily-until-saturday"),
        pytest.param("weekly", "2026-03-03", 4, id="weekly-until-is-an-occurrence-day"),
        pytest.param("weekly", "2026-03-09", 4, id="weekly-until-the-day-before-an-occurrence"),
        pytest.param("daily", "2026-05-20", 100, id="daily-exactly-100"),
    ],
)
def test_until_gives_every_occurrence_up_to_and_including_that_day(
    frequency: str, until: str, expected: int
) -> None:
    booking = validate_booking(form(frequency=frequency, until=until), NOW, TZ)
    found = occurrences(booking, TZ)
    assert len(found) == expected
    assert found[-1][0].astimezone(TZ).date() <= dt.date.fromisoformat(until)
    assert all(end - start == dt.timedelta(minutes=30) for start, end in found)


@pytest.mark.parametrize(
    ("start", "utc_hours"),
    [
        pytest.param("2026-03-17T09:00", [8, 8, 7, 7], id="into-summer-time-late-march"),
        pytest.param("2026-10-13T09:00", [7, 7, 8, 8], id="into-winter-time-late-october"),
    ],
)
def test_a_weekly_series_across_the_clock_change_stays_at_nine_local_time(
    start: str, utc_hours: list[int]
) -> None:
    end = start.replace("09:00", "10:00")
    booking = validate_booking(form(start=start, end=end, frequency="weekly", count="4"), NOW, TZ)
    found = occurrences(booking, TZ)
    assert [s.astimezone(TZ).strftime("%H:%M") for s, _ in found] == ["09:00"] * 4
    assert [e.astimezone(TZ).strftime("%H:%M") for _, e in found] == ["10:00"] * 4
    assert [s.hour for s, _ in found] == utc_hours
    days = [s.astimezone(TZ).date() for s, _ in found]
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [7, 7, 7]


def test_a_daily_series_through_the_spring_change_keeps_its_wall_clock_time() -> None:
    booking = validate_booking(
        form(start="2026-03-27T08:15", end="2026-03-27T08:45", frequency="daily", until="2026-03-31"),
        NOW,
        TZ,
    )
    found = occurrences(booking, TZ)
    assert len(found) == 5
    assert {s.astimezone(TZ).strftime("%H:%M") for s, _ in found} == {"08:15"}


def test_the_booking_keeps_its_recurrence() -> None:
    booking = validate_booking(form(frequency="weekly", until="2026-03-03"), NOW, TZ)
    assert booking.recurrence is not None
    assert (booking.recurrence.frequency, booking.recurrence.until, booking.recurrence.count) == (
        "weekly",
        dt.date(2026, 3, 3),
        None,
    )
