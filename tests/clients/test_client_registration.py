"""Registering journal systems: a JWKS of public keys with kids and scopes in the grammar is added
with a random client_id; private keys, weak keys and everything else wrong are refused with Swedish
field messages and nothing saved; revoking stops the client's tokens; all of it audited."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from client_helpers import audit_of
from joserfc.errors import SecurityWarning

from booking_helpers import count
from fhir_clients import ec_key, private_jwks, public_jwks, rsa_key
from vardmote.clients.keys import JWKS_HELP
from vardmote.clients.keys import public_jwks as checked_jwks
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.clients.scopes import GRAMMAR_HELP
from vardmote.clients.service import NAME_HELP, InvalidClient, add_client, list_clients, revoke_client
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import InvalidInput
from vardmote.lib.tokens import hash_token, new_token

SCOPES = "system/Appointment.cruds"


def _add(ctx: Context, name: str = "Cosmic", jwks: str | None = None, scopes: str = SCOPES) -> ApiClient:
    with ctx.db.session() as s:
        return add_client(
            s, name, jwks if jwks is not None else public_jwks(rsa_key()), scopes, actor="user:admin"
        )


def _refusal(ctx: Context, **fields: str) -> InvalidClient:
    with pytest.raises(InvalidClient) as refused, ctx.db.session() as s:
        add_client(
            s,
            fields.get("name", "Cosmic"),
            fields.get("jwks", public_jwks(rsa_key())),
            fields.get("scopes", SCOPES),
            actor="user:admin",
        )
    assert count(ctx, ApiClient) == 0
    assert audit_of(ctx, "client.added") == []
    return refused.value


def _messages(e: InvalidInput) -> dict[str, str]:
    return {f.field: f.message for f in e.fields}


def test_a_client_is_added_with_a_random_client_id_and_its_public_keys_only(ctx: Context) -> None:
    rsa, ec = rsa_key(), ec_key()
    client = _add(
        ctx,
        "  Cosmic   Region Västmanland ",
        public_jwks(rsa, ec),
        " system/Appointment.rs  system/Appointment.c ",
    )
    assert uuid.UUID(client.client_id).version == 4
    assert (client.name, client.scopes, client.active) == (
        "Cosmic Region Västmanland",
        "system/Appointment.rs system/Appointment.c",
        True,
    )
    assert json.loads(client.jwks) == {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}
    assert audit_of(ctx, "client.added") == [
        (
            "user:admin",
            {
                "client": "Cosmic Region Västmanland",
                "client_id": client.client_id,
                "scopes": "system/Appointment.rs system/Appointment.c",
                "kids": ["cosmic-1", "cosmic-ec"],
            },
        )
    ]


def test_only_the_public_members_of_a_key_are_kept(ctx: Context) -> None:
    key = rsa_key().as_dict(private=False) | {"use": "sig", "alg": "RS384", "x5t": "abc", "ext": True}
    client = _add(ctx, jwks=json.dumps({"keys": [key]}))
    (kept,) = json.loads(client.jwks)["keys"]
    assert set(kept) == {"kty", "kid", "n", "e", "use", "alg"}


def test_two_clients_get_different_client_ids(ctx: Context) -> None:
    assert _add(ctx, "Cosmic").client_id != _add(ctx, "Melior").client_id


def _jwk(**changes: Any) -> dict[str, Any]:
    key = rsa_key().as_dict(private=False) | changes
    return {name: value for name, value in key.items() if value is not None}


def _short_rsa_key() -> dict[str, Any]:
    """_short_rsa_key is the public half of a 1024-bit RSA key (joserfc warns when it makes one)."""
    with pytest.warns(SecurityWarning):
        return rsa_key("kort", 1024).as_dict(private=False)


def _ec(curve: str, **changes: Any) -> dict[str, Any]:
    key = ec_key("ec-1", curve if curve != "P-521" else "P-521").as_dict(private=False) | changes
    return {name: value for name, value in key.items() if value is not None}


PRIVATE = (
    "innehåller en privat del. Klistra bara in den publika nyckeln: den privata ska aldrig lämna "
    "journalsystemet. Den inklistrade texten visas inte igen; ta fram ett nytt nyckelpar om den "
    "privata nyckeln kan ha kommit i orätta händer."
)

BAD_JWKS = [
    pytest.param(lambda: private_jwks(rsa_key()), f"Nyckeln 'cosmic-1' {PRIVATE}", id="rsa-private-key"),
    pytest.param(lambda: private_jwks(ec_key()), f"Nyckeln 'cosmic-ec' {PRIVATE}", id="ec-private-key"),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(), _jwk(kid="k2", d="AQAB")]}),
        f"Nyckeln 'k2' {PRIVATE}",
        id="private-part-in-the-second-key",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(kid=None, p="AQAB")]}),
        f"Nyckel 1 {PRIVATE}",
        id="private-part-without-kid",
    ),
    pytest.param(
        lambda: json.dumps({"keys": ["inte en nyckel", _jwk(kid="k2", qi="AQAB")]}),
        f"Nyckeln 'k2' {PRIVATE}",
        id="private-part-after-a-broken-key",
    ),
    pytest.param(
        lambda: json.dumps(rsa_key().as_dict(private=True)),
        f"Nyckeln 'cosmic-1' {PRIVATE}",
        id="a-single-private-jwk",
    ),
    pytest.param(
        lambda: json.dumps(rsa_key().as_dict(private=False)),
        f"Det är en enskild nyckel, inte en nyckeluppsättning. {JWKS_HELP}",
        id="a-single-public-jwk",
    ),
    pytest.param(lambda: "{keys: []", f"Nycklarna är inte giltig JSON. {JWKS_HELP}", id="not-json"),
    pytest.param(lambda: "", f"Nycklarna är inte giltig JSON. {JWKS_HELP}", id="empty"),
    pytest.param(
        lambda: json.dumps([_jwk()]),
        f"Nycklarna ska vara ett JSON-objekt med listan keys. {JWKS_HELP}",
        id="a-list",
    ),
    pytest.param(lambda: json.dumps({"keys": []}), f"Nyckeluppsättningen är tom. {JWKS_HELP}", id="no-keys"),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(kid=f"k{i}") for i in range(11)]}),
        "Ange högst 10 nycklar.",
        id="eleven-keys",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(kid=None)]}),
        "Nyckel 1 saknar kid (nyckelns namn, 1–100 tecken), som assertionens huvud anger.",
        id="no-kid",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(kid="  ")]}),
        "Nyckeln '  ' saknar kid (nyckelns namn, 1–100 tecken), som assertionens huvud anger.",
        id="blank-kid",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(), _ec("P-256", kid="cosmic-1")]}),
        "Två nycklar har samma kid 'cosmic-1'. Varje nyckel ska ha ett eget kid.",
        id="same-kid-twice",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [{"kty": "oct", "kid": "delad", "k": "aGVtbGlndA"}]}),
        f"Nyckeln 'delad' {PRIVATE}",
        id="symmetric-key-with-its-secret",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [{"kty": "oct", "kid": "delad"}]}),
        "Nyckeln 'delad' är en symmetrisk nyckel (kty oct), alltså en delad hemlighet. Ange journalsystemets "
        "publika RSA- eller EC-nyckel.",
        id="symmetric-key",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AQAB"}]}),
        "Nyckeln 'ed' har nyckeltypen 'OKP'. Bara RSA (minst 2048 bitar) och EC (P-256 eller P-384) "
        "tas emot.",
        id="okp-key",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_short_rsa_key()]}),
        "Nyckeln 'kort' är för kort: 1024 bitar. En RSA-nyckel ska ha minst 2048 bitar.",
        id="rsa-1024",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(n="AQAB")]}),
        "Nyckeln 'cosmic-1' är för kort: 17 bitar. En RSA-nyckel ska ha minst 2048 bitar.",
        id="rsa-modulus-of-three-bytes",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(e="AAAA")]}),
        "Nyckeln 'cosmic-1' är ingen giltig RSA-nyckel (n och e).",
        id="rsa-exponent-zero",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(n=None)]}),
        "Nyckeln 'cosmic-1' är ingen giltig RSA-nyckel (n och e).",
        id="rsa-without-modulus",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(e=65537)]}),
        f"Nyckeln 'cosmic-1' har ett fält som inte är text. {JWKS_HELP}",
        id="rsa-e-as-a-number",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_ec("P-521")]}),
        "Nyckeln 'ec-1' ligger på kurvan 'P-521'. Bara P-256 och P-384 tas emot.",
        id="ec-p521",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_ec("P-384", y=_ec("P-384")["x"])]}),
        "Nyckeln 'ec-1' är ingen giltig EC-nyckel (x och y ligger inte på kurvan P-384).",
        id="ec-point-off-the-curve",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_ec("P-256", alg="ES384")]}),
        "Nyckeln 'ec-1' anger algoritmen 'ES384'; på kurvan P-256 signerar ES256.",
        id="ec-alg-of-another-curve",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(alg="HS256")]}),
        "Nyckeln 'cosmic-1' anger algoritmen 'HS256', som inte passar en RSA-nyckel här "
        "(RS256, RS384, RS512, PS256, PS384 eller PS512).",
        id="rsa-with-hs256",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(alg="RSA-OAEP")]}),
        "Nyckeln 'cosmic-1' anger algoritmen 'RSA-OAEP', som inte passar en RSA-nyckel här "
        "(RS256, RS384, RS512, PS256, PS384 eller PS512).",
        id="rsa-for-encryption-alg",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(use="enc")]}),
        "Nyckeln 'cosmic-1' är till för 'enc', inte för signaturer (use ska vara sig).",
        id="use-enc",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(kid="x" * 101)]}),
        "Nyckel 1 saknar kid (nyckelns namn, 1–100 tecken), som assertionens huvud anger.",
        id="kid-too-long",
    ),
    pytest.param(
        lambda: json.dumps({"keys": [_jwk(), "x" * 20_000]}),
        "Nyckeltexten är för lång (högst 20000 tecken).",
        id="too-long",
    ),
]


@pytest.mark.parametrize(("jwks", "message"), BAD_JWKS)
def test_keys_that_are_not_public_signing_keys_are_refused(ctx: Context, jwks: Any, message: str) -> None:
    refused = _refusal(ctx, jwks=jwks())
    assert _messages(refused) == {"jwks": message}
    assert refused.private_key is message.endswith(PRIVATE)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("C", NAME_HELP, id="one-letter"),
        pytest.param("   ", NAME_HELP, id="blank"),
        pytest.param("x" * 61, NAME_HELP, id="sixty-one"),
        pytest.param("Cosmic\x00", NAME_HELP, id="nul"),
        pytest.param("Cos\u202emic", NAME_HELP, id="bidi-override"),
    ],
)
def test_a_name_that_cannot_be_shown_in_the_audit_is_refused(ctx: Context, name: str, message: str) -> None:
    assert _messages(_refusal(ctx, name=name)) == {"name": message}


def test_a_name_taken_also_by_a_revoked_client_in_any_case_is_refused(ctx: Context) -> None:
    _add(ctx, "Cosmic Västmanland")
    with ctx.db.session() as s:
        revoke_client(s, "Cosmic Västmanland", actor="user:admin")
    with pytest.raises(InvalidClient) as refused, ctx.db.session() as s:
        add_client(s, "COSMIC VÄSTMANLAND", public_jwks(rsa_key()), SCOPES)
    assert _messages(refused.value) == {
        "name": "Det finns redan ett journalsystem som heter 'COSMIC VÄSTMANLAND' "
        "(också återkallade räknas). Välj ett annat namn."
    }
    assert count(ctx, ApiClient) == 1


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        pytest.param("", "Ange minst en behörighet. " + GRAMMAR_HELP, id="none"),
        pytest.param(
            "system/Appointment.cruds system/Patient.rs",
            "Resursen 'Patient' finns inte i Vårdmötes API; det som finns är Appointment. " + GRAMMAR_HELP,
            id="unknown-resource",
        ),
        pytest.param(
            "system/Appointment.all",
            "Behörigheten 'system/Appointment.all' går inte att tolka. " + GRAMMAR_HELP,
            id="unknown-permission",
        ),
    ],
)
def test_scopes_outside_the_grammar_are_refused(ctx: Context, scopes: str, message: str) -> None:
    assert _messages(_refusal(ctx, scopes=scopes)) == {"scopes": message}


def test_everything_wrong_is_told_at_once(ctx: Context) -> None:
    refused = _refusal(ctx, name="C", jwks="[]", scopes="system/Patient.r")
    assert set(_messages(refused)) == {"name", "jwks", "scopes"}
    assert refused.message == "Journalsystemet är inte registrerat. Rätta uppgifterna och försök igen."


def test_revoking_a_client_deletes_its_tokens_and_is_audited(ctx: Context) -> None:
    client = _add(ctx)
    with ctx.db.session() as s:
        s.add(
            AccessToken(
                token_hash=hash_token(new_token()), client_id=client.id, scopes=SCOPES, expires_at=utcnow()
            )
        )
    with ctx.db.session() as s:
        revoked = revoke_client(s, " Cosmic ", actor="system:cli")
        assert (revoked.active, revoked.revoked_at is not None) == (False, True)
    assert count(ctx, AccessToken) == 0
    assert audit_of(ctx, "client.revoked") == [
        ("system:cli", {"client": "Cosmic", "client_id": client.client_id})
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("Melior", "Det finns inget journalsystem som heter 'Melior'.", id="unknown"),
        pytest.param("Cosmic", "Journalsystemet 'Cosmic' är redan återkallat.", id="twice"),
    ],
)
def test_revoking_an_unknown_or_revoked_client_says_so(ctx: Context, name: str, message: str) -> None:
    _add(ctx)
    with ctx.db.session() as s:
        revoke_client(s, "Cosmic")
    with pytest.raises(InvalidInput) as refused, ctx.db.session() as s:
        revoke_client(s, name)
    assert _messages(refused.value) == {"name": message}
    assert len(audit_of(ctx, "client.revoked")) == 1


def test_the_list_holds_active_and_revoked_clients_in_the_order_they_were_added(ctx: Context) -> None:
    _add(ctx, "Melior")
    _add(ctx, "Cosmic")
    with ctx.db.session() as s:
        revoke_client(s, "Melior")
    with ctx.db.session() as s:
        assert [(c.name, c.active) for c in list_clients(s)] == [("Melior", False), ("Cosmic", True)]


def test_the_stored_keys_are_the_canonical_public_set(ctx: Context) -> None:
    text = public_jwks(rsa_key())
    assert checked_jwks(text) == checked_jwks(checked_jwks(text))
