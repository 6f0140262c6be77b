"""OpenID Connect client: the authorization code flow with PKCE, state and nonce, for any sign-in.

Both sign-ins use it: the patients' inbox (:mod:`vardmote.inbox.oidc`, the region's
e-identification) and the staff (:mod:`vardmote.accounts.staff_oidc`, SITHS through the
region's identity provider). Each describes its registration at its provider in a
:class:`Client`; everything here is the same for both.

The provider is found by discovery (:mod:`vardmote.lib.oidc_discovery`: its metadata and
signing keys). :func:`begin` makes a fresh state, nonce and PKCE code verifier, seals them (and
whatever the caller wants back, such as where to go afterwards) into a short-lived cookie
(AES-GCM under the service key, so the browser can neither read nor change them) and
returns the provider's authorization address, asking for the client's scopes and
assurance levels (``acr_values``). :func:`finish` checks the state from the provider's
redirect against the cookie (made for this client, at most :data:`STATE_SECONDS` old) and the
issuer the redirect names (RFC 9207; required when the provider says it names itself),
exchanges the code (with the verifier) at the token endpoint, checks the ID token's
signature against the provider's JWKS and its ``iss``, ``aud``, ``azp``, ``exp``, ``iat``
and ``nonce``, and requires its ``acr`` to be one of the accepted levels. A claim the
caller wants that the ID token lacks is read from the userinfo endpoint with the access
token; the userinfo's ``sub`` must be the ID token's, and the ID token's own claims win
over it (they are signed, the userinfo answer is only fetched over TLS). A signed (JWT)
userinfo answer is refused: Vårdmöte registers for plain JSON.

The state cookie is set and deleted by :func:`set_state_cookie` and :func:`delete_state_cookie`
from the client's own cookie name and path, so both sign-ins' pages set it alike;
:func:`kept` reads back what the caller kept in it, also for a refused sign-in's page.

Protocol pieces come from authlib (the authorization request, PKCE, random values) and
joserfc (JWT verification); HTTP is plain httpx.

Errors (not VardmoteErrors: each sign-in says them in its own words)::

    SignInError                  .kind, the audit's key; .reason, finer, for the log and audit
    ├── Refused                  the redirect, the token or the claims are not acceptable
    │                            (kind state_mismatch, cancelled, token_refused or low_assurance)
    └── Unreachable              the provider did not answer as it should
                                 (kind provider_unavailable; oidc_discovery defines it and
                                 SignInError, this module hands both on)

Nothing the provider wrote is repeated to the person; the log gets the reason, never a
token or a claim's value.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlencode

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, InvalidKeyIdError, JoseError
from starlette.responses import Response

from vardmote.lib.oidc_discovery import PROVIDER_UNAVAILABLE as PROVIDER_UNAVAILABLE
from vardmote.lib.oidc_discovery import (
    TIMEOUT,
    Provider,
    SignInError,
    Unreachable,
    discover,
    keys_for,
    provider,
)
from vardmote.settings import Secret

if TYPE_CHECKING:
    from vardmote.context import Context

log = logging.getLogger("vardmote.oidc")

STATE_SECONDS = 600
"""How long a started sign-in may take before it must be started again."""
LEEWAY_SECONDS = 60
"""Clock difference allowed with the provider when checking exp and iat."""
MAX_COOKIE = 2000
"""Longest state cookie accepted back; what the caller keeps in it must stay well under."""

STATE_MISMATCH = "state_mismatch"
CANCELLED = "cancelled"
TOKEN_REFUSED = "token_refused"
LOW_ASSURANCE = "low_assurance"


class Refused(SignInError):
    """Refused is a redirect, token or claim that is not acceptable; starting again may help."""


@dataclass(frozen=True)
class Client:
    """Client is one sign-in's registration at its OpenID provider."""

    issuer: str
    """The provider's issuer URL, as discovery must name it (a trailing slash is ignored)."""
    client_id: str
    client_secret: Secret = field(repr=False)
    """Empty for a public client, which names itself and relies on PKCE alone."""
    scopes: str
    """The scopes asked for, separated by spaces (``openid`` among them)."""
    acr_values: str
    """The assurance levels asked for, separated by spaces; the ID token's ``acr`` must be one."""
    callback_path: str
    """Our path the provider sends the browser back to (register ``<public url><path>``)."""
    cookie_name: str
    """The state cookie's name."""
    cookie_path: str
    """The state cookie's path: it goes back only to the callback, never to other pages."""
    purpose: str
    """Who signs in here, for the log ("staff", "patient"); also binds the state cookie to this
    client, so a cookie made for one sign-in is worth nothing at the other."""


@dataclass(frozen=True)
class SignedIn:
    """SignedIn is a finished sign-in: the person's claims (the ID token's, completed from userinfo
    where asked) and what the caller kept in the state cookie at :func:`begin`."""

    claims: Mapping[str, Any]
    kept: Mapping[str, str]

    @property
    def acr(self) -> str:
        """acr is the assurance level the provider signed the person in at."""
        return str(self.claims.get("acr", ""))


def redirect_uri(ctx: Context, client: Client) -> str:
    """redirect_uri is where the provider sends the browser back; register it with the provider."""
    return ctx.url(client.callback_path)


def set_state_cookie(ctx: Context, client: Client, response: Response, value: str) -> None:
    """set_state_cookie gives the browser the sealed state of a sign-in :func:`begin` started:
    HttpOnly, on the client's callback path only, for :data:`STATE_SECONDS`. SameSite=Lax, since
    the provider's redirect back is a top-level navigation from its site."""
    response.set_cookie(
        client.cookie_name,
        value,
        max_age=STATE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
        path=client.cookie_path,
    )


def delete_state_cookie(ctx: Context, client: Client, response: Response) -> None:
    """delete_state_cookie takes the state cookie away once the provider's answer came back,
    whatever it was: a state is used once."""
    response.delete_cookie(
        client.cookie_name,
        path=client.cookie_path,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
    )


def _seal(ctx: Context, values: Mapping[str, Any]) -> str:
    sealed = ctx.sealer.seal(json.dumps(dict(values), separators=(",", ":")))
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _unseal(ctx: Context, cookie: str | None) -> dict[str, Any] | None:
    if not cookie or len(cookie) > MAX_COOKIE:
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


def begin(ctx: Context, client: Client, keep: Mapping[str, str] | None = None) -> tuple[str, str]:
    """begin returns the provider's authorization address and the sealed state cookie's value.

    keep is given back by :func:`finish` (e.g. where to go after the sign-in); it travels
    sealed in the cookie, so keep it short. Blocking (discovery): call it in the thread pool.
    """
    found = discover(client.issuer, client.purpose)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    extra: dict[str, str] = {}
    if client.acr_values:
        extra["acr_values"] = client.acr_values
    url = prepare_grant_uri(
        found.authorization_endpoint,
        client.client_id,
        "code",
        redirect_uri(ctx, client),
        scope=client.scopes,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **extra,
    )
    values = {
        "for": client.purpose,
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "at": int(time.time()),
        "keep": dict(keep or {}),
    }
    return url, _seal(ctx, values)


def _token_request(
    ctx: Context, client: Client, http: httpx.Client, found: Provider, code: str, verifier: str
) -> dict[str, Any]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(ctx, client),
        "code_verifier": verifier,
    }
    secret = client.client_secret.reveal()
    extra: dict[str, Any] = {}
    if secret:  # client_secret_basic, with both parts form-encoded first (RFC 6749 section 2.3.1)
        extra["auth"] = httpx.BasicAuth(quote_plus(client.client_id), quote_plus(secret))
    else:  # a public client names itself; PKCE is then what binds the code to us
        data["client_id"] = client.client_id
    try:
        response = http.post(found.token_endpoint, data=data, headers={"Accept": "application/json"}, **extra)
    except httpx.HTTPError as e:
        log.warning("%s provider: token request failed: %s", client.purpose, type(e).__name__)
        raise Unreachable("token_request_failed") from None
    if response.status_code >= 500:
        log.warning("%s provider: token endpoint answered %s", client.purpose, response.status_code)
        raise Unreachable("token_endpoint_error")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        log.warning(
            "%s provider: token request refused (%s, %s)",
            client.purpose,
            response.status_code,
            str(error)[:60],
        )
        raise Refused(TOKEN_REFUSED, "token_request_refused")
    return body


_CLAIM_REASONS = {
    "iss": "wrong_issuer",
    "aud": "wrong_audience",
    "nonce": "wrong_nonce",
    "exp": "expired",
    "iat": "wrong_iat",
    "sub": "no_subject",
}


def _token_error_reason(e: JoseError) -> str:
    if isinstance(e, BadSignatureError):
        return "bad_signature"
    if isinstance(e, InvalidKeyIdError):
        return "unknown_key"
    if isinstance(e, ClaimError):
        return _CLAIM_REASONS.get(e.claim, "wrong_claim")
    return "invalid_token"


def _id_token_claims(
    client: Client, http: httpx.Client, found: Provider, id_token: str, nonce: str
) -> dict[str, Any]:
    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
        key_set = keys_for(found, client.purpose, http, kid if isinstance(kid, str) else None)
        token = jwt.decode(id_token, key_set, algorithms=list(found.algorithms))
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": found.issuer},
            aud={"essential": True, "value": client.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as e:
        reason = _token_error_reason(e) if isinstance(e, JoseError) else "invalid_token"
        log.warning("%s provider: ID token refused: %s (%s)", client.purpose, reason, type(e).__name__)
        raise Refused(TOKEN_REFUSED, reason) from None
    claims = dict(token.claims)
    audience = claims.get("aud")
    several = isinstance(audience, list) and len(audience) > 1
    azp = claims.get("azp")
    if (several or azp is not None) and azp != client.client_id:
        log.warning("%s provider: ID token authorised for another party (azp)", client.purpose)
        raise Refused(TOKEN_REFUSED, "wrong_azp")
    return claims


def _userinfo(
    client: Client, http: httpx.Client, found: Provider, access_token: str, subject: str
) -> dict[str, Any]:
    """_userinfo is the userinfo endpoint's claims about subject (the ID token's ``sub``)."""
    assert found.userinfo_endpoint is not None
    try:
        response = http.get(
            found.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
    except httpx.HTTPError as e:
        log.warning("%s provider: userinfo request failed: %s", client.purpose, type(e).__name__)
        raise Unreachable("userinfo_failed") from None
    if response.status_code >= 500:
        log.warning("%s provider: userinfo answered %s", client.purpose, response.status_code)
        raise Unreachable("userinfo_error")
    if response.status_code != 200:
        log.warning(
            "%s provider: userinfo refused the access token (%s)", client.purpose, response.status_code
        )
        raise Refused(TOKEN_REFUSED, "userinfo_refused")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        # A signed (or encrypted) userinfo answer: Vårdmöte registers for plain JSON, so this
        # is a registration mistake at the provider, told plainly in the log.
        log.warning(
            "%s provider: userinfo answered %s, not JSON; register plain JSON userinfo", client.purpose, kind
        )
        raise Refused(TOKEN_REFUSED, "userinfo_not_json")
    try:
        found_claims = response.json()
    except ValueError:
        raise Unreachable("userinfo_not_json") from None
    if not isinstance(found_claims, dict):
        raise Unreachable("userinfo_not_an_object")
    if not isinstance(found_claims.get("sub"), str) or not hmac.compare_digest(
        found_claims["sub"].encode(), subject.encode()
    ):
        log.warning("%s provider: userinfo is about another subject than the ID token", client.purpose)
        raise Refused(TOKEN_REFUSED, "userinfo_other_subject")
    return found_claims


def kept(ctx: Context, client: Client, cookie: str | None) -> Mapping[str, str]:
    """kept is what the caller kept in the state cookie at :func:`begin` (e.g. where the person
    was going), also when the sign-in itself is refused or too old: the cookie is sealed, so
    what it says is ours. Empty without a cookie of this client's."""
    pending = _unseal(ctx, cookie)
    if pending is None or pending.get("for") != client.purpose:
        return {}
    values = pending.get("keep")
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _pending(ctx: Context, client: Client, params: Mapping[str, str], cookie: str | None) -> dict[str, Any]:
    """_pending is the sign-in the state cookie holds, once the provider's redirect (params) is
    found to answer it: this client's, not too old, the same state, not cancelled, with a code."""
    pending = _unseal(ctx, cookie)
    if pending is None:
        raise Refused(STATE_MISMATCH, "no_state_cookie")
    if pending.get("for") != client.purpose:  # made for the other sign-in (patient or staff)
        raise Refused(STATE_MISMATCH, "wrong_sign_in")
    if time.time() - float(pending.get("at", 0)) > STATE_SECONDS:
        raise Refused(STATE_MISMATCH, "state_expired")
    given_state = params.get("state", "")
    if not hmac.compare_digest(given_state.encode(), str(pending.get("state", "")).encode()):
        raise Refused(STATE_MISMATCH, "wrong_state")
    if params.get("error"):
        log.info("%s provider: sign-in ended with %s", client.purpose, params.get("error", "")[:60])
        raise Refused(CANCELLED, "cancelled")
    code = params.get("code", "")
    if not code or len(code) > 2000:
        raise Refused(STATE_MISMATCH, "no_code")
    return pending


def _check_issuer(client: Client, found: Provider, params: Mapping[str, str]) -> None:
    """_check_issuer refuses a redirect that names another provider than ours (RFC 9207), or none
    when ours says it always names itself: another one's code (a mix-up attack) is never sent
    to this provider's token endpoint."""
    named = params.get("iss")
    if named is None:
        if found.names_itself:
            log.warning("%s provider: the redirect does not name its issuer", client.purpose)
            raise Refused(TOKEN_REFUSED, "no_issuer")
        return
    if named.rstrip("/") != found.issuer.rstrip("/"):
        log.warning("%s provider: the redirect names another issuer", client.purpose)
        raise Refused(TOKEN_REFUSED, "wrong_issuer")


def _check_assurance(client: Client, claims: Mapping[str, Any]) -> None:
    """_check_assurance requires the ID token's acr to be one of the levels asked for."""
    accepted = client.acr_values.split()
    if accepted and claims.get("acr") not in accepted:
        log.warning("%s provider: ID token without an accepted assurance level (acr)", client.purpose)
        raise Refused(LOW_ASSURANCE, "low_assurance")


def finish(
    ctx: Context,
    client: Client,
    params: Mapping[str, str],
    cookie: str | None,
    wanted: Collection[str] = (),
) -> SignedIn:
    """finish completes the sign-in from the provider's redirect (its query params and our state
    cookie) and returns the person's claims.

    wanted are the claims the caller needs: those the ID token lacks are read from the
    userinfo endpoint (once), when the provider has one and gave an access token. A claim
    found nowhere is simply missing: the caller decides what that means. Blocking (HTTP):
    call it in the thread pool.
    """
    pending = _pending(ctx, client, params, cookie)
    with httpx.Client(timeout=TIMEOUT) as http:
        found = provider(client.issuer, client.purpose, http)
        _check_issuer(client, found, params)
        body = _token_request(ctx, client, http, found, params["code"], str(pending["verifier"]))
        claims = _id_token_claims(client, http, found, body["id_token"], str(pending["nonce"]))
        _check_assurance(client, claims)
        missing = [name for name in wanted if name not in claims]
        access_token = body.get("access_token")
        if missing and found.userinfo_endpoint and isinstance(access_token, str) and access_token:
            more = _userinfo(client, http, found, access_token, str(claims["sub"]))
            claims = {**more, **claims}
    return SignedIn(claims=claims, kept=kept(ctx, client, cookie))


def logout_url(ctx: Context, client: Client, after: str, state: str) -> str | None:
    """logout_url is the provider's end-session address (RP-initiated logout) that comes back to
    after (register it at the provider as a post-logout redirect URI), or None when the
    provider offers none or cannot be reached: the sign-out here stands either way.

    Without an ID token hint (Vårdmöte keeps no tokens) the provider may ask the person to
    confirm; client_id tells it whose after-address this is. Blocking: thread pool."""
    try:
        found = discover(client.issuer, client.purpose)
    except Unreachable:
        return None
    if not found.end_session_endpoint:
        return None
    query = urlencode({"client_id": client.client_id, "post_logout_redirect_uri": after, "state": state})
    separator = "&" if "?" in found.end_session_endpoint else "?"
    return found.end_session_endpoint + separator + query
