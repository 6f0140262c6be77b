"""Journal systems for the tests: a key pair, a registered client, signed assertions, tokens.

A journal system here is what Cosmic would be: it holds its private key, registers the public
half with Vårdmöte (as an administrator would, through the service), signs a fresh client
assertion for every token request and sends the token as ``Authorization: Bearer``. The FHIR
tests use :func:`register_journal_system` and :func:`bearer_headers`; the client tests sign
assertions with claims of their own through :meth:`JournalSystem.assertion`.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from vardmote.clients.service import add_client
from vardmote.clients.token import ASSERTION_TYPE, TOKEN_PATH
from vardmote.context import Context

Key = RSAKey | ECKey
ALL_SCOPES = "system/Appointment.cruds"


@functools.cache
def _rsa(kid: str, bits: int) -> RSAKey:
    return RSAKey.generate_key(bits, parameters={"kid": kid}, private=True)


def rsa_key(kid: str = "cosmic-1", bits: int = 2048, *, fresh: bool = False) -> RSAKey:
    """rsa_key is an RSA key pair named kid (one per kid and size for the run, unless fresh)."""
    if fresh:
        return RSAKey.generate_key(bits, parameters={"kid": kid}, private=True)
    return _rsa(kid, bits)


def ec_key(kid: str = "cosmic-ec", curve: str = "P-384") -> ECKey:
    """ec_key is a fresh EC key pair on curve, named kid."""
    return ECKey.generate_key(curve, parameters={"kid": kid}, private=True)


def public_jwks(*keys: Key) -> str:
    """public_jwks is the JWKS of keys' public halves, as an administrator pastes it."""
    return json.dumps({"keys": [key.as_dict(private=False) for key in keys]})


def private_jwks(*keys: Key) -> str:
    """private_jwks is the JWKS with the private halves: what must never be registered."""
    return json.dumps({"keys": [key.as_dict(private=True) for key in keys]})


@dataclass
class JournalSystem:
    """JournalSystem is a registered client with its private key."""

    name: str
    client_id: str
    key: Key
    audience: str
    """The token endpoint's public URL, the assertions' aud."""
    alg: str = "RS384"

    def claims(self, **changes: Any) -> dict[str, Any]:
        """claims are a good assertion's claims (a fresh jti, exp in 4 minutes) with changes;
        a change to None leaves the claim out."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "exp": now + 240,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def assertion(
        self,
        *,
        key: Key | None = None,
        alg: str | None = None,
        header: dict[str, Any] | None = None,
        **changes: Any,
    ) -> str:
        """assertion is a client assertion signed with the system's key (or key), alg, and the
        claims of :meth:`claims` with changes."""
        signing = key or self.key
        algorithm = alg or self.alg
        protected = {"alg": algorithm, "kid": signing.kid, "typ": "JWT"} | (header or {})
        protected = {name: value for name, value in protected.items() if value is not None}
        return jwt.encode(protected, self.claims(**changes), signing, algorithms=[algorithm])

    def token_form(self, scope: str | None = None, **changes: Any) -> dict[str, str]:
        """token_form is a good token request's form, with a fresh assertion."""
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(**changes),
        }
        if scope is not None:
            form["scope"] = scope
        return form


def register_journal_system(
    ctx: Context,
    name: str = "Cosmic",
    scopes: str = ALL_SCOPES,
    key: Key | None = None,
    alg: str = "RS384",
) -> JournalSystem:
    """register_journal_system adds a client with key's public half (an RSA key by default) and
    scopes, as an administrator would, and returns it with its private key."""
    signing = key or rsa_key()
    with ctx.db.session() as s:
        client = add_client(s, name, public_jwks(signing), scopes, actor="user:admin")
        client_id = client.client_id
    return JournalSystem(name, client_id, signing, ctx.url(TOKEN_PATH), alg)


def access_token(client: TestClient, system: JournalSystem, scope: str | None = None) -> str:
    """access_token asks /oauth/token for a token, as the journal system does."""
    response = client.post(TOKEN_PATH, data=system.token_form(scope))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer_headers(client: TestClient, system: JournalSystem, scope: str | None = None) -> dict[str, str]:
    """bearer_headers is the Authorization header with a new token for system."""
    return {"Authorization": f"Bearer {access_token(client, system, scope)}"}
