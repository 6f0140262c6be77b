"""Reading a calendar export: which Skype meetings are listed after the cut-off, their flags, and the
Swedish errors for files that cannot be read."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from skype_calendars import (
    CUTOFF,
    PERSONNUMMER,
    PHONE,
    SIP_UID,
    TODAY,
    TZ,
    VTIMEZONE,
    WEEKLY_UID,
    event,
    fold,
    local,
    outlook_bytes,
    outlook_export,
    skype_body,
    stockholm,
)

from vardmote.errors import InvalidInput
from vardmote.skype.calendar_export import (
    EMPTY,
    MAX_FILE_BYTES,
    MAX_OCCURRENCES,
    NO_EVENTS,
    NOT_ICALENDAR,
    NOT_UTF8,
    TOO_LARGE,
)
from vardmote.skype.listing import NEUTRAL_TITLE, TITLE_HIDDEN, Listing, find_skype_meetings
from vardmote.skype.report import report


def _listing(data: bytes | str, cutoff: dt.date = CUTOFF) -> Listing:
    raw = data.encode() if isinstance(data, str) else data
    return find_skype_meetings(raw, cutoff, TZ, TODAY)


def _calendar(*events: str, method: str = "PUBLISH") -> str:
    return fold(
        "\n".join(
            [
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
                f"METHOD:{method}",
                VTIMEZONE,
                *events,
                "END:VCALENDAR",
            ]
        )
    )


def _titles(listing: Listing) -> list[tuple[dt.datetime, str]]:
    return [(m.occurrence.starts_at.astimezone(TZ), m.shown_title) for m in listing.meetings]


def test_it_lists_every_skype_meeting_from_the_cut_off_and_nothing_else() -> None:
    listing = _listing(outlook_bytes())
    assert _titles(listing) == [
        (stockholm(0, 10), "Veckomöte rehabteamet"),
        (stockholm(10, 9), "Samverkansmöte SIP"),
        (stockholm(12, 8), "Återbesök"),
        (stockholm(14, 13), "Veckomöte rehabteamet"),  # moved from 10:00 by RECURRENCE-ID
        (stockholm(15, 11), TITLE_HIDDEN),
        (stockholm(21, 10), "Veckomöte rehabteamet"),
        (stockholm(28, 10), "Veckomöte rehabteamet"),
        (stockholm(35, 10), "Veckomöte rehabteamet"),
    ]
    assert listing.events == 9
    assert listing.recurring == 5
    assert listing.flagged == 2


def test_the_ends_are_kept_and_the_times_are_utc() -> None:
    sip = next(m for m in _listing(outlook_bytes()).meetings if m.source == SIP_UID)
    assert sip.occurrence.starts_at == stockholm(10, 9).astimezone(dt.UTC)
    assert sip.occurrence.ends_at == stockholm(10, 9, 30).astimezone(dt.UTC)
    assert sip.occurrence.starts_at.tzinfo == dt.UTC


def test_occurrences_of_a_series_are_keyed_by_uid_and_their_original_start() -> None:
    sources = [m.source for m in _listing(outlook_bytes()).meetings if m.occurrence.recurring]
    original = [
        stockholm(d, 10).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for d in (0, 14, 21, 28, 35)
    ]
    assert sources == [f"{WEEKLY_UID}#{key}" for key in original]


def test_a_meeting_starting_the_day_before_the_cut_off_is_not_listed_but_one_at_midnight_is() -> None:
    calendar = _calendar(
        event(
            "late",
            "Sent",
            local(-1, 23, 59),
            local(0, 0, 30),
            extra='X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingProvider":1}',
        ),
        event(
            "midnight",
            "Midnatt",
            local(0, 0),
            local(0, 0, 30),
            extra='X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingProvider":1}',
        ),
    )
    assert [m.source for m in _listing(calendar).meetings] == ["midnight"]


def test_the_personnummer_in_the_body_is_flagged_by_kind_and_field() -> None:
    meeting = next(m for m in _listing(outlook_bytes()).meetings if m.source == "uid-personnummer")
    assert meeting.personal_data == "personnummer (Meddelande)"
    assert meeting.shown_title == "Återbesök"
    assert meeting.new_title == "Återbesök"


def test_a_phone_number_in_the_subject_hides_the_title_and_gives_the_new_meeting_a_neutral_one() -> None:
    meeting = next(m for m in _listing(outlook_bytes()).meetings if m.source == "uid-phone")
    assert meeting.personal_data == "telefonnummer (Ämne)"
    assert meeting.shown_title == TITLE_HIDDEN
    assert meeting.masked_title == "Ring upp [telefonnummer]"
    assert meeting.new_title == NEUTRAL_TITLE


def test_the_dial_in_number_of_the_skype_invitation_is_not_personal_data() -> None:
    meeting = next(m for m in _listing(outlook_bytes()).meetings if m.source == SIP_UID)
    assert "+46 21 17 50 00" in meeting.occurrence.text["DESCRIPTION"]
    assert meeting.flags == ()


@pytest.mark.parametrize(
    ("description", "found"),
    [
        pytest.param(f"Ring {PHONE} om ni blir sena.", "telefonnummer (Meddelande)", id="mobile"),
        pytest.param("Patientens nummer: +46 70 123 45 67", "telefonnummer (Meddelande)", id="international"),
        pytest.param(
            "Gäller 121212-1212 och 08-123 456 78",
            "personnummer (Meddelande), telefonnummer (Meddelande)",
            id="both",
        ),
        pytest.param("Samordningsnummer 19121272-1219", "samordningsnummer (Meddelande)", id="coordination"),
        pytest.param("Konferens-ID 84512377, rum 0145", "", id="conference-id"),
        pytest.param("Möte 2027-01-04 kl. 09.00", "", id="date-and-time"),
        pytest.param("Mötes-id 3f2a1c9e-0123-4567-89ab-0123456789ab", "", id="uuid"),
        pytest.param("Kontrollsiffran fel: 19121212-1213", "", id="bad-checksum"),
    ],
)
def test_personal_data_is_found_by_kind(description: str, found: str) -> None:
    calendar = _calendar(
        event("e", "Möte", local(1, 9), local(1, 10), description=description + skype_body())
    )
    assert [m.personal_data for m in _listing(calendar).meetings] == [found]


def test_the_report_never_prints_the_personal_data() -> None:
    lines = "\n".join(report(_listing(outlook_bytes()), TZ, lambda p: "http://vardmote.test" + p))
    assert PERSONNUMMER not in lines
    assert PHONE not in lines
    assert "PERSONUPPGIFTER: personnummer (Meddelande)" in lines
    assert "PERSONUPPGIFTER: telefonnummer (Ämne)" in lines
    assert "Bertil Sjukgymnast <bertil.sjukgymnast@regionvastmanland.se>" in lines
    assert "Skypemöten från och med " + CUTOFF.isoformat() + ": 8 (2 med personuppgifter" in lines


def test_the_organiser_is_not_among_those_to_invite_again() -> None:
    meeting = next(m for m in _listing(outlook_bytes()).meetings if m.source == SIP_UID)
    assert [a.address for a in meeting.invite_again] == [
        "bertil.sjukgymnast@regionvastmanland.se",
        "cecilia.kurator@regionvastmanland.se",
    ]


def test_a_cancel_message_lists_nothing() -> None:
    calendar = _calendar(
        event("e", "Skype", local(1, 9), local(1, 10), description=skype_body()), method="CANCEL"
    )
    assert _listing(calendar).meetings == []


def test_a_cancelled_occurrence_of_a_series_is_left_out() -> None:
    rule = "RRULE:FREQ=DAILY;COUNT=3"
    calendar = _calendar(
        event("daily", "Daglig", local(1, 9), local(1, 10), description=skype_body(), extra=rule),
        event(
            "daily",
            "Daglig",
            local(2, 9),
            local(2, 10),
            extra=f"RECURRENCE-ID;TZID=W. Europe Standard Time:{local(2, 9)}\nSTATUS:CANCELLED",
        ),
    )
    assert [m.occurrence.starts_at.astimezone(TZ) for m in _listing(calendar).meetings] == [
        stockholm(1, 9),
        stockholm(3, 9),
    ]


def test_an_endless_series_is_listed_up_to_its_limit_and_counted_as_cut() -> None:
    calendar = _calendar(
        event(
            "endless",
            "Daglig",
            local(0, 9),
            local(0, 9, 15),
            description=skype_body(),
            extra="RRULE:FREQ=DAILY",
        )
    )
    listing = _listing(calendar)
    assert len(listing.meetings) == MAX_OCCURRENCES
    assert listing.cut_series == 1
    assert "1 serier har fler tillfällen än som visas: boka om dem för hand." in report(listing, TZ, str)


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_summer_time() -> None:
    # From the Monday before the end of March to the Monday after: 10:00 both times.
    year = CUTOFF.year + 1
    before = dt.date(year, 3, 24) - dt.timedelta(days=dt.date(year, 3, 24).weekday())
    start = f"{before:%Y%m%d}T100000"
    calendar = _calendar(
        event(
            "week",
            "Vecka",
            start,
            f"{before:%Y%m%d}T103000",
            description=skype_body(),
            extra="RRULE:FREQ=WEEKLY;COUNT=2",
        )
    )
    times = [m.occurrence.starts_at.astimezone(TZ).time() for m in _listing(calendar).meetings]
    assert times == [dt.time(10), dt.time(10)]


def test_a_floating_time_is_read_in_swedish_time() -> None:
    calendar = _calendar(
        event("x", "Flytande", local(1, 9), local(1, 10), description=skype_body()).replace(
            ";TZID=W. Europe Standard Time", ""
        )
    )
    assert [m.occurrence.starts_at for m in _listing(calendar).meetings] == [
        stockholm(1, 9).astimezone(dt.UTC)
    ]


def test_a_byte_order_mark_and_plain_lf_line_ends_are_accepted() -> None:
    assert len(_listing(outlook_bytes()).meetings) == 8
    assert len(_listing(outlook_export().replace("\r\n", "\n").encode()).meetings) == 8


def _bad(data: bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        find_skype_meetings(data, CUTOFF, TZ, TODAY)
    assert [f.field for f in caught.value.fields] == ["file"]
    return caught.value.fields[0].message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", EMPTY, id="empty"),
        pytest.param(b"  \r\n", EMPTY, id="blank"),
        pytest.param(b"Subject,Start Date\r\nM\xc3\xb6te,2027-01-04\r\n", NOT_ICALENDAR, id="csv"),
        pytest.param(b"%PDF-1.7\n", NOT_ICALENDAR, id="pdf"),
        pytest.param(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", NOT_ICALENDAR, id="broken"),
        pytest.param(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", NO_EVENTS, id="no-events"),
        pytest.param(outlook_export().encode("cp1252"), NOT_UTF8, id="latin-1"),
        pytest.param(b"x" * (MAX_FILE_BYTES + 1), TOO_LARGE, id="too-large"),
    ],
)
def test_a_file_that_cannot_be_read_gets_a_swedish_message(data: bytes, message: str) -> None:
    assert _bad(data) == message


def test_the_messages_say_what_to_do() -> None:
    assert NOT_UTF8.startswith("Filen är inte kodad i UTF-8")
    assert "Exportera kalendern igen" in NOT_UTF8
    assert TOO_LARGE == "Filen är för stor. Högst 20 MB kan läsas; exportera en kortare period."


def test_the_size_is_checked_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr("vardmote.skype.calendar_export.Calendar.from_ical", parse)
    assert _bad(b"BEGIN:VCALENDAR\r\n" + b"X" * MAX_FILE_BYTES) == TOO_LARGE


def test_nothing_of_the_file_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broken = (
        f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:{PERSONNUMMER}\r\nDTSTART:garbage\r\nEND:VCALENDAR\r\n"
    )
    _bad(broken.encode())
    _listing(outlook_bytes())
    assert PERSONNUMMER not in caplog.text
    assert "Samverkansmöte" not in caplog.text
