"""Relay: the coturn that vardmote starts and watches (VARDMOTE_TURN=embedded).

Browsers whose network lets no UDP through to Janus, or only TCP or TLS to a
few ports, reach Janus through a TURN relay. :func:`write_config` writes a
configuration for coturn 4.6 (Debian's package ``coturn``) under
``<var_dir>/coturn/`` (a folder only its owner may enter)::

    secret             the static-auth-secret, made once, mode 0600, reused
    relay.crt          a self-signed certificate (EC P-256) for the TLS listener,
    relay.key          with the relay's address as IP SAN; made when none is given
    turnserver.conf    written at every start, mode 0600 (it holds the secret)
    turndb             coturn's SQLite user database (empty: no users, only the secret)
    coturn.log         coturn's output; coturn.log.1 the one before (see "Its log" below)
    coturn.pid         the running coturn, to end one left behind by a crash

Security choices:

- credentials are TURN REST credentials (``use-auth-secret``): made by
  vardmote for each admitted participant, valid until the meeting's end
  (:mod:`vardmote.media.relay_access`); nobody else gets one;
- the relay sends only to the allowed peers (Settings.effective_turn_allowed_peers:
  the Janus nodes, always known here). Every other address is denied, IPv4 and
  IPv6 (EVERY_PEER), so that a credential can be used neither to reach the
  hospital's internal network nor as a free relay to the rest of the
  internet; the private, loopback, link-local, shared (CGNAT), reserved and
  IPv4-mapped ranges are listed after it as well (DENIED_PEERS), so that
  coturn's log names the range a refused peer was in. coturn checks
  ``allowed-peer-ip`` before ``denied-peer-ip`` (``good_peer_addr`` in its
  ``ns_turn_server.c``), and loopback peers only with ``allow-loopback-peers``,
  which is written only when an allowed peer is a loopback address. An
  unspecified allowed peer (0.0.0.0, ::) would allow every address: settings
  refuse it and write_config refuses it again;
- relayed allocations are UDP only (``no-tcp-relay``): Janus takes media over UDP;
- no CLI, no web admin, no DTLS listener, no software version in answers;
- the secret is read by coturn from its configuration file, never from its
  command line, so ``ps`` does not show it.

:class:`EmbeddedRelay` starts the process, waits until it answers a STUN
Binding request on its UDP port and accepts TCP (and TLS) connections,
restarts it when it dies or stops answering (after a short, growing pause),
and reports its health for ``/healthz`` (the supervision it shares with the
embedded Janus is :mod:`vardmote.media.supervision`). Allocations do not survive a
restart: browsers relayed through it lose their path and make it again with
an ICE restart.

Its log: coturn writes lines with the addresses of clients and of refused peers,
and the credentials' usernames (never a name). coturn.log is rotated while
coturn runs (copied to coturn.log.1, which it replaces, and emptied) once it
passes LOG_ROTATE_BYTES or LOG_KEEP_SECONDS: client addresses are kept for at
most twice that time (two days), in at most twice that size. A line written
during the copy itself may be lost.

Concurrency: an EmbeddedRelay belongs to one event loop. start() and stop()
are not to be called concurrently with each other; healthy() and status() may
be called at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import struct
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vardmote.media.relay_access import embedded_urls
from vardmote.media.supervision import Supervised, ports_free
from vardmote.settings import Secret, Settings

log = logging.getLogger("vardmote.media.relay")

REALM = "vardmote"
LOG_ROTATE_BYTES = 10_000_000
"""coturn.log is rotated once it is larger than this."""
LOG_KEEP_SECONDS = 24 * 3600.0
"""coturn.log is rotated once it was begun this long ago: client addresses are kept for at most
twice this (coturn.log and coturn.log.1)."""
CERTIFICATE_DAYS = 365
RENEW_DAYS = 30
"""A self-signed certificate this close to its end is made anew at the next start."""
USER_QUOTA = 30
"""Allocations at once per username: a participant's three PeerConnections on three transports,
and those of ICE restarts still alive, with room to spare."""

EVERY_PEER: tuple[str, ...] = ("0.0.0.0/0", "::/0")
"""Written first as denied peers: every address but the allowed peers.

coturn 4.6.1's ``ioa_addr_in_range`` lets a range that starts at the unspecified address match
any address by its start, and compares the end only: ``0.0.0.0-255.255.255.255`` then matches
every IPv4 address and no IPv6 one (an IPv6 address is never "less or equal" to an IPv4 one),
and ``::-ffff:…:ffff`` every IPv6 address and, through the same family rule, every IPv4 one.
Denied, both are what is meant; as an allowed peer such a range would open the relay to all,
which is why write_config refuses an unspecified allowed peer."""

DENIED_PEERS: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "240.0.0.0/4",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "fc00::/7",
    "fe80::/10",
)
"""Networks listed after EVERY_PEER (which already denies them), so that coturn's log names the
range of a refused internal address (it checks the list from its end): private, shared (CGNAT),
loopback, link-local, reserved, IPv4-mapped and NAT64 addresses (multicast is refused by
``no-multicast-peers``, the unspecified addresses by coturn itself).

coturn 4.6 reads a range whose ends are both ``::`` (or ``0.0.0.0``) as "every address of
every family" (``ioa_addr_in_range``), so ``::/128`` is not in this list. Its IPv6 comparison
is byte by byte, which is right only for ranges made from a prefix, as these all are."""


class EmbeddedRelayError(RuntimeError):
    """EmbeddedRelayError: the embedded coturn cannot be configured or started; says why."""


def _write_private(path: Path, data: bytes) -> None:
    """_write_private replaces path with data, readable by its owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_or_make_secret(folder: Path) -> Secret:
    """load_or_make_secret reads folder/secret, or makes it (mode 0600) on first use.

    It stays the same across restarts, so that credentials given before a
    restart of vardmote or of coturn keep working.
    """
    path = folder / "secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
    if path.stat().st_mode & 0o077:
        log.warning("%s could be read by others; made it private (0600)", path)
        path.chmod(0o600)
    value = path.read_text().strip()
    if len(value) < 16:
        raise EmbeddedRelayError(f"{path} holds no secret of vardmote's relay; remove it")
    return Secret(value)


def _certificate_fits(cert_path: Path, address: str) -> bool:
    """_certificate_fits tells whether cert_path is a certificate for address (IP SAN) that is
    valid for at least RENEW_DAYS more days."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    renew_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=RENEW_DAYS)
    return ipaddress.ip_address(address) in names.get_values_for_type(x509.IPAddress) and (
        cert.not_valid_after_utc > renew_at
    )


def ensure_certificate(folder: Path, address: str) -> tuple[Path, Path]:
    """ensure_certificate returns folder's self-signed certificate and key for address, made anew
    (EC P-256, a year) when missing, for another address, or close to its end.

    It serves clients that do not check the relay's certificate. Browsers that
    do refuse a self-signed one: in production the region gives a certificate
    for the relay's DNS name with VARDMOTE_TURN_TLS_CERT and _KEY (and that name
    in VARDMOTE_TURN_URLS).
    """
    cert_path, key_path = folder / "relay.crt", folder / "relay.key"
    if key_path.exists() and _certificate_fits(cert_path, address):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"vardmote relay {address}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    log.info("made a self-signed certificate for the relay's TLS listener on %s", address)
    return cert_path, key_path


def _range(network: str) -> str:
    """_range writes a network as coturn's ``first-last`` range (coturn 4.6.1 takes no CIDR)."""
    net = ipaddress.ip_network(network)
    if net.num_addresses == 1:
        return str(net.network_address)
    return f"{net.network_address}-{net.broadcast_address}"


def _value(name: str, value: str, *, secret: bool = False) -> str:
    """_value is one ``name=value`` line; a value with a line break, a control character or ``#``
    is refused, echoed in the error unless it is a secret."""
    if "#" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        shown = "(not shown)" if secret else repr(value)
        raise EmbeddedRelayError(
            f"a coturn setting may not hold line breaks, control characters or '#', got {name}={shown}"
        )
    return f"{name}={value}"


def write_config(settings: Settings, secret: Secret, folder: Path, tls: tuple[Path, Path] | None) -> Path:
    """write_config writes folder/turnserver.conf (mode 0600) and returns its path.

    tls is the certificate and key of the TLS listener; None when
    Settings.turn_tls_port is 0. Written afresh at every start, so that changed
    settings take effect.
    """
    address = settings.effective_turn_address
    low, high = settings.turn_relay_ports
    allowed = settings.effective_turn_allowed_peers
    for peer in (address, *allowed):
        if ipaddress.ip_address(peer).is_unspecified:
            # coturn would read allowed-peer-ip=0.0.0.0 as every address there is.
            raise EmbeddedRelayError(
                f"the embedded relay's address and allowed peers must name hosts, got {peer} "
                "(set VARDMOTE_TURN_ADDRESS and VARDMOTE_TURN_ALLOWED_PEERS)"
            )
    lines = [
        "# Written by vardmote at every start of its embedded coturn; edits are lost.",
        _value("listening-ip", address),
        _value("relay-ip", address),
        _value("listening-port", str(settings.turn_port)),
        _value("min-port", str(low)),
        _value("max-port", str(high)),
        "use-auth-secret",
        _value("static-auth-secret", secret.reveal(), secret=True),
        _value("realm", REALM),
        _value("server-name", REALM),
        "fingerprint",
        "no-cli",
        "no-dtls",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "no-software-attribute",
        "no-tcp-relay",
        "no-multicast-peers",
        "stale-nonce=600",
        _value("user-quota", str(USER_QUOTA)),
        _value("total-quota", str(high - low + 1)),  # each allocation takes one relay port
        _value("userdb", str(folder / "turndb")),
        _value("pidfile", str(folder / "coturn.pid")),
        "log-file=stdout",
        "simple-log",
    ]
    if tls is None:
        lines.append("no-tls")
    else:
        lines += [
            _value("tls-listening-port", str(settings.turn_tls_port)),
            _value("cert", str(tls[0])),
            _value("pkey", str(tls[1])),
            "no-tlsv1",
            "no-tlsv1_1",
        ]
    if any(ipaddress.ip_address(peer).is_loopback for peer in allowed):
        lines.append("allow-loopback-peers")
    lines += [_value("allowed-peer-ip", peer) for peer in allowed]
    lines += [_value("denied-peer-ip", _range(network)) for network in EVERY_PEER + DENIED_PEERS]
    path = folder / "turnserver.conf"
    _write_private(path, ("\n".join(lines) + "\n").encode())
    return path


BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
MAGIC_COOKIE = 0x2112A442


def _stun_answers(address: str, port: int, timeout: float) -> bool:
    """_stun_answers sends one STUN Binding request over UDP (RFC 8489) and tells whether a
    success answer with the same transaction id came back within timeout seconds."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", BINDING_REQUEST, 0, MAGIC_COOKIE) + transaction
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (address, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = sock.recv(2048)
                if (
                    len(data) >= 20
                    and struct.unpack("!H", data[:2])[0] == BINDING_SUCCESS
                    and data[8:20] == transaction
                ):
                    return True
        except OSError:
            return False
    return False


def _accepts(address: str, port: int, timeout: float) -> bool:
    """_accepts tells whether a TCP connection to address:port can be made."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedRelay(Supervised):
    """EmbeddedRelay runs one coturn process for this vardmote and keeps it running."""

    name = "coturn"
    noun = "relay"
    stem = "coturn"
    error = EmbeddedRelayError
    logger = log

    def __init__(
        self,
        settings: Settings,
        *,
        start_timeout: float = 10.0,
        probe_interval: float = 5.0,
        probe_failures: int = 3,
        backoff: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0),
        log_rotate_bytes: int = LOG_ROTATE_BYTES,
        log_keep_seconds: float = LOG_KEEP_SECONDS,
    ) -> None:
        super().__init__(
            (settings.var_dir / "coturn").resolve(),
            start_timeout=start_timeout,
            probe_interval=probe_interval,
            probe_failures=probe_failures,
            backoff=backoff,
        )
        if log_rotate_bytes < 1 or log_keep_seconds <= 0:
            raise ValueError(
                "EmbeddedRelay needs log_rotate_bytes >= 1 and log_keep_seconds > 0, "
                f"got {log_rotate_bytes}, {log_keep_seconds}"
            )
        self.settings = settings
        self.address = settings.effective_turn_address
        self.urls = settings.turn_urls or embedded_urls(
            self.address, settings.turn_port, settings.turn_tls_port
        )
        self._log_rotate_bytes = log_rotate_bytes
        self._log_keep_seconds = log_keep_seconds
        self._log_begun = time.monotonic()
        self._secret: Secret | None = None

    @property
    def config_path(self) -> Path:
        """config_path is coturn's configuration file (mode 0600: it holds the secret)."""
        return self.folder / "turnserver.conf"

    @property
    def secret(self) -> Secret:
        """secret is coturn's static-auth-secret: VARDMOTE_TURN_SECRET, else the one made in
        the folder; known once started."""
        if self._secret is None:
            raise EmbeddedRelayError("the embedded relay has not been started")
        return self._secret

    def status(self) -> dict[str, object]:
        """status is the embedded relay's part of /healthz."""
        return {"mode": "embedded", "urls": list(self.urls), "up": self.healthy(), "restarts": self.restarts}

    async def _before_start(self) -> None:
        """_before_start finds coturn's program, warns of an address or peers no one can use,
        and takes (or makes) the secret."""
        if shutil.which(self.settings.turn_binary) is None:
            raise EmbeddedRelayError(
                f"coturn's program {self.settings.turn_binary!r} was not found; install Debian's "
                "package coturn (scripts/install-system-packages), set VARDMOTE_TURN_BINARY, or set "
                "VARDMOTE_TURN=off (no relay) or external"
            )
        if self.address == "127.0.0.1" and not self.settings.turn_address:
            log.warning(
                "the embedded relay listens on 127.0.0.1, which no browser on another machine reaches: "
                "set VARDMOTE_TURN_ADDRESS (or an IPv4 address in VARDMOTE_JANUS_ICE_INTERFACES)"
            )
        if self.settings.janus_nodes and not self.settings.turn_allowed_peers:
            log.warning(
                "the embedded relay sends to no address but its own: set "
                "VARDMOTE_TURN_ALLOWED_PEERS to the ICE addresses of the Janus nodes in VARDMOTE_JANUS_URLS"
            )
        configured = self.settings.turn_secret
        self._secret = (
            configured if configured.reveal() else await asyncio.to_thread(load_or_make_secret, self.folder)
        )

    @property
    def _mark(self) -> Path:
        return self.config_path

    def _before_first_launch(self) -> None:
        self._rotate_log()  # a log of an earlier vardmote is not added to

    def _prepare(self) -> list[str]:
        """_prepare writes the certificate and the configuration, and rotates the log when it is
        due (disk work, run in a thread)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        tls: tuple[Path, Path] | None = None
        if self.settings.turn_tls_port:
            cert, key = self.settings.turn_tls_cert, self.settings.turn_tls_key
            tls = (cert, key) if cert and key else ensure_certificate(self.folder, self.address)
        conf = write_config(self.settings, self.secret, self.folder, tls)
        if self._log_due():
            self._rotate_log()
        return [self.settings.turn_binary, "-c", str(conf)]

    def _log_due(self) -> bool:
        """_log_due tells whether coturn.log is to be rotated: too large or begun too long ago."""
        try:
            size = self.log_path.stat().st_size
        except OSError:
            return False
        too_old = time.monotonic() - self._log_begun >= self._log_keep_seconds
        return size > 0 and (size > self._log_rotate_bytes or too_old)

    def _rotate_log(self) -> None:
        """_rotate_log copies coturn.log to coturn.log.1 (replacing it) and empties coturn.log.

        coturn keeps writing to the same file: it was opened for appending
        (O_APPEND), so its next line goes to the start of the emptied file."""
        path = self.log_path
        self._log_begun = time.monotonic()
        if not path.exists() or path.stat().st_size == 0:
            return
        tmp = self.folder / "coturn.log.1.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, self.folder / "coturn.log.1")
        os.truncate(path, 0)

    async def _between_checks(self) -> None:
        """_between_checks rotates coturn.log while coturn runs, when it is due."""
        if await asyncio.to_thread(self._log_due):
            try:
                await asyncio.to_thread(self._rotate_log)
            except OSError as e:
                log.error("rotating %s failed: %s", self.log_path, e)

    def _ports(self) -> list[tuple[int, int]]:
        """_ports are coturn's listening ports: (socket type, port)."""
        ports: list[tuple[int, int]] = [
            (socket.SOCK_DGRAM, self.settings.turn_port),
            (socket.SOCK_STREAM, self.settings.turn_port),
        ]
        if self.settings.turn_tls_port:
            ports.append((socket.SOCK_STREAM, self.settings.turn_tls_port))
        return ports

    def _ports_free(self) -> bool:
        return ports_free(self.address, self._ports())

    def _ports_taken(self) -> str:
        settings = self.settings
        listed = f"{settings.turn_port} (UDP and TCP)" + (
            f" or {settings.turn_tls_port} (TCP)" if settings.turn_tls_port else ""
        )
        return (
            f"port {listed} on {self.address} is taken (Debian's own coturn.service?); set "
            "VARDMOTE_TURN_PORT and VARDMOTE_TURN_TLS_PORT, or VARDMOTE_TURN=off or external"
        )

    @property
    def _serves_at(self) -> str:
        return " ".join(self.urls)

    @property
    def _answers_where(self) -> str:
        return f"on {self.address}"

    def _answers(self, timeout: float) -> bool:
        """_answers tells whether coturn answers STUN over UDP and accepts TCP (and TLS) connections.

        While it starts this is this very process: a port another program holds makes coturn
        exit, which is seen first."""
        ports = [self.settings.turn_port] + (
            [self.settings.turn_tls_port] if self.settings.turn_tls_port else []
        )
        return _stun_answers(self.address, self.settings.turn_port, timeout) and all(
            _accepts(self.address, port, timeout) for port in ports
        )

    async def _probe(self, timeout: float) -> bool:
        return await asyncio.to_thread(self._answers, timeout)
