"""The audit log: append entries and verify the hash chain.

Concurrency: :func:`record` runs inside the caller's transaction, so an audit
entry is committed together with the change it describes, or not at all. The
chain needs one writer at a time: on PostgreSQL a transaction-level advisory
lock serialises appends; on SQLite every write transaction already holds the
database lock from its start (``BEGIN IMMEDIATE`` in :mod:`vardmote.db`).

Keys: each entry's hash is an HMAC-SHA-256 under the audit key, which is kept outside
the database (``Settings.effective_audit_key``: its own setting, or derived from the
secret key), so that someone who can only change the database cannot recompute the
chain after an edit. Each process's Context hands the key over with :func:`use_key`.
Chains begun before the key (plain SHA-256) carry on: the first entry written with the
key after them is a marker (action ``audit.keyed``), and :func:`verify` checks plain
SHA-256 before it and the HMAC from it on. A chain begun with the key is keyed from its
first entry. Plain entries are accepted only before a keyed marker: a chain rewritten
in plain SHA-256 from its start has none, and is reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from vardmote.audit.models import AuditEntry
from vardmote.db import utcnow

GENESIS = "0" * 64
"""prev_hash of the first entry."""

_ADVISORY_LOCK_ID = 0x56415244  # "VARD"

KEYED = "audit.keyed"
"""Action of the marker entry from which a chain begun without the key is keyed."""

_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def use_key(engine: Engine, key: bytes) -> None:
    """use_key makes key the audit key of every entry written or verified through engine."""
    if len(key) < 16:
        raise ValueError("the audit key must be at least 16 bytes")
    _keys[engine] = key


def _key_of(session: Session) -> bytes:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    key = _keys.get(engine)
    if key is None:
        raise RuntimeError("no audit key for this database: build a Context (audit.log.use_key)")
    return key


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


def _fields(entry: AuditEntry) -> bytes:
    return _canonical(
        entry.id,
        entry.at,
        entry.actor,
        entry.action,
        entry.meeting_id,
        entry.details,
        entry.prev_hash,
    )


def _hash(entry: AuditEntry) -> str:
    """_hash is the plain SHA-256 of entries written before the key."""
    return hashlib.sha256(_fields(entry)).hexdigest()


def _keyed_hash(entry: AuditEntry, key: bytes) -> str:
    return hmac.new(key, _fields(entry), hashlib.sha256).hexdigest()


def _matches(entry: AuditEntry, digest: str) -> bool:
    return hmac.compare_digest(entry.hash.encode(), digest.encode())


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
    key = _key_of(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is not None and not _matches(last, _keyed_hash(last, key)):
        # The chain so far was written without the key (or under another): the marker says
        # from where on it is keyed.
        last = _append(session, key, last, "system", KEYED, None, {"from": last.id + 1})
    return _append(session, key, last, actor, action, meeting_id, details)


def _append(
    session: Session,
    key: bytes,
    last: AuditEntry | None,
    actor: str,
    action: str,
    meeting_id: str | None,
    details: Mapping[str, Any] | None,
) -> AuditEntry:
    prev_id, prev_hash = (last.id, last.hash) if last is not None else (0, GENESIS)
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
    entry.hash = _keyed_hash(entry, key)
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
    keyed_from: int | None = field(default=None, compare=False)
    """The first entry checked with the key: 1 for a chain begun with it, the marker for
    a chain that carried on (entries before it are plain SHA-256)."""

    def describe(self) -> str:
        """describe says in one line what verify found."""
        if self.intact and self.keyed_from not in (None, 1):
            return (
                f"Granskningsloggen är intakt ({self.entries} poster; skyddade med nyckeln "
                f"från post {self.keyed_from})."
            )
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

    Entries are checked with the key from the first entry on, or, in a chain begun
    without it, in plain SHA-256 up to the marker (see the module's note). A non-empty
    chain without any keyed entry is reported: it was rewritten, or the key is not the
    one it was written with.
    """
    key = _key_of(session)
    prev_hash = GENESIS
    expected_id = 1
    count = 0
    keyed_from: int | None = None
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in rows:
        count += 1
        if entry.id != expected_id:
            return Verdict(False, count, expected_id, f"post {expected_id} saknas")
        if entry.prev_hash != prev_hash:
            return Verdict(False, count, entry.id, "kedjan bryts: föregående hash stämmer inte")
        if keyed_from is None and (entry.id == 1 or entry.action == KEYED):
            if _matches(entry, _keyed_hash(entry, key)):
                keyed_from = entry.id
            elif entry.action == KEYED or not _matches(entry, _hash(entry)):
                return Verdict(False, count, entry.id, "innehållet har ändrats")
        elif keyed_from is None:
            if not _matches(entry, _hash(entry)):
                return Verdict(False, count, entry.id, "innehållet har ändrats")
        elif not _matches(entry, _keyed_hash(entry, key)):
            return Verdict(False, count, entry.id, "innehållet har ändrats")
        if anchor is not None and entry.id == anchor[0] and entry.hash != anchor[1]:
            return Verdict(False, count, entry.id, "posten stämmer inte med ankaret")
        prev_hash = entry.hash
        expected_id += 1
    if anchor is not None and anchor[0] >= expected_id:
        return Verdict(
            False, count, expected_id, f"posterna från {expected_id} saknas (ankaret är post {anchor[0]})"
        )
    if count and keyed_from is None:
        return Verdict(
            False,
            count,
            1,
            "ingen post är skyddad med nyckeln: kedjan är omskriven, eller nyckeln är inte den "
            "som loggen skrevs med",
        )
    return Verdict(True, count, last_hash=prev_hash, keyed_from=keyed_from)


def carry_on(session: Session) -> bool:
    """carry_on writes the keyed marker after a chain begun without the key, if it has none
    yet, so that ``audit verify`` finds the chain keyed before anything else is recorded.
    It tells whether it wrote the marker. At start-up (app.py)."""
    key = _key_of(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is None or _matches(last, _keyed_hash(last, key)):
        return False
    _append(session, key, last, "system", KEYED, None, {"from": last.id + 1})
    return True
