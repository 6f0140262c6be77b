"""Inbox sessions: a patient signed in to the inbox, kept apart from staff sessions.

The token lives in the ``vm_patient`` cookie (path ``/inkorg``, so it is never sent to
the staff pages or the guest pages) and in the database only as its SHA-256 hash, as
staff sessions are. A session lasts ``session_hours`` without activity; signing out
deletes the row, so a copied cookie stops working at once.

Trade-off: a session made by the test e-identification (``method == "test"``), or one
for a demo patient, works only while demo mode is on. Turning demo mode off therefore
closes every door the demo opened, even sessions that were live at that moment.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.lib.tokens import hash_token, looks_like_token, new_token
from vardmote.patients.models import Patient, PatientSession
from vardmote.patients.registry import number_of

PATIENT_COOKIE = "vm_patient"
"""The inbox session cookie; staff use ``vm_session``."""
COOKIE_PATH = "/inkorg"
TEST_METHOD = "test"
OIDC_METHOD = "oidc"
_REFRESH = dt.timedelta(minutes=1)


def actor(patient: Patient) -> str:
    """actor names a patient in the audit log: ``patient:19121212-****``, never the whole number."""
    return f"patient:{number_of(patient).masked()}"


def start_session(ctx: Context, s: Session, patient: Patient, method: str) -> tuple[str, PatientSession]:
    """start_session signs patient in: a new session row, and its token (shown once, for the cookie)."""
    token = new_token()
    now = utcnow()
    row = PatientSession(
        token_hash=hash_token(token),
        patient_id=patient.id,
        csrf_token=secrets.token_urlsafe(32),
        method=method,
        created_at=now,
        expires_at=now + dt.timedelta(hours=ctx.settings.session_hours),
    )
    row.patient = patient
    s.add(row)
    s.flush()
    record(s, actor(patient), "inbox.signed_in", details={"method": method})
    return token, row


def resolve_session(ctx: Context, s: Session, token: str | None) -> PatientSession | None:
    """resolve_session returns the live session for token and extends it, or None.

    A test sign-in or a demo patient counts only in demo mode (see the module comment).
    """
    if not token or not looks_like_token(token):
        return None
    row = s.get(PatientSession, hash_token(token))
    now = utcnow()
    if row is None or row.expires_at <= now:
        return None
    if not ctx.settings.demo and (row.method == TEST_METHOD or row.patient.is_demo):
        return None
    fresh = now + dt.timedelta(hours=ctx.settings.session_hours)
    if fresh - row.expires_at > _REFRESH:
        row.expires_at = fresh
    return row


def end_session(ctx: Context, s: Session, row: PatientSession) -> None:
    """end_session signs out: the row is deleted."""
    record(s, actor(row.patient), "inbox.signed_out")
    s.delete(row)
