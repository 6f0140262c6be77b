"""An account made by hand can carry the person's HSA-id (`vardmote user add --hsa-id`, or later
`vardmote user set-hsa-id`), so that their sign-in with the region's identity provider finds it;
the HSA-id is checked and unique."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD, make_user
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.cli import main
from vardmote.context import Context


def test_user_add_takes_the_hsa_id_upper_cased(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "annika", "--name", "Annika Läkare", "--hsa-id", "se2321000016-ab1"]) == 0
    assert capsys.readouterr().out == "Kontot annika (clinician) är skapat.\n"
    with ctx.db.session() as s:
        assert s.scalars(select(User.hsa_id)).all() == ["SE2321000016-AB1"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.added")).one()
        assert json.loads(entry.details) == {
            "username": "annika",
            "role": "clinician",
            "hsa_id": "SE2321000016-AB1",
        }


def test_user_add_without_an_hsa_id_leaves_it_empty(
    env: None, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "annika"]) == 0
    assert main(["user", "add", "bertil"]) == 0  # many accounts without one: no clash
    with ctx.db.session() as s:
        assert s.scalars(select(User.hsa_id)).all() == [None, None]


@pytest.mark.parametrize(
    "hsa_id",
    [
        pytest.param("SE232100001-1", id="nine-digits"),
        pytest.param("SE2321000016", id="no-suffix"),
        pytest.param("SE2321000016-Åsa", id="swedish-letter"),
        pytest.param("SE2321000016-" + "1" * 19, id="32-characters"),
    ],
)
def test_user_add_refuses_an_invalid_hsa_id_with_exit_code_2(
    env: None,
    ctx: Context,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    hsa_id: str,
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "annika", "--hsa-id", hsa_id]) == 2
    assert capsys.readouterr().err == (
        "Fel (hsa_id): HSA-id ska vara SE, organisationsnumret (10 siffror, eller 12 med 16 först), "
        "bindestreck och bokstäver eller siffror, "
        f"högst 31 tecken (t.ex. SE2321000016-1003); fick {hsa_id!r}.\n"
    )
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0


def test_user_add_refuses_an_hsa_id_another_account_has_with_exit_code_1(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "annika", "--hsa-id", "SE2321000016-1003"]) == 0
    capsys.readouterr()
    assert main(["user", "add", "annika2", "--hsa-id", "se2321000016-1003"]) == 1
    assert capsys.readouterr().err == "Fel: Det finns redan ett konto med HSA-id SE2321000016-1003.\n"
    with ctx.db.session() as s:
        assert s.scalars(select(User.username)).all() == ["annika"]


def _hsa_id_set_audit(ctx: Context) -> list[tuple[str, dict[str, object]]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.hsa_id_set").order_by(AuditEntry.id)
        )
        return [(row.actor, json.loads(row.details)) for row in rows]


def _hsa_ids(ctx: Context) -> dict[str, str | None]:
    with ctx.db.session() as s:
        return {u.username: u.hsa_id for u in s.scalars(select(User))}


def test_set_hsa_id_links_an_existing_account_upper_cased_and_audited(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(ctx, "annika")
    assert main(["user", "set-hsa-id", "annika", " se2321000016-ab1"]) == 0
    assert capsys.readouterr().out == (
        "Kontot annika har HSA-id SE2321000016-AB1: inloggningen med SITHS hittar det.\n"
    )
    assert _hsa_ids(ctx) == {"annika": "SE2321000016-AB1"}
    assert _hsa_id_set_audit(ctx) == [
        ("system:cli", {"username": "annika", "hsa_id": "SE2321000016-AB1", "previous": None})
    ]


def test_set_hsa_id_again_with_the_same_id_changes_nothing(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(ctx, "annika")
    assert main(["user", "set-hsa-id", "annika", "SE2321000016-1003"]) == 0
    assert main(["user", "set-hsa-id", "annika", "se2321000016-1003"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Kontot annika har HSA-id SE2321000016-1003: inloggningen med SITHS hittar det."
    )
    assert len(_hsa_id_set_audit(ctx)) == 1


def test_set_hsa_id_clear_takes_it_away(env: None, ctx: Context, capsys: pytest.CaptureFixture[str]) -> None:
    make_user(ctx, "annika")
    assert main(["user", "set-hsa-id", "annika", "SE2321000016-1003"]) == 0
    capsys.readouterr()
    assert main(["user", "set-hsa-id", "annika", "--clear"]) == 0
    assert (
        capsys.readouterr().out == "Kontot annika har inget HSA-id: inloggningen med SITHS hittar det inte.\n"
    )
    assert _hsa_ids(ctx) == {"annika": None}
    assert _hsa_id_set_audit(ctx)[-1] == (
        "system:cli",
        {"username": "annika", "hsa_id": None, "previous": "SE2321000016-1003"},
    )


def test_set_hsa_id_refuses_an_id_another_account_has_and_names_it(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    make_user(ctx, "annika")
    make_user(ctx, "se2321000016-1003")
    assert main(["user", "set-hsa-id", "se2321000016-1003", "SE2321000016-1003"]) == 0
    capsys.readouterr()

    assert main(["user", "set-hsa-id", "annika", "SE2321000016-1003"]) == 1

    assert capsys.readouterr().err == (
        "Fel: Kontot se2321000016-1003 har redan HSA-id SE2321000016-1003. Ta bort det där först "
        "om det är fel: vardmote user set-hsa-id se2321000016-1003 --clear\n"
    )
    assert _hsa_ids(ctx) == {"annika": None, "se2321000016-1003": "SE2321000016-1003"}
    assert len(_hsa_id_set_audit(ctx)) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["annika", "SE232100001-1"],
            "Fel (hsa_id): HSA-id ska vara SE, organisationsnumret (10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller siffror, "
            "högst 31 tecken (t.ex. SE2321000016-1003); fick 'SE232100001-1'.",
            id="nine-digits",
        ),
        pytest.param(
            ["annika", "SE2321000016-Åsa"],
            "Fel (hsa_id): HSA-id ska vara SE, organisationsnumret (10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller siffror, "
            "högst 31 tecken (t.ex. SE2321000016-1003); fick 'SE2321000016-Åsa'.",
            id="swedish-letter",
        ),
        pytest.param(
            ["okand", "SE2321000016-1003"],
            "Fel (username): Det finns inget konto med användarnamnet 'okand'.",
            id="unknown-account",
        ),
        pytest.param(["annika"], "Fel (hsa_id): Ange antingen ett HSA-id eller --clear.", id="neither"),
        pytest.param(
            ["annika", "SE2321000016-1003", "--clear"],
            "Fel (hsa_id): Ange antingen ett HSA-id eller --clear.",
            id="both",
        ),
    ],
)
def test_set_hsa_id_refuses_bad_input_with_exit_code_2(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    make_user(ctx, "annika")
    assert main(["user", "set-hsa-id", *argv]) == 2
    assert capsys.readouterr().err == message + "\n"
    assert _hsa_ids(ctx) == {"annika": None}
    assert _hsa_id_set_audit(ctx) == []
