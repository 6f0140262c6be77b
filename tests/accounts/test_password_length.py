"""Staff passwords: a new one must be at least 12 characters; one set before the rule keeps working."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from vardmote.accounts.models import Role, User
from vardmote.accounts.passwords import MIN_LENGTH, hash_password
from vardmote.accounts.service import add_user
from vardmote.context import Context
from vardmote.errors import InvalidInput


def test_a_new_password_must_be_twelve_characters(ctx: Context) -> None:
    assert MIN_LENGTH == 12
    with ctx.db.session() as s, pytest.raises(InvalidInput) as caught:
        add_user(ctx, s, "cecilia", "Cecilia Ek", "elva-tecken")
    assert [(f.field, f.message) for f in caught.value.fields] == [
        ("password", "Lösenordet ska vara minst 12 tecken.")
    ]
    with ctx.db.session() as s:
        assert s.scalar(select(User).where(User.username == "cecilia")) is None
        add_user(ctx, s, "cecilia", "Cecilia Ek", "tolv-tecken!")
    with ctx.db.session() as s:
        assert s.scalar(select(User.username).where(User.username == "cecilia")) == "cecilia"


def test_a_short_password_set_before_the_rule_still_signs_in(ctx: Context, client: TestClient) -> None:
    with ctx.db.session() as s:
        s.add(
            User(
                username="gammal",
                display_name="Gammal Kontosson",
                role=Role.CLINICIAN.value,
                password_hash=hash_password("kort"),
            )
        )
    response = client.post("/api/v1/session", json={"username": "gammal", "password": "kort"})
    assert response.status_code == 201, response.text


def test_the_demo_accounts_keep_their_published_password(ctx: Context) -> None:
    """Demo accounts exist and sign in only in demo mode, with the password the docs print."""
    with ctx.db.session() as s:
        user = add_user(ctx, s, "demo-eva", "Eva Demo", "demo", is_demo=True)
    assert user.is_demo
