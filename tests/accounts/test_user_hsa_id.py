"""An account made by hand can carry the person's HSA-id (`vardmote user add --hsa-id`), so that
their sign-in with the region's identity provider finds it; the HSA-id is checked and unique."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD
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
        "Fel (hsa_id): HSA-id ska vara SE, tio siffror, bindestreck och bokstäver eller siffror, "
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
