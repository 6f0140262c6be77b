"""Demo data: an organisation, a clinic, two accounts and meetings this week.

Loaded by ``vardmote serve`` in demo mode only. The accounts are marked as
demo accounts and cannot sign in when demo mode is off, so a production
database that once ran in demo mode does not keep an open door. Meetings are
booked through the same service as everyone else's, at future times this
week, whenever annika has none in the coming two weeks, so restarts do not
pile them up.
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


def _slots(ctx: Context, count: int) -> list[dt.datetime]:
    """_slots returns count future wall-clock starts, this week where possible."""
    now_local = utcnow().astimezone(ctx.tz)
    earliest = now_local.replace(tzinfo=None) + dt.timedelta(minutes=30)
    day = now_local.date()
    slots: list[dt.datetime] = []
    while len(slots) < count:
        if day.weekday() < 5:
            for hour in (9, 11, 14):
                start = dt.datetime(day.year, day.month, day.day, hour, 0)
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
    if meetings_between(ctx, s, annika, utcnow(), utcnow() + UPCOMING):
        return
    for (title, key, minutes), start in zip(_MEETINGS, _slots(ctx, len(_MEETINGS)), strict=True):
        form = BookingForm(
            title=title,
            start=start.isoformat(timespec="minutes"),
            end=(start + dt.timedelta(minutes=minutes)).isoformat(timespec="minutes"),
        )
        book(ctx, s, annika, form, key)
