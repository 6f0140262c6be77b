"""deploy/haproxy-443.cfg with Debian's HAProxy and coturn: the web and TURN over TLS on one port.

HAProxy runs with deploy/haproxy.cfg and deploy/haproxy-443.cfg, as in
production (``haproxy -f … -f …``), listening on the test namespace's veth
address; behind it a stand-in web backend (tests/test_deploy_haproxy.py's)
and a real coturn with a TLS listener. A client on the veth pair's other
address (netns.PEER) connects as a browser would:

- TLS with the relay's name (SNI) reaches coturn itself: its own certificate
  comes back (HAProxy decrypts nothing) and it answers a STUN Binding request;
- TLS with any other name, or with none, reaches the web through the HTTPS
  frontend: HAProxy's certificate, the browser's own address in
  X-Forwarded-For (carried over the inner hop by the PROXY protocol) and
  ``https`` in X-Forwarded-Proto; /metrics refused as in deploy/haproxy.cfg;
- what is not TLS is dropped;
- the log names the server name asked for and never a path.

:func:`running_haproxy_443` is also what tests/e2e/test_networks.py runs
between the patient's Chromium and ``vardmote serve``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firewall import free_port_pair, free_udp_ports
from machine import free_tcp_port
from netns import ADDRESS, PEER
from test_deploy_haproxy import _backends

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CONFIGS = [DEPLOY / "haproxy.cfg", DEPLOY / "haproxy-443.cfg"]
WEB_NAME = "vardmote.test"
TURN_NAME = "turn.vardmote.test"
STARTUP_TIMEOUT = 10.0
STUN_MAGIC = 0x2112A442


@dataclass
class Haproxy443:
    """Haproxy443 is HAProxy with deploy/haproxy.cfg and deploy/haproxy-443.cfg."""

    address: str
    port: int
    log: Path
    web_pem: Path
    """The web name's certificate and key, as HAProxy presents it."""
    process: subprocess.Popen[bytes]


def self_signed(folder: Path, name: str, *, ip: str | None = None) -> tuple[Path, Path]:
    """self_signed writes a self-signed certificate (EC P-256, two days) for the DNS name (and
    ip, if given) and its key into folder; returns (certificate, key)."""
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    names = f"DNS:{name}" + (f",IP:{ip}" if ip else "")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={names}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _listening(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((address, port)) == 0


@contextmanager
def running_haproxy_443(
    folder: Path, *, address: str, port: int, backend: str, turn_tls: str, turn_name: str = TURN_NAME
) -> Iterator[Haproxy443]:
    """running_haproxy_443 runs HAProxy with the production files until the block ends: the
    shared port on address:port, a self-signed certificate for WEB_NAME made here, TLS for
    turn_name to turn_tls (host:port), the rest to backend (host:port, plain HTTP)."""
    cert, key = self_signed(folder, WEB_NAME)
    pem = folder / f"{WEB_NAME}.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    env.update(
        VARDMOTE_HAPROXY_BIND=f"127.0.0.1:{free_tcp_port()}",
        VARDMOTE_BACKEND_1=backend,
        VARDMOTE_HAPROXY_443_BIND=f"{address}:{port}",
        VARDMOTE_HAPROXY_CERT=str(pem),
        VARDMOTE_TURN_HOST=turn_name,
        VARDMOTE_TURN_TLS_BACKEND=turn_tls,
    )
    log = folder / "haproxy-443.log"
    command = ["haproxy", *(a for c in CONFIGS for a in ("-f", str(c))), "-db"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _listening(address, port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"HAProxy did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Haproxy443(address, port, log, pem, process)
    finally:
        process.terminate()
        process.wait(timeout=5)


# ---- a coturn with a TLS listener ----------------------------------------------------------------

COTURN_CONF = """\
listening-ip={address}
relay-ip={address}
listening-port={port}
tls-listening-port={tls_port}
min-port={low}
max-port={high}
use-auth-secret
static-auth-secret={secret}
realm=vardmote
cert={cert}
pkey={key}
pidfile={folder}/turnserver.pid
userdb={folder}/turndb
log-file=stdout
simple-log
no-cli
no-dtls
no-multicast-peers
fingerprint
"""


@dataclass
class Coturn:
    address: str
    tls_port: int
    cert: Path


@contextmanager
def running_coturn(folder: Path, address: str) -> Iterator[Coturn]:
    """running_coturn runs Debian's turnserver with a TLS listener on address until the block
    ends (a minimal configuration: this module tests HAProxy, tests/media/test_relay.py coturn)."""
    cert, key = self_signed(folder, TURN_NAME, ip=address)
    port, tls_port = free_port_pair(), free_tcp_port()
    low, high = free_udp_ports(100)
    conf = folder / "turnserver.conf"
    conf.write_text(
        COTURN_CONF.format(
            address=address,
            port=port,
            tls_port=tls_port,
            low=low,
            high=high,
            secret=secrets.token_urlsafe(24),
            cert=cert,
            key=key,
            folder=folder,
        )
    )
    conf.chmod(0o600)
    log = folder / "coturn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _listening(address, tls_port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"coturn did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Coturn(address, tls_port, cert)
    finally:
        process.terminate()
        process.wait(timeout=5)


# ---- the client ----------------------------------------------------------------------------------


def _client_context() -> ssl.SSLContext:
    """_client_context: TLS that checks nothing (the certificates here are self-signed; the
    tests compare the certificate that comes back instead)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@contextmanager
def _tls(proxy: Haproxy443, server_name: str | None) -> Iterator[ssl.SSLSocket]:
    """_tls connects from the veth pair's other address (a browser's) and starts TLS with
    server_name as SNI (None: no SNI, as for an IP address)."""
    raw = socket.create_connection((proxy.address, proxy.port), timeout=5, source_address=(PEER, 0))
    with _client_context().wrap_socket(raw, server_hostname=server_name) as tls:
        yield tls


def _pem_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(
        path.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )


def _stun_binding(tls: ssl.SSLSocket) -> int:
    """_stun_binding sends a STUN Binding request and returns the answer's message type
    (0x0101: a success response) after checking its transaction id."""
    transaction = secrets.token_bytes(12)
    tls.sendall(struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + transaction)
    header = b""
    while len(header) < 20:
        chunk = tls.recv(20 - len(header))
        if not chunk:
            raise ConnectionError("the relay closed the connection")
        header += chunk
    kind, _, magic = struct.unpack("!HHI", header[:8])
    assert magic == STUN_MAGIC, header
    assert header[8:20] == transaction, header
    return int(kind)


def _https_get(proxy: Haproxy443, path: str, server_name: str | None = WEB_NAME) -> tuple[int, Any]:
    """_https_get sends GET path over TLS with server_name and returns the status and the body
    (JSON where it is JSON)."""
    with _tls(proxy, server_name) as tls:
        request = f"GET {path} HTTP/1.1\r\nHost: {WEB_NAME}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        body = response.read()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body


@dataclass
class Layout:
    """Layout is HAProxy in front of the web and coturn."""

    proxy: Haproxy443
    coturn: Coturn


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    """layout is HAProxy on the veth address in front of a stand-in web and a real coturn."""
    with (
        _backends("web") as (web,),
        running_coturn(tmp_path, "127.0.0.1") as coturn,
        running_haproxy_443(
            tmp_path,
            address=ADDRESS,
            port=free_tcp_port(),
            backend=web.address,
            turn_tls=f"{coturn.address}:{coturn.tls_port}",
        ) as proxy,
    ):
        yield Layout(proxy, coturn)


def test_tls_for_the_relays_name_reaches_coturn_untouched(layout: Layout) -> None:
    with _tls(layout.proxy, TURN_NAME) as tls:
        assert tls.getpeercert(binary_form=True) == _pem_der(layout.coturn.cert)  # coturn's own
        assert _stun_binding(tls) == 0x0101
    # The name is matched whatever its case, as DNS names are.
    with _tls(layout.proxy, TURN_NAME.upper()) as tls:
        assert _stun_binding(tls) == 0x0101


@pytest.mark.parametrize(
    "server_name",
    [
        pytest.param(WEB_NAME, id="the-web-name"),
        pytest.param(None, id="no-name"),
        pytest.param("x.test", id="other"),
    ],
)
def test_tls_for_any_other_name_reaches_the_web_with_the_browsers_address(
    layout: Layout, server_name: str | None
) -> None:
    with _tls(layout.proxy, server_name) as tls:
        assert tls.getpeercert(binary_form=True) == _pem_der(layout.proxy.web_pem)  # HAProxy's
    status, body = _https_get(layout.proxy, "/", server_name)
    assert status == 200, body
    assert body["name"] == "web"
    assert body["headers"]["x-forwarded-for"] == PEER  # the browser, not HAProxy's inner hop
    assert body["headers"]["x-forwarded-proto"] == "https"


def test_metrics_are_refused_through_port_443_too(layout: Layout) -> None:
    for path in ("/metrics", "/%6detrics", "/metrics/x"):
        status, _ = _https_get(layout.proxy, path)
        assert status == 403, path


def test_what_is_not_tls_is_dropped(layout: Layout) -> None:
    proxy = layout.proxy
    with socket.create_connection((proxy.address, proxy.port), timeout=5, source_address=(PEER, 0)) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: vardmote.test\r\n\r\n")
        assert raw.recv(1024) == b""  # closed without an answer


def test_the_log_names_the_server_name_and_never_a_path(layout: Layout) -> None:
    proxy = layout.proxy
    _https_get(proxy, "/m/hemlig-gastlank-123?x=kalender-456")
    with _tls(proxy, TURN_NAME) as tls:
        _stun_binding(tls)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = proxy.log.read_text()
        if "coturn_tls/coturn" in log and "vardmote_https_hop/https" in log:
            break
        time.sleep(0.05)
    log = proxy.log.read_text()
    assert re.search(rf"vardmote_443 coturn_tls/coturn .* {re.escape(TURN_NAME)}$", log, re.MULTILINE), log
    assert re.search(
        rf"vardmote_443 vardmote_https_hop/https .* {re.escape(WEB_NAME)}$", log, re.MULTILINE
    ), log
    for secret in ("hemlig", "kalender", "/m/"):
        assert secret not in log
