"""OpenID provider discovery: what a provider says about itself, and its signing keys.

:mod:`vardmote.lib.oidc` (the sign-in flow) asks here for the provider's metadata (from
``<issuer>/.well-known/openid-configuration``, kept an hour) and for the keys it signs ID
tokens with (its JWKS). Both are fetched with plain httpx and checked: the metadata must
name the issuer it was asked for and offer an acceptable signature algorithm.

Errors (the sign-in's, see :mod:`vardmote.lib.oidc`; each sign-in says them in its own words)::

    SignInError                  .kind, the audit's key; .reason, finer, for the log and audit
    └── Unreachable              the provider did not answer as it should
                                 (kind provider_unavailable)

The log names the provider by its purpose ("staff", "patient") and the failed step; never a
token or a claim's value.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import KeySet

log = logging.getLogger("vardmote.oidc")

METADATA_SECONDS = 3600
"""How long discovered provider metadata is kept before it is fetched again."""
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Signature algorithms accepted for ID tokens: asymmetric only, never ``none`` or HS*."""
TIMEOUT = httpx.Timeout(10.0)
"""How long a call to the provider may take."""

PROVIDER_UNAVAILABLE = "provider_unavailable"


class SignInError(Exception):
    """SignInError is a sign-in that did not go through: kind says what kind (for the person and
    the audit), reason which check (for the log and the audit)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class Unreachable(SignInError):
    """Unreachable is a provider that did not answer, or not as a provider should."""

    def __init__(self, reason: str) -> None:
        super().__init__(PROVIDER_UNAVAILABLE, reason)


@dataclass(frozen=True)
class Provider:
    """Provider is what discovery says about the OpenID provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    """Where RP-initiated logout goes; None when the provider offers none."""


_cache: dict[str, tuple[float, Provider]] = {}
_cache_lock = threading.Lock()


def get_json(purpose: str, http: httpx.Client, url: str) -> dict[str, Any]:
    """get_json is the JSON object at url, or raises Unreachable (the log says which address
    failed and how, for the provider of purpose)."""
    try:
        response = http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        found = response.json()
    except (httpx.HTTPError, ValueError) as e:
        log.warning("%s provider: GET %s failed: %s", purpose, url, type(e).__name__)
        raise Unreachable("get_failed") from None
    if not isinstance(found, dict):
        raise Unreachable("not_an_object")
    return found


def _optional_url(meta: Mapping[str, Any], name: str) -> str | None:
    value = meta.get(name)
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def provider(issuer: str, purpose: str, http: httpx.Client) -> Provider:
    """provider is issuer's metadata, discovered at most once an hour."""
    issuer = issuer.rstrip("/")
    with _cache_lock:
        cached = _cache.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < METADATA_SECONDS:
        return cached[1]
    meta = get_json(purpose, http, issuer + "/.well-known/openid-configuration")
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        log.warning("%s provider: discovery names another issuer", purpose)
        raise Unreachable("discovery_issuer")
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in ALGORITHMS if a in offered)
    try:
        found = Provider(
            issuer=str(meta["issuer"]),
            authorization_endpoint=str(meta["authorization_endpoint"]),
            token_endpoint=str(meta["token_endpoint"]),
            jwks_uri=str(meta["jwks_uri"]),
            algorithms=algorithms,
            userinfo_endpoint=_optional_url(meta, "userinfo_endpoint"),
            end_session_endpoint=_optional_url(meta, "end_session_endpoint"),
        )
    except KeyError as e:
        log.warning("%s provider: discovery lacks %s", purpose, e)
        raise Unreachable("discovery_incomplete") from None
    if not algorithms:
        log.warning("%s provider: no acceptable ID token algorithm in %s", purpose, offered)
        raise Unreachable("discovery_algorithms")
    with _cache_lock:
        _cache[issuer] = (time.monotonic(), found)
    return found


def keys(found: Provider, purpose: str, http: httpx.Client) -> KeySet:
    """keys are the provider's signing keys, from its JWKS."""
    try:
        return KeySet.import_key_set(get_json(purpose, http, found.jwks_uri))  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError) as e:
        log.warning("%s provider: its JWKS cannot be read: %s", purpose, type(e).__name__)
        raise Unreachable("jwks_unreadable") from None


def forget_providers() -> None:
    """forget_providers empties the discovery cache (tests start providers on reused ports)."""
    with _cache_lock:
        _cache.clear()


def discover(issuer: str, purpose: str) -> Provider:
    """discover is :func:`provider` with its own HTTP client (blocking: call it in the thread pool)."""
    with httpx.Client(timeout=TIMEOUT) as http:
        return provider(issuer, purpose, http)
