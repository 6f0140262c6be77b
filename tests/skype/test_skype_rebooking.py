"""Rebooking Skype meetings as protected meetings: type, times, titles, once only, audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from skype_calendars import CUTOFF, PERSONNUMMER, PHONE, SIP_UID, TODAY, TZ, outlook_bytes, stockholm
from sqlalchemy import select

from booking_helpers import count
from vardmote.accounts.models import User
from vardmote.audit.log import verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import InvalidInput
from vardmote.meetings.models import Meeting, MeetingParticipant
from vardmote.skype.listing import NEUTRAL_TITLE, find_skype_meetings
from vardmote.skype.models import SkypeRebooking
from vardmote.skype.rebooking import Outcome, Rebookable, rebook


def _items() -> list[Rebookable]:
    return [Rebookable.of(m) for m in find_skype_meetings(outlook_bytes(), CUTOFF, TZ, TODAY).meetings]


def _rebook(
    ctx: Context, username: str, items: list[Rebookable], type_key: str = "vardmote_patient"
) -> list[Outcome]:
    with ctx.db.session() as s:
        organiser = s.scalars(select(User).where(User.username == username)).one()
        return rebook(ctx, s, organiser, items, type_key, "user:admin")


def _meetings(ctx: Context) -> list[Meeting]:
    with ctx.db.session() as s:
        meetings = list(s.scalars(select(Meeting).order_by(Meeting.starts_at)))
        s.expunge_all()
        return meetings


def test_each_skype_meeting_becomes_a_protected_meeting_at_the_same_time(
    ctx: Context, clinician: User, administrator: User
) -> None:
    outcomes = _rebook(ctx, "annika", _items())
    assert [o.status for o in outcomes] == ["rebooked"] * 8
    meetings = _meetings(ctx)
    assert [(m.starts_at.astimezone(TZ), m.ends_at.astimezone(TZ)) for m in meetings][:2] == [
        (stockholm(0, 10), stockholm(0, 10, 45)),
        (stockholm(10, 9), stockholm(10, 9, 30)),
    ]
    assert {m.type_key for m in meetings} == {"vardmote_patient"}
    assert {m.organiser_id for m in meetings} == {clinician.id}
    assert [o.meeting_id for o in outcomes] == [m.id for m in meetings]


def test_a_subject_with_personal_data_is_not_copied(ctx: Context, clinician: User) -> None:
    _rebook(ctx, "annika", _items())
    titles = [m.title for m in _meetings(ctx)]
    assert titles.count(NEUTRAL_TITLE) == 1
    assert "Återbesök" in titles  # its personnummer was in the body, which is never copied
    assert not any(PHONE in t or PERSONNUMMER in t for t in titles)


def test_attendees_are_not_copied_into_the_new_meeting(ctx: Context, clinician: User) -> None:
    outcomes = _rebook(ctx, "annika", _items())
    assert count(ctx, MeetingParticipant) == 0
    sip = next(o for o in outcomes if o.item.source == SIP_UID)
    assert sip.item.invite_again == (
        "Bertil Sjukgymnast <bertil.sjukgymnast@regionvastmanland.se>",
        "Cecilia Kurator <cecilia.kurator@regionvastmanland.se>",
    )


def test_a_meeting_already_rebooked_is_reported_and_not_booked_twice(ctx: Context, clinician: User) -> None:
    first = _rebook(ctx, "annika", _items()[:3])
    again = _rebook(ctx, "annika", _items())
    assert [o.status for o in again] == ["already"] * 3 + ["rebooked"] * 5
    assert [o.meeting_id for o in again[:3]] == [o.meeting_id for o in first]
    assert count(ctx, Meeting) == 8
    assert count(ctx, SkypeRebooking) == 8


def test_the_chosen_type_is_booked(ctx: Context, clinician: User) -> None:
    _rebook(ctx, "annika", _items()[:1], "internt")
    assert [m.type_key for m in _meetings(ctx)] == ["internt"]


@pytest.mark.parametrize(
    ("type_key", "message"),
    [
        pytest.param(
            "digitalt_vardmote",
            "Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen.",
            id="journal-type",
        ),
        pytest.param("finns_inte", "Okänd mötestyp: 'finns_inte'.", id="unknown"),
    ],
)
def test_a_type_the_booking_dialog_cannot_book_is_refused_before_anything_is_booked(
    ctx: Context, clinician: User, type_key: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _rebook(ctx, "annika", _items(), type_key)
    assert caught.value.fields[0].message == message
    assert count(ctx, Meeting) == 0


def test_each_rebooking_is_audited_without_titles_or_addresses(ctx: Context, clinician: User) -> None:
    outcomes = _rebook(ctx, "annika", _items())
    with ctx.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "skype.rebooked")))
        assert verify(s).intact
        assert [(e.actor, e.meeting_id) for e in entries] == [("user:admin", o.meeting_id) for o in outcomes]
        details = [json.loads(e.details) for e in entries]
    assert details[1] == {
        "source_hash": details[1]["source_hash"],
        "organiser": "annika",
        "type": "vardmote_patient",
        "recurring": False,
        "invite_again": 2,
    }
    assert len(details[1]["source_hash"]) == 16
    text = json.dumps(details, ensure_ascii=False)
    for secret in ("Samverkansmöte", "Veckomöte", "regionvastmanland.se", PERSONNUMMER, SIP_UID):
        assert secret not in text


def test_a_meeting_the_booking_rules_refuse_is_reported_and_the_others_are_booked(
    ctx: Context, clinician: User
) -> None:
    items = _items()[:2]
    past = Rebookable(
        **{
            **items[0].__dict__,
            "source": "passed",
            "starts_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
            "ends_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=1, minutes=-30),
        }
    )
    outcomes = _rebook(ctx, "annika", [past, *items])
    assert [(o.status, o.problem) for o in outcomes] == [
        ("refused", "Starttiden har redan passerat. Välj en tid framåt i tiden."),
        ("rebooked", ""),
        ("rebooked", ""),
    ]
    assert count(ctx, SkypeRebooking) == 2


def test_a_rebookable_survives_its_json_form() -> None:
    items = _items()
    assert [Rebookable.from_json(json.loads(json.dumps(i.to_json()))) for i in items] == items
