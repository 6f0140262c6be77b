"""A minimal OpenID Provider for the inbox tests, served for real on 127.0.0.1 in a thread.

It speaks the authorization code flow as a region's e-identification would: discovery,
JWKS, an authorization endpoint that "identifies" the person set in ``person`` at once
and redirects back with a code, and a token endpoint that checks the client's secret,
the redirect address and the PKCE verifier (S256) before it hands out an ID token signed
with an RSA key made for the test. ``tamper`` changes one claim or the key, so a test can
show that Vårdmöte refuses such a token; ``seen`` keeps what the token endpoint received.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from machine import free_tcp_port
from vardmote.settings import Secret, Settings

CLIENT_ID = "vardmote-inkorg"
CLIENT_SECRET = "hemligt-klientlösen:&="


@dataclass
class Provider:
    """Provider is the running test provider: its issuer address and knobs for the next sign-in."""

    issuer: str
    person: str | None = "19900602-2397"
    """What the personnummer claim carries; None leaves the claim out."""
    claim: str = "personal_identity_number"
    tamper: dict[str, Any] = field(default_factory=dict)
    """Claims to replace in the next ID tokens, e.g. {"nonce": "fel"}; {"key": "other"} signs with
    another key, {"deny": True} answers the authorization with access_denied."""
    seen: list[dict[str, str]] = field(default_factory=list)
    acr: str | None = None
    """The ``acr`` claim of the next ID tokens; None: the first level the client asked for
    (``acr_values``), as a provider that signed the person in at that level answers."""
    asked_acr: list[str] = field(default_factory=list)
    """The ``acr_values`` of each authorization request."""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1"}))
    other_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1"}))


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _app(provider: Provider) -> Starlette:
    def discovery(request: Request) -> Response:
        base = provider.issuer
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    def jwks(request: Request) -> Response:
        return JSONResponse(KeySet([provider.key]).as_dict(private=False))

    def authorize(request: Request) -> Response:
        q = request.query_params
        if (
            q.get("client_id") != CLIENT_ID
            or q.get("response_type") != "code"
            or "openid" not in q.get("scope", "").split()
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("nonce"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE and nonce"}, 400)
        target = q["redirect_uri"]
        if provider.tamper.get("deny"):
            return RedirectResponse(
                f"{target}?{urlencode({'error': 'access_denied', 'state': q['state']})}", 302
            )
        code = secrets.token_urlsafe(16)
        provider.asked_acr.append(q.get("acr_values", ""))
        provider.codes[code] = {
            "redirect_uri": target,
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "acr": provider.acr if provider.acr is not None else q.get("acr_values", "").split(" ")[0],
        }
        return RedirectResponse(f"{target}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        provider.seen.append({**form, "authorization": request.headers.get("authorization", "")})
        expected = "Basic " + base64.b64encode(b"vardmote-inkorg:hemligt-klientl%C3%B6sen%3A%26%3D").decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = provider.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        if _challenge(form.get("code_verifier", "")) != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": provider.issuer,
            "sub": "pairwise-subject-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
        }
        if grant["acr"]:
            claims["acr"] = grant["acr"]
        if provider.person is not None:
            claims[provider.claim] = provider.person
        tamper = dict(provider.tamper)
        key = provider.other_key if tamper.pop("key", None) == "other" else provider.key
        claims.update(tamper)
        id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ]
    )


@contextmanager
def running_provider() -> Iterator[Provider]:
    """running_provider serves a fresh provider on a free loopback port until the block ends."""
    port = free_tcp_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(_app(provider), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signing_in_with(settings: Settings, provider: Provider) -> Settings:
    """signing_in_with is settings with provider as the patients' e-identification (this client)."""
    return dataclasses.replace(
        settings,
        patient_oidc_issuer=provider.issuer,
        patient_oidc_client_id=CLIENT_ID,
        patient_oidc_client_secret=Secret(CLIENT_SECRET),
    )
