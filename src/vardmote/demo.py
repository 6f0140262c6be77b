"""Demo data: an organisation, a clinic, two accounts, meetings this week and three patients.

Loaded by ``vardmote serve`` in demo mode only. The accounts are marked as
demo accounts and cannot sign in when demo mode is off, so a production
database that once ran in demo mode does not keep an open door. Meetings are
booked through the same service as everyone else's, at future times this
week, whenever annika has none in the coming two weeks, so restarts do not
pile them up.

The demo patients sign in to the inbox with the test e-identification. Their numbers are
from Skatteverket's published test personnummer (open data, "Testpersonnummer"), which
are never given to real people: a guardian, her nine-year-old son (for "Agera ombud")
and an adult patient.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import Clinic, Organisation, Role, User
from vardmote.accounts.service import add_user
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import book, meetings_between
from vardmote.patients.models import Patient
from vardmote.patients.personnummer import Personnummer
from vardmote.patients.registry import add_guardian, find

DEMO_PASSWORD = "demo"
UPCOMING = dt.timedelta(days=14)
"""Demo meetings are booked again only when annika has none in this period."""
CLINIC = "Allergimottagning barn, Västerås"

_MEETINGS = [
    ("Uppföljning allergiutredning", "vardmote_patient", 30),
    ("Samverkansmöte SIP med kommunen", "vardmote_patient", 60),
    ("Föreläsning: leva med pollenallergi", "informationsmote_patient", 45),
    ("Patientkonferens", "internt", 30),
    ("MDK hudallergi", "mdk", 60),
]


GUARDIAN = ("19870521-2382", "Maria Andersson")
"""Olle's mother (vårdnadshavare): she reads Olle's messages as ombud."""
CHILD = ("20170101-2393", "Olle Andersson")
"""A child under 13, born 1 January 2017."""
ADULT = ("19900602-2397", "Johan Lind")
"""An adult patient with an inbox of his own."""
DEMO_PATIENTS = (
    (GUARDIAN[0], GUARDIAN[1], "vårdnadshavare till Olle"),
    (CHILD[0], CHILD[1], "barn under 13 år"),
    (ADULT[0], ADULT[1], "vuxen patient"),
)
"""The test personnummer of the demo patients, with their names and roles, for the sign-in page."""


def _demo_patient(s: Session, number: str, name: str) -> Patient:
    """_demo_patient returns the patient with number, adding them as a demo patient if missing."""
    digits = Personnummer(number.replace("-", ""))
    patient = find(s, digits)
    if patient is None:
        patient = Patient(personnummer=digits.digits, name=name, is_demo=True, created_at=utcnow())
        s.add(patient)
        s.flush()
    return patient


def load_demo_patients(s: Session) -> None:
    """load_demo_patients adds whichever demo patient or guardianship is missing."""
    guardian = _demo_patient(s, *GUARDIAN)
    child = _demo_patient(s, *CHILD)
    _demo_patient(s, *ADULT)
    add_guardian(s, guardian, child)


WALL_CLOCK = "%Y-%m-%dT%H:%M"
"""How the booking form takes a time: Swedish wall-clock time, as a person types it."""


def _slots(ctx: Context, count: int) -> list[dt.datetime]:
    """_slots returns count future starts in the service's time zone, this week where possible."""
    now_local = utcnow().astimezone(ctx.tz)
    earliest = now_local + dt.timedelta(minutes=30)
    day = now_local.date()
    slots: list[dt.datetime] = []
    while len(slots) < count:
        if day.weekday() < 5:
            for hour in (9, 11, 14):
                start = dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=ctx.tz)
                if start > earliest and len(slots) < count:
                    slots.append(start)
        day += dt.timedelta(days=1)
    return slots


def load_demo(ctx: Context, s: Session) -> None:
    """load_demo adds whatever demo data is missing."""
    org = s.scalar(select(Organisation).where(Organisation.name == ctx.settings.organisation))
    if org is None:
        org = Organisation(name=ctx.settings.organisation)
        s.add(org)
        s.flush()
    clinic = s.scalar(select(Clinic).where(Clinic.name == CLINIC))
    if clinic is None:
        clinic = Clinic(organisation_id=org.id, name=CLINIC)
        s.add(clinic)
        s.flush()
    annika = s.scalar(select(User).where(User.username == "annika"))
    if annika is None:
        annika = add_user(
            ctx,
            s,
            "annika",
            "Annika Berg",
            DEMO_PASSWORD,
            Role.CLINICIAN.value,
            is_demo=True,
            clinic_id=clinic.id,
            actor="system:demo",
        )
    if s.scalar(select(User).where(User.username == "admin")) is None:
        add_user(
            ctx,
            s,
            "admin",
            "Administratör",
            DEMO_PASSWORD,
            Role.ADMIN.value,
            is_demo=True,
            clinic_id=clinic.id,
            actor="system:demo",
        )
    load_demo_patients(s)
    if meetings_between(ctx, s, annika, utcnow(), utcnow() + UPCOMING):
        return
    for (title, key, minutes), start in zip(_MEETINGS, _slots(ctx, len(_MEETINGS)), strict=True):
        form = BookingForm(
            title=title,
            start=start.strftime(WALL_CLOCK),
            end=(start + dt.timedelta(minutes=minutes)).strftime(WALL_CLOCK),
        )
        book(ctx, s, annika, form, key)
