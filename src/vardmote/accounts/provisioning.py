"""Provisioning: the staff account made for an HSA-id the first time it is seen — by the staff
sign-in with SITHS or by a journal system's FHIR booking.

The account's username is the HSA-id lower-cased, and it has no usable password: its holder
signs in through the region's identity provider, which names them by the same HSA-id.

Concurrency: two first uses of one HSA-id at the same moment (two bookings, two sign-ins) make
one account. The insert runs in a savepoint; the second insert fails on the unique username
(PostgreSQL: after waiting for the first transaction) and the account the first made is
selected instead. An account that has the username without that HSA-id is never taken over by
its name: :class:`UsernameTaken` is raised, and an administrator links it
(``vardmote user set-hsa-id``) when it is the same person.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.accounts.models import Role, User
from vardmote.audit.log import record
from vardmote.db import utcnow
from vardmote.errors import Conflict

log = logging.getLogger("vardmote.accounts.provisioning")

NO_PASSWORD = "!"
"""password_hash of a provisioned account: no argon2 hash, so no password matches."""


class UsernameTaken(Conflict):
    """UsernameTaken: another account already has the HSA-id lower-cased as its username, without
    that HSA-id (409). holder_hsa_id is that account's own HSA-id: None when it has none, so an
    administrator may link it."""

    def __init__(self, username: str, holder_hsa_id: str | None) -> None:
        super().__init__(
            f"Det finns redan ett konto med användarnamnet {username} men utan detta HSA-id. "
            "Be en administratör rätta kontot."
        )
        self.username = username
        self.holder_hsa_id = holder_hsa_id


def find_by_hsa_id(s: Session, hsa_id: str) -> User | None:
    """find_by_hsa_id is the account with this (upper-cased) HSA-id, if any."""
    return s.scalar(select(User).where(User.hsa_id == hsa_id))


def make_from_hsa_id(s: Session, hsa_id: str, display_name: str, role: Role, actor: str, *, by: str) -> User:
    """make_from_hsa_id is the account for hsa_id (upper-cased, checked by the caller): made now,
    audited ``user.provisioned`` by actor with ``by`` naming the way in (``oidc``, ``fhir``), or
    the one another transaction made at the same moment (not audited again).

    Raises UsernameTaken when another account has the username without this HSA-id."""
    username = hsa_id.lower()
    try:
        with s.begin_nested():
            _refuse_taken(s, username, hsa_id)
            user = User(
                username=username,
                display_name=display_name,
                role=role.value,
                password_hash=NO_PASSWORD,
                hsa_id=hsa_id,
                created_at=utcnow(),
            )
            s.add(user)
            s.flush()
    except IntegrityError:
        made = find_by_hsa_id(s, hsa_id)
        if made is None:  # the username went to an account without this HSA-id meanwhile
            _refuse_taken(s, username, hsa_id)
            raise
        log.info("account for an HSA-id (%s): made by another transaction at the same moment; using it", by)
        return made
    record(
        s,
        actor,
        "user.provisioned",
        None,
        {"username": username, "hsa_id": hsa_id, "role": role.value, "by": by},
    )
    return user


def _refuse_taken(s: Session, username: str, hsa_id: str) -> None:
    holder = s.scalar(select(User).where(User.username == username))
    if holder is not None and holder.hsa_id != hsa_id:
        raise UsernameTaken(username, holder.hsa_id)
