"""Service: registering journal systems (add, change keys, revoke, list), for the admin page and
the command.

A client is added with its name, its scopes and its public keys, and gets a random
``client_id`` (models.py says why not the name). Its keys can be replaced (a key rotation,
:func:`replace_keys`): the client keeps its name, ``client_id`` and scopes. Revoking it stops
its tokens at once (they are deleted, and a revoked client's tokens would be refused anyway)
and it gets no new ones; it stays in the list, and its name stays taken, so the audit's
``client:<name>`` keeps naming one client. Each is audited (``client.added``,
``client.keys_changed``, ``client.revoked``) with who did it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.clients.keys import JwksError, key_ids, public_jwks
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.clients.scopes import ScopeError, parse_scopes, scope_text
from vardmote.db import utcnow
from vardmote.errors import FieldError, InvalidInput
from vardmote.lib.text import has_invisible_characters

MIN_NAME = 2
MAX_NAME = 60
NAME_HELP = (
    f"Ange journalsystemets namn med {MIN_NAME}–{MAX_NAME} tecken, t.ex. 'Cosmic Region Västmanland'. "
    "Namnet står i granskningsloggen."
)


class InvalidClient(InvalidInput):
    """InvalidClient: a client's name, scopes or keys are wrong; nothing is saved.

    ``private_key`` is true when the pasted keys held a private part: that text must not be
    shown again (the admin page leaves its field empty)."""

    def __init__(self, fields: list[FieldError], *, private_key: bool = False) -> None:
        super().__init__(fields, "Journalsystemet är inte registrerat. Rätta uppgifterna och försök igen.")
        self.private_key = private_key


class InvalidKeys(InvalidClient):
    """InvalidKeys: a client's new keys are wrong; its keys are unchanged."""

    def __init__(self, fields: list[FieldError], *, private_key: bool = False) -> None:
        InvalidInput.__init__(self, fields, "Nycklarna är inte bytta. Rätta dem och försök igen.")
        self.private_key = private_key


def clean_name(name: str) -> str:
    """clean_name is a client's name with its spaces collapsed; raises InvalidInput when unusable."""
    label = " ".join(name.split())
    if not MIN_NAME <= len(label) <= MAX_NAME or has_invisible_characters(name.replace("\n", " ")):
        raise InvalidInput.one("name", NAME_HELP)
    return label


def add_client(s: Session, name: str, jwks: str, scopes: str, *, actor: str = "system") -> ApiClient:
    """add_client registers a journal system and returns it, with its new ``client_id``.

    Every field is checked before anything is saved, and all that is wrong is told at once:
    the name (2–60 characters, not taken, also not by a revoked client), the scopes
    (scopes.py's grammar) and the keys (keys.py: public only)."""
    errors: list[FieldError] = []
    label = ""
    try:
        label = clean_name(name)
    except InvalidInput as e:
        errors.extend(e.fields)
    if label:
        folded = label.casefold()
        if any(taken.casefold() == folded for taken in s.scalars(select(ApiClient.name))):
            errors.append(
                FieldError(
                    "name",
                    f"Det finns redan ett journalsystem som heter {label!r} (också återkallade räknas). "
                    "Välj ett annat namn.",
                )
            )
    granted = ""
    try:
        granted = scope_text(parse_scopes(scopes))
    except ScopeError as e:
        errors.append(FieldError("scopes", e.message))
    keys = ""
    private_key = False
    try:
        keys = public_jwks(jwks.strip())
    except JwksError as e:
        errors.append(FieldError("jwks", e.message))
        private_key = e.private
    if errors:
        raise InvalidClient(errors, private_key=private_key)
    client = ApiClient(
        name=label,
        client_id=str(uuid.uuid4()),
        jwks=keys,
        scopes=granted,
        active=True,
        created_at=utcnow(),
    )
    s.add(client)
    s.flush()
    record(
        s,
        actor,
        "client.added",
        details={
            "client": label,
            "client_id": client.client_id,
            "scopes": granted,
            "kids": key_ids(keys),
        },
    )
    return client


def replace_keys(s: Session, name: str, jwks: str, *, actor: str = "system") -> ApiClient:
    """replace_keys gives the active client of that name new public keys (a key rotation) and
    returns it; its name, ``client_id`` and scopes stay.

    The keys are checked as :func:`add_client` checks them (public only; InvalidKeys says what
    is wrong, and nothing changes). The old keys stop working at once: the token endpoint reads
    the client's keys at every request, so a new assertion signed with a key no longer
    registered is refused. Access tokens already issued with the old keys live out their time
    (``oauth_token_seconds``, five minutes by default); revoke the client to end them at once.
    To rotate without a pause, register the old and the new key together, let the journal
    system sign with the new one, then register the new one alone. Raises InvalidInput (field
    ``name``) when no client has the name or it is revoked."""
    label = " ".join(name.split())
    client = s.scalar(select(ApiClient).where(ApiClient.name == label))
    if client is None:
        raise InvalidInput.one("name", f"Det finns inget journalsystem som heter {label!r}.")
    if not client.active:
        raise InvalidInput.one(
            "name",
            f"Journalsystemet {label!r} är återkallat och kan inte få nya nycklar. Registrera det på "
            "nytt under ett annat namn.",
        )
    try:
        keys = public_jwks(jwks.strip())
    except JwksError as e:
        raise InvalidKeys([FieldError("jwks", e.message)], private_key=e.private) from None
    old_kids = key_ids(client.jwks)
    client.jwks = keys
    record(
        s,
        actor,
        "client.keys_changed",
        details={
            "client": client.name,
            "client_id": client.client_id,
            "old_kids": old_kids,
            "kids": key_ids(keys),
        },
    )
    return client


def revoke_client(s: Session, name: str, *, actor: str = "system") -> ApiClient:
    """revoke_client revokes the active client of that name: its tokens stop working at once
    and it gets no new ones. Raises InvalidInput when no active client has the name."""
    label = " ".join(name.split())
    client = s.scalar(select(ApiClient).where(ApiClient.name == label))
    if client is None:
        raise InvalidInput.one("name", f"Det finns inget journalsystem som heter {label!r}.")
    if not client.active:
        raise InvalidInput.one("name", f"Journalsystemet {label!r} är redan återkallat.")
    client.active = False
    client.revoked_at = utcnow()
    s.execute(delete(AccessToken).where(AccessToken.client_id == client.id))
    record(s, actor, "client.revoked", details={"client": client.name, "client_id": client.client_id})
    return client


def list_clients(s: Session) -> list[ApiClient]:
    """list_clients is every registered client, active and revoked, in the order they were added."""
    return list(s.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.id)))
