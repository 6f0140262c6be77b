"""The vardmote command's room devices: added with a token shown once, revoked, both audited."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from sqlalchemy import select

from vardmote.accounts.devices import add_device, resolve_device
from vardmote.accounts.models import Clinic, Organisation, RoomDevice
from vardmote.audit.models import AuditEntry
from vardmote.cli import main
from vardmote.context import Context
from vardmote.errors import Forbidden, NotFound

ROOM = "Vårdrum 3, Allergimottagning"
CLINIC = "Allergimottagning barn, Västerås"


def _added(out: str) -> str:
    """_added checks what device add printed and returns the token."""
    found = re.fullmatch(
        rf"Rumsenheten {re.escape(ROOM)} är registrerad\.\n"
        r"Nyckel till rumsdatorns inställningar \(visas bara nu\):\n([A-Za-z0-9_-]{43})\n",
        out,
    )
    assert found is not None, out
    return found.group(1)


def _devices(ctx: Context) -> list[RoomDevice]:
    with ctx.db.session() as s:
        return list(s.scalars(select(RoomDevice).order_by(RoomDevice.id)))


def _audit(ctx: Context, action: str) -> list[tuple[str, dict[str, object]]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        return [(row.actor, json.loads(row.details)) for row in rows]


@pytest.fixture
def clinic(ctx: Context) -> int:
    """clinic is the allergy clinic whose treatment rooms have room computers."""
    with ctx.db.session() as s:
        org = Organisation(name="Region Västmanland")
        s.add(org)
        s.flush()
        row = Clinic(organisation_id=org.id, name=CLINIC)
        s.add(row)
        s.flush()
        return row.id


def test_device_add_prints_a_token_once_that_lets_the_device_in_and_keeps_only_its_hash(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "add", "--name", ROOM]) == 0
    token = _added(capsys.readouterr().out)
    (device,) = _devices(ctx)
    assert (device.name, device.clinic_id, device.active) == (ROOM, None, True)
    assert device.token_hash == hashlib.sha256(token.encode()).digest()
    with ctx.db.session() as s:
        assert resolve_device(s, token).id == device.id
    assert _audit(ctx, "device.added") == [
        ("system:cli", {"device": device.id, "name": ROOM, "clinic": None})
    ]


def test_device_add_can_place_the_device_at_a_clinic(
    env: None, ctx: Context, clinic: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "add", "--name", f"  {ROOM} ", "--clinic", CLINIC]) == 0
    _added(capsys.readouterr().out)
    (device,) = _devices(ctx)
    assert (device.name, device.clinic_id) == (ROOM, clinic)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--name", "   "],
            "Fel (name): Ange enhetens namn med 1–60 tecken, t.ex. 'Vårdrum 3, Allergimottagning'.\n",
            id="blank-name",
        ),
        pytest.param(
            ["--name", "V" * 61],
            "Fel (name): Ange enhetens namn med 1–60 tecken, t.ex. 'Vårdrum 3, Allergimottagning'.\n",
            id="long-name",
        ),
        pytest.param(
            ["--name", "Vårdrum\x003"],
            "Fel (name): Ange enhetens namn med 1–60 tecken, t.ex. 'Vårdrum 3, Allergimottagning'.\n",
            id="nul-in-name",
        ),
        pytest.param(
            ["--name", ROOM, "--clinic", "Hudmottagningen"],
            "Fel (clinic): Det finns ingen mottagning som heter 'Hudmottagningen'.\n",
            id="unknown-clinic",
        ),
    ],
)
def test_device_add_refuses_bad_input_with_exit_code_2(
    env: None, ctx: Context, clinic: int, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["device", "add", *args]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message)
    assert _devices(ctx) == []


def test_device_add_refuses_the_name_of_an_active_device_with_exit_code_1(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "add", "--name", ROOM]) == 0
    capsys.readouterr()
    assert main(["device", "add", "--name", ROOM]) == 1
    assert capsys.readouterr().err == f"Fel: Det finns redan en aktiv rumsenhet som heter '{ROOM}'.\n"
    assert len(_devices(ctx)) == 1


def test_device_revoke_stops_the_token_at_once_and_frees_the_name_for_a_new_device(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "add", "--name", ROOM]) == 0
    old_token = _added(capsys.readouterr().out)

    assert main(["device", "revoke", ROOM]) == 0
    assert (
        capsys.readouterr().out == f"Rumsenheten {ROOM} är avregistrerad: dess nyckel fungerar inte längre.\n"
    )
    (old,) = _devices(ctx)
    assert not old.active
    with ctx.db.session() as s, pytest.raises(Forbidden):
        resolve_device(s, old_token)
    assert _audit(ctx, "device.revoked") == [("system:cli", {"device": old.id, "name": ROOM})]

    assert main(["device", "add", "--name", ROOM]) == 0
    new_token = _added(capsys.readouterr().out)
    assert new_token != old_token
    with ctx.db.session() as s:
        assert resolve_device(s, new_token).id != old.id
        with pytest.raises(Forbidden):
            resolve_device(s, old_token)


def test_device_revoke_of_an_unknown_name_is_bad_input_with_exit_code_2(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "revoke", "Vårdrum 9"]) == 2
    assert capsys.readouterr().err == "Fel (name): Det finns ingen aktiv rumsenhet som heter 'Vårdrum 9'.\n"
    assert _audit(ctx, "device.revoked") == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("A" * 43, id="unknown"),
        pytest.param("kort", id="not-a-token"),
        pytest.param("", id="empty"),
    ],
)
def test_a_token_that_matches_no_device_is_not_found(ctx: Context, token: str) -> None:
    with ctx.db.session() as s:
        add_device(s, ROOM)
    with ctx.db.session() as s, pytest.raises(NotFound) as raised:
        resolve_device(s, token)
    assert raised.value.message == (
        "Rumsenheten är inte registrerad. Kontrollera enhetens nyckel eller kontakta förvaltningen."
    )
