"""OpenID Connect sign-in to the inbox: the authorization code flow with PKCE, state and nonce.

The region's e-identification provider is found by discovery
(``<issuer>/.well-known/openid-configuration``). :func:`begin` makes a fresh state, nonce
and PKCE code verifier, seals them into a short-lived cookie (AES-GCM under the service
key, so the browser can neither read nor change them) and returns the provider's
authorization address. :func:`finish` checks the state from the provider's redirect
against the cookie, exchanges the code (with the verifier) at the token endpoint, checks
the ID token's signature against the provider's JWKS and its ``iss``, ``aud``, ``exp``,
``iat`` and ``nonce``, and reads the personnummer from the claim
``patient_oidc_personnummer_claim``. The authorization request asks for the assurance
level ``patient_oidc_acr`` (``acr_values``; Swedish LoA3 unless set otherwise) and the ID
token's ``acr`` must be one of those values: a provider that signed the person in at a
lower level (or does not say) signs nobody in.

Protocol pieces come from authlib (the authorization request, PKCE, random values) and
joserfc (JWT verification); HTTP is plain httpx.

Errors::

    VardmoteError
    ├── SignInFailed (400)         the redirect or the ID token is not acceptable
    └── ProviderUnavailable (502)  the provider did not answer as it should

Neither message repeats what the provider sent; the log gets the reason, never the number.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vardmote.context import Context
from vardmote.errors import VardmoteError
from vardmote.patients.personnummer import InvalidPersonnummer, Personnummer, parse

log = logging.getLogger("vardmote.inbox.oidc")

STATE_COOKIE = "vm_patient_oidc"
STATE_COOKIE_PATH = "/inkorg/oidc"
CALLBACK_PATH = "/inkorg/oidc/klar"
STATE_SECONDS = 600
"""How long a started sign-in may take before it must be started again."""
METADATA_SECONDS = 3600
"""How long discovered provider metadata is kept before it is fetched again."""
LEEWAY_SECONDS = 60
"""Clock difference allowed with the provider when checking exp and iat."""
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Signature algorithms accepted for ID tokens: asymmetric only, never ``none`` or HS*."""
TIMEOUT = httpx.Timeout(10.0)


class SignInFailed(VardmoteError):
    status = 400
    slug = "sign-in-failed"
    title = "Inloggningen misslyckades"


class ProviderUnavailable(VardmoteError):
    status = 502
    slug = "provider-unavailable"
    title = "E-legitimationen svarar inte"


RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
CANCELLED = "Inloggningen avbröts. Du kan försöka igen."
NO_NUMBER = "Inloggningen gav inget giltigt personnummer. Kontakta din mottagning om felet finns kvar."
UNAVAILABLE = "E-legitimationen svarar inte just nu. Försök igen om en stund."
LOW_ASSURANCE = (
    "Inloggningen gav inte den säkerhetsnivå som inkorgen kräver. Logga in med en "
    "e-legitimation med högre säkerhetsnivå, till exempel BankID, och försök igen."
)


@dataclass(frozen=True)
class Provider:
    """Provider is what discovery says about the e-identification provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]


_cache: dict[str, tuple[float, Provider]] = {}
_cache_lock = threading.Lock()


def enabled(ctx: Context) -> bool:
    """enabled tells whether sign-in by OpenID Connect is configured."""
    return bool(ctx.settings.patient_oidc_issuer and ctx.settings.patient_oidc_client_id)


def _get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = client.get(url)
        response.raise_for_status()
        found = response.json()
    except (httpx.HTTPError, ValueError) as e:
        log.warning("e-identification provider: GET %s failed: %s", url, type(e).__name__)
        raise ProviderUnavailable(UNAVAILABLE) from None
    if not isinstance(found, dict):
        raise ProviderUnavailable(UNAVAILABLE)
    return found


def provider(ctx: Context, client: httpx.Client) -> Provider:
    """provider is the configured issuer's metadata, discovered at most once an hour."""
    issuer = ctx.settings.patient_oidc_issuer.rstrip("/")
    with _cache_lock:
        cached = _cache.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < METADATA_SECONDS:
        return cached[1]
    meta = _get_json(client, issuer + "/.well-known/openid-configuration")
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        log.warning("e-identification provider: discovery names another issuer")
        raise ProviderUnavailable(UNAVAILABLE)
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in ALGORITHMS if a in offered)
    try:
        found = Provider(
            issuer=str(meta["issuer"]),
            authorization_endpoint=str(meta["authorization_endpoint"]),
            token_endpoint=str(meta["token_endpoint"]),
            jwks_uri=str(meta["jwks_uri"]),
            algorithms=algorithms,
        )
    except KeyError as e:
        log.warning("e-identification provider: discovery lacks %s", e)
        raise ProviderUnavailable(UNAVAILABLE) from None
    if not algorithms:
        log.warning("e-identification provider: no acceptable ID token algorithm in %s", offered)
        raise ProviderUnavailable(UNAVAILABLE)
    with _cache_lock:
        _cache[issuer] = (time.monotonic(), found)
    return found


def _seal(ctx: Context, values: Mapping[str, Any]) -> str:
    sealed = ctx.sealer.seal(json.dumps(dict(values), separators=(",", ":")))
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _unseal(ctx: Context, cookie: str | None) -> dict[str, Any] | None:
    if not cookie or len(cookie) > 1000:
        return None
    try:
        sealed = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except ValueError:
        return None
    text = ctx.sealer.unseal(sealed)
    if text is None:
        return None
    try:
        values = json.loads(text)
    except ValueError:
        return None
    return values if isinstance(values, dict) else None


def redirect_uri(ctx: Context) -> str:
    """redirect_uri is where the provider sends the browser back; register it with the provider."""
    return ctx.url(CALLBACK_PATH)


def begin(ctx: Context) -> tuple[str, str]:
    """begin returns the provider's authorization address and the sealed state cookie's value."""
    with httpx.Client(timeout=TIMEOUT) as http:
        found = provider(ctx, http)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = prepare_grant_uri(
        found.authorization_endpoint,
        ctx.settings.patient_oidc_client_id,
        "code",
        redirect_uri(ctx),
        scope="openid",
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        acr_values=ctx.settings.patient_oidc_acr,
    )
    cookie = _seal(ctx, {"state": state, "nonce": nonce, "verifier": verifier, "at": int(time.time())})
    return url, cookie


def _token_request(ctx: Context, http: httpx.Client, found: Provider, code: str, verifier: str) -> str:
    settings = ctx.settings
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(ctx),
        "code_verifier": verifier,
    }
    secret = settings.patient_oidc_client_secret.reveal()
    extra: dict[str, Any] = {}
    if secret:  # client_secret_basic, with both parts form-encoded first (RFC 6749 section 2.3.1)
        extra["auth"] = httpx.BasicAuth(
            quote(settings.patient_oidc_client_id, safe=""), quote(secret, safe="")
        )
    else:  # a public client names itself; PKCE is then what binds the code to us
        data["client_id"] = settings.patient_oidc_client_id
    try:
        response = http.post(found.token_endpoint, data=data, headers={"Accept": "application/json"}, **extra)
    except httpx.HTTPError as e:
        log.warning("e-identification provider: token request failed: %s", type(e).__name__)
        raise ProviderUnavailable(UNAVAILABLE) from None
    if response.status_code >= 500:
        log.warning("e-identification provider: token endpoint answered %s", response.status_code)
        raise ProviderUnavailable(UNAVAILABLE)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        log.warning("e-identification provider: token request refused (%s, %s)", response.status_code, error)
        raise SignInFailed(RESTART)
    id_token: str = body["id_token"]
    return id_token


def _claims(ctx: Context, http: httpx.Client, found: Provider, id_token: str, nonce: str) -> dict[str, Any]:
    client_id = ctx.settings.patient_oidc_client_id
    keys = KeySet.import_key_set(_get_json(http, found.jwks_uri))  # type: ignore[arg-type]
    try:
        token = jwt.decode(id_token, keys, algorithms=list(found.algorithms))
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": found.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as e:
        log.warning("e-identification provider: ID token refused: %s", type(e).__name__)
        raise SignInFailed(RESTART) from None
    claims = dict(token.claims)
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        log.warning("e-identification provider: ID token for several audiences without our azp")
        raise SignInFailed(RESTART)
    return claims


def finish(
    ctx: Context,
    params: Mapping[str, str],
    cookie: str | None,
    today: dt.date,
) -> Personnummer:
    """finish completes the sign-in from the provider's redirect and returns the person's number."""
    pending = _unseal(ctx, cookie)
    if pending is None or time.time() - float(pending.get("at", 0)) > STATE_SECONDS:
        raise SignInFailed(RESTART)
    given_state = params.get("state", "")
    if not hmac.compare_digest(given_state.encode(), str(pending.get("state", "")).encode()):
        raise SignInFailed(RESTART)
    if params.get("error"):
        log.info("e-identification provider: sign-in ended with %s", params.get("error", "")[:60])
        raise SignInFailed(CANCELLED)
    code = params.get("code", "")
    if not code or len(code) > 2000:
        raise SignInFailed(RESTART)
    with httpx.Client(timeout=TIMEOUT) as http:
        found = provider(ctx, http)
        id_token = _token_request(ctx, http, found, code, str(pending["verifier"]))
        claims = _claims(ctx, http, found, id_token, str(pending["nonce"]))
    accepted = ctx.settings.patient_oidc_acr.split()
    if claims.get("acr") not in accepted:
        log.warning("e-identification provider: ID token without an accepted assurance level (acr)")
        raise SignInFailed(LOW_ASSURANCE)
    value = claims.get(ctx.settings.patient_oidc_personnummer_claim)
    if not isinstance(value, str):
        log.warning("e-identification provider: ID token lacks the personnummer claim")
        raise SignInFailed(NO_NUMBER)
    try:
        return parse(value, today)
    except InvalidPersonnummer:
        log.warning("e-identification provider: the personnummer claim is not a valid number")
        raise SignInFailed(NO_NUMBER) from None
