"""The keyed audit chain: each hash is an HMAC under a key the database does not hold, so someone
who can change only the database cannot edit an entry and recompute the chain; a chain begun
without the key carries on from a marker entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from vardmote.audit.log import GENESIS, KEYED, Verdict, _hash, carry_on, record, use_key, verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.settings import Secret, Settings, SettingsError, load_settings


def _record(ctx: Context, n: int) -> None:
    with ctx.db.session() as s:
        for i in range(n):
            record(s, "user:annika", "meeting.booked", f"m-{i}", {"n": i})


def _rewrite_plain(ctx: Context, from_id: int, details: str | None = None) -> None:
    """_rewrite_plain does what someone with database access alone can: changes entry from_id
    (its details, when given) and recomputes every hash from there on in plain SHA-256."""
    with ctx.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        prev = entries[from_id - 2].hash if from_id > 1 else GENESIS
        for entry in entries[from_id - 1 :]:
            if entry.id == from_id and details is not None:
                entry.details = details
            entry.prev_hash = prev
            entry.hash = _hash(entry)
            prev = entry.hash
            s.flush()


def _legacy_chain(ctx: Context, n: int) -> None:
    """_legacy_chain writes n entries as a version before the key did: plain SHA-256."""
    prev = GENESIS
    at = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    with ctx.db.session() as s:
        for i in range(1, n + 1):
            entry = AuditEntry(
                id=i, at=at, actor="system", action="old.thing", meeting_id=None, details="{}", prev_hash=prev
            )
            entry.hash = _hash(entry)
            s.add(entry)
            s.flush()
            prev = entry.hash


def _verify(ctx: Context) -> Verdict:
    with ctx.db.session() as s:
        return verify(s)


def test_the_hash_is_an_hmac_under_the_key_from_the_settings(ctx: Context) -> None:
    _record(ctx, 1)
    with ctx.db.session() as s:
        entry = s.scalars(select(AuditEntry)).one()
        plain = _hash(entry)
    key = ctx.settings.effective_audit_key()
    assert entry.hash != plain
    expected = hmac.new(key, _canonical_of(entry), hashlib.sha256).hexdigest()
    assert entry.hash == expected
    assert key != ctx.settings.effective_secret_key(), "derived, not the secret key itself"


def _canonical_of(entry: AuditEntry) -> bytes:
    from vardmote.audit.log import _canonical

    return _canonical(
        entry.id, entry.at, entry.actor, entry.action, entry.meeting_id, entry.details, entry.prev_hash
    )


def test_an_entry_edited_and_the_rest_recomputed_in_plain_sha256_is_found(ctx: Context) -> None:
    _record(ctx, 5)
    assert _verify(ctx).intact
    _rewrite_plain(ctx, 3, json.dumps({"n": 99}))
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.first_bad_id, verdict.reason) == (False, 3, "innehållet har ändrats")


def test_a_chain_rewritten_in_plain_sha256_from_its_start_is_found(ctx: Context) -> None:
    """Without the marker a chain may be plain only when it has a keyed marker later; one
    rewritten from entry 1 (the marker dropped with it) has none."""
    _record(ctx, 4)
    _rewrite_plain(ctx, 1, json.dumps({"n": 42}))
    verdict = _verify(ctx)
    assert not verdict.intact
    assert verdict.first_bad_id == 1
    assert verdict.reason.startswith("ingen post är skyddad med nyckeln")


def test_another_key_does_not_verify_the_chain(ctx: Context) -> None:
    _record(ctx, 3)
    use_key(ctx.db.engine, b"k" * 32)
    try:
        verdict = _verify(ctx)
    finally:
        use_key(ctx.db.engine, ctx.settings.effective_audit_key())
    assert (verdict.intact, verdict.first_bad_id) == (False, 1)
    assert _verify(ctx).intact


def test_a_chain_begun_without_the_key_carries_on_from_a_marker(ctx: Context) -> None:
    _legacy_chain(ctx, 3)
    verdict = _verify(ctx)
    assert not verdict.intact, "plain entries with no keyed marker after them"
    _record(ctx, 2)
    with ctx.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["old.thing"] * 3 + [KEYED, "meeting.booked", "meeting.booked"]
    assert json.loads(entries[3].details) == {"from": 4}
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.entries, verdict.keyed_from) == (True, 6, 4)
    assert verdict.describe() == "Granskningsloggen är intakt (6 poster; skyddade med nyckeln från post 4)."


def test_an_old_entry_edited_before_the_marker_is_found_at_the_marker(ctx: Context) -> None:
    _legacy_chain(ctx, 3)
    _record(ctx, 1)
    # Entry 2 edited; 2 and 3 recomputed in plain SHA-256, and the marker's prev_hash with them:
    # the marker's HMAC then no longer fits, and the database holds nothing to make a new one.
    _rewrite_plain(ctx, 2, '{"x":1}')
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.first_bad_id, verdict.reason) == (False, 4, "innehållet har ändrats")


def test_a_plain_marker_is_not_accepted(ctx: Context) -> None:
    """A marker forged in plain SHA-256 (to make plain entries after it pass) is refused."""
    _legacy_chain(ctx, 2)
    with ctx.db.session() as s:
        last = s.get(AuditEntry, 2)
        assert last is not None
        forged = AuditEntry(
            id=3,
            at=dt.datetime(2026, 1, 6, tzinfo=dt.UTC),
            actor="system",
            action=KEYED,
            meeting_id=None,
            details='{"from":3}',
            prev_hash=last.hash,
        )
        forged.hash = _hash(forged)
        s.add(forged)
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.first_bad_id) == (False, 3)


def test_carry_on_writes_the_marker_once(ctx: Context) -> None:
    _legacy_chain(ctx, 2)
    with ctx.db.session() as s:
        assert carry_on(s) is True
    with ctx.db.session() as s:
        assert carry_on(s) is False
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.entries, verdict.keyed_from) == (True, 3, 3)


def test_carry_on_leaves_an_empty_or_keyed_chain_alone(ctx: Context) -> None:
    with ctx.db.session() as s:
        assert carry_on(s) is False
    _record(ctx, 1)
    with ctx.db.session() as s:
        assert carry_on(s) is False
    assert _verify(ctx).entries == 1


def test_a_chain_begun_with_the_key_is_keyed_from_its_first_entry(ctx: Context) -> None:
    _record(ctx, 2)
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.keyed_from) == (True, 1)
    assert verdict.describe() == "Granskningsloggen är intakt (2 poster)."


def test_the_audit_key_setting_is_the_key_itself_or_comes_from_a_file(tmp_path: Path) -> None:
    key = "a" * 40
    assert load_settings({"VARDMOTE_AUDIT_KEY": key}).effective_audit_key() == key.encode()
    path = tmp_path / "audit_key"
    path.write_text(key + "\n")
    assert load_settings({"VARDMOTE_AUDIT_KEY_FILE": str(path)}).effective_audit_key() == key.encode()
    with pytest.raises(SettingsError, match="VARDMOTE_AUDIT_KEY must be at least 32 bytes"):
        load_settings({"VARDMOTE_AUDIT_KEY": "short"})
    derived = Settings(var_dir=tmp_path, secret_key=Secret("s" * 32)).effective_audit_key()
    assert derived == Settings(var_dir=tmp_path / "x", secret_key=Secret("s" * 32)).effective_audit_key()
    assert derived != Settings(var_dir=tmp_path, secret_key=Secret("t" * 32)).effective_audit_key()
