"""Auth: the FHIR endpoint's check of a journal system's bearer token (the resource server's side).

:func:`authorized_client` is the one call the FHIR routes make: it finds the client behind an
``Authorization: Bearer`` header and checks that its token carries the scope the call needs.
It records nothing: the FHIR routes audit each call with :func:`actor_of` the client.

Errors (both :class:`~vardmote.errors.VardmoteError`, message in Swedish, ``english`` beside it
for the FHIR OperationOutcome, ``headers`` for the answer)::

    ClientUnauthenticated (401)   no bearer token, or one unknown, expired or of a revoked client
    ScopeMissing (403)            the token is good but lacks the scope the call needs

A token that is unknown, expired or belongs to a revoked client gets one and the same answer,
so the answer tells a caller nothing about which tokens exist.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.clients.models import AccessToken, ApiClient
from vardmote.clients.scopes import ACTIONS, RESOURCES, allows, parse_scopes
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import Forbidden, VardmoteError
from vardmote.lib.tokens import hash_token, looks_like_token

REALM = "vardmote"

NO_TOKEN = (
    "Anropet saknar åtkomsttoken. Hämta ett på /oauth/token och skicka det som Authorization: Bearer.",
    "The request has no access token. Get one at /oauth/token and send it as Authorization: Bearer.",
)
BAD_TOKEN = (
    "Åtkomsttokenet är okänt eller har gått ut. Hämta ett nytt på /oauth/token.",
    "The access token is unknown or has expired. Get a new one at /oauth/token.",
)

_VERBS = {
    "c": ("skapa", "create"),
    "r": ("läsa", "read"),
    "u": ("ändra", "update"),
    "d": ("ta bort", "delete"),
    "s": ("söka bland", "search"),
}


class ClientUnauthenticated(VardmoteError):
    """ClientUnauthenticated: the call carries no usable bearer token (401, WWW-Authenticate: Bearer)."""

    status = 401
    slug = "client-unauthenticated"
    title = "Journalsystemet är inte autentiserat"

    def __init__(self, texts: tuple[str, str], error: str | None) -> None:
        super().__init__(texts[0])
        self.english = texts[1]
        challenge = f'Bearer realm="{REALM}"'
        if error:  # RFC 6750 section 3: no error code when no bearer token was sent
            challenge += f', error="{error}"'
        self.headers = {"WWW-Authenticate": challenge}


class ScopeMissing(Forbidden):
    """ScopeMissing: the client's token does not carry the scope the call needs (403)."""

    slug = "insufficient-scope"
    title = "Behörighet saknas"

    def __init__(self, resource: str, action: str) -> None:
        needed = f"system/{resource}.{action}"
        verb_sv, verb_en = _VERBS[action]
        super().__init__(
            f"Journalsystemet har inte behörighet att {verb_sv} {resource} (behörigheten {needed} saknas)."
        )
        self.english = f"The client's token lacks the scope {needed}, needed to {verb_en} {resource}."
        self.scope = needed
        self.headers = {
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
        }


def actor_of(client: ApiClient) -> str:
    """actor_of is how a journal system is named in the audit log: ``client:<name>``."""
    return f"client:{client.name}"


def bearer_token(authorization: str | None) -> str | None:
    """bearer_token is the token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def authorized_client(
    ctx: Context, s: Session, authorization: str | None, resource: str, action: str
) -> ApiClient:
    """authorized_client returns the active client whose unexpired token the Authorization header
    carries, when that token's scopes allow action ("c", "r", "u", "d" or "s") on resource.

    Raises ClientUnauthenticated (401) without a usable token and ScopeMissing (403) without
    the scope. ctx is for the caller's convenience (the same signature as the other checks);
    the check needs only the database."""
    if resource not in RESOURCES or action not in ACTIONS or len(action) != 1:
        raise ValueError(f"no such permission: {resource}.{action}")
    token = bearer_token(authorization)
    if token is None:
        raise ClientUnauthenticated(NO_TOKEN, None)
    if not looks_like_token(token):
        raise ClientUnauthenticated(BAD_TOKEN, "invalid_token")
    row = s.scalar(
        select(AccessToken)
        .join(ApiClient)
        .where(
            AccessToken.token_hash == hash_token(token),
            AccessToken.expires_at > utcnow(),
            ApiClient.active,
        )
    )
    if row is None:
        raise ClientUnauthenticated(BAD_TOKEN, "invalid_token")
    if not allows(parse_scopes(row.scopes), resource, action):
        raise ScopeMissing(resource, action)
    return row.client
