"""Tokens: unguessable, URL-safe, hashed for lookup and sealed for showing again."""

from __future__ import annotations

import re

import pytest

from vardmote.lib.tokens import Sealer, hash_token, looks_like_token, new_token

KEY = b"service-secret-key-" + b"k" * 16


def test_a_new_token_is_43_url_safe_characters() -> None:
    token = new_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
    assert looks_like_token(token)


def test_new_tokens_are_all_different() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000


def test_a_token_hash_is_32_bytes_and_the_same_for_the_same_token() -> None:
    token = new_token()
    assert len(hash_token(token)) == 32
    assert hash_token(token) == hash_token(token)
    assert hash_token(token) != hash_token(new_token())


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 42, id="one-too-short"),
        pytest.param("a" * 44, id="one-too-long"),
        pytest.param("a" * 42 + "/", id="slash"),
        pytest.param("a" * 42 + "=", id="padding"),
        pytest.param("a" * 42 + "å", id="non-ascii-letter"),
    ],
)
def test_something_without_a_tokens_shape_does_not_look_like_a_token(value: str) -> None:
    assert not looks_like_token(value)


def test_a_sealed_token_unseals_to_the_same_token() -> None:
    token = new_token()
    sealer = Sealer(KEY)
    sealed = sealer.seal(token)
    assert token.encode() not in sealed
    assert sealer.unseal(sealed) == token


def test_sealing_twice_gives_different_bytes() -> None:
    token = new_token()
    sealer = Sealer(KEY)
    assert sealer.seal(token) != sealer.seal(token)


def test_a_token_sealed_under_another_key_cannot_be_unsealed() -> None:
    sealed = Sealer(KEY).seal(new_token())
    assert Sealer(b"another-secret-key-" + b"k" * 16).unseal(sealed) is None


@pytest.mark.parametrize(
    "sealed",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"short", id="shorter-than-a-nonce"),
        pytest.param(b"\x00" * 60, id="zeros"),
    ],
)
def test_garbage_does_not_unseal(sealed: bytes) -> None:
    assert Sealer(KEY).unseal(sealed) is None


def test_a_tampered_sealed_token_does_not_unseal() -> None:
    sealer = Sealer(KEY)
    sealed = bytearray(sealer.seal(new_token()))
    sealed[-1] ^= 1
    assert sealer.unseal(bytes(sealed)) is None


def test_a_secret_key_shorter_than_16_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^the secret key must be at least 16 bytes$"):
        Sealer(b"k" * 15)


def test_a_secret_key_of_16_bytes_is_enough() -> None:
    sealer = Sealer(b"k" * 16)
    assert sealer.unseal(sealer.seal("x")) == "x"
