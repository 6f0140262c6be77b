"""authorized_client, the FHIR endpoint's check: a live token with the scope lets its client in;
no token, a wrong, expired or revoked one is 401 with a Bearer challenge, a missing scope 403."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from fhir_clients import JournalSystem, access_token, register_journal_system
from vardmote.clients.auth import ClientUnauthenticated, ScopeMissing, actor_of, authorized_client
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.clients.service import revoke_client
from vardmote.context import Context
from vardmote.db import utcnow

NO_TOKEN = "Anropet saknar åtkomsttoken. Hämta ett på /oauth/token och skicka det som Authorization: Bearer."
INVALID = 'Bearer realm="vardmote", error="invalid_token"'
BAD_TOKEN = "Åtkomsttokenet är okänt eller har gått ut. Hämta ett nytt på /oauth/token."


@pytest.fixture
def cosmic(ctx: Context) -> JournalSystem:
    """cosmic is the journal system, allowed to read and search appointments only."""
    return register_journal_system(ctx, "Cosmic", scopes="system/Appointment.read")


def _check(ctx: Context, authorization: str | None, action: str = "r") -> ApiClient:
    with ctx.db.session() as s:
        return authorized_client(ctx, s, authorization, "Appointment", action)


def test_a_live_token_with_the_scope_names_its_client(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    token = access_token(client, cosmic)
    for action in "rs":
        found = _check(ctx, f"Bearer {token}", action)
        assert (found.name, found.client_id) == ("Cosmic", cosmic.client_id)
        assert actor_of(found) == "client:Cosmic"
    assert _check(ctx, f"  bearer   {token} ").name == "Cosmic"


def test_a_token_for_fewer_scopes_than_the_client_has_allows_only_those(
    client: TestClient, ctx: Context
) -> None:
    system = register_journal_system(ctx, "Melior", scopes="system/Appointment.cruds")
    token = access_token(client, system, scope="system/Appointment.c")
    assert _check(ctx, f"Bearer {token}", "c").name == "Melior"
    with pytest.raises(ScopeMissing):
        _check(ctx, f"Bearer {token}", "r")


@pytest.mark.parametrize(
    ("action", "message", "english"),
    [
        pytest.param(
            "c",
            "Journalsystemet har inte behörighet att skapa Appointment (behörigheten system/Appointment.c "
            "saknas).",
            "The client's token lacks the scope system/Appointment.c, needed to create Appointment.",
            id="create",
        ),
        pytest.param(
            "u",
            "Journalsystemet har inte behörighet att ändra Appointment (behörigheten system/Appointment.u "
            "saknas).",
            "The client's token lacks the scope system/Appointment.u, needed to update Appointment.",
            id="update",
        ),
        pytest.param(
            "d",
            "Journalsystemet har inte behörighet att ta bort Appointment (behörigheten system/Appointment.d "
            "saknas).",
            "The client's token lacks the scope system/Appointment.d, needed to delete Appointment.",
            id="delete",
        ),
    ],
)
def test_a_token_without_the_scope_is_forbidden(
    client: TestClient, ctx: Context, cosmic: JournalSystem, action: str, message: str, english: str
) -> None:
    token = access_token(client, cosmic)
    with pytest.raises(ScopeMissing) as refused:
        _check(ctx, f"Bearer {token}", action)
    e = refused.value
    needed = f"system/Appointment.{action}"
    assert (e.status, e.message, e.english, e.scope) == (403, message, english, needed)
    assert e.headers == {
        "WWW-Authenticate": f'Bearer realm="vardmote", error="insufficient_scope", scope="{needed}"'
    }


@pytest.mark.parametrize(
    ("authorization", "message", "challenge"),
    [
        pytest.param(None, NO_TOKEN, 'Bearer realm="vardmote"', id="no-header"),
        pytest.param("", NO_TOKEN, 'Bearer realm="vardmote"', id="empty-header"),
        pytest.param("Basic Y29zbWljOmhlbWxpZ3Q=", NO_TOKEN, 'Bearer realm="vardmote"', id="basic"),
        pytest.param("Bearer", NO_TOKEN, 'Bearer realm="vardmote"', id="bearer-without-token"),
        pytest.param("Bearer " + "A" * 43, BAD_TOKEN, INVALID, id="unknown-token"),
        pytest.param("Bearer inte-ett-token", BAD_TOKEN, INVALID, id="malformed-token"),
    ],
)
def test_a_call_without_a_usable_token_is_unauthenticated(
    ctx: Context, cosmic: JournalSystem, authorization: str | None, message: str, challenge: str
) -> None:
    with pytest.raises(ClientUnauthenticated) as refused:
        _check(ctx, authorization)
    e = refused.value
    assert (e.status, e.message, e.headers) == (401, message, {"WWW-Authenticate": challenge})


def test_an_expired_token_is_unauthenticated(client: TestClient, ctx: Context, cosmic: JournalSystem) -> None:
    token = access_token(client, cosmic)
    with ctx.db.session() as s:
        s.execute(update(AccessToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with pytest.raises(ClientUnauthenticated) as refused:
        _check(ctx, f"Bearer {token}")
    assert (refused.value.message, refused.value.english) == (
        BAD_TOKEN,
        "The access token is unknown or has expired. Get a new one at /oauth/token.",
    )


def test_a_revoked_clients_token_stops_working_at_once(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    token = access_token(client, cosmic)
    assert _check(ctx, f"Bearer {token}").name == "Cosmic"
    with ctx.db.session() as s:
        revoke_client(s, "Cosmic")
    with pytest.raises(ClientUnauthenticated) as refused:
        _check(ctx, f"Bearer {token}")
    assert refused.value.message == BAD_TOKEN


def test_a_token_of_a_client_made_inactive_by_other_means_is_refused(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    token = access_token(client, cosmic)
    with ctx.db.session() as s:
        s.execute(update(ApiClient).values(active=False))
    with pytest.raises(ClientUnauthenticated):
        _check(ctx, f"Bearer {token}")


def test_a_permission_that_does_not_exist_is_a_programming_error(ctx: Context) -> None:
    with pytest.raises(ValueError, match=r"no such permission: Patient\.r"), ctx.db.session() as s:
        authorized_client(ctx, s, None, "Patient", "r")
    with pytest.raises(ValueError, match=r"no such permission: Appointment\.rs"), ctx.db.session() as s:
        authorized_client(ctx, s, None, "Appointment", "rs")
