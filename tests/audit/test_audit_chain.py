"""The audit log: entries chain by hash, and verify names the first entry that was tampered with."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import bearer
from vardmote.accounts.models import User
from vardmote.audit.log import GENESIS, Verdict, record, verify
from vardmote.audit.models import AuditEntry
from vardmote.context import Context


def _record_five(ctx: Context) -> list[AuditEntry]:
    with ctx.db.session() as s:
        return [
            record(s, "user:annika", "meeting.booked", f"m-{i}", {"title": f"Återbesök {i}", "n": i})
            for i in range(1, 6)
        ]


def _verify(ctx: Context) -> Verdict:
    with ctx.db.session() as s:
        return verify(s)


def test_an_empty_log_is_intact(ctx: Context) -> None:
    assert _verify(ctx) == Verdict(True, 0)
    assert _verify(ctx).describe() == "Granskningsloggen är intakt (0 poster)."


def test_each_entry_carries_the_hash_of_the_one_before(ctx: Context) -> None:
    entries = _record_five(ctx)
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == 5


def test_details_are_stored_as_canonical_json(ctx: Context) -> None:
    with ctx.db.session() as s:
        entry = record(s, "system", "test", details={"ö": 1, "a": [2]})
    assert entry.details == '{"a":[2],"ö":1}'


def test_an_untouched_log_is_intact_with_its_count(ctx: Context) -> None:
    _record_five(ctx)
    verdict = _verify(ctx)
    assert verdict == Verdict(True, 5)
    assert verdict.describe() == "Granskningsloggen är intakt (5 poster)."


def test_entries_written_in_separate_transactions_chain_too(ctx: Context) -> None:
    for i in range(3):
        with ctx.db.session() as s:
            record(s, "system", f"step.{i}")
    assert _verify(ctx) == Verdict(True, 3)


def test_a_rolled_back_change_leaves_no_entry(ctx: Context) -> None:
    _record_five(ctx)

    def doomed_change() -> None:
        with ctx.db.session() as s:
            record(s, "system", "doomed")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        doomed_change()
    assert _verify(ctx) == Verdict(True, 5)


Tamper = Callable[[Context], None]


def _sql(statement: str, **params: object) -> Tamper:
    def tamper(ctx: Context) -> None:
        with ctx.db.engine.begin() as conn:
            conn.execute(text(statement), params)

    return tamper


@pytest.mark.parametrize(
    ("tamper", "first_bad_id", "reason"),
    [
        pytest.param(
            _sql("UPDATE audit_entries SET details = :details WHERE id = 3", details='{"n":99}'),
            3,
            "innehållet har ändrats",
            id="details-changed",
        ),
        pytest.param(
            _sql("UPDATE audit_entries SET actor = 'user:bertil' WHERE id = 2"),
            2,
            "innehållet har ändrats",
            id="actor-changed",
        ),
        pytest.param(
            _sql("DELETE FROM audit_entries WHERE id = 3"),
            3,
            "post 3 saknas",
            id="middle-entry-deleted",
        ),
        pytest.param(
            _sql("DELETE FROM audit_entries WHERE id = 1"),
            1,
            "post 1 saknas",
            id="first-entry-deleted",
        ),
        pytest.param(
            _sql("UPDATE audit_entries SET hash = '" + "f" * 64 + "' WHERE id = 2"),
            2,
            "innehållet har ändrats",
            id="hash-changed",
        ),
        pytest.param(
            _sql("UPDATE audit_entries SET prev_hash = '" + "e" * 64 + "' WHERE id = 4"),
            4,
            "kedjan bryts: föregående hash stämmer inte",
            id="prev-hash-changed",
        ),
    ],
)
def test_tampering_is_found_at_the_first_bad_entry(
    ctx: Context, tamper: Tamper, first_bad_id: int, reason: str
) -> None:
    _record_five(ctx)
    tamper(ctx)
    verdict = _verify(ctx)
    assert not verdict.intact
    assert verdict.first_bad_id == first_bad_id
    assert verdict.reason == reason
    assert verdict.describe() == (
        f"Granskningsloggen är manipulerad: första felaktiga post är {first_bad_id} ({reason})."
    )


def test_a_rehashed_entry_is_caught_at_itself(ctx: Context) -> None:
    """Someone who changes an entry and recomputes its hash without the key is caught at that
    entry (tests/audit/test_audit_key.py: and when the rest is recomputed too)."""
    from vardmote.audit.log import _hash

    _record_five(ctx)
    with ctx.db.session() as s:
        entry = s.get(AuditEntry, 2)
        assert entry is not None
        entry.details = json.dumps({"title": "Ändrad"})
        entry.hash = _hash(entry)
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.first_bad_id) == (False, 2)
    assert verdict.reason == "innehållet har ändrats"


def test_the_last_entry_deleted_is_not_detectable_by_the_chain_alone(ctx: Context) -> None:
    """Documents a limit of a plain hash chain: truncating the tail leaves a valid chain."""
    _record_five(ctx)
    _sql("DELETE FROM audit_entries WHERE id = 5")(ctx)
    verdict = _verify(ctx)
    assert (verdict.intact, verdict.entries) == (True, 4)


def test_an_anchor_noted_earlier_finds_entries_cut_off_the_end(ctx: Context) -> None:
    entries = _record_five(ctx)
    anchor = (5, entries[-1].hash)
    with ctx.db.session() as s:
        assert verify(s, anchor).intact
    _sql("DELETE FROM audit_entries WHERE id = 5")(ctx)
    with ctx.db.session() as s:
        verdict = verify(s, anchor)
    assert (verdict.intact, verdict.first_bad_id) == (False, 5)


def test_an_anchor_whose_hash_differs_is_reported(ctx: Context) -> None:
    _record_five(ctx)
    with ctx.db.session() as s:
        verdict = verify(s, (3, "0" * 64))
    assert (verdict.intact, verdict.first_bad_id, verdict.reason) == (
        False,
        3,
        "posten stämmer inte med ankaret",
    )


def test_an_administrator_can_verify_the_log_through_the_api(
    client: TestClient, administrator: User, ctx: Context
) -> None:
    headers = bearer(client, "admin")
    response = client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 200
    body = response.json()
    count = _verify(ctx).entries
    assert count >= 2, "the account and the sign-in are audited"
    assert body == {
        "intact": True,
        "entries": count,
        "first_bad_id": None,
        "message": f"Granskningsloggen är intakt ({count} poster).",
    }


def test_the_api_names_the_first_bad_entry(client: TestClient, administrator: User, ctx: Context) -> None:
    headers = bearer(client, "admin")
    _sql("""UPDATE audit_entries SET details = '{}' WHERE id = 1""")(ctx)
    body = client.get("/api/v1/audit/verify", headers=headers).json()
    assert body["intact"] is False
    assert body["first_bad_id"] == 1
    assert (
        body["message"]
        == "Granskningsloggen är manipulerad: första felaktiga post är 1 (innehållet har ändrats)."
    )


def test_a_clinician_may_not_verify_the_log(client: TestClient, clinician: User) -> None:
    response = client.get("/api/v1/audit/verify", headers=bearer(client, "annika"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Bara administratörer får göra det här."


def test_verifying_needs_sign_in(client: TestClient) -> None:
    response = client.get("/api/v1/audit/verify")
    assert response.status_code == 401
    assert response.json()["detail"] == "Du behöver logga in."


def test_the_audit_page_is_for_administrators_only(client: TestClient, clinician: User) -> None:
    response = client.get("/admin/granskning", headers=bearer(client, "annika"))
    assert response.status_code == 403
    assert "Bara administratörer får se den här sidan." in response.text


def test_the_audit_page_shows_the_verdict_to_an_administrator(
    client: TestClient, administrator: User
) -> None:
    response = client.get("/admin/granskning", headers=bearer(client, "admin"))
    assert response.status_code == 200
    assert "Granskningsloggen är intakt (2 poster)." in response.text
