"""Tokens: unguessable secrets for links and sessions, hashed and sealed.

A token is 256 random bits, URL-safe. The database keeps its SHA-256 hash to
find it, and, where staff must be able to show it again (guest links, calendar
feeds), a copy sealed with AES-GCM under a key derived from the service's
secret key. Trade-off: a stolen database alone opens no meeting; a stolen
database together with the secret key does, so the key lives outside it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_BYTES = 32


def new_token() -> str:
    """new_token returns 256 random bits as URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """hash_token returns the SHA-256 digest under which a token is stored."""
    return hashlib.sha256(token.encode()).digest()


def looks_like_token(value: str) -> bool:
    """looks_like_token tells whether value has a token's shape (before any lookup)."""
    return len(value) == 43 and all((c.isascii() and c.isalnum()) or c in "-_" for c in value)


class Sealer:
    """Sealer encrypts tokens for storage with a key derived from the secret key."""

    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) < 16:
            raise ValueError("the secret key must be at least 16 bytes")
        key = hmac.new(secret_key, b"vardmote token sealing v1", hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, token: str) -> bytes:
        """seal returns nonce + ciphertext of token."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, token.encode(), b"vardmote-token")

    def unseal(self, sealed: bytes) -> str | None:
        """unseal returns the token, or None if it was sealed under another key."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], b"vardmote-token").decode()
        except (InvalidTag, ValueError):
            return None
