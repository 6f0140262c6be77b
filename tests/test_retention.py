"""Retention: the purge removes expired sessions, stale throttle rows, old guest-link labels and
old outbox files, keeps everything still in use, and the server runs it by itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import count
from conftest import make_user
from vardmote.accounts.models import SigninThrottle, StaffSession, User
from vardmote.accounts.service import start_session
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.inbox.sessions import start_session as start_patient_session
from vardmote.invitations.models import OutboxMail
from vardmote.invitations.outbox import FAILED, SENT, WAITING
from vardmote.meetings.models import Meeting, MeetingLink
from vardmote.patients.models import Patient, PatientSession
from vardmote.retention import Purged, purge, purge_outbox
from vardmote.settings import load_settings

DAY = dt.timedelta(days=1)


def _staff_session(ctx: Context, user: User, expires_at: dt.datetime) -> bytes:
    with ctx.db.session() as s:
        _, row = start_session(ctx, s, s.get_one(User, user.id))
        row.expires_at = expires_at
        return row.token_hash


def _patient_session(ctx: Context, number: str, expires_at: dt.datetime) -> bytes:
    with ctx.db.session() as s:
        patient = Patient(personnummer=number)
        s.add(patient)
        s.flush()
        _, row = start_patient_session(ctx, s, patient, "oidc")
        row.expires_at = expires_at
        return row.token_hash


def _throttle(ctx: Context, key: str, last: dt.datetime, blocked_until: dt.datetime | None) -> None:
    with ctx.db.session() as s:
        s.add(SigninThrottle(key=key, failures=9, last_failure_at=last, blocked_until=blocked_until))


def _meeting_with_link(ctx: Context, user: User, ended: dt.datetime, label: str) -> int:
    with ctx.db.session() as s:
        meeting = Meeting(
            id=str(uuid.uuid4()),
            organiser_id=user.id,
            title="Uppföljning",
            starts_at=ended - dt.timedelta(minutes=30),
            ends_at=ended,
            type_key="vardmote_patient",
        )
        s.add(meeting)
        s.flush()
        link = MeetingLink(
            meeting_id=meeting.id,
            kind="recipient",
            recipient=label,
            token_hash=secrets.token_bytes(32),
            token_sealed=secrets.token_bytes(60),
        )
        s.add(link)
        s.flush()
        return link.id


def _labels(ctx: Context) -> dict[int, str | None]:
    with ctx.db.session() as s:
        return {row.id: row.recipient for row in s.scalars(select(MeetingLink))}


def test_the_purge_removes_what_is_past_its_time_and_keeps_the_rest(ctx: Context) -> None:
    now = utcnow()
    user = make_user(ctx, "annika")
    expired = _staff_session(ctx, user, now - dt.timedelta(seconds=1))
    live = _staff_session(ctx, user, now + dt.timedelta(hours=1))
    _patient_session(ctx, "199006022397", now - DAY)
    live_patient = _patient_session(ctx, "198705212382", now + dt.timedelta(minutes=5))
    hours = ctx.settings.retention_throttle_hours
    _throttle(ctx, "addr:198.51.100.7", now - dt.timedelta(hours=hours + 1), None)
    _throttle(ctx, "user:annika", now - dt.timedelta(hours=hours + 1), now - dt.timedelta(hours=hours))
    _throttle(ctx, "addr:203.0.113.1", now - dt.timedelta(hours=hours - 1), None)  # recent: kept
    _throttle(
        ctx, "user:bertil", now - dt.timedelta(hours=hours + 1), now + dt.timedelta(minutes=5)
    )  # blocking
    days = ctx.settings.retention_guest_names_days
    old_link = _meeting_with_link(ctx, user, now - dt.timedelta(days=days + 1), "Tolk")
    new_link = _meeting_with_link(ctx, user, now - dt.timedelta(days=days - 1), "Närstående 1")

    done = purge(ctx, now)

    assert done == Purged(
        staff_sessions=1, patient_sessions=1, throttle_rows=2, guest_names=1, outbox_files=0
    )
    with ctx.db.session() as s:
        assert set(s.scalars(select(StaffSession.token_hash))) == {live}
        assert set(s.scalars(select(PatientSession.token_hash))) == {live_patient}
        assert set(s.scalars(select(SigninThrottle.key))) == {"addr:203.0.113.1", "user:bertil"}
    assert expired != live
    assert _labels(ctx) == {old_link: None, new_link: "Närstående 1"}
    assert count(ctx, Meeting) == 2, "the meetings and their links stay"
    assert purge(ctx, now) == Purged(), "a second round finds nothing"


def _mail(ctx: Context, meeting_link: int, state: str, at: dt.datetime) -> int:
    with ctx.db.session() as s:
        meeting_id = s.get_one(MeetingLink, meeting_link).meeting_id
        row = OutboxMail(
            meeting_id=meeting_id,
            method="REQUEST",
            address="tolk@example.se",
            message=b"Subject: x\r\n\r\nhttps://vardmote.test/m/...",
            state=state,
            created_at=at,
            sent_at=at if state == SENT else None,
        )
        s.add(row)
        s.flush()
        return row.id


def test_the_mail_outbox_keeps_what_waits_and_what_is_recent(ctx: Context) -> None:
    now = utcnow()
    user = make_user(ctx, "annika")
    link = _meeting_with_link(ctx, user, now + DAY, "Tolk")
    old = now - dt.timedelta(days=ctx.settings.retention_outbox_days + 1)
    recent = now - dt.timedelta(days=ctx.settings.retention_outbox_days - 1)
    _mail(ctx, link, SENT, old)
    _mail(ctx, link, FAILED, old)
    kept = {
        _mail(ctx, link, SENT, recent),
        _mail(ctx, link, FAILED, recent),
        _mail(ctx, link, WAITING, old),  # still to be sent, however old
    }
    assert purge(ctx, now).outbox_messages == 2
    with ctx.db.session() as s:
        assert set(s.scalars(select(OutboxMail.id))) == kept


def _aged(path: Path, days: float) -> Path:
    path.write_text("x")
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


def test_old_outbox_files_are_deleted_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir()
    old = _aged(folder / "20250101T090000000000Z-aa.eml", 31)
    crashed = _aged(folder / ".tmpabc.tmp", 31)
    recent = _aged(folder / "20260101T090000000000Z-bb.eml", 29)
    other = _aged(folder / "notes.txt", 400)
    sub = folder / "old.eml"
    sub.mkdir()
    assert purge_outbox(folder, utcnow(), 30) == 2
    assert not old.exists()
    assert not crashed.exists()
    assert recent.exists()
    assert other.exists()
    assert sub.is_dir()
    assert purge_outbox(tmp_path / "missing", utcnow(), 30) == 0


def test_the_server_purges_by_itself(ctx: Context) -> None:
    user = make_user(ctx, "annika")
    _staff_session(ctx, user, utcnow() - DAY)
    outbox = ctx.settings.effective_outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    old = _aged(outbox / "gammal.eml", 40)
    settings = dataclasses.replace(ctx.settings, purge_minutes=1)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"):
        deadline = time.monotonic() + 10
        while (count(ctx, StaffSession) or old.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count(ctx, StaffSession) == 0
        assert not old.exists()


def test_the_retention_settings_have_defaults_and_are_read() -> None:
    defaults = load_settings({})
    assert (
        defaults.retention_throttle_hours,
        defaults.retention_outbox_days,
        defaults.retention_guest_names_days,
        defaults.purge_minutes,
    ) == (24, 30, 365, 60)
    given = load_settings(
        {
            "VARDMOTE_RETENTION_THROTTLE_HOURS": "2",
            "VARDMOTE_RETENTION_OUTBOX_DAYS": "7",
            "VARDMOTE_RETENTION_GUEST_NAMES_DAYS": "90",
            "VARDMOTE_PURGE_MINUTES": "5",
        }
    )
    assert (
        given.retention_throttle_hours,
        given.retention_outbox_days,
        given.retention_guest_names_days,
        given.purge_minutes,
    ) == (2, 7, 90, 5)
