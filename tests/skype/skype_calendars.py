"""Outlook-like calendar exports for the Skype tests, with dates relative to today.

OUTLOOK_EXPORT is what "Arkiv › Spara kalender" writes for a clinician's
calendar around the cut-off: CRLF line ends, lines folded at 75 octets, a
VTIMEZONE for "W. Europe Standard Time" and the X-MICROSOFT-* properties.
Its events (the cut-off is CUTOFF, 30 days from today):

- "Samverkansmöte SIP": Skype for Business (OnlineMeetingProvider 1, conference
  SIP link, Swedish join text), 10 days after the cut-off, two attendees.
- "Avstämning före bytet": Skype, 5 days before the cut-off: not listed.
- "Teamsmöte om schemat": Teams (provider 3, teams.microsoft.com), even though
  its location says "Skype Meeting": not listed.
- "Lunch med enheten": an ordinary entry: not listed.
- "Veckomöte rehabteamet": weekly Skype meeting from 14 days before the cut-off,
  8 times; the occurrence a week after the cut-off is removed (EXDATE) and the
  one two weeks after moved to 13:00 (RECURRENCE-ID): listed 5 times.
- "Inställt: Skypemöte": cancelled (STATUS:CANCELLED): not listed.
- "Återbesök": Skype by its English join text and a meet.<org> link only, with a
  valid personnummer (19121212-1212, Tolvan Tolvansson) in the body.
- "Ring upp 070-123 45 67": Skype, a phone number in the subject; the body's
  dial-in number (+46 21 17 50 00) is not personal data.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Stockholm")
TODAY = dt.datetime.now(TZ).date()
CUTOFF = TODAY + dt.timedelta(days=30)
PERSONNUMMER = "19121212-1212"
PHONE = "070-123 45 67"
DIAL_IN = "+46 21 17 50 00"

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE"""


def fold(text: str) -> str:
    """fold folds each content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 letter, with CRLF."""
    out: list[str] = []
    for line in text.split("\n"):
        part, size = "", 0
        for ch in line:
            width = len(ch.encode())
            if size + width > 75:
                out.append(part)
                part, size = " ", 1
            part += ch
            size += width
        out.append(part)
    return "\r\n".join(out) + "\r\n"


def day(offset: int) -> dt.date:
    """day is the date offset days after the cut-off."""
    return CUTOFF + dt.timedelta(days=offset)


def local(offset: int, hour: int, minute: int = 0) -> str:
    """local is an iCalendar local time (for TZID=W. Europe Standard Time) offset days after the cut-off."""
    return f"{day(offset):%Y%m%d}T{hour:02d}{minute:02d}00"


def stockholm(offset: int, hour: int, minute: int = 0) -> dt.datetime:
    """stockholm is the aware time offset days after the cut-off."""
    return dt.datetime.combine(day(offset), dt.time(hour, minute), TZ)


def skype_body(user: str = "anna.andersson", meeting_id: str = "K4BJ3XQZ") -> str:
    """skype_body is the Swedish join block the Skype for Business add-in writes, escaped for DESCRIPTION."""
    link = f"https://meet.lync.com/regionvastmanland/{user}/{meeting_id}"
    return (
        f"\\n\\n.........................................................................\\n"
        f"Anslut till Skype-möte<{link}>\\n"
        f"Problem med att ansluta? Prova Skype Web App<{link}?sl=1>\\n"
        f"Anslut via telefon\\n"
        f"{DIAL_IN} (Västerås)        Svenska (Sverige)\\n"
        f"Hitta ett lokalt nummer<https://dialin.lync.com/8a7f1c2e-1111-2222-3333-444455556666>\\n\\n"
        f"Konferens-ID: 84512377\\n"
        f"[!OC([1053])!]\\n"
        f"........................................................................."
    )


def event(
    uid: str,
    summary: str,
    start: str,
    end: str,
    *,
    description: str = "",
    location: str = "",
    extra: str = "",
    attendees: tuple[tuple[str, str], ...] = (),
) -> str:
    """event is one Outlook VEVENT (times in W. Europe Standard Time), before folding."""
    lines = [
        "BEGIN:VEVENT",
        "CLASS:PUBLIC",
        "CREATED:20240410T081500Z",
        f"DESCRIPTION:{description}",
        f"DTEND;TZID=W. Europe Standard Time:{end}",
        "DTSTAMP:20240410T081500Z",
        f"DTSTART;TZID=W. Europe Standard Time:{start}",
        "LAST-MODIFIED:20240410T081500Z",
        f"LOCATION:{location}",
        "PRIORITY:5",
        "SEQUENCE:0",
        f"SUMMARY;LANGUAGE=sv-SE:{summary}",
        "TRANSP:OPAQUE",
        f"UID:{uid}",
        "ORGANIZER;CN=Annika Läkare:mailto:annika.lakare@regionvastmanland.se",
    ]
    for name, address in attendees:
        lines.append(f'ATTENDEE;CN="{name}";ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{address}')
    lines += [
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
        "X-MICROSOFT-CDO-IMPORTANCE:1",
        "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
        "X-MS-OLK-AUTOFILLLOCATION:FALSE",
        "X-MS-OLK-CONFTYPE:0",
    ]
    if extra:
        lines.append(extra)
    lines.append("END:VEVENT")
    return "\n".join(lines)


SKYPE_PROPERTIES = (
    'X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":1}\n'
    "X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:anna.andersson@regionvastmanland.se\\;gruu\\;opaque=app:conf:"
    "focus:id:K4BJ3XQZ"
)
TEAMS_PROPERTIES = (
    'X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":3}\n'
    "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/19%3ameeting_MmQ0MjI1ZjMt"
    "MjE0Yi00ZTY4LThmYmMtZmY3NmUzMDMyOWQ2%40thread.v2/0?context=%7b%22Tid%22%3a%225d08b37c%22%7d\n"
    "X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:anna.andersson@regionvastmanland.se\\;gruu\\;opaque=app:conf:"
    "focus:id:teams:2:0!19:meeting_MmQ0MjI1ZjMt-thread.v2!7bc64f559f35"
)
TEAM = (
    ("Bertil Sjukgymnast", "bertil.sjukgymnast@regionvastmanland.se"),
    ("Cecilia Kurator", "cecilia.kurator@regionvastmanland.se"),
)
SIP_UID = "040000008200E00074C5B7101A82E00800000000D0C1E2F3A4B5C601000000000000000010000000SIP"
WEEKLY_UID = "040000008200E00074C5B7101A82E00800000000D0C1E2F3A4B5C601000000000000000010000000WEEKLY"


def outlook_export() -> str:
    """outlook_export is the calendar described in the module docstring, folded, with CRLF."""
    weekly_first = day(-14)
    events = [
        event(
            SIP_UID,
            "Samverkansmöte SIP",
            local(10, 9),
            local(10, 9, 30),
            description="Hej\\, välkomna till samverkansmötet." + skype_body(),
            location="Skype-möte",
            extra=SKYPE_PROPERTIES,
            attendees=TEAM,
        ),
        event(
            "uid-before-cutoff",
            "Avstämning före bytet",
            local(-5, 9),
            local(-5, 10),
            description=skype_body("bo.berg", "ZX81QP2M"),
            location="Skype-möte",
            extra=SKYPE_PROPERTIES,
        ),
        event(
            "uid-teams",
            "Teamsmöte om schemat",
            local(3, 14),
            local(3, 15),
            description=(
                "Microsoft Teams-möte\\nAnslut på datorn eller i mobilappen\\nKlicka här för att ansluta"
            ),
            location="Virtual - Skype Meeting",
            extra=TEAMS_PROPERTIES,
            attendees=TEAM,
        ),
        event("uid-lunch", "Lunch med enheten", local(4, 12), local(4, 13), location="Matsalen"),
        event(
            WEEKLY_UID,
            "Veckomöte rehabteamet",
            f"{weekly_first:%Y%m%d}T100000",
            f"{weekly_first:%Y%m%d}T104500",
            description="Veckans genomgång." + skype_body("rehab", "RH7WEEK1"),
            location="Skype-möte",
            extra=(
                SKYPE_PROPERTIES
                + "\nRRULE:FREQ=WEEKLY;COUNT=8;INTERVAL=1;BYDAY="
                + ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][weekly_first.weekday()]
                + ";WKST=MO"
                + f"\nEXDATE;TZID=W. Europe Standard Time:{local(7, 10)}"
            ),
            attendees=TEAM,
        ),
        event(
            WEEKLY_UID,
            "Veckomöte rehabteamet",
            local(14, 13),
            local(14, 13, 45),
            description="Flyttat till eftermiddagen." + skype_body("rehab", "RH7WEEK1"),
            location="Skype-möte",
            extra=f"RECURRENCE-ID;TZID=W. Europe Standard Time:{local(14, 10)}\n" + SKYPE_PROPERTIES,
            attendees=TEAM,
        ),
        event(
            "uid-cancelled",
            "Inställt: Skypemöte",
            local(6, 9),
            local(6, 10),
            description=skype_body("anna.andersson", "CANC3LLD"),
            extra="STATUS:CANCELLED\n" + SKYPE_PROPERTIES,
        ),
        event(
            "uid-personnummer",
            "Återbesök",
            local(12, 8),
            local(12, 8, 30),
            description=(
                f"Gäller patient {PERSONNUMMER}\\, uppföljning efter operation.\\n\\n"
                "Join Skype Meeting<https://meet.regionvastmanland.se/annika.lakare/9QX2LM4T>\\n"
                "This is an online meeting for Skype for Business\\, the professional meetings "
                "and communications app formerly known as Lync."
            ),
            attendees=(("Bertil Sjukgymnast", "bertil.sjukgymnast@regionvastmanland.se"),),
        ),
        event(
            "uid-phone",
            f"Ring upp {PHONE}",
            local(15, 11),
            local(15, 11, 15),
            description="Telefonuppföljning." + skype_body("annika.lakare", "PH0NE123"),
            location="Skype-möte",
            extra=SKYPE_PROPERTIES,
        ),
    ]
    text = "\n".join(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
            "VERSION:2.0",
            "METHOD:PUBLISH",
            "X-CALSTART:20240101T000000Z",
            "X-WR-RELCALID:{0000002E-1B2A-0C4F-9B5D-2E1F3A4B5C6D}",
            "X-WR-CALNAME:Annika Läkare",
            VTIMEZONE,
            *events,
            "END:VCALENDAR",
        ]
    )
    return fold(text)


def outlook_bytes() -> bytes:
    """outlook_bytes is outlook_export as Outlook saves it: UTF-8 with a byte-order mark."""
    return b"\xef\xbb\xbf" + outlook_export().encode()
