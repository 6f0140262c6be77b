"""The audit log: append entries and verify the hash chain.

Concurrency: :func:`record` runs inside the caller's transaction, so an audit
entry is committed together with the change it describes, or not at all. The
chain needs one writer at a time: on PostgreSQL a transaction-level advisory
lock serialises appends; on SQLite every write transaction already holds the
database lock from its start (``BEGIN IMMEDIATE`` in :mod:`vardmote.db`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vardmote.audit.models import AuditEntry
from vardmote.db import utcnow

GENESIS = "0" * 64
"""prev_hash of the first entry."""

_ADVISORY_LOCK_ID = 0x56415244  # "VARD"


def _canonical(
    entry_id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    meeting_id: str | None,
    details: str,
    prev_hash: str,
) -> bytes:
    fields = {
        "id": entry_id,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "meeting_id": meeting_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _hash(entry: AuditEntry) -> str:
    data = _canonical(
        entry.id,
        entry.at,
        entry.actor,
        entry.action,
        entry.meeting_id,
        entry.details,
        entry.prev_hash,
    )
    return hashlib.sha256(data).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    meeting_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """record appends an entry to the audit log in the session's transaction.

    actor is ``user:<username>``, ``guest:<link id>``, ``system`` or similar;
    details must not carry message bodies or more personal data than needed.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    # Microseconds survive both SQLite and PostgreSQL, so the hash is stable.
    entry = AuditEntry(
        id=prev_id + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        meeting_id=meeting_id,
        details=json.dumps(
            dict(details or {}),
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        ),
        prev_hash=prev_hash,
    )
    entry.hash = _hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Verdict:
    """Verdict is the outcome of verifying the chain."""

    intact: bool
    entries: int
    first_bad_id: int | None = None
    reason: str = ""
    last_hash: str = field(default=GENESIS, compare=False)
    """Hash of the last entry: kept outside the database, it is the anchor that
    shows whether entries were later cut off the end (see verify)."""

    def describe(self) -> str:
        """describe says in one line what verify found."""
        if self.intact:
            return f"Granskningsloggen är intakt ({self.entries} poster)."
        return (
            f"Granskningsloggen är manipulerad: första felaktiga post är {self.first_bad_id} ({self.reason})."
        )


def verify(session: Session, anchor: tuple[int, str] | None = None) -> Verdict:
    """verify walks the chain in order and names the first entry that does not fit.

    The chain alone cannot show that the newest entries were deleted; anchor,
    an (id, hash) pair noted earlier from a verdict, can: that entry must
    still be there with that hash.
    """
    prev_hash = GENESIS
    expected_id = 1
    count = 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in rows:
        count += 1
        if entry.id != expected_id:
            return Verdict(False, count, expected_id, f"post {expected_id} saknas")
        if entry.prev_hash != prev_hash:
            return Verdict(False, count, entry.id, "kedjan bryts: föregående hash stämmer inte")
        if _hash(entry) != entry.hash:
            return Verdict(False, count, entry.id, "innehållet har ändrats")
        if anchor is not None and entry.id == anchor[0] and entry.hash != anchor[1]:
            return Verdict(False, count, entry.id, "posten stämmer inte med ankaret")
        prev_hash = entry.hash
        expected_id += 1
    if anchor is not None and anchor[0] >= expected_id:
        return Verdict(
            False, count, expected_id, f"posterna från {expected_id} saknas (ankaret är post {anchor[0]})"
        )
    return Verdict(True, count, last_hash=prev_hash)
