"""The vardmote command's journal systems: client add prints the client_id to give the journal system,
client list shows them all, client revoke stops their tokens; errors in Swedish with exit code 2."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import count
from fhir_clients import JournalSystem, private_jwks, public_jwks, rsa_key
from vardmote.audit.models import AuditEntry
from vardmote.cli import main
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.context import Context

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    """jwks_file is Cosmic's public keys, as its supplier hands them over."""
    path = tmp_path / "cosmic.jwks.json"
    path.write_text(public_jwks(rsa_key()), encoding="utf-8")
    return path


def _added(out: str, name: str = "Cosmic", scopes: str = "system/Appointment.cruds") -> str:
    """_added checks what client add printed and returns the client_id."""
    found = re.fullmatch(
        rf"Journalsystemet {re.escape(name)} är registrerat med behörigheterna {re.escape(scopes)}\.\n"
        rf"Klient-id \(iss och sub i journalsystemets assertioner\):\n({UUID})\n"
        r"Tokenadress \(aud i assertionerna\): http://vardmote\.test/oauth/token\n",
        out,
    )
    assert found is not None, out
    return found.group(1)


def test_client_add_prints_a_client_id_that_gets_a_token(
    env: None, ctx: Context, client: TestClient, jwks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["client", "add", "Cosmic", "--jwks", str(jwks_file), "--scope", "system/Appointment.cruds"])
        == 0
    )
    client_id = _added(capsys.readouterr().out)
    system = JournalSystem("Cosmic", client_id, rsa_key(), "http://vardmote.test/oauth/token")
    assert client.post("/oauth/token", data=system.token_form()).status_code == 200
    with ctx.db.session() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.added"))
        assert (entry.actor, json.loads(entry.details)["client_id"]) == ("system:cli", client_id)


def test_client_add_takes_several_scopes_and_the_keys_on_standard_input(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(public_jwks(rsa_key())))
    args = ["client", "add", "Melior Region Uppsala", "--jwks", "-"]
    assert main([*args, "--scope", "system/Appointment.rs", "--scope", "system/Appointment.c"]) == 0
    _added(capsys.readouterr().out, "Melior Region Uppsala", "system/Appointment.rs system/Appointment.c")


def _file(text: str) -> Callable[[Path], str]:
    """_file writes text to a JWKS file in the test's folder and gives its path."""

    def write(folder: Path) -> str:
        path = folder / "given.json"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def _public(folder: Path) -> str:
    return _file(public_jwks(rsa_key()))(folder)


@pytest.mark.parametrize(
    ("scope", "source", "message"),
    [
        pytest.param(
            "system/Patient.rs",
            _public,
            "Fel (scopes): Resursen 'Patient' finns inte i Vårdmötes API; det som finns är Appointment.",
            id="unknown-resource",
        ),
        pytest.param(
            "system/Appointment.cruds",
            lambda folder: _file(private_jwks(rsa_key()))(folder),
            "Fel (jwks): Nyckeln 'cosmic-1' innehåller en privat del.",
            id="private-key",
        ),
        pytest.param(
            "system/Appointment.cruds",
            lambda folder: "/finns/inte.json",
            "Fel (jwks): Filen finns inte: /finns/inte.json.",
            id="no-such-file",
        ),
        pytest.param(
            "system/Appointment.cruds",
            lambda folder: "/",
            "Fel (jwks): Filen kan inte läsas som text (behörighet, en mapp, eller inte UTF-8?): /.",
            id="a-folder",
        ),
        pytest.param(
            "system/Appointment.cruds",
            _file("x" * 30_000),
            "Fel (jwks): Nyckeltexten är för lång (högst 20000 tecken).",
            id="too-long",
        ),
    ],
)
def test_client_add_refuses_bad_input_in_swedish_and_saves_nothing(
    env: None,
    ctx: Context,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scope: str,
    source: Callable[[Path], str],
    message: str,
) -> None:
    assert main(["client", "add", "Cosmic", "--jwks", source(tmp_path), "--scope", scope]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message), captured.err
    assert count(ctx, ApiClient) == 0


def test_client_add_needs_a_scope(env: None, jwks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["client", "add", "Cosmic", "--jwks", str(jwks_file)])
    assert ended.value.code == 2
    assert "the following arguments are required: --scope" in capsys.readouterr().err


def test_client_list_shows_every_client_and_revoke_stops_its_tokens(
    env: None, ctx: Context, client: TestClient, jwks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["client", "list"]) == 0
    assert capsys.readouterr().out == "Inga journalsystem är registrerade.\n"
    for name, scope in (("Cosmic", "system/Appointment.cruds"), ("Melior", "system/Appointment.read")):
        assert main(["client", "add", name, "--jwks", str(jwks_file), "--scope", scope]) == 0
    ids = re.findall(UUID, capsys.readouterr().out)
    system = JournalSystem("Cosmic", ids[0], rsa_key(), "http://vardmote.test/oauth/token")
    assert client.post("/oauth/token", data=system.token_form()).status_code == 200

    assert main(["client", "revoke", "Cosmic"]) == 0
    assert capsys.readouterr().out == (
        "Journalsystemet Cosmic är återkallat: dess åtkomsttoken slutar gälla direkt och det får inga nya.\n"
    )
    assert count(ctx, AccessToken) == 0
    assert main(["client", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:4] for line in lines] == [
        ["Cosmic", ids[0], "system/Appointment.cruds", "återkallat"],
        ["Melior", ids[1], "system/Appointment.read", "aktivt"],
    ]
    assert all(re.fullmatch(r"registrerat \d{4}-\d\d-\d\d \d\d:\d\d", line.split("\t")[4]) for line in lines)


def test_client_revoke_of_an_unknown_name_says_so(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["client", "revoke", "Okänt"]) == 2
    assert capsys.readouterr().err == "Fel (name): Det finns inget journalsystem som heter 'Okänt'.\n"
