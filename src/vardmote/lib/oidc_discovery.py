"""OpenID provider discovery: what a provider says about itself, and its signing keys.

:mod:`vardmote.lib.oidc` (the sign-in flow) asks here for the provider's metadata (from
``<issuer>/.well-known/openid-configuration``) and for the keys it signs ID tokens with (its
JWKS). Both are fetched with plain httpx and checked: the metadata must name the issuer it
was asked for and offer an acceptable signature algorithm.

Every sign-in waits on these calls in a worker thread, so a provider that is slow or gone
must not hold the threads for long:

- a call gives up after :data:`TIMEOUT`: 3 seconds to connect, 10 to answer;
- the metadata and the keys are kept together for :data:`METADATA_SECONDS`; the keys are
  fetched again at once (once per sign-in) when an ID token names a key id they lack, as a
  provider that has rotated its keys does;
- a failed discovery is remembered for :data:`FAILED_SECONDS`, and meanwhile every sign-in
  is told "unreachable" at once (reason ``unreachable_recently``) without calling out again.

Trade-off: for those seconds a provider that is back is still reported away; the person
tries again a little later, as the message asks, and the threads stay free meanwhile.

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
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger("vardmote.oidc")

METADATA_SECONDS = 3600
"""How long discovered provider metadata (and the keys fetched with it) is kept."""
FAILED_SECONDS = 30
"""How long a failed discovery is remembered: sign-ins meanwhile are refused at once."""
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Signature algorithms accepted for ID tokens: asymmetric only, never ``none`` or HS*."""
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
"""How long a call to the provider may take: 3 seconds to connect (a provider that is gone), 10
to read, write or wait for a pooled connection."""

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
    names_itself: bool = False
    """Whether the provider names itself (``iss``) in its redirect back (RFC 9207:
    ``authorization_response_iss_parameter_supported``); then a redirect without it is refused."""


@dataclass
class _Known:
    """_Known is a provider's metadata as discovered at ``at`` (monotonic), with its keys once fetched."""

    at: float
    provider: Provider
    keys: KeySet | None = None


_known: dict[str, _Known] = {}
_failed: dict[str, float] = {}
"""When (monotonic) discovery of each issuer last failed."""
_lock = threading.Lock()
_clock = time.monotonic
"""The clock of the caches (a test may move it)."""


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
    """provider is issuer's metadata, discovered at most once an hour; for :data:`FAILED_SECONDS`
    after a failed discovery it raises Unreachable at once."""
    issuer = issuer.rstrip("/")
    now = _clock()
    with _lock:
        known = _known.get(issuer)
        failed_at = _failed.get(issuer)
    if known is not None and now - known.at < METADATA_SECONDS:
        return known.provider
    if failed_at is not None and now - failed_at < FAILED_SECONDS:
        raise Unreachable("unreachable_recently")
    try:
        found = _discovered(issuer, purpose, http)
    except Unreachable:
        with _lock:
            _failed[issuer] = _clock()
        raise
    with _lock:
        _known[issuer] = _Known(_clock(), found)
        _failed.pop(issuer, None)
    return found


def _discovered(issuer: str, purpose: str, http: httpx.Client) -> Provider:
    """_discovered is issuer's metadata fetched now and checked."""
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
            names_itself=meta.get("authorization_response_iss_parameter_supported") is True,
        )
    except KeyError as e:
        log.warning("%s provider: discovery lacks %s", purpose, e)
        raise Unreachable("discovery_incomplete") from None
    if not algorithms:
        log.warning("%s provider: no acceptable ID token algorithm in %s", purpose, offered)
        raise Unreachable("discovery_algorithms")
    return found


def keys_for(found: Provider, purpose: str, http: httpx.Client, kid: str | None) -> KeySet:
    """keys_for are the provider's signing keys, kept with its metadata: fetched from its JWKS the
    first time, and once more when kid (the ID token's key id) is not among them (the provider
    has rotated its keys). A key set that still lacks kid is returned as it is: the signature
    check then refuses the token."""
    issuer = found.issuer.rstrip("/")
    with _lock:
        known = _known.get(issuer)
    cached = known.keys if known is not None and known.provider == found else None
    if cached is not None and (kid is None or _holds(cached, kid)):
        return cached
    fetched = _fetch_keys(found, purpose, http)
    with _lock:
        if known is not None and _known.get(issuer) is known:
            known.keys = fetched
    return fetched


def _holds(key_set: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in key_set.keys)


def _fetch_keys(found: Provider, purpose: str, http: httpx.Client) -> KeySet:
    """_fetch_keys is the provider's JWKS fetched now."""
    document = get_json(purpose, http, found.jwks_uri)
    try:
        fetched = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as e:
        log.warning("%s provider: its JWKS cannot be read: %s", purpose, type(e).__name__)
        raise Unreachable("jwks_unreadable") from None
    log.info("%s provider: %d signing keys fetched", purpose, len(fetched.keys))
    return fetched


def forget_providers() -> None:
    """forget_providers empties the caches, failures too (tests start providers on reused ports)."""
    with _lock:
        _known.clear()
        _failed.clear()


def discover(issuer: str, purpose: str) -> Provider:
    """discover is :func:`provider` with its own HTTP client (blocking: call it in the thread pool)."""
    with httpx.Client(timeout=TIMEOUT) as http:
        return provider(issuer, purpose, http)
