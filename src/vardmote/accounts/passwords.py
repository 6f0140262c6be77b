"""Passwords: argon2id hashing for local staff accounts.

Unknown usernames are checked against a fixed dummy hash so that a sign-in
with an unknown user takes as long as one with a wrong password.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("vardmote-dummy-password-for-timing")

MIN_LENGTH = 12
"""Shortest password accepted for a new account. Passwords set before this rule keep working
until they are changed; the demo accounts (demo mode only, never usable outside it) keep
their published password ``demo``."""


def hash_password(password: str) -> str:
    """hash_password returns the argon2id hash of password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """verify_password tells whether password matches; None checks a dummy hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
