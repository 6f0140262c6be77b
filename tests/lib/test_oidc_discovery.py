"""Discovery of an OpenID provider (lib/oidc_discovery.py) against a small provider stand-in on
127.0.0.1: a plain HTTP server that answers the discovery document and the JWKS as a test sets
them and counts what it was asked. The sign-in's own checks run against the real provider
(tests/accounts/test_staff_oidc*.py); here are the rules that spare the worker threads: what is
kept and for how long, a failed discovery remembered, the keys fetched again for a new key id,
and the connect timeout."""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey

from vardmote.lib import oidc_discovery
from vardmote.lib.oidc_discovery import TIMEOUT, Unreachable, discover, forget_providers, keys_for, provider

PURPOSE = "staff"
DISCOVERY = "/.well-known/openid-configuration"


class StandIn:
    """StandIn is an HTTP server on 127.0.0.1 that answers each path as :attr:`answers` says
    (status and JSON body) and records the paths it was asked, in order."""

    def __init__(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.asked.append(self.path)
                status, body = stand_in.answers.get(self.path, (404, {"error": "not_found"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.asked: list[str] = []
        self.answers: dict[str, tuple[int, Any]] = {}
        self.serve_keys(_key("a"))
        self.answers[DISCOVERY] = (200, self.metadata())
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def metadata(self, **changes: Any) -> dict[str, Any]:
        """metadata is a discovery document for this issuer, with changes (None removes a field)."""
        meta = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        meta.update(changes)
        return {k: v for k, v in meta.items() if v is not None}

    def serve_keys(self, *keys: RSAKey) -> None:
        """serve_keys makes the JWKS these keys' public halves."""
        self.answers["/jwks"] = (200, KeySet(list(keys)).as_dict(private=False))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@functools.cache
def _key(kid: str) -> RSAKey:
    """_key is an RSA signing key with this key id, made once per test run."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class Clock:
    """Clock is the discovery caches' clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(oidc_discovery, "_clock", c)
    return c


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    forget_providers()
    s = StandIn()
    yield s
    s.close()
    forget_providers()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def _kids(key_set: KeySet) -> list[str | None]:
    return [key.kid for key in key_set.keys]


def test_the_metadata_and_keys_are_fetched_once_while_they_are_kept(
    stand_in: StandIn, http: httpx.Client, clock: Clock
) -> None:
    found = provider(stand_in.issuer, PURPOSE, http)
    assert found.token_endpoint == f"{stand_in.issuer}/token"
    assert _kids(keys_for(found, PURPOSE, http, "a")) == ["a"]
    clock.now += 3599
    assert provider(stand_in.issuer + "/", PURPOSE, http) == found  # a trailing slash is the same issuer
    assert _kids(keys_for(found, PURPOSE, http, "a")) == ["a"]
    assert _kids(keys_for(found, PURPOSE, http, None)) == ["a"]  # a token without kid: the kept keys
    assert stand_in.asked == [DISCOVERY, "/jwks"]


def test_after_an_hour_the_metadata_and_keys_are_fetched_again(
    stand_in: StandIn, http: httpx.Client, clock: Clock
) -> None:
    found = provider(stand_in.issuer, PURPOSE, http)
    keys_for(found, PURPOSE, http, "a")
    clock.now += 3601
    stand_in.serve_keys(_key("b"))
    again = provider(stand_in.issuer, PURPOSE, http)
    assert _kids(keys_for(again, PURPOSE, http, None)) == ["b"]  # the keys went with the old metadata
    assert stand_in.asked == [DISCOVERY, "/jwks", DISCOVERY, "/jwks"]


def test_a_key_id_the_kept_keys_lack_fetches_them_again_once(
    stand_in: StandIn, http: httpx.Client, clock: Clock
) -> None:
    found = provider(stand_in.issuer, PURPOSE, http)
    assert _kids(keys_for(found, PURPOSE, http, "a")) == ["a"]
    stand_in.serve_keys(_key("a"), _key("b"))  # the provider rotates: a new key b beside a

    assert _kids(keys_for(found, PURPOSE, http, "a")) == ["a"]  # still kept
    assert _kids(keys_for(found, PURPOSE, http, "b")) == ["a", "b"]  # fetched again for b
    assert _kids(keys_for(found, PURPOSE, http, "b")) == ["a", "b"]  # and kept
    assert stand_in.asked == [DISCOVERY, "/jwks", "/jwks"]

    assert _kids(keys_for(found, PURPOSE, http, "nobody")) == ["a", "b"]  # once more, still lacking it
    assert stand_in.asked == [DISCOVERY, "/jwks", "/jwks", "/jwks"]


def test_a_failed_discovery_is_remembered_for_thirty_seconds(
    stand_in: StandIn, http: httpx.Client, clock: Clock
) -> None:
    stand_in.answers[DISCOVERY] = (503, {"error": "down"})
    with pytest.raises(Unreachable) as first:
        provider(stand_in.issuer, PURPOSE, http)
    assert first.value.reason == "get_failed"
    stand_in.answers[DISCOVERY] = (200, stand_in.metadata())  # back, but not asked yet

    clock.now += 29
    with pytest.raises(Unreachable) as meanwhile:
        provider(stand_in.issuer, PURPOSE, http)
    assert (meanwhile.value.kind, meanwhile.value.reason) == ("provider_unavailable", "unreachable_recently")
    assert stand_in.asked == [DISCOVERY]  # told at once, without calling out

    clock.now += 2
    assert provider(stand_in.issuer, PURPOSE, http).issuer == stand_in.issuer
    assert stand_in.asked == [DISCOVERY, DISCOVERY]


def test_a_provider_that_is_gone_is_remembered_too(http: httpx.Client, clock: Clock) -> None:
    forget_providers()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{s.getsockname()[1]}"
    reasons = []
    for _ in range(2):
        with pytest.raises(Unreachable) as e:
            provider(issuer, PURPOSE, http)
        reasons.append(e.value.reason)
    assert reasons == ["get_failed", "unreachable_recently"]
    forget_providers()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param({"issuer": "http://127.0.0.1:1"}, "discovery_issuer", id="another-issuer"),
        pytest.param({"token_endpoint": None}, "discovery_incomplete", id="no-token-endpoint"),
        pytest.param({"jwks_uri": None}, "discovery_incomplete", id="no-jwks-uri"),
        pytest.param(
            {"id_token_signing_alg_values_supported": ["HS256", "none"]},
            "discovery_algorithms",
            id="only-symmetric-or-no-signature",
        ),
    ],
)
def test_discovery_that_is_not_right_is_unreachable_and_remembered(
    stand_in: StandIn, http: httpx.Client, clock: Clock, answer: dict[str, Any], reason: str
) -> None:
    stand_in.answers[DISCOVERY] = (200, stand_in.metadata(**answer))
    with pytest.raises(Unreachable) as e:
        provider(stand_in.issuer, PURPOSE, http)
    assert e.value.reason == reason
    with pytest.raises(Unreachable) as again:
        provider(stand_in.issuer, PURPOSE, http)
    assert again.value.reason == "unreachable_recently"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param((200, ["not", "an", "object"]), "not_an_object", id="a-list"),
        pytest.param((200, {"keys": [{"kty": "RSA", "n": "x"}]}), "jwks_unreadable", id="a-broken-key"),
        pytest.param((200, {"keys": "none"}), "jwks_unreadable", id="keys-not-a-list"),
        pytest.param((500, {"error": "oops"}), "get_failed", id="server-error"),
    ],
)
def test_a_jwks_that_cannot_be_read_is_unreachable(
    stand_in: StandIn, http: httpx.Client, answer: tuple[int, Any], reason: str
) -> None:
    found = provider(stand_in.issuer, PURPOSE, http)
    stand_in.answers["/jwks"] = answer
    with pytest.raises(Unreachable) as e:
        keys_for(found, PURPOSE, http, "a")
    assert e.value.reason == reason


def test_a_provider_that_does_not_accept_the_connection_is_given_up_after_three_seconds() -> None:
    forget_providers()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []  # connections that fill its queue: the next one is never accepted
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))  # EINPROGRESS: the handshake goes on by itself
        waiting.append(c)
    time.sleep(0.2)
    began = time.monotonic()
    try:
        with pytest.raises(Unreachable) as e:
            discover(f"http://127.0.0.1:{port}", PURPOSE)
        took = time.monotonic() - began
    finally:
        for c in waiting:
            c.close()
        listener.close()
        forget_providers()
    assert e.value.reason == "get_failed"
    assert 2.5 < took < 5, took  # the connect timeout, not the 10 s read timeout
    assert TIMEOUT.read == 10.0
