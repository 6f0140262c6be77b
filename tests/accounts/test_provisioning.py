"""accounts.provisioning: the account made for a new HSA-id, and the one it never takes over.
(Two first uses at the same moment: tests/fhir/test_fhir_concurrency.py, on PostgreSQL.)"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from conftest import make_user
from vardmote.accounts.models import Role, User
from vardmote.accounts.passwords import verify_password
from vardmote.accounts.provisioning import UsernameTaken, make_from_hsa_id
from vardmote.audit.models import AuditEntry
from vardmote.context import Context

ZLATAN = "SE2321000016-ZZ99"


def test_the_account_is_made_with_the_hsa_id_as_username_and_no_password_and_audited(ctx: Context) -> None:
    with ctx.db.session() as s:
        user = make_from_hsa_id(s, ZLATAN, "Zlatan Zetterberg", Role.CLINICIAN, "client:Cosmic", by="fhir")
        assert (user.username, user.hsa_id, user.display_name, user.role) == (
            "se2321000016-zz99",
            ZLATAN,
            "Zlatan Zetterberg",
            "clinician",
        )
        assert not verify_password(user.password_hash, "!")
        entries = [(e.actor, e.action, json.loads(e.details)) for e in s.scalars(select(AuditEntry))]
    assert entries == [
        (
            "client:Cosmic",
            "user.provisioned",
            {"username": "se2321000016-zz99", "hsa_id": ZLATAN, "role": "clinician", "by": "fhir"},
        )
    ]


@pytest.mark.parametrize(
    ("holder_hsa_id"),
    [pytest.param(None, id="unlinked"), pytest.param("SE2321000016-AA11", id="another-hsa-id")],
)
def test_an_account_that_has_the_username_without_the_hsa_id_is_not_taken_over(
    ctx: Context, holder_hsa_id: str | None
) -> None:
    holder = make_user(ctx, "se2321000016-zz99")
    with ctx.db.session() as s:
        row = s.get(User, holder.id)
        assert row is not None
        row.hsa_id = holder_hsa_id
    with ctx.db.session() as s, pytest.raises(UsernameTaken) as raised:
        make_from_hsa_id(s, ZLATAN, "Zlatan Zetterberg", Role.ADMIN, "system:oidc", by="oidc")
    assert raised.value.status == 409
    assert raised.value.holder_hsa_id == holder_hsa_id
    assert raised.value.message == (
        "Det finns redan ett konto med användarnamnet se2321000016-zz99 men utan detta HSA-id. "
        "Be en administratör rätta kontot."
    )
    with ctx.db.session() as s:
        assert [u.hsa_id for u in s.scalars(select(User))] == [holder_hsa_id]
