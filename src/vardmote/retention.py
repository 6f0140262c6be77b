"""Retention: the purge each server process runs by itself, so that nothing personal is kept
longer than it is needed.

Every ``purge_minutes`` (and once at start-up) :func:`purge` deletes:

- staff sessions and patient inbox sessions that have expired (they can never be used again);
- throttle rows (an account name, or a client address at the password sign-in, the sign-in
  with the identity provider or the token endpoint: every key of
  :mod:`vardmote.accounts.throttle` alike) whose last failure is older than
  ``retention_throttle_hours`` and that block nothing any more;
- the labels of personal guest links (whom each was made for: a role such as "Tolk", but
  staff may have typed a name), ``retention_guest_names_days`` after their meeting ended:
  the label becomes empty; the link, its id in the audit and the meeting stay. The names
  guests give themselves when they join are never written to the database (they live in
  the process, and in Redis, where they expire a day after the meeting's last change);
- invitations written to the outbox folder (``*.eml``, and temporary files left by a crash)
  older than ``retention_outbox_days``, and the mail outbox table's messages that were sent,
  or given up, that long ago (they hold join links); messages still waiting stay;
- journal systems' access tokens that have expired, and the used client assertions whose
  ``exp`` has passed (an assertion is refused by its ``exp`` from then on, so its ``jti``
  need not be remembered).

The audit log is never purged (it is append-only and hash-chained). Several processes may
purge at once: each deletion only removes what is already past its time, so doing it twice
changes nothing. The database work and the folder run in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import CursorResult, and_, delete, or_, select, update

from vardmote.accounts.models import SigninThrottle, StaffSession
from vardmote.clients.models import AccessToken, UsedAssertion
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.invitations.models import OutboxMail
from vardmote.invitations.outbox import FAILED, SENT
from vardmote.meetings.models import Meeting, MeetingLink
from vardmote.patients.models import PatientSession

log = logging.getLogger("vardmote.retention")


@dataclass(frozen=True)
class Purged:
    """Purged counts what one round of the purge removed."""

    staff_sessions: int = 0
    patient_sessions: int = 0
    throttle_rows: int = 0
    guest_names: int = 0
    outbox_files: int = 0
    outbox_messages: int = 0
    access_tokens: int = 0
    used_assertions: int = 0


def _count(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


def purge_database(ctx: Context, now: dt.datetime) -> Purged:
    """purge_database deletes what the database holds past its time, in one transaction."""
    settings = ctx.settings
    throttle_cutoff = now - dt.timedelta(hours=settings.retention_throttle_hours)
    names_cutoff = now - dt.timedelta(days=settings.retention_guest_names_days)
    mail_cutoff = now - dt.timedelta(days=settings.retention_outbox_days)
    with ctx.db.session() as s:
        staff = s.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        patients = s.execute(delete(PatientSession).where(PatientSession.expires_at <= now))
        throttle = s.execute(
            delete(SigninThrottle).where(
                SigninThrottle.last_failure_at < throttle_cutoff,
                or_(SigninThrottle.blocked_until.is_(None), SigninThrottle.blocked_until <= now),
            )
        )
        ended = select(Meeting.id).where(Meeting.ends_at < names_cutoff)
        names = s.execute(
            update(MeetingLink)
            .where(MeetingLink.recipient.is_not(None), MeetingLink.meeting_id.in_(ended))
            .values(recipient=None)
            .execution_options(synchronize_session=False)
        )
        mail = s.execute(
            delete(OutboxMail).where(
                or_(
                    and_(OutboxMail.state == SENT, OutboxMail.sent_at < mail_cutoff),
                    and_(OutboxMail.state == FAILED, OutboxMail.created_at < mail_cutoff),
                )
            )
        )
        tokens = s.execute(delete(AccessToken).where(AccessToken.expires_at <= now))
        assertions = s.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
        return Purged(
            _count(staff),
            _count(patients),
            _count(throttle),
            _count(names),
            outbox_messages=_count(mail),
            access_tokens=_count(tokens),
            used_assertions=_count(assertions),
        )


def purge_outbox(folder: Path, now: dt.datetime, days: int) -> int:
    """purge_outbox deletes the outbox folder's messages (and leftover temporary files) older
    than days, by their modification time, and returns how many; a missing folder is empty."""
    cutoff = (now - dt.timedelta(days=days)).timestamp()
    removed = 0
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        if not (path.suffix == ".eml" or (path.name.startswith(".") and path.suffix == ".tmp")):
            continue
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another process purged it first
    return removed


def purge(ctx: Context, now: dt.datetime | None = None) -> Purged:
    """purge runs one round: the database, then the outbox folder. It blocks: call it in a thread."""
    now = now or utcnow()
    done = purge_database(ctx, now)
    files = purge_outbox(ctx.settings.effective_outbox_dir, now, ctx.settings.retention_outbox_days)
    return dataclasses.replace(done, outbox_files=files)


async def keep_purging(ctx: Context) -> None:
    """keep_purging runs :func:`purge` now and then every ``purge_minutes``, until cancelled
    (the app's lifespan). A round that fails is logged (its kind only) and tried again next time."""
    while True:
        try:
            done = await asyncio.to_thread(purge, ctx)
            if done != Purged():
                log.info(
                    "purged: %d staff sessions, %d patient sessions, %d throttle rows, %d guest names, "
                    "%d outbox files, %d outbox messages, %d access tokens, %d used assertions",
                    done.staff_sessions,
                    done.patient_sessions,
                    done.throttle_rows,
                    done.guest_names,
                    done.outbox_files,
                    done.outbox_messages,
                    done.access_tokens,
                    done.used_assertions,
                )
        except Exception as e:
            log.warning(
                "purge failed: %s; trying again in %d minutes", type(e).__name__, ctx.settings.purge_minutes
            )
        await asyncio.sleep(ctx.settings.purge_minutes * 60)
