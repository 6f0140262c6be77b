"""A journal system's keys are replaced (a key rotation): by the service, the vardmote command and the
admin page's "Byt nycklar". The new keys are checked as at registration; the old ones stop working
at once for new assertions while a token already given lives out its minutes; a revoked or unknown
client gets no keys; each change is audited; bad input changes nothing."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
from pathlib import Path
from typing import Any

import client_helpers
import pytest
from client_helpers import field_errors, page_text
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import csrf_of, sign_in
from fhir_clients import (
    JournalSystem,
    access_token,
    ec_key,
    private_jwks,
    public_jwks,
    register_journal_system,
    rsa_key,
)
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.cli import main
from vardmote.clients.auth import authorized_client
from vardmote.clients.keys import JWKS_HELP
from vardmote.clients.models import ApiClient
from vardmote.clients.service import InvalidKeys, replace_keys, revoke_client
from vardmote.context import Context
from vardmote.errors import InvalidInput

TOKEN = "/oauth/token"
PAGE = "/admin/klienter"
UNKNOWN_KID = {
    "error": "invalid_client",
    "error_description": "No key with the assertion's kid is registered for this client.",
}

admin = client_helpers.admin


@pytest.fixture
def cosmic(ctx: Context) -> JournalSystem:
    """cosmic is the region's journal system, registered with its first RSA key, cosmic-1."""
    return register_journal_system(ctx, "Cosmic", key=rsa_key("cosmic-1"))


def _stored(ctx: Context, name: str = "Cosmic") -> ApiClient:
    with ctx.db.session() as s:
        client = s.scalars(select(ApiClient).where(ApiClient.name == name)).one()
        s.expunge(client)
        return client


def _kids(ctx: Context, name: str = "Cosmic") -> list[str]:
    return [key["kid"] for key in json.loads(_stored(ctx, name).jwks)["keys"]]


def _changes(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "client.keys_changed").order_by(AuditEntry.id)
        )
        return [(row.actor, json.loads(row.details)) for row in rows]


def _with(system: JournalSystem, key: Any, alg: str = "RS384") -> JournalSystem:
    """_with is the journal system signing with another key of its own."""
    return JournalSystem(system.name, system.client_id, key, system.audience, alg)


# --- the service ---------------------------------------------------------------------------


def test_new_keys_take_over_at_once_and_a_token_already_given_lives_on(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    given = access_token(client, cosmic)
    new = ec_key("cosmic-2", "P-384")
    with ctx.db.session() as s:
        changed = replace_keys(s, "Cosmic", public_jwks(new), actor="user:admin")
        assert (changed.name, changed.client_id) == ("Cosmic", cosmic.client_id)
    refused = client.post(TOKEN, data=cosmic.token_form())
    assert (refused.status_code, refused.json()) == (401, UNKNOWN_KID)
    assert client.post(TOKEN, data=_with(cosmic, new, "ES384").token_form()).status_code == 200
    with ctx.db.session() as s:
        still = authorized_client(ctx, s, f"Bearer {given}", "Appointment", "r")
        assert still.name == "Cosmic"
    assert _stored(ctx).scopes == "system/Appointment.cruds"
    assert _changes(ctx) == [
        (
            "user:admin",
            {
                "client": "Cosmic",
                "client_id": cosmic.client_id,
                "old_kids": ["cosmic-1"],
                "kids": ["cosmic-2"],
            },
        )
    ]


def test_an_old_key_with_the_same_kid_as_the_new_one_is_refused_by_its_signature(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    new = rsa_key("cosmic-1", fresh=True)
    with ctx.db.session() as s:
        replace_keys(s, "Cosmic", public_jwks(new), actor="user:admin")
    refused = client.post(TOKEN, data=cosmic.token_form())
    assert refused.status_code == 401
    assert refused.json()["error_description"] == (
        "The assertion's signature does not verify with the registered key its kid names."
    )
    assert client.post(TOKEN, data=_with(cosmic, new).token_form()).status_code == 200


def test_a_rotation_without_a_pause_registers_both_keys_then_the_new_one(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    new = rsa_key("cosmic-2")
    with ctx.db.session() as s:
        replace_keys(s, "Cosmic", public_jwks(cosmic.key, new), actor="user:admin")
    assert client.post(TOKEN, data=cosmic.token_form()).status_code == 200
    assert client.post(TOKEN, data=_with(cosmic, new).token_form()).status_code == 200
    with ctx.db.session() as s:
        replace_keys(s, "Cosmic", public_jwks(new), actor="user:admin")
    assert client.post(TOKEN, data=cosmic.token_form()).status_code == 401
    assert [details["kids"] for _, details in _changes(ctx)] == [["cosmic-1", "cosmic-2"], ["cosmic-2"]]


@pytest.mark.parametrize(
    ("jwks", "message", "private"),
    [
        pytest.param("inte json", f"Nycklarna är inte giltig JSON. {JWKS_HELP}", False, id="not-json"),
        pytest.param('{"keys": []}', f"Nyckeluppsättningen är tom. {JWKS_HELP}", False, id="empty"),
        pytest.param(
            public_jwks(rsa_key("cosmic-2"), ec_key("cosmic-2")),
            "Två nycklar har samma kid 'cosmic-2'. Varje nyckel ska ha ett eget kid.",
            False,
            id="two-keys-with-one-kid",
        ),
        pytest.param(
            private_jwks(rsa_key("cosmic-2")),
            "Nyckeln 'cosmic-2' innehåller en privat del. Klistra bara in den publika nyckeln: den privata "
            "ska aldrig lämna journalsystemet. Den inklistrade texten visas inte igen; ta fram ett nytt "
            "nyckelpar om den privata nyckeln kan ha kommit i orätta händer.",
            True,
            id="private-key",
        ),
        pytest.param("", f"Nycklarna är inte giltig JSON. {JWKS_HELP}", False, id="nothing"),
    ],
)
def test_bad_new_keys_are_refused_and_the_old_ones_stay(
    client: TestClient, ctx: Context, cosmic: JournalSystem, jwks: str, message: str, private: bool
) -> None:
    with ctx.db.session() as s, pytest.raises(InvalidKeys) as refused:
        replace_keys(s, "Cosmic", jwks, actor="user:admin")
    assert [(f.field, f.message) for f in refused.value.fields] == [("jwks", message)]
    assert refused.value.message == "Nycklarna är inte bytta. Rätta dem och försök igen."
    assert refused.value.private_key is private
    assert _kids(ctx) == ["cosmic-1"]
    assert _changes(ctx) == []
    assert client.post(TOKEN, data=cosmic.token_form()).status_code == 200


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("Okänt", "Det finns inget journalsystem som heter 'Okänt'.", id="unknown"),
        pytest.param(
            "Melior",
            "Journalsystemet 'Melior' är återkallat och kan inte få nya nycklar. Registrera det på nytt "
            "under ett annat namn.",
            id="revoked",
        ),
    ],
)
def test_an_unknown_or_revoked_client_gets_no_keys(
    ctx: Context, cosmic: JournalSystem, name: str, message: str
) -> None:
    register_journal_system(ctx, "Melior", key=rsa_key("melior-1"))
    with ctx.db.session() as s:
        revoke_client(s, "Melior", actor="user:admin")
    with ctx.db.session() as s, pytest.raises(InvalidInput) as refused:
        replace_keys(s, name, public_jwks(rsa_key("cosmic-2")), actor="user:admin")
    assert [(f.field, f.message) for f in refused.value.fields] == [("name", message)]
    assert _kids(ctx, "Melior") == ["melior-1"]
    assert _changes(ctx) == []


# --- the command ---------------------------------------------------------------------------


def test_client_keys_replaces_the_keys_from_a_file(
    env: None, ctx: Context, client: TestClient, cosmic: JournalSystem, tmp_path: Path, capsys: Any
) -> None:
    new = rsa_key("cosmic-2")
    path = tmp_path / "cosmic-2.jwks.json"
    path.write_text(public_jwks(new), encoding="utf-8")
    assert main(["client", "keys", "Cosmic", "--jwks", str(path)]) == 0
    assert capsys.readouterr().out == (
        "Journalsystemet Cosmic har nya nycklar (cosmic-2). Assertioner signerade med de gamla nycklarna "
        "tas inte emot längre; åtkomsttoken som redan getts gäller sin tid ut.\n"
    )
    assert client.post(TOKEN, data=cosmic.token_form()).status_code == 401
    assert client.post(TOKEN, data=_with(cosmic, new).token_form()).status_code == 200
    assert [actor for actor, _ in _changes(ctx)] == ["system:cli"]


def test_client_keys_reads_standard_input(
    env: None, ctx: Context, cosmic: JournalSystem, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(public_jwks(rsa_key("cosmic-2"), ec_key("cosmic-3"))))
    assert main(["client", "keys", "Cosmic", "--jwks", "-"]) == 0
    assert "har nya nycklar (cosmic-2, cosmic-3)." in capsys.readouterr().out
    assert _kids(ctx) == ["cosmic-2", "cosmic-3"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param(
            "Okänt",
            public_jwks(rsa_key("cosmic-2")),
            "Fel (name): Det finns inget journalsystem som heter 'Okänt'.",
            id="unknown",
        ),
        pytest.param(
            "Cosmic",
            private_jwks(rsa_key("cosmic-2")),
            "Fel (jwks): Nyckeln 'cosmic-2' innehåller en privat del.",
            id="private-key",
        ),
        pytest.param(
            "Cosmic",
            "x" * 30_000,
            "Fel (jwks): Nyckeltexten är för lång (högst 20000 tecken).",
            id="too-long",
        ),
    ],
)
def test_client_keys_refuses_bad_input_in_swedish_and_changes_nothing(
    env: None,
    ctx: Context,
    cosmic: JournalSystem,
    tmp_path: Path,
    capsys: Any,
    name: str,
    text: str,
    message: str,
) -> None:
    path = tmp_path / "given.json"
    path.write_text(text, encoding="utf-8")
    assert main(["client", "keys", name, "--jwks", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message), captured.err
    assert _kids(ctx) == ["cosmic-1"]


def test_client_keys_of_a_missing_file_says_so(
    env: None, ctx: Context, cosmic: JournalSystem, capsys: Any
) -> None:
    assert main(["client", "keys", "Cosmic", "--jwks", "/finns/inte.json"]) == 2
    assert capsys.readouterr().err == "Fel (jwks): Filen finns inte: /finns/inte.json.\n"


# --- the page ------------------------------------------------------------------------------


def _typed_keys(page: str) -> str:
    found = re.search(r'<textarea id="nya_nycklar"[^>]*>([^<]*)</textarea>', page)
    assert found is not None
    return htmllib.unescape(found.group(1))


def _post_keys(admin: TestClient, chosen: str, jwks: str) -> Any:
    form = {"csrf": csrf_of(admin.get(PAGE).text), "klient": chosen, "nya_nycklar": jwks}
    return admin.post(f"{PAGE}/nycklar", data=form, follow_redirects=False)


def test_the_page_offers_byt_nycklar_for_active_clients_only(
    admin: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    register_journal_system(ctx, "Melior", key=rsa_key("melior-1"))
    with ctx.db.session() as s:
        revoke_client(s, "Melior", actor="user:admin")
    page = admin.get(PAGE).text
    assert '<h2 id="nycklar-rubrik">Byt nycklar</h2>' in page
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]+)</option>', page)
    assert options == [("", "Välj journalsystem"), (str(_stored(ctx).id), "Cosmic (nu cosmic-1)")]
    row = re.search(r'<th scope="row">Cosmic</th>(.*?)</tr>', page, re.S)
    assert row is not None
    assert "<td>cosmic-1</td>" in row.group(1)


def test_the_page_has_no_byt_nycklar_without_an_active_client(admin: TestClient) -> None:
    assert "Byt nycklar" not in admin.get(PAGE).text


def test_byt_nycklar_on_the_page_replaces_the_keys_and_says_so(
    admin: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    new = ec_key("cosmic-2", "P-256")
    stored = _stored(ctx)
    response = _post_keys(admin, str(stored.id), public_jwks(new))
    assert (response.status_code, response.headers["location"]) == (303, f"{PAGE}?nycklar={stored.id}")
    page = admin.get(response.headers["location"]).text
    assert (
        "Journalsystemet Cosmic har nya nycklar (cosmic-2). Assertioner signerade med de gamla nycklarna tas "
        "inte emot längre; åtkomsttoken som redan getts gäller sin tid ut (högst 5 minuter)."
        in page_text(page)
    )
    assert admin.post(TOKEN, data=cosmic.token_form()).json() == UNKNOWN_KID
    assert admin.post(TOKEN, data=_with(cosmic, new, "ES256").token_form()).status_code == 200
    assert [actor for actor, _ in _changes(ctx)] == ["user:admin"]


@pytest.mark.parametrize(
    ("choose", "jwks", "expected", "kept"),
    [
        pytest.param(
            "",
            lambda: public_jwks(rsa_key("cosmic-2")),
            {"klient": "Välj vilket journalsystem som ska få nya nycklar."},
            True,
            id="no-client",
        ),
        pytest.param(
            "revoked",
            lambda: public_jwks(rsa_key("cosmic-2")),
            {"klient": "Välj vilket journalsystem som ska få nya nycklar."},
            True,
            id="a-revoked-client",
        ),
        pytest.param(
            "cosmic",
            lambda: '{"keys": [',
            {"nya_nycklar": f"Nycklarna är inte giltig JSON. {JWKS_HELP}"},
            True,
            id="bad-json",
        ),
        pytest.param(
            "cosmic",
            lambda: private_jwks(rsa_key("cosmic-2")),
            {
                "nya_nycklar": "Nyckeln 'cosmic-2' innehåller en privat del. Klistra bara in den publika "
                "nyckeln: den privata ska aldrig lämna journalsystemet. Den inklistrade texten visas inte "
                "igen; ta fram ett nytt nyckelpar om den privata nyckeln kan ha kommit i orätta händer."
            },
            False,
            id="private-key",
        ),
    ],
)
def test_byt_nycklar_with_wrong_fields_is_told_in_swedish_and_changes_nothing(
    admin: TestClient,
    ctx: Context,
    cosmic: JournalSystem,
    choose: str,
    jwks: Any,
    expected: dict[str, str],
    kept: bool,
) -> None:
    register_journal_system(ctx, "Melior", key=rsa_key("melior-1"))
    with ctx.db.session() as s:
        revoke_client(s, "Melior", actor="user:admin")
    chosen = {"": "", "cosmic": str(_stored(ctx).id), "revoked": str(_stored(ctx, "Melior").id)}[choose]
    typed = jwks()
    response = _post_keys(admin, chosen, typed)
    assert response.status_code == 422
    assert field_errors(response.text) == expected
    assert "Nycklarna är inte bytta." in page_text(response.text)
    assert _typed_keys(response.text) == (typed if kept else "")
    if not kept:
        assert str(json.loads(typed)["keys"][0]["d"]) not in response.text
    assert _kids(ctx) == ["cosmic-1"]
    assert _changes(ctx) == []


def test_byt_nycklar_without_the_csrf_token_or_as_a_clinician_changes_nothing(
    client: TestClient, ctx: Context, cosmic: JournalSystem, administrator: User, clinician: User
) -> None:
    chosen = str(_stored(ctx).id)
    form = {"klient": chosen, "nya_nycklar": public_jwks(rsa_key("cosmic-2"))}
    sign_in(client, "admin")
    assert client.post(f"{PAGE}/nycklar", data=form).status_code == 403
    assert client.post(f"{PAGE}/nycklar", data=form | {"csrf": "fel"}).status_code == 403
    client.cookies.clear()
    sign_in(client, "annika")
    token = csrf_of(client.get("/kalender").text)
    assert client.post(f"{PAGE}/nycklar", data=form | {"csrf": token}).status_code == 403
    assert _kids(ctx) == ["cosmic-1"]
    assert _changes(ctx) == []
