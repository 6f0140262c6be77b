"""The embedded relay (coturn): its configuration, credentials, peer rules and supervision.

Real coturn (Debian's ``turnserver``) on the test namespace's veth address,
reached with aioice's TURN client (what aiortc uses) over UDP, TCP and TLS.
The allowed peer is the namespace's address (Janus's ICE address there); the
other end of the veth pair (netns.PEER) and loopback stand for the hospital's
internal network, and an address the tests add to the namespace's loopback
(198.51.100.7) for one on the internet: a credential must reach neither.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aioice import stun
from aioice.turn import TurnTransport, create_turn_endpoint
from aiortc import RTCPeerConnection
from cryptography import x509
from janus_fixtures import connected, janus_settings, running_janus
from rtc_peers import NO_ICE_SERVERS

import vardmote.media.supervision as supervision
from machine import free_rtp_range, free_tcp_port
from netns import PEER, media_address
from relay_helpers import free_port_pair
from servers import serve
from vardmote.media.embedded import EmbeddedJanus
from vardmote.media.janus import Jsep
from vardmote.media.relay import (
    DENIED_PEERS,
    EVERY_PEER,
    EmbeddedRelay,
    EmbeddedRelayError,
    ensure_certificate,
    write_config,
)
from vardmote.media.relay_access import RelayAccess, embedded_urls, relay_access_from_settings
from vardmote.settings import Secret, Settings

pytestmark = pytest.mark.media

TRANSPORTS = ["udp", "tcp", "tls"]
SHARED = pytest.mark.asyncio(loop_scope="module")
"""For the tests on the module's relay: they run on the loop that watches it."""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def relay_settings(tmp_path: Path, **changes: Any) -> Settings:
    """relay_settings is an embedded relay on the namespace's address with ports of its own,
    allowing (by default) only the embedded Janus's ICE address, that same address."""
    address = media_address()
    port = free_port_pair(address, set())
    tls_port = free_port_pair(address, {port})
    settings = Settings(
        var_dir=tmp_path / "var",
        janus_ice_interfaces=address,
        turn_port=port,
        turn_tls_port=tls_port,
        turn_relay_ports=free_rtp_range(),
    )
    return dataclasses.replace(settings, **changes)


@asynccontextmanager
async def running_relay(
    tmp_path: Path, *, settings: Settings | None = None, **options: Any
) -> AsyncIterator[EmbeddedRelay]:
    """running_relay is a started EmbeddedRelay (with relay_settings(tmp_path) unless settings
    are given), stopped afterwards."""
    relay = EmbeddedRelay(settings or relay_settings(tmp_path), **options)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


@pytest.fixture(scope="module")
def relay_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("relay")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def relay(relay_folder: Path) -> AsyncIterator[EmbeddedRelay]:
    """relay is one embedded coturn shared by the module's tests that do not stop it."""
    async with running_relay(relay_folder) as running:
        yield running


@pytest.fixture(scope="module")
def access(relay: EmbeddedRelay) -> RelayAccess:
    found = relay_access_from_settings(relay.settings, relay.secret)
    assert found is not None
    return found


class Received(asyncio.DatagramProtocol):
    """Received keeps what arrives through a TURN allocation (or on a peer's socket)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.errors: list[Exception] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)


def _trusting(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    return context


@asynccontextmanager
async def allocation(
    relay: EmbeddedRelay, transport: str, username: str, password: str
) -> AsyncIterator[tuple[TurnTransport, Received]]:
    """allocation makes a TURN allocation on relay over transport (udp, tcp or tls)."""
    settings = relay.settings
    port = settings.turn_tls_port if transport == "tls" else settings.turn_port
    context = _trusting(relay.folder / "relay.crt") if transport == "tls" else None
    turn, received = await create_turn_endpoint(
        Received,
        (relay.address, port),
        username,
        password,
        ssl=context,
        transport="udp" if transport == "udp" else "tcp",
    )
    try:
        yield turn, received
    finally:
        turn.close()
        await asyncio.sleep(0)


def _credentials(access: RelayAccess, expires_at: int) -> tuple[str, str]:
    (server,) = access.ice_servers("deltagare-1", expires_at=expires_at)
    return server["username"], server["credential"]


@pytest.fixture
def peer_socket() -> Iterator[socket.socket]:
    """peer_socket is a UDP socket on Janus's address (the allowed peer)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((media_address(), 0))
        sock.settimeout(5)
        yield sock


# --- RelayAccess (pure) ---------------------------------------------------------------------------

EXPECTED_CREDENTIAL = "Ek5aLTu7BQ++SM3S7oZZcDecnmk="
EXAMPLE = RelayAccess(("turn:192.0.2.10:3478?transport=udp",), Secret("delad-hemlighet-för-coturn"), 3600)


def test_a_credential_is_coturns_rest_api_hmac_of_the_username() -> None:
    (server,) = EXAMPLE.ice_servers("a1b2-c3_d4", expires_at=1_800_000_000)
    assert server["urls"] == ["turn:192.0.2.10:3478?transport=udp"]
    assert server["username"] == "1800000000:a1b2-c3_d4"
    # HMAC-SHA1 keyed with the secret, base64, worked out with openssl for this example:
    #   printf '1800000000:a1b2-c3_d4' |
    #   openssl dgst -sha1 -hmac 'delad-hemlighet-för-coturn' -binary | base64
    assert server["credential"] == EXPECTED_CREDENTIAL


@pytest.mark.parametrize(
    "holder",
    ["", "Anna Andersson", "anna@example.se", "a:b", "x" * 65],
    ids=["empty", "name", "mail", "colon", "long"],
)
def test_a_holder_that_is_not_an_opaque_id_is_refused(holder: str) -> None:
    with pytest.raises(ValueError, match="holder must be 1-64 of"):
        EXAMPLE.ice_servers(holder, expires_at=1_800_000_000)


def test_credentials_last_past_the_booked_end_and_never_less_than_credential_seconds() -> None:
    now = 1_800_000_000
    assert EXAMPLE.expires_at(booked_end=now + 1800, now=now) == now + 1800 + 3600
    assert EXAMPLE.expires_at(booked_end=now - 7200, now=now) == now + 3600  # a meeting run over its time
    assert EXAMPLE.expires_at(booked_end=None, now=now) == now + 3600


def test_the_probe_has_the_same_urls_an_expired_username_and_a_fresh_random_credential() -> None:
    (first,) = EXAMPLE.probe_servers()
    (second,) = EXAMPLE.probe_servers()
    assert first["urls"] == list(EXAMPLE.urls)
    assert first["username"] == second["username"] == "0:vardmote-probe"
    assert first["credential"] != second["credential"]
    assert first["credential"] != EXAMPLE.credential(first["username"])


@pytest.mark.parametrize(
    ("urls", "secret", "seconds", "message"),
    [
        pytest.param((), "s" * 20, 3600, "at least one turn: or turns: URL", id="no-urls"),
        pytest.param(("stun:192.0.2.10",), "s" * 20, 3600, "must hold turn: or turns: URLs", id="stun"),
        pytest.param(("turn:192.0.2.10",), "", 3600, "non-empty secret", id="no-secret"),
        pytest.param(("turn:192.0.2.10",), "s" * 20, 10, "at least 60", id="too-short"),
    ],
)
def test_relay_access_is_checked_when_made(
    urls: tuple[str, ...], secret: str, seconds: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RelayAccess(urls, Secret(secret), seconds)


def test_the_mode_decides_the_relay_browsers_get() -> None:
    secret = Secret("delad-hemlighet-för-coturn")
    assert relay_access_from_settings(Settings(turn="off"), secret) is None
    assert relay_access_from_settings(Settings(media=False), secret) is None
    external = Settings(
        turn="external", turn_urls=("turns:turn.region.example.se:443?transport=tcp",), turn_secret=secret
    )
    assert relay_access_from_settings(external) == RelayAccess(external.turn_urls, secret, 3600)
    embedded = Settings(
        janus_ice_interfaces="10.20.30.40", turn_port=3479, turn_tls_port=0, turn_credential_seconds=600
    )
    made = relay_access_from_settings(embedded, secret)
    assert made == RelayAccess(
        ("turn:10.20.30.40:3479?transport=udp", "turn:10.20.30.40:3479?transport=tcp"), secret, 600
    )
    with pytest.raises(ValueError, match="embedded relay's secret is needed"):
        relay_access_from_settings(embedded)


# --- the process --------------------------------------------------------------------------------


@SHARED
async def test_the_relay_listens_on_udp_tcp_and_tls_with_a_private_configuration(
    relay: EmbeddedRelay,
) -> None:
    settings = relay.settings
    address = media_address()
    conf = relay.config_path.read_text()
    secret = relay.secret.reveal()
    cmdline = Path(f"/proc/{relay.pid}/cmdline").read_bytes().decode(errors="replace")

    assert relay.healthy()
    assert relay.status() == {
        "mode": "embedded",
        "urls": [
            f"turn:{address}:{settings.turn_port}?transport=udp",
            f"turn:{address}:{settings.turn_port}?transport=tcp",
            f"turns:{address}:{settings.turn_tls_port}?transport=tcp",
        ],
        "up": True,
        "restarts": 0,
    }
    listening = (
        await asyncio.to_thread(subprocess.run, ["ss", "-H", "-lntu"], capture_output=True, text=True)
    ).stdout
    for proto, port in (
        ("udp", settings.turn_port),
        ("tcp", settings.turn_port),
        ("tcp", settings.turn_tls_port),
    ):
        assert any(
            line.split()[0] == proto and line.split()[4] == f"{address}:{port}"
            for line in listening.splitlines()
        ), (proto, port, listening)
    trusting = _trusting(relay.folder / "relay.crt")
    with (
        socket.create_connection((address, settings.turn_tls_port), timeout=5) as raw,
        trusting.wrap_socket(raw, server_hostname=address) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    assert f"static-auth-secret={secret}\n" in conf
    assert secret not in cmdline
    assert str(relay.config_path) in cmdline
    assert _mode(relay.folder) == 0o700
    for private in ("turnserver.conf", "secret", "relay.key"):
        assert _mode(relay.folder / private) == 0o600, private
    for line in (
        f"listening-ip={address}",
        f"relay-ip={address}",
        f"listening-port={settings.turn_port}",
        f"tls-listening-port={settings.turn_tls_port}",
        f"min-port={settings.turn_relay_ports[0]}",
        f"max-port={settings.turn_relay_ports[1]}",
        "use-auth-secret",
        "realm=vardmote",
        "no-cli",
        "no-tcp-relay",
        "no-multicast-peers",
        "user-quota=30",
        f"total-quota={settings.turn_relay_ports[1] - settings.turn_relay_ports[0] + 1}",
        f"userdb={relay.folder / 'turndb'}",
        f"allowed-peer-ip={address}",
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=127.0.0.0-127.255.255.255",
        "denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ):
        assert f"\n{line}\n" in conf, line
    assert "allow-loopback-peers" not in conf
    assert (relay.folder / "coturn.pid").read_text().strip() == str(relay.pid)


def test_the_self_signed_certificate_names_the_address_and_is_kept(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path, "192.0.2.10")
    made = x509.load_pem_x509_certificate(cert.read_bytes())
    names = made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert ensure_certificate(tmp_path, "192.0.2.10") == (cert, key)
    assert x509.load_pem_x509_certificate(cert.read_bytes()).serial_number == made.serial_number
    ensure_certificate(tmp_path, "192.0.2.11")
    assert x509.load_pem_x509_certificate(cert.read_bytes()).serial_number != made.serial_number


def test_no_tls_port_writes_no_tls_listener_and_a_loopback_peer_is_allowed_explicitly(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, turn_tls_port=0, turn_allowed_peers=("127.0.0.1", "192.0.2.7"))
    conf = write_config(settings, Secret("s" * 20), tmp_path, None).read_text().splitlines()
    assert "no-tls" in conf
    assert not [line for line in conf if line.startswith(("tls-listening-port", "cert=", "pkey="))]
    assert "allow-loopback-peers" in conf
    assert [line for line in conf if line.startswith("allowed-peer-ip")] == [
        "allowed-peer-ip=127.0.0.1",
        "allowed-peer-ip=192.0.2.7",
    ]
    denied = [line for line in conf if line.startswith("denied-peer-ip")]
    assert denied[:2] == [
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        "denied-peer-ip=::-" + ":".join(["ffff"] * 8),
    ]
    assert len(denied) == len(EVERY_PEER + DENIED_PEERS)
    assert "listening-ip=127.0.0.1" in conf  # no Janus ICE address and none given


@pytest.mark.parametrize(
    "changes",
    [
        {"turn_allowed_peers": ("10.1.2.3", "0.0.0.0")},
        {"turn_allowed_peers": ("::",)},
        {"turn_address": "0.0.0.0"},
    ],
    ids=["allowed-any-ipv4", "allowed-any-ipv6", "address-any"],
)
def test_an_unspecified_allowed_peer_is_never_written(tmp_path: Path, changes: dict[str, Any]) -> None:
    # Settings refuse these from the environment; made in code, write_config refuses them again:
    # coturn would read allowed-peer-ip=0.0.0.0 as every address there is.
    settings = dataclasses.replace(Settings(var_dir=tmp_path, turn_tls_port=0), **changes)
    with pytest.raises(EmbeddedRelayError, match="must name hosts"):
        write_config(settings, Secret("s" * 20), tmp_path, None)
    assert not (tmp_path / "turnserver.conf").exists()


def test_a_secret_coturn_would_cut_short_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "hemligt-värde#som-coturn-kapar"
    with pytest.raises(EmbeddedRelayError) as refused:
        write_config(Settings(var_dir=tmp_path, turn_tls_port=0), Secret(secret), tmp_path, None)
    assert str(refused.value) == (
        "a coturn setting may not hold line breaks, control characters or '#', "
        "got static-auth-secret=(not shown)"
    )
    assert "hemligt" not in str(refused.value)


async def _signalled_and_restarted(relay: EmbeddedRelay, signal_number: int) -> int:
    """_signalled_and_restarted sends signal_number to the relay's coturn, waits until another
    coturn runs and answers in its place, and returns the pid of the first."""
    first = relay.pid
    assert first is not None
    os.kill(first, signal_number)
    async with asyncio.timeout(15):
        while not (relay.healthy() and relay.restarts >= 1):
            await asyncio.sleep(0.05)
    assert relay.pid != first
    return first


async def test_a_killed_relay_is_restarted_and_allocates_again(tmp_path: Path) -> None:
    async with running_relay(tmp_path, backoff=(0.2,), probe_interval=0.5) as relay:
        await _signalled_and_restarted(relay, signal.SIGKILL)
        access = relay_access_from_settings(relay.settings, relay.secret)
        assert access is not None
        async with allocation(relay, "udp", *_credentials(access, int(time.time()) + 600)) as (turn, _):
            assert turn.get_extra_info("sockname")[0] == relay.address
    assert relay.pid is None
    assert not (relay.folder / "coturn.pid").exists()


async def test_a_relay_that_stops_answering_is_killed_and_restarted(tmp_path: Path) -> None:
    async with running_relay(tmp_path, backoff=(0.2,), probe_interval=0.3, probe_failures=2) as relay:
        first = await _signalled_and_restarted(relay, signal.SIGSTOP)
        assert not Path(f"/proc/{first}").exists()


async def test_a_coturn_left_running_by_a_crashed_vardmote_is_ended_at_start(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    first = EmbeddedRelay(settings)
    await first.start()
    leftover = first.pid
    assert leftover is not None
    if first._supervisor is not None:  # the crashed vardmote no longer watches it
        first._supervisor.cancel()
    second = EmbeddedRelay(settings)
    await second.start()
    try:
        assert second.pid != leftover
        assert (
            not Path(f"/proc/{leftover}/cmdline").exists()
            or not Path(f"/proc/{leftover}/cmdline").read_bytes()
        )
        assert second.healthy()
    finally:
        await second.stop()
        await first.stop()


async def test_failed_restarts_wait_longer_each_time_and_never_end_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A coturn that ran long enough dies, and every start after it fails before a process
    # exists (the program is gone: an OSError from the start itself). The pauses must grow
    # with each failed start, and the supervisor must keep trying.
    monkeypatch.setattr(supervision, "LONG_ENOUGH_SECONDS", 0.0)  # every run counts as long
    caplog.set_level(logging.ERROR, logger="vardmote.media.relay")
    async with running_relay(tmp_path, backoff=(0.05, 0.1, 3600.0), probe_interval=0.3) as relay:
        relay.settings = dataclasses.replace(relay.settings, turn_binary=str(tmp_path / "borttagen"))
        pid = relay.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(15):
            while not any("3600.0 s" in r.getMessage() for r in caplog.records):
                assert relay._supervisor is not None
                assert not relay._supervisor.done()
                await asyncio.sleep(0.05)
        messages = [r.getMessage() for r in caplog.records]
        assert messages[0].startswith(f"coturn (pid {pid}) ended with -9 after ")
        assert messages[0].endswith("restarting it in 0.1 s")
        assert [m.split("; ")[-1] for m in messages[1:]] == [
            "trying again in 0.1 s",
            "trying again in 3600.0 s",
        ]
        assert all("coturn could not be started: [Errno 2]" in m for m in messages[1:])
        assert relay._supervisor is not None
        assert not relay._supervisor.done()
        assert not relay.healthy()
    assert relay.pid is None


def _silent_coturn(tmp_path: Path) -> Path:
    """_silent_coturn is a program that runs like coturn (its arguments in its command line)
    but never answers."""
    program = tmp_path / "tyst-turnserver"
    program.write_text("#!/bin/sh\nwhile :; do sleep 1; done\n")
    program.chmod(0o755)
    return program


async def test_a_start_cancelled_while_waiting_for_coturn_leaves_no_coturn(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, turn_binary=str(_silent_coturn(tmp_path)))
    relay = EmbeddedRelay(settings, start_timeout=60)
    starting = asyncio.create_task(relay.start())
    pid_file = relay.folder / "coturn.pid"
    async with asyncio.timeout(10):
        while not pid_file.exists():
            await asyncio.sleep(0.02)
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}").exists()
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert not Path(f"/proc/{pid}").exists()
    assert relay.pid is None


@pytest.mark.parametrize(
    "limits",
    [{"log_rotate_bytes": 200}, {"log_rotate_bytes": 10**9, "log_keep_seconds": 1.0}],
    ids=["by-size", "by-age"],
)
async def test_the_log_is_rotated_while_coturn_runs(tmp_path: Path, limits: dict[str, Any]) -> None:
    folder = tmp_path / "var" / "coturn"
    log_path, previous = folder / "coturn.log", folder / "coturn.log.1"
    started = "Relay ports initialization done"
    async with running_relay(tmp_path, probe_interval=0.3, **limits) as relay:
        pid = relay.pid
        assert started in log_path.read_text()
        async with asyncio.timeout(20):
            while not previous.exists():
                await asyncio.sleep(0.05)
        assert started in previous.read_text()
        assert started not in log_path.read_text()
        # coturn goes on writing into the emptied coturn.log: a refused peer is logged there.
        access = relay_access_from_settings(relay.settings, relay.secret)
        assert access is not None
        async with allocation(relay, "udp", *_credentials(access, int(time.time()) + 600)) as (
            turn,
            _received,
        ):
            turn.sendto(b"till det interna", (PEER, 9))
            async with asyncio.timeout(10):
                while f"A peer IP {PEER} denied" not in log_path.read_text(errors="replace"):
                    await asyncio.sleep(0.05)
        assert relay.pid == pid
        assert relay.restarts == 0
        assert not log_path.read_bytes().startswith(b"\0")  # written from its start, not after a hole


async def test_a_coturn_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, turn_binary="false")
    with pytest.raises(EmbeddedRelayError, match="coturn exited with 1 while starting"):
        await EmbeddedRelay(settings).start()


async def test_a_missing_coturn_program_is_named(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, turn_binary="turnserver-finns-inte")
    with pytest.raises(EmbeddedRelayError, match="coturn's program 'turnserver-finns-inte' was not found"):
        await EmbeddedRelay(settings).start()


async def test_a_taken_port_is_named(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((settings.effective_turn_address, settings.turn_port))
        taken.listen()
        with pytest.raises(EmbeddedRelayError) as refused:
            await EmbeddedRelay(settings).start()
    assert str(refused.value) == (
        f"port {settings.turn_port} (UDP and TCP) or {settings.turn_tls_port} (TCP) on {media_address()} "
        "is taken (Debian's own coturn.service?); set VARDMOTE_TURN_PORT and VARDMOTE_TURN_TLS_PORT, "
        "or VARDMOTE_TURN=off or external"
    )


# --- credentials --------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@SHARED
async def test_an_allocation_with_relay_access_credentials_succeeds(
    relay: EmbeddedRelay, access: RelayAccess, transport: str
) -> None:
    low, high = relay.settings.turn_relay_ports
    async with allocation(relay, transport, *_credentials(access, int(time.time()) + 600)) as (turn, _):
        host, port = turn.get_extra_info("sockname")
    assert host == media_address()
    assert low <= port <= high


@pytest.mark.parametrize("transport", TRANSPORTS)
@SHARED
async def test_expired_credentials_are_refused(
    relay: EmbeddedRelay, access: RelayAccess, transport: str
) -> None:
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(relay, transport, *_credentials(access, int(time.time()) - 5)):
            pass
    assert refused.value.response.error_code == 401


@pytest.mark.parametrize("transport", TRANSPORTS)
@SHARED
async def test_the_probe_credentials_are_refused(
    relay: EmbeddedRelay, access: RelayAccess, transport: str
) -> None:
    (probe,) = access.probe_servers()
    assert probe["urls"] == list(access.urls)
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(relay, transport, probe["username"], probe["credential"]):
            pass
    assert refused.value.response.error_code == 401


@SHARED
async def test_credentials_made_with_another_secret_are_refused(
    relay: EmbeddedRelay, access: RelayAccess
) -> None:
    other = RelayAccess(access.urls, Secret("ett-annat-hemligt-värde"))
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(relay, "udp", *_credentials(other, int(time.time()) + 600)):
            pass
    assert refused.value.response.error_code == 401


# --- peers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@SHARED
async def test_the_relay_carries_data_both_ways_to_the_allowed_peer(
    relay: EmbeddedRelay, access: RelayAccess, peer_socket: socket.socket, transport: str
) -> None:
    peer = peer_socket.getsockname()
    async with allocation(relay, transport, *_credentials(access, int(time.time()) + 600)) as (
        turn,
        received,
    ):
        turn.sendto(b"hej janus", peer)
        data, relayed_from = await asyncio.to_thread(peer_socket.recvfrom, 100)
        assert data == b"hej janus"
        assert relayed_from == turn.get_extra_info("sockname")
        peer_socket.sendto("hej webbläsare".encode(), relayed_from)
        async with asyncio.timeout(5):
            back, sender = await received.queue.get()
    assert (back, sender) == ("hej webbläsare".encode(), peer)
    assert received.errors == []


async def _refused(turn: TurnTransport, received: Received, target: socket.socket, data: bytes) -> None:
    """_refused sends data through turn to target and checks that the relay refused it (403)
    and that nothing arrived."""
    turn.sendto(data, target.getsockname())
    async with asyncio.timeout(10):
        while not received.errors:
            await asyncio.sleep(0.05)
    (error,) = received.errors
    assert isinstance(error, stun.TransactionFailed)
    assert error.response.error_code == 403
    target.setblocking(False)
    with pytest.raises(BlockingIOError):
        target.recv(100)


async def _refused_through(relay: EmbeddedRelay, access: RelayAccess, address: str, data: bytes) -> None:
    """_refused_through sends data through a new UDP allocation on relay to a socket on address
    and checks that the relay refused it (403) and that nothing arrived."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as target:
        target.bind((address, 0))
        async with allocation(relay, "udp", *_credentials(access, int(time.time()) + 600)) as (
            turn,
            received,
        ):
            await _refused(turn, received, target, data)


@pytest.mark.parametrize("denied", [PEER, "127.0.0.1"], ids=["other-private-address", "loopback"])
@SHARED
async def test_the_relay_refuses_a_denied_private_peer(
    relay: EmbeddedRelay, access: RelayAccess, denied: str
) -> None:
    await _refused_through(relay, access, denied, b"till sjukhusets interna nat")


@pytest.fixture
def outside_address() -> Iterator[str]:
    """outside_address is an address in none of the denied ranges (TEST-NET-2), added to the test
    namespace's loopback for the test: it stands for a public address."""
    address = "198.51.100.7"
    subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
    try:
        yield address
    finally:
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


@SHARED
async def test_the_relay_refuses_a_public_address_that_is_not_an_allowed_peer(
    relay: EmbeddedRelay, access: RelayAccess, outside_address: str
) -> None:
    # Outside every private range: only the deny-all ranges refuse it. An allocation is not a
    # free relay to the internet.
    await _refused_through(relay, access, outside_address, b"till en publik adress")


async def test_a_public_address_that_is_an_allowed_peer_is_reached(
    tmp_path: Path, outside_address: str
) -> None:
    # The deny-all ranges do not beat an allowed peer (a Janus node on a public address), and
    # the namespace's own address, now not allowed, is refused.
    settings = relay_settings(tmp_path, turn_allowed_peers=(outside_address,))
    async with running_relay(tmp_path, settings=settings) as relay:
        access = relay_access_from_settings(relay.settings, relay.secret)
        assert access is not None
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as public,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as janus,
        ):
            public.bind((outside_address, 0))
            public.settimeout(5)
            janus.bind((media_address(), 0))
            credentials = _credentials(access, int(time.time()) + 600)
            async with allocation(relay, "udp", *credentials) as (turn, received):
                turn.sendto(b"till janus publika adress", public.getsockname())
                assert (await asyncio.to_thread(public.recvfrom, 100))[0] == b"till janus publika adress"
                await _refused(turn, received, janus, "till en adress som inte är tillåten".encode())


# --- Janus's network settings ---------------------------------------------------------------------


async def _janus_answer(janus: EmbeddedJanus) -> str:
    """_janus_answer is the EchoTest's answer to a data-channel offer from aiortc: Janus's candidates."""
    pc = RTCPeerConnection(NO_ICE_SERVERS)
    pc.createDataChannel("test")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        async with connected(janus) as client:
            session = await client.create_session()
            handle = await session.attach("janus.plugin.echotest")
            offer: Jsep = {"type": "offer", "sdp": pc.localDescription.sdp}
            answer = await handle.message({"audio": False, "video": False, "data": True}, offer, timeout=10)
            await session.destroy()
        assert answer.jsep is not None
        return answer.jsep["sdp"]
    finally:
        await pc.close()


def _candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_janus_offers_its_public_address_and_ice_over_tcp_when_configured(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        janus_settings(tmp_path), janus_nat_1_1=("203.0.113.5",), janus_ice_tcp=True
    )
    janus = EmbeddedJanus(settings)
    await janus.start()
    try:
        async with connected(janus) as client:
            info = await client.info()
        sdp = await _janus_answer(janus)
    finally:
        await janus.stop()
    assert (info["public-ip"], info["ice-lite"], info["ice-tcp"]) == ("203.0.113.5", True, True)
    assert "janus.plugin.echotest" in info["plugins"]
    candidates = _candidates(sdp)
    assert any(" 203.0.113.5 " in c and " udp " in c.lower() for c in candidates), candidates
    assert any(f" {media_address()} " in c for c in candidates), candidates  # keep_private_host
    assert any(" tcp " in c.lower() and "tcptype passive" in c for c in candidates), candidates
    assert "a=ice-lite" in sdp


async def test_janus_offers_only_its_own_address_over_udp_by_default(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus:
        async with connected(janus) as client:
            info = await client.info()
        sdp = await _janus_answer(janus)
    assert (info["ice-lite"], info["ice-tcp"]) == (False, False)
    candidates = _candidates(sdp)
    assert candidates
    assert all(f" {media_address()} " in c and " udp " in c.lower() for c in candidates), candidates
    assert "a=ice-lite" not in sdp


# --- deploy/coturn.conf ---------------------------------------------------------------------------

EXAMPLE_CONF = Path(__file__).resolve().parents[2] / "deploy" / "coturn.conf"


def _region_conf(tmp_path: Path, settings: Settings, secret: str) -> Path:
    """_region_conf is deploy/coturn.conf with only its addresses, ports, secret and paths
    changed to ones of the test namespace."""
    address = settings.effective_turn_address
    cert, key = ensure_certificate(tmp_path, address)
    low, high = settings.turn_relay_ports
    changed = {
        "listening-ip": address,
        "relay-ip": address,
        "listening-port": str(settings.turn_port),
        "tls-listening-port": str(settings.turn_tls_port),
        "min-port": str(low),
        "max-port": str(high),
        "static-auth-secret": secret,
        "cert": str(cert),
        "pkey": str(key),
        "userdb": str(tmp_path / "turndb"),
        "pidfile": str(tmp_path / "turnserver.pid"),
        "log-file": str(tmp_path / "turnserver.log"),
    }
    lines: list[str] = []
    allowed_written = False
    for line in EXAMPLE_CONF.read_text().splitlines():
        name, _, _ = line.partition("=")
        if name == "external-ip":
            continue
        if name == "allowed-peer-ip":
            if not allowed_written:
                lines.append(f"allowed-peer-ip={address}")
                allowed_written = True
            continue
        lines.append(f"{name}={changed[name]}" if name in changed else line)
    conf = tmp_path / "turnserver.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def test_the_example_denies_the_same_ranges_as_the_embedded_relay(tmp_path: Path) -> None:
    def denied(conf: str) -> list[str]:
        return [line for line in conf.splitlines() if line.startswith("denied-peer-ip=")]

    written = write_config(Settings(), Secret("s" * 20), tmp_path, None).read_text()
    assert denied(EXAMPLE_CONF.read_text()) == denied(written)
    assert len(denied(written)) == len(EVERY_PEER + DENIED_PEERS)
    assert denied(written)[:2] == [
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    assert "total-quota=840" in EXAMPLE_CONF.read_text().splitlines()  # 49160-49999


async def test_the_example_configuration_runs_and_relays_only_to_the_janus_nodes(
    tmp_path: Path, outside_address: str
) -> None:
    settings = relay_settings(tmp_path)
    secret = "en-lång-slumpad-hemlighet-för-regionen"
    conf = _region_conf(tmp_path, settings, secret)
    process = await asyncio.create_subprocess_exec(
        "turnserver", "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        relay = EmbeddedRelay(settings)  # not started: its address, ports and folder for allocation()
        relay.folder = tmp_path
        relay.urls = ()
        async with asyncio.timeout(10):
            while not await asyncio.to_thread(relay._answers, 0.5):
                assert process.returncode is None, (tmp_path / "turnserver.log").read_text()
        access = RelayAccess(
            embedded_urls(relay.address, settings.turn_port, settings.turn_tls_port), Secret(secret)
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as janus:
            janus.bind((media_address(), 0))
            janus.settimeout(5)
            for transport in ("udp", "tls"):
                credentials = _credentials(access, int(time.time()) + 600)
                async with allocation(relay, transport, *credentials) as (turn, received):
                    turn.sendto(b"till janus", janus.getsockname())
                    assert (await asyncio.to_thread(janus.recvfrom, 100))[0] == b"till janus"
                    turn.sendto(b"till det interna", (PEER, 9))
                    async with asyncio.timeout(10):
                        while not received.errors:
                            await asyncio.sleep(0.05)
                (error,) = received.errors
                assert isinstance(error, stun.TransactionFailed)
                assert error.response.error_code == 403
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as public:
                public.bind((outside_address, 0))
                credentials = _credentials(access, int(time.time()) + 600)
                async with allocation(relay, "udp", *credentials) as (turn, received):
                    await _refused(turn, received, public, b"till en publik adress")
    finally:
        process.terminate()
        await process.wait()


# --- vardmote serve -------------------------------------------------------------------------------


def test_vardmote_serve_runs_the_relay_and_reports_it_in_healthz(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    env = {
        "VARDMOTE_TURN": "embedded",
        "VARDMOTE_TURN_PORT": str(settings.turn_port),
        "VARDMOTE_TURN_TLS_PORT": str(settings.turn_tls_port),
        "VARDMOTE_TURN_RELAY_PORTS": "{}-{}".format(*settings.turn_relay_ports),
    }
    with serve(tmp_path / "var", media=True, env=env) as server:
        health = server.health()
        assert health is not None
        relay = health["relay"]
        assert relay["mode"] == "embedded"
        assert relay["up"] is True
        assert relay["urls"][0] == f"turn:{media_address()}:{settings.turn_port}?transport=udp"
        pid = int((server.var_dir / "coturn" / "coturn.pid").read_text())
        assert b"turnserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
        server.stop()
    assert not Path(f"/proc/{pid}").exists()


def _serve_env(tmp_path: Path, settings: Settings, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    environment.update(
        VARDMOTE_VAR_DIR=str(tmp_path / "var"),
        VARDMOTE_PORT=str(free_tcp_port()),
        VARDMOTE_JANUS_WS_PORT=str(free_tcp_port()),
        VARDMOTE_JANUS_RTP_PORTS="{}-{}".format(*free_rtp_range()),
        VARDMOTE_JANUS_ICE_INTERFACES=media_address(),
        VARDMOTE_TURN_PORT=str(settings.turn_port),
        VARDMOTE_TURN_TLS_PORT=str(settings.turn_tls_port),
        VARDMOTE_TURN_RELAY_PORTS="{}-{}".format(*settings.turn_relay_ports),
    )
    environment.update(extra)
    return environment


def _vardmote_serve(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).parent / "vardmote")
    return subprocess.run([command, "serve"], env=environment, capture_output=True, text=True, timeout=60)


def test_a_bad_relay_setting_stops_vardmote_serve_naming_it(tmp_path: Path) -> None:
    environment = _serve_env(tmp_path, relay_settings(tmp_path), VARDMOTE_TURN="external")
    done = _vardmote_serve(environment)
    assert done.returncode == 2
    assert done.stderr == (
        "Fel i inställningarna: VARDMOTE_TURN=external needs VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET\n"
    )


def test_a_relay_that_cannot_start_stops_vardmote_serve_and_leaves_no_janus_behind(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((media_address(), settings.turn_port))
        done = _vardmote_serve(_serve_env(tmp_path, settings))
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"port {settings.turn_port} (UDP and TCP)" in output
    pid_file = tmp_path / "var" / "janus" / "janus.pid"  # removed when Janus is stopped
    assert not pid_file.exists() or not Path(f"/proc/{pid_file.read_text().strip()}").exists()
    assert "started Janus" in output  # it had started, and was stopped again


def test_a_start_that_fails_after_the_relay_leaves_no_coturn_or_janus_behind(tmp_path: Path) -> None:
    # Redis is the next thing started after the relay; nothing listens where it is said to be.
    settings = relay_settings(tmp_path)
    environment = _serve_env(
        tmp_path,
        settings,
        VARDMOTE_REDIS_URL=f"redis://127.0.0.1:{free_tcp_port()}/0",
        VARDMOTE_SECRET_KEY="en-delad-nyckel-for-alla-processer",
    )
    done = _vardmote_serve(environment)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "started Janus" in output
    assert "started coturn" in output
    for pid_file in (tmp_path / "var" / "janus" / "janus.pid", tmp_path / "var" / "coturn" / "coturn.pid"):
        assert not pid_file.exists() or not Path(f"/proc/{pid_file.read_text().strip()}").exists(), pid_file
    assert _coturns_of(tmp_path) == []


def _coturns_of(folder: Path) -> list[int]:
    """_coturns_of are the pids of the coturn processes whose command line names a file in folder."""
    found: list[int] = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = path.read_bytes()
        except OSError:  # ended meanwhile
            continue
        if b"turnserver" in cmdline and str(folder).encode() in cmdline:
            found.append(int(path.parent.name))
    return found
