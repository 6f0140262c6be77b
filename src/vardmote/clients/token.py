"""Token: the rule of ``/oauth/token``, OAuth 2.0 client credentials with a JWT client assertion.

The request (RFC 6749 section 4.4 with RFC 7523's client authentication, as SMART Backend
Services profiles it) is a form with

- ``grant_type=client_credentials``;
- ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
- ``client_assertion``: a JWT signed with one of the client's registered keys (RS384 or ES384
  as SMART asks; RS256, RS512, PS256–PS512 and ES256 too; never ``none`` nor HS*), whose header
  names the key (``kid``) and whose claims are ``iss`` = ``sub`` = the client's ``client_id``,
  ``aud`` = this endpoint's public URL, ``exp`` at most five minutes ahead, and a ``jti`` the
  client has not used before;
- ``scope`` (optional): space-separated scopes within the client's; without it the client gets
  all of its scopes.

The answer is ``{access_token, token_type: "bearer", expires_in, scope}``; a refusal is
RFC 6749 section 5.2's ``{error, error_description}``: ``invalid_client`` (401) for every
failure of the client's authentication (SMART: an assertion that does not hold is
invalid_client, not invalid_grant, since client credentials have no grant of their own to be
invalid), ``invalid_request``, ``unsupported_grant_type`` and ``invalid_scope`` (400).
``error_description`` is English: RFC 6749 allows only ASCII there, and it is read by the
integrator's developers; the audit names the reason in a word (``reason``).

Every token issued (``client.token_issued``: the client's name, the scopes, the address) is
audited, in the same transaction as the token and the used ``jti``. Refusals are counted per
address (``oauth:addr:<ip>``, :mod:`vardmote.accounts.throttle`): past ``signin_max_failures``
in a streak the address must wait, and meanwhile gets 429 with ``Retry-After`` and
``{"error": "invalid_request", ...}`` before anything else is looked at (neither counted nor
audited). A refusal (``client.token_refused``: the reason's kind, the client's name when known,
the address) is audited every time once the assertion's signature has verified (a registered
client's own mistake: a replay, a wrong aud, a scope beyond its own); before that its sender
is unknown (the ``iss`` that names a client is not believed yet), and it is audited only when it
begins its address's streak, so that a flood of bad requests cannot fill the audit log or hold
its lock. Security notes: the client
is looked up by the assertion's unverified ``iss`` only to find its keys; nothing else of the
assertion is believed before its signature is verified. A used ``jti`` is kept until the
assertion's ``exp`` (and the leeway) has passed, under a primary key, so that even two
requests with one assertion at the same moment give one token.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.accounts.throttle import TOKEN_ENDPOINT
from vardmote.audit.log import record
from vardmote.clients.auth import actor_of
from vardmote.clients.keys import ALGORITHMS, key_set
from vardmote.clients.models import AccessToken, ApiClient, UsedAssertion
from vardmote.clients.scopes import ScopeError, parse_scopes, scope_text, within
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.lib.tokens import hash_token, new_token

TOKEN_PATH = "/oauth/token"
GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = dt.timedelta(minutes=5)
"""The furthest ahead an assertion's ``exp`` may be (SMART Backend Services: five minutes)."""
LEEWAY = dt.timedelta(seconds=30)
"""Clock difference allowed between the journal system and this server."""
MAX_ASSERTION_CHARS = 16_000
MAX_JTI = 255
PARAMETERS = (
    "grant_type",
    "client_assertion_type",
    "client_assertion",
    "scope",
    "client_id",
    "client_secret",
)


@dataclass(frozen=True)
class TokenIssued:
    """TokenIssued is the token endpoint's answer when the client is let in."""

    access_token: str
    expires_in: int
    scope: str

    def body(self) -> dict[str, Any]:
        """body is the JSON answer (RFC 6749 section 5.1)."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class TokenRefused:
    """TokenRefused is a refusal: the OAuth error code, its English description, and the
    reason's kind for the audit."""

    error: str
    description: str
    reason: str
    retry_after: int | None = None
    """Seconds the address must wait, when it was refused for too many failures (429)."""

    @property
    def status(self) -> int:
        """status is 429 while the address must wait, 401 for a failed client authentication,
        otherwise 400 (RFC 6749 section 5.2)."""
        if self.retry_after is not None:
            return 429
        return 401 if self.error == "invalid_client" else 400

    def body(self) -> dict[str, str]:
        """body is the JSON answer (RFC 6749 section 5.2)."""
        return {"error": self.error, "error_description": self.description}


class _Refusal(Exception):
    """_Refusal carries a refusal, and the client when it is known, out of the checks."""

    def __init__(self, error: str, reason: str, description: str, client: ApiClient | None = None) -> None:
        super().__init__(reason)
        self.refused = TokenRefused(error, description, reason)
        self.client = client
        self.signed = False
        """True once the assertion's signature has verified: the client itself sent it."""


def _client_refusal(reason: str, description: str, client: ApiClient | None = None) -> _Refusal:
    return _Refusal("invalid_client", reason, description, client)


UNKNOWN_CLIENT = "The client (the assertion's iss) is not registered, or has been revoked."


def throttled(wait: int) -> TokenRefused:
    """throttled is the answer to an address that must wait wait seconds after too many failures."""
    return TokenRefused(
        "invalid_request",
        f"Too many failed token requests from this address; wait {wait} seconds and try again.",
        "throttled",
        retry_after=wait,
    )


def issue_token(
    ctx: Context,
    s: Session,
    form: Mapping[str, Sequence[str]],
    address: str,
    *,
    basic_auth: bool = False,
    now: dt.datetime | None = None,
) -> TokenIssued | TokenRefused:
    """issue_token applies the rule to a token request's form (every value of each field, so
    that a repeated one is seen) and returns the token or the refusal. basic_auth tells
    whether the request also carried ``Authorization: Basic``. The outcome is written to s (a
    refusal counted for the address, and audited as the module says), which the caller commits
    either way. An address that must wait is refused first, with nothing written."""
    now = now or utcnow()
    wait = TOKEN_ENDPOINT.wait(s, address, now)
    if wait:
        return throttled(wait)
    try:
        client = _authenticate(ctx, s, form, basic_auth, now)
        granted = _granted_scopes(client, _one(form, "scope"))
    except _Refusal as e:
        first = TOKEN_ENDPOINT.failed(ctx, s, address, now)
        if first or e.signed:
            actor = actor_of(e.client) if e.client is not None else "anonym"
            details = {
                "reason": e.refused.reason,
                "client": e.client.name if e.client else None,
                "address": address,
            }
            record(s, actor, "client.token_refused", details=details)
        return e.refused
    token = new_token()
    lifetime = ctx.settings.oauth_token_seconds
    s.add(
        AccessToken(
            token_hash=hash_token(token),
            client_id=client.id,
            scopes=granted,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=lifetime),
        )
    )
    record(
        s,
        actor_of(client),
        "client.token_issued",
        details={"client": client.name, "scopes": granted, "address": address},
    )
    return TokenIssued(token, lifetime, granted)


def _one(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name) or ()
    return values[0] if values else None


def _authenticate(
    ctx: Context, s: Session, form: Mapping[str, Sequence[str]], basic_auth: bool, now: dt.datetime
) -> ApiClient:
    """_authenticate checks the request and its assertion and returns the client, or raises _Refusal."""
    for name in PARAMETERS:
        if len(form.get(name) or ()) > 1:
            raise _Refusal(
                "invalid_request", "repeated_parameter", f"The parameter {name} was given more than once."
            )
    grant_type = _one(form, "grant_type")
    if not grant_type:
        raise _Refusal("invalid_request", "no_grant_type", "grant_type is missing; use client_credentials.")
    if grant_type != GRANT_TYPE:
        raise _Refusal(
            "unsupported_grant_type", "grant_type", "Only grant_type client_credentials is supported."
        )
    if basic_auth or _one(form, "client_secret") is not None:
        raise _Refusal(
            "invalid_request",
            "several_methods",
            "Authenticate with a client assertion (private_key_jwt) only, not with a client secret "
            "or HTTP Basic as well.",
        )
    if _one(form, "client_assertion_type") != ASSERTION_TYPE:
        raise _client_refusal("assertion_type", f"client_assertion_type must be {ASSERTION_TYPE}.")
    assertion = _one(form, "client_assertion")
    if not assertion:
        raise _client_refusal(
            "no_assertion", "client_assertion is missing: send a JWT signed with the client's private key."
        )
    header, unverified = _unverified(assertion)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _client_refusal(
            "algorithm",
            "The assertion's alg is not accepted: sign with RS384 or ES384 (RS256, RS512, PS256, "
            "PS384, PS512 and ES256 are accepted too; none and HS* never).",
        )
    issuer = unverified.get("iss")
    client = None
    if isinstance(issuer, str) and 0 < len(issuer) <= 36:
        client = s.scalar(select(ApiClient).where(ApiClient.client_id == issuer))
    if client is None:
        raise _client_refusal("unknown_client", UNKNOWN_CLIENT)
    if not client.active:
        raise _client_refusal("revoked_client", UNKNOWN_CLIENT, client)
    given_id = _one(form, "client_id")
    if given_id is not None and given_id != client.client_id:
        raise _client_refusal("client_id_mismatch", "client_id does not match the assertion's iss.", client)
    claims = _verified_claims(client, assertion, header, str(alg))
    try:
        _check_claims(ctx, client, claims, now)
        _use_once(s, client, str(claims["jti"]), float(claims["exp"]))
    except _Refusal as e:
        e.signed = True
        raise
    return client


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """_unverified reads an assertion's header and claims without checking its signature: only to
    find the client and its key."""
    malformed = _client_refusal("malformed", "client_assertion is not a signed JWT in compact serialization.")
    if len(assertion) > MAX_ASSERTION_CHARS or not assertion.isascii():
        raise malformed
    try:
        compact = jws.extract_compact(assertion.encode())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError):
        raise malformed from None
    if not isinstance(claims, dict):
        raise malformed
    return dict(compact.protected), claims


def _verified_claims(client: ApiClient, assertion: str, header: dict[str, Any], alg: str) -> dict[str, Any]:
    """_verified_claims checks the assertion's signature with the client's key that its kid names."""
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _client_refusal(
            "no_kid", "The assertion's header has no kid naming the key it was signed with.", client
        )
    keys = [key for key in key_set(client.jwks).keys if key.kid == kid]
    if not keys:
        raise _client_refusal(
            "unknown_kid", "No key with the assertion's kid is registered for this client.", client
        )
    try:
        token = jwt.decode(assertion, keys[0], algorithms=[alg])
    except (JoseError, ValueError):
        # A wrong signature, or an alg that does not fit the key (RS384 over an EC key).
        raise _client_refusal(
            "bad_signature",
            "The assertion's signature does not verify with the registered key its kid names.",
            client,
        ) from None
    return dict(token.claims)


def _number(value: object) -> float | None:
    """_number is a NumericDate claim as a float, or None for anything else (text, true, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _check_claims(ctx: Context, client: ApiClient, claims: dict[str, Any], now: dt.datetime) -> None:
    """_check_claims checks sub, aud, exp, nbf, iat and jti of a verified assertion."""
    if claims.get("sub") != claims.get("iss"):
        raise _client_refusal(
            "sub_mismatch", "The assertion's sub must equal its iss (the client_id).", client
        )
    audience = ctx.url(TOKEN_PATH)
    given = claims.get("aud")
    if not (given == audience or (isinstance(given, list) and audience in given)):
        raise _client_refusal(
            "wrong_audience", f"The assertion's aud must be this token endpoint's URL, {audience}.", client
        )
    exp = _number(claims.get("exp"))
    if exp is None:
        raise _client_refusal("no_exp", "The assertion has no exp (a NumericDate).", client)
    at = now.timestamp()
    if exp <= at - LEEWAY.total_seconds():
        raise _client_refusal("expired", "The assertion has expired: its exp is in the past.", client)
    if exp > at + (MAX_ASSERTION_LIFETIME + LEEWAY).total_seconds():
        raise _client_refusal(
            "exp_too_far", "The assertion's exp is more than 5 minutes ahead: make it short-lived.", client
        )
    for name in ("nbf", "iat"):
        if name in claims:
            moment = _number(claims[name])
            if moment is None or moment > at + LEEWAY.total_seconds():
                raise _client_refusal(
                    "not_yet_valid", f"The assertion's {name} is not a NumericDate in the past.", client
                )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise _client_refusal(
            "no_jti", f"The assertion has no jti (a unique id of 1-{MAX_JTI} characters).", client
        )


def _use_once(s: Session, client: ApiClient, jti: str, exp: float) -> None:
    """_use_once records the assertion's jti for the client, or refuses it as a replay. The
    insert runs in a savepoint, so a replay lost to a concurrent request (the primary key)
    leaves the transaction usable for the refusal's audit entry."""
    replayed = _client_refusal(
        "replayed",
        "The assertion's jti has been used before: make a new assertion, with a new jti, for every "
        "token request.",
        client,
    )
    taken = select(UsedAssertion.jti).where(UsedAssertion.client_id == client.id, UsedAssertion.jti == jti)
    if s.scalar(taken) is not None:
        raise replayed
    expires_at = dt.datetime.fromtimestamp(exp, dt.UTC) + LEEWAY
    try:
        with s.begin_nested():
            s.add(UsedAssertion(client_id=client.id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        raise replayed from None


def _granted_scopes(client: ApiClient, requested: str | None) -> str:
    """_granted_scopes is what the client is given: the scopes it asked for when they are
    within its own, all of its own when it asked for none."""
    if requested is None or not requested.strip():
        return client.scopes
    try:
        asked = parse_scopes(requested)
    except ScopeError:
        raise _signed(
            _Refusal(
                "invalid_scope",
                "malformed_scope",
                "The requested scope is malformed, or names a resource this server does not serve; "
                "use e.g. system/Appointment.cruds.",
                client,
            )
        ) from None
    if not within(asked, parse_scopes(client.scopes)):
        raise _signed(
            _Refusal(
                "invalid_scope",
                "scope_not_allowed",
                f"The requested scope is not within this client's scopes ({client.scopes}).",
                client,
            )
        )
    return scope_text(asked)


def _signed(refusal: _Refusal) -> _Refusal:
    """_signed marks a refusal of a request whose assertion has verified."""
    refusal.signed = True
    return refusal
