"""Helpers for the inbox tests: test people, messages in their inboxes, signing in by the form.

The people have numbers in the series Skatteverket publishes for tests (birth number 238
for women, 239 for men), made for any birth date with the check digit computed, so that a
test can have a child exactly 12 or 13 years old today.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import TZ, csrf_of, local
from conftest import make_user
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.invitations.models import InboxMessage
from vardmote.invitations.templates import CARE_MEETING, current
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.links import make_recipient_link
from vardmote.meetings.models import Meeting
from vardmote.meetings.service import book
from vardmote.patients.models import Guardianship, Patient
from vardmote.patients.personnummer import Personnummer, check_digit

CLINIC = "Allergimottagning barn, Västerås"
STAFF = "kliniker"


def skv_number(born: dt.date, serial: str = "239") -> Personnummer:
    """skv_number is the test personnummer for born with birth number serial (238 or 239)."""
    nine = born.strftime("%y%m%d") + serial
    return Personnummer(born.strftime("%Y%m%d") + serial + str(check_digit(nine)))


def today() -> dt.date:
    """today is today's date in Stockholm, the date the service counts ages on."""
    return dt.datetime.now(TZ).date()


def years_ago(years: int, days: int = 0) -> dt.date:
    """years_ago is the date years (and days more) before today; 29 February becomes 28 February."""
    t = today()
    try:
        day = t.replace(year=t.year - years)
    except ValueError:
        day = t.replace(year=t.year - years, day=28)
    return day - dt.timedelta(days=days)


@dataclass(frozen=True)
class Person:
    """Person is a patient made for a test: the row's id, number and name."""

    id: int
    number: Personnummer
    name: str | None

    @property
    def typed(self) -> str:
        """typed is the number as a person types it, ÅÅÅÅMMDD-NNNN."""
        return str(self.number)


def add_person(ctx: Context, name: str | None, born: dt.date, serial: str = "239") -> Person:
    """add_person adds a patient born on born."""
    number = skv_number(born, serial)
    with ctx.db.session() as s:
        patient = Patient(personnummer=number.digits, name=name, created_at=utcnow())
        s.add(patient)
        s.flush()
        return Person(patient.id, number, name)


def add_guardianship(ctx: Context, guardian: Person, child: Person) -> None:
    """add_guardianship records guardian as vårdnadshavare of child."""
    with ctx.db.session() as s:
        s.add(Guardianship(guardian_id=guardian.id, child_id=child.id))


def staff(ctx: Context) -> User:
    """staff is the clinician who books the meetings the messages are about."""
    with ctx.db.session() as s:
        found = s.scalar(select(User).where(User.username == STAFF))
    return found or make_user(ctx, STAFF)


@dataclass(frozen=True)
class Sent:
    """Sent is a message in someone's inbox and the meeting it is about."""

    message_id: int
    meeting_id: str
    link_id: int


def send_message(
    ctx: Context,
    to: Person,
    *,
    days: int = 7,
    hour: int = 9,
    clinic: str = CLINIC,
    together: bool = False,
    sent_at: dt.datetime | None = None,
) -> Sent:
    """send_message books a protected meeting days from today at hour (local), makes a personal
    link and puts a message about it in to's inbox, as "Skicka anslutningslänk" will."""
    user = staff(ctx)
    form = BookingForm(title="Uppföljning", start=local(days, hour), end=local(days, hour, 30))
    with ctx.db.session() as s:
        user = s.get(User, user.id) or user
        (meeting,) = book(ctx, s, user, form, "vardmote_patient")
        link = make_recipient_link(ctx, s, meeting, f"user:{STAFF}", "Patient")
        message = InboxMessage(
            patient_id=to.id,
            meeting_id=meeting.id,
            link_id=link.id,
            template_id=current(s, CARE_MEETING).id,
            clinic=clinic,
            together=together,
            sent_at=sent_at or utcnow(),
        )
        s.add(message)
        s.flush()
        return Sent(message.id, meeting.id, link.id)


def cancel(ctx: Context, meeting_id: str) -> None:
    """cancel marks a meeting cancelled in the database."""
    with ctx.db.session() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.cancelled_at = utcnow()


def read_at(ctx: Context, message_id: int) -> dt.datetime | None:
    """read_at is when the message was first read, if it was."""
    with ctx.db.session() as s:
        message = s.get(InboxMessage, message_id)
        assert message is not None
        return message.read_at


def sign_in(client: TestClient, number: str) -> None:
    """sign_in signs in with the test e-identification, as a browser does: the page, then the post."""
    page = client.get("/inkorg/logga-in")
    assert page.status_code == 200, page.text
    response = client.post(
        "/inkorg/logga-in", data={"csrf": csrf_of(page.text), "personnummer": number}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inkorg"
    assert client.cookies.get("vm_patient")


def page_csrf(client: TestClient, path: str = "/inkorg") -> str:
    """page_csrf is the inbox session's CSRF token, from a page's forms."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def text_of(html: str) -> str:
    """text_of is a page's visible text, tags removed and spaces collapsed, for assertions on wording."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)).split())
