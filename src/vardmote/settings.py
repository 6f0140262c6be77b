"""Settings: the one place where Vårdmöte reads its configuration.

Every setting comes from an environment variable named ``VARDMOTE_<NAME>``.
Values are read strictly: a malformed value stops the start with a message
that names the variable and what was given. Every secret may instead be given
as ``VARDMOTE_<NAME>_FILE``, the path of a file that holds it, so that secrets
need not sit in the environment. Secrets are held in :class:`Secret`, which
never prints its value. Every variable is documented in
``docs/configuration.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
"""The Swedish assurance level 3 (tillitsnivå 3) of an e-identification, as OpenID Connect's ``acr``."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TurnMode = Literal["embedded", "external", "off"]
"""How browsers get a relay (VARDMOTE_TURN): vardmote's own coturn, the region's, or none."""


def _default_vendor_dir() -> Path | None:
    """_default_vendor_dir is the project's node_modules folder (next to pyproject.toml), found
    from this file's location, when the package runs from a checkout and the folder exists."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "node_modules"
    if (root / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """Secret holds a secret string and never shows it in repr or str."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """reveal returns the secret itself; call it only where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


@dataclass(frozen=True)
class JanusNodeSetting:
    """JanusNodeSetting is one external Janus node: its WebSocket URL and secrets."""

    url: str
    api_secret: Secret
    admin_key: Secret


@dataclass(frozen=True)
class Settings:
    """Settings of one Vårdmöte process."""

    var_dir: Path = Path("var")
    """Folder for the embedded defaults: SQLite file, generated secrets, outbox."""

    database_url: str = ""
    """SQLAlchemy URL; empty means a SQLite file ``vardmote.sqlite3`` in var_dir."""

    db_pool_size: int = 5
    """Pooled database connections per process, and requests using the database at once."""

    host: str = "127.0.0.1"
    """Address the web server listens on."""

    port: int = 8000
    """Port the web server listens on."""

    public_url: str = ""
    """Address people use to reach the service; links are built from it.
    Empty means ``http://<host>:<port>``."""

    organisation: str = "Region Västmanland"
    """Name of the care organisation, shown in locations and on the guest pages."""

    secret_key: Secret = field(default_factory=lambda: Secret(""))
    """Key for encrypting stored links; empty means one generated in var_dir."""

    link_grace_minutes: int = 60
    """Minutes after a meeting's end during which its links still work."""

    session_hours: int = 10
    """Hours a staff sign-in lasts without activity."""

    demo: bool = False
    """Demo mode: demo data and the demo accounts (password ``demo``) exist."""

    cookie_secure: bool = False
    """Send cookies only over HTTPS; turn on whenever public_url is https."""

    signin_max_failures: int = 5
    """Failed sign-ins per account or address (also, per address, refused sign-ins with the identity
    provider and refused token requests of journal systems) before each attempt is slowed down."""

    timezone: str = "Europe/Stockholm"
    """Time zone in which times are shown and entered; storage is always UTC."""

    media: bool = True
    """Live meetings on: Janus is started (embedded) or reached (external nodes).
    Off leaves booking, links and calendars working without any video."""

    janus_nodes: tuple[JanusNodeSetting, ...] = ()
    """External Janus nodes; empty means vardmote starts and supervises its own Janus."""

    janus_binary: str = "janus"
    """The Janus executable of the embedded mode (Debian package ``janus``)."""

    janus_ws_port: int = 8288
    """Loopback port of the embedded Janus's WebSocket API (not 8188, which Debian's own
    janus.service takes)."""

    janus_rtp_ports: tuple[int, int] = (20000, 20999)
    """UDP port range the embedded Janus uses for media."""

    janus_ice_interfaces: str = ""
    """Janus ``ice_enforce_list``: the interfaces (or address prefixes) ICE may use;
    empty lets Janus use every interface. Janus never gathers on loopback, so
    ``lo`` alone does not work (it falls back to every interface)."""

    janus_reclaim_seconds: int = 30
    """Janus ``reclaim_session_timeout``: seconds a session outlives its connection to
    vardmote (counted from its last keepalive), for another vardmote to claim; 0: none."""

    janus_nat_1_1: tuple[str, ...] = ()
    """Janus ``nat_1_1_mapping``: the public address(es) of the embedded Janus behind a 1:1 NAT,
    offered as candidates beside the private ones (``keep_private_host``). Empty: none."""

    janus_ice_tcp: bool = False
    """Janus ``ice_tcp`` (with ``ice_lite``, which it needs): the embedded Janus also takes ICE
    over TCP, for networks that let no UDP through."""

    turn: TurnMode = "embedded"
    """The relay (TURN) browsers get when no direct path works: ``embedded`` (vardmote starts and
    watches its own coturn), ``external`` (the region's coturn servers) or ``off``."""

    turn_urls: tuple[str, ...] = ()
    """``turn:``/``turns:`` URLs browsers get; required for external, made from turn_address and
    the ports for embedded when empty."""

    turn_secret: Secret = field(default_factory=lambda: Secret(""))
    """coturn's ``static-auth-secret``; required for external, made in var_dir/coturn for embedded."""

    turn_address: str = ""
    """IPv4 address the embedded coturn listens and relays on; empty: the embedded Janus's ICE
    address (an IPv4 address in janus_ice_interfaces), else 127.0.0.1."""

    turn_port: int = 3478
    """Port of the embedded coturn, UDP and TCP."""

    turn_tls_port: int = 5349
    """TLS port of the embedded coturn (``turns:``); 0 means no TLS listener."""

    turn_relay_ports: tuple[int, int] = (49160, 49999)
    """UDP port range of the embedded coturn's relayed addresses."""

    turn_tls_cert: Path | None = None
    """PEM certificate (chain) of the embedded coturn's TLS listener; None: a self-signed one made
    in var_dir/coturn."""

    turn_tls_key: Path | None = None
    """PEM private key of turn_tls_cert."""

    turn_allowed_peers: tuple[str, ...] = ()
    """Addresses the embedded relay may send to (the Janus nodes); every other address, IPv4 and
    IPv6, is denied. Empty: the embedded Janus's ICE address(es)."""

    turn_credential_seconds: int = 3600
    """Seconds a relay credential lasts beyond the meeting's links' expiry (its booked end plus
    link_grace_minutes), and at least from now."""

    turn_binary: str = "turnserver"
    """The coturn executable of the embedded relay (Debian package ``coturn``)."""

    redis_url: str = ""
    """Redis (``redis://host:port/db``) shared by several vardmote processes: the live meetings
    and the event bus go through it (docs/operations.md, "Scaling out"). Empty: one process,
    everything in memory."""

    host_left_seconds: int = 60
    """Seconds guests may stay after the last host left before they are removed."""

    reconnect_seconds: int = 30
    """Seconds a dropped participant keeps their place (no lobby on return)."""

    lobby_limit: int = 50
    """Guests at most waiting in one meeting's lobby; one more is refused (``too_many``)."""

    connections_per_address: int = 20
    """Meeting WebSockets at most open at once from one client address (this process)."""

    join_deadline_seconds: int = 10
    """Seconds a new meeting WebSocket has to send a valid ``join`` before it is closed."""

    vendor_dir: Path | None = field(default_factory=_default_vendor_dir)
    """Folder holding the npm packages the pages use (``node_modules``); only
    ``@mediapipe/selfie_segmentation`` in it is served. None: background effects are off."""

    smtp_host: str = ""
    """SMTP server (the region's relay) that calendar invitations are sent through;
    empty means no SMTP: invitations are written as .eml files into the outbox folder."""

    smtp_port: int = 587
    """SMTP port: 587 (message submission, STARTTLS) by default, so that join links and the
    password are encrypted on the wire; an internal relay on 25 without TLS must be chosen."""

    smtp_username: str = ""
    """SMTP account; empty means no login (a relay that trusts the server's address)."""

    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    """Password of smtp_username."""

    smtp_starttls: bool = True
    """Upgrade the SMTP connection with STARTTLS (certificate checked) before anything is sent."""

    mail_from: str = ""
    """Sender address of invitations; empty means ``vardmote@<host of the public URL>``."""

    outbox_dir: Path | None = None
    """Folder invitations are written to when smtp_host is empty; None means ``outbox`` in var_dir."""

    smtp_timeout_seconds: int = 15
    """Seconds the outbox worker waits for the SMTP server at each step before the attempt fails."""

    mail_attempts: int = 8
    """Attempts at sending one e-mail before it is given up ("Kunde inte skickas")."""

    mail_retry_seconds: float = 30.0
    """Wait before the second attempt; doubled for each attempt after it (at most an hour)."""

    interpreter_service_address: str = ""
    """E-mail address of the interpreter service (Tolkservice); empty means interpreters cannot be sent
    the link from Vårdmöte."""

    patient_oidc_issuer: str = ""
    """OpenID Connect issuer URL for the patients' e-identification; empty means none (in demo mode the
    test e-identification is used)."""

    patient_oidc_client_id: str = ""
    patient_oidc_client_secret: Secret = field(default_factory=lambda: Secret(""))
    patient_oidc_personnummer_claim: str = "personal_identity_number"
    """The ID token claim that carries the personnummer."""

    patient_oidc_acr: str = LOA3
    """The assurance level (``acr_values``) asked for at the patients' sign-in; the ID token's
    ``acr`` claim must be exactly this."""

    patient_oidc_scopes: str = "openid"
    """The scopes asked for at the patients' sign-in, separated by spaces; ``openid`` is always
    among them (e.g. ``openid https://id.oidc.se/scope/naturalPersonNumber``)."""

    staff_oidc_issuer: str = ""
    """OpenID Connect issuer URL of the region's identity provider for staff (SITHS); empty means
    staff sign in with local passwords only."""

    staff_oidc_client_id: str = ""
    staff_oidc_client_secret: Secret = field(default_factory=lambda: Secret(""))
    staff_oidc_scopes: str = "openid profile"
    """The scopes asked for at the staff sign-in, separated by spaces; ``openid`` is always among
    them."""

    staff_oidc_hsa_id_claim: str = "employeeHsaId"
    """The claim (ID token or userinfo) that carries the person's HSA-id."""

    staff_oidc_name_claim: str = "name"
    """The claim with the person's full name; without it ``given_name`` and ``family_name``."""

    staff_oidc_admin_claim: str = ""
    """What makes someone an administrator: ``claim=value`` (the claim equals the value or is a
    list holding it, e.g. ``groups=vardmote-admin``) or a bare ``claim`` that must be true;
    empty means nobody becomes administrator by sign-in."""

    staff_oidc_acr: str = LOA3
    """The assurance levels (``acr_values``) asked for at the staff sign-in, separated by spaces;
    the ID token's ``acr`` must be one of them."""

    staff_oidc_label: str = "Logga in med SITHS"
    """The text of the sign-in page's button for the identity provider."""

    local_signin: bool = True
    """Whether staff may sign in with a username and password; off by default when staff OIDC is
    configured (then only ``break_glass_admin`` may)."""

    break_glass_admin: str = ""
    """Username of the administrator account that may still sign in with a password when local
    sign-in is off, for when the identity provider is down."""

    oauth_token_seconds: int = 300
    """Lifetime of an access token given to a journal system at ``/oauth/token``."""

    fhir_provision_clinicians: bool = False
    """Whether an Appointment naming an HSA-id with no account makes the account (named from the
    Appointment); off means such a booking is refused."""

    trusted_proxies: tuple[Network, ...] = ()
    """Addresses and networks of the reverse proxies in front of the service: only a request from
    one of them has its client address taken from ``X-Forwarded-For``."""

    audit_key: Secret = field(default_factory=lambda: Secret(""))
    """Key of the audit chain's HMAC; empty means one derived from the secret key."""

    retention_throttle_hours: int = 24
    """Hours a sign-in throttle row (an account name or a client address) is kept after its last failure."""

    retention_outbox_days: int = 30
    """Days an invitation written to the outbox folder is kept before it is deleted."""

    retention_guest_names_days: int = 365
    """Days after a meeting's end that its personal guest links keep their labels (whom each
    link was made for)."""

    purge_minutes: int = 60
    """Minutes between two rounds of the purge (expired sessions, throttle rows, outbox files)."""

    @property
    def effective_database_url(self) -> str:
        """effective_database_url is database_url or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'vardmote.sqlite3').resolve()}"

    @property
    def effective_public_url(self) -> str:
        """effective_public_url is public_url without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def janus_ice_addresses(self) -> tuple[str, ...]:
        """janus_ice_addresses are the IPv4 addresses named in janus_ice_interfaces (not
        interface names or prefixes), in order."""
        found: list[str] = []
        for item in self.janus_ice_interfaces.split(","):
            try:
                address = ipaddress.ip_address(item.strip())
            except ValueError:
                continue
            if address.version == 4 and _usable(address):
                found.append(str(address))
        return tuple(found)

    @property
    def effective_turn_address(self) -> str:
        """effective_turn_address is turn_address, else the embedded Janus's first ICE address,
        else 127.0.0.1."""
        if self.turn_address:
            return self.turn_address
        addresses = self.janus_ice_addresses
        return addresses[0] if addresses else "127.0.0.1"

    @property
    def effective_turn_allowed_peers(self) -> tuple[str, ...]:
        """effective_turn_allowed_peers is turn_allowed_peers, else the embedded Janus's ICE
        address(es), else the relay's own address (Janus beside it on that address)."""
        if self.turn_allowed_peers:
            return self.turn_allowed_peers
        return self.janus_ice_addresses or (self.effective_turn_address,)

    @property
    def effective_outbox_dir(self) -> Path:
        """effective_outbox_dir is outbox_dir or the embedded ``outbox`` folder in var_dir."""
        return self.outbox_dir if self.outbox_dir is not None else self.var_dir / "outbox"

    @property
    def effective_mail_from(self) -> str:
        """effective_mail_from is mail_from or ``vardmote@`` the host name of the public URL."""
        if self.mail_from:
            return self.mail_from
        return f"vardmote@{urlsplit(self.effective_public_url).hostname}"

    def effective_secret_key(self) -> bytes:
        """effective_secret_key returns the configured key, or one kept in var_dir.

        The generated key is written once with mode 0600 and reused, so that
        stored links stay readable across restarts.
        """
        configured = self.secret_key.reveal()
        if configured:
            return configured.encode()
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def effective_audit_key(self) -> bytes:
        """effective_audit_key is the audit chain's HMAC key: audit_key, or one derived from
        the secret key (so the database alone never holds it)."""
        configured = self.audit_key.reveal()
        if configured:
            return configured.encode()
        return hmac.new(self.effective_secret_key(), b"vardmote audit chain v1", hashlib.sha256).digest()


_TRUE = {"1", "true", "yes", "on", "ja"}
_FALSE = {"0", "false", "no", "off", "nej", ""}


def _read(env: Mapping[str, str], name: str) -> str | None:
    # An empty variable counts as unset, as shells and service files often leave them.
    value = env.get(f"VARDMOTE_{name}")
    return value if value else None


def _read_secret(env: Mapping[str, str], name: str) -> str | None:
    direct = _read(env, name)
    path = _read(env, f"{name}_FILE")
    if direct is not None and path is not None:
        raise SettingsError(f"VARDMOTE_{name} and VARDMOTE_{name}_FILE are both set; give one")
    if path is not None:
        try:
            value = Path(path).read_text().strip()
        except OSError as e:
            raise SettingsError(f"VARDMOTE_{name}_FILE={path!r} cannot be read: {e}") from e
        if not value:
            raise SettingsError(f"VARDMOTE_{name}_FILE={path!r} is empty")
        return value
    return direct


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int = 10**9) -> int:
    raw = _read(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"VARDMOTE_{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"VARDMOTE_{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise SettingsError(f"VARDMOTE_{name} must be at most {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _read(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"VARDMOTE_{name} must be true or false, got {raw!r}")


def _port_range(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    raw = _read(env, name)
    if raw is None:
        return default
    low, _, high = raw.partition("-")
    if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65535):
        raise SettingsError(
            f"VARDMOTE_{name} must be a range like 20000-20999 within 1024-65535, got {raw!r}"
        )
    return int(low), int(high)


def _janus_nodes(env: Mapping[str, str]) -> tuple[JanusNodeSetting, ...]:
    """_janus_nodes reads VARDMOTE_JANUS_URLS (space-separated ws:// or wss:// URLs) with
    one secret for all nodes: VARDMOTE_JANUS_API_SECRET and VARDMOTE_JANUS_ADMIN_KEY."""
    raw = _read(env, "JANUS_URLS")
    if raw is None:
        return ()
    urls = raw.split()
    for url in urls:
        if not url.startswith(("ws://", "wss://")):
            raise SettingsError(f"VARDMOTE_JANUS_URLS must hold ws:// or wss:// URLs, got {url!r}")
    api_secret = _read_secret(env, "JANUS_API_SECRET")
    admin_key = _read_secret(env, "JANUS_ADMIN_KEY")
    if not api_secret or not admin_key:
        raise SettingsError(
            "VARDMOTE_JANUS_URLS needs VARDMOTE_JANUS_API_SECRET and VARDMOTE_JANUS_ADMIN_KEY"
        )
    return tuple(JanusNodeSetting(url, Secret(api_secret), Secret(admin_key)) for url in urls)


def check_turn_url(url: str, variable: str) -> None:
    """check_turn_url raises SettingsError, naming variable, unless url is a TURN URL browsers
    take: ``turn:`` or ``turns:``, a host (name, IPv4 or [IPv6]), an optional port and an optional
    ``?transport=udp|tcp`` (``turns:`` only over TCP), nothing else."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme not in ("turn", "turns"):
        raise SettingsError(f"{variable} must hold turn: or turns: URLs, got {url!r}")
    where, question, query = rest.partition("?")
    if question:
        key, equals, transport = query.partition("=")
        if key != "transport" or not equals or transport not in ("udp", "tcp"):
            raise SettingsError(
                f"{variable}: only ?transport=udp or ?transport=tcp may follow the port, got {url!r}"
            )
        if scheme == "turns" and transport == "udp":
            raise SettingsError(f"{variable}: turns: (TLS) works over TCP only, got {url!r}")
    if where.startswith("["):
        host, bracket, port = where[1:].partition("]")
        if not bracket:
            raise SettingsError(f"{variable}: an IPv6 address needs its closing ], got {url!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SettingsError(f"{variable}: {host!r} is not an IPv6 address, in {url!r}") from None
        if port and not port.startswith(":"):
            raise SettingsError(f"{variable}: a port follows the address after a colon, got {url!r}")
        port = port[1:] if port else ""
    else:
        host, _, port = where.partition(":")
        labels = host.split(".")
        if not host or any(
            not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
            for label in labels
        ):
            raise SettingsError(f"{variable}: a host name or address must follow {scheme}:, got {url!r}")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise SettingsError(f"{variable}: the port must be 1-65535, got {url!r}")
    if where.endswith(":"):
        raise SettingsError(f"{variable}: the port is missing after the colon, got {url!r}")


def _turn(env: Mapping[str, str]) -> tuple[TurnMode, tuple[str, ...], Secret]:
    """_turn reads VARDMOTE_TURN, VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET(_FILE): external needs
    URLs and the secret; a secret shorter than 16 bytes is refused."""
    raw = (_read(env, "TURN") or Settings.turn).lower()
    if raw not in ("embedded", "external", "off"):
        raise SettingsError(f"VARDMOTE_TURN must be embedded, external or off, got {raw!r}")
    mode: TurnMode = "embedded" if raw == "embedded" else "external" if raw == "external" else "off"
    urls = tuple((_read(env, "TURN_URLS") or "").split())
    for url in urls:
        check_turn_url(url, "VARDMOTE_TURN_URLS")
    secret = _read_secret(env, "TURN_SECRET") or ""
    if secret and len(secret.encode()) < 16:
        raise SettingsError("VARDMOTE_TURN_SECRET must be at least 16 bytes long")
    if any(c == "#" or c.isspace() or not c.isprintable() for c in secret):
        # Not echoed: it is the secret. coturn's configuration file ends a value at '#' or a line break.
        raise SettingsError(
            "VARDMOTE_TURN_SECRET may not hold '#', spaces, line breaks or other control characters"
        )
    if mode == "external" and not (urls and secret):
        raise SettingsError("VARDMOTE_TURN=external needs VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET")
    return mode, urls, Secret(secret)


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _usable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """_usable tells whether address names one host: not the unspecified address (0.0.0.0, ::),
    multicast or the broadcast address. coturn reads an unspecified address in
    ``allowed-peer-ip`` as every address there is."""
    return not (address.is_unspecified or address.is_multicast or address == _BROADCAST)


def _one_host(name: str, item: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if not _usable(address):
        raise SettingsError(
            f"VARDMOTE_{name} must name one host, not an unspecified, multicast or broadcast address, "
            f"got {item!r}"
        )
    return str(address)


def _ipv4(env: Mapping[str, str], name: str) -> str:
    """_ipv4 reads one IPv4 address of one host (empty when unset)."""
    raw = _read(env, name)
    if raw is None:
        return ""
    try:
        address = ipaddress.IPv4Address(raw.strip())
    except ValueError:
        raise SettingsError(f"VARDMOTE_{name} must be an IPv4 address like 192.0.2.10, got {raw!r}") from None
    return _one_host(name, raw, address)


def _addresses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """_addresses reads IP addresses of hosts separated by spaces or commas."""
    raw = _read(env, name)
    if raw is None:
        return ()
    found: list[str] = []
    for item in raw.replace(",", " ").split():
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise SettingsError(
                f"VARDMOTE_{name} must hold IP addresses separated by spaces, got {item!r}"
            ) from None
        found.append(_one_host(name, item, address))
    return tuple(found)


def _overlap(first: tuple[int, int], second: tuple[int, int]) -> bool:
    return first[0] <= second[1] and second[0] <= first[1]


def _check_ports(
    janus_rtp_ports: tuple[int, int] | None,
    turn_relay_ports: tuple[int, int],
    turn_port: int,
    turn_tls_port: int,
) -> None:
    """_check_ports refuses an embedded relay whose ports meet the embedded Janus's media ports
    (None: no embedded Janus) or its own relay range: both bind them on this machine, and one
    of them would fail now and then, depending on which port the other took first."""
    if janus_rtp_ports is not None and _overlap(janus_rtp_ports, turn_relay_ports):
        raise SettingsError(
            "VARDMOTE_TURN_RELAY_PORTS ({}-{}) must not overlap VARDMOTE_JANUS_RTP_PORTS ({}-{})".format(
                *turn_relay_ports, *janus_rtp_ports
            )
        )
    ranges = [("TURN_RELAY_PORTS", turn_relay_ports)]
    if janus_rtp_ports is not None:
        ranges.append(("JANUS_RTP_PORTS", janus_rtp_ports))
    for name, port in (("TURN_PORT", turn_port), ("TURN_TLS_PORT", turn_tls_port)):
        for other, (low, high) in ranges:
            if port and low <= port <= high:
                raise SettingsError(
                    f"VARDMOTE_{name} ({port}) must lie outside VARDMOTE_{other} ({low}-{high})"
                )


def _pem_pair(env: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """_pem_pair reads VARDMOTE_TURN_TLS_CERT and VARDMOTE_TURN_TLS_KEY: both or neither, readable files."""
    cert, key = _read(env, "TURN_TLS_CERT"), _read(env, "TURN_TLS_KEY")
    if (cert is None) != (key is None):
        raise SettingsError("VARDMOTE_TURN_TLS_CERT and VARDMOTE_TURN_TLS_KEY must be given together")
    for name, value in (("TURN_TLS_CERT", cert), ("TURN_TLS_KEY", key)):
        if value is not None and not Path(value).is_file():
            raise SettingsError(f"VARDMOTE_{name}={value!r} is not a file")
    return (Path(cert) if cert else None), (Path(key) if key else None)


def _redis_url(env: Mapping[str, str], default: str) -> str:
    """_redis_url reads VARDMOTE_REDIS_URL (redis://, rediss:// or unix://)."""
    raw = _read(env, "REDIS_URL")
    if raw is None:
        return default
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        # Not echoed: the URL may hold Redis's password.
        raise SettingsError("VARDMOTE_REDIS_URL must start with redis://, rediss:// or unix://")
    return raw


def _vendor_dir(env: Mapping[str, str], default: Path | None) -> Path | None:
    """_vendor_dir reads VARDMOTE_VENDOR_DIR; a folder that does not exist is not an error
    here (the app logs a warning and runs without background effects)."""
    raw = _read(env, "VENDOR_DIR")
    return Path(raw) if raw is not None else default


def _smtp(env: Mapping[str, str]) -> tuple[str, Secret, bool, str]:
    """_smtp reads the SMTP login, STARTTLS and the sender address, and refuses a login
    without STARTTLS: the password (and every join link after it) would cross the network in
    clear text."""
    username = _read(env, "SMTP_USERNAME") or ""
    password = _read_secret(env, "SMTP_PASSWORD") or ""
    starttls = _bool(env, "SMTP_STARTTLS", Settings.smtp_starttls)
    if bool(username) != bool(password):
        raise SettingsError("VARDMOTE_SMTP_USERNAME and VARDMOTE_SMTP_PASSWORD must be given together")
    if username and not starttls:
        raise SettingsError("VARDMOTE_SMTP_USERNAME needs VARDMOTE_SMTP_STARTTLS on")
    mail_from = _read(env, "MAIL_FROM") or ""
    if mail_from and ("@" not in mail_from or any(c.isspace() for c in mail_from)):
        raise SettingsError(f"VARDMOTE_MAIL_FROM must be an e-mail address, got {mail_from!r}")
    return username, Secret(password), starttls, mail_from


def _address(env: Mapping[str, str], name: str) -> str:
    value = _read(env, name) or ""
    if value and ("@" not in value or any(c.isspace() for c in value)):
        raise SettingsError(f"VARDMOTE_{name} must be an e-mail address, got {value!r}")
    return value


def _patient_oidc(env: Mapping[str, str]) -> tuple[str, str, Secret]:
    issuer = _read(env, "PATIENT_OIDC_ISSUER") or ""
    client_id = _read(env, "PATIENT_OIDC_CLIENT_ID") or ""
    secret = _read_secret(env, "PATIENT_OIDC_CLIENT_SECRET") or ""
    if issuer and not issuer.startswith(("https://", "http://")):
        raise SettingsError(f"VARDMOTE_PATIENT_OIDC_ISSUER must be an http(s) URL, got {issuer!r}")
    if issuer and not (client_id and secret):
        raise SettingsError(
            "VARDMOTE_PATIENT_OIDC_ISSUER needs VARDMOTE_PATIENT_OIDC_CLIENT_ID and "
            "VARDMOTE_PATIENT_OIDC_CLIENT_SECRET"
        )
    return issuer, client_id, Secret(secret)


def _staff_oidc(env: Mapping[str, str]) -> tuple[str, str, Secret]:
    issuer = _read(env, "STAFF_OIDC_ISSUER") or ""
    client_id = _read(env, "STAFF_OIDC_CLIENT_ID") or ""
    secret = _read_secret(env, "STAFF_OIDC_CLIENT_SECRET") or ""
    if issuer and not issuer.startswith(("https://", "http://")):
        raise SettingsError(f"VARDMOTE_STAFF_OIDC_ISSUER must be an http(s) URL, got {issuer!r}")
    if issuer and not client_id:
        raise SettingsError("VARDMOTE_STAFF_OIDC_ISSUER needs VARDMOTE_STAFF_OIDC_CLIENT_ID")
    return issuer, client_id, Secret(secret)


def _scopes(env: Mapping[str, str], name: str, default: str) -> str:
    """_scopes reads a space-separated list of OAuth scopes, with ``openid`` put first if missing."""
    raw = _read(env, name)
    if raw is None:
        return default
    scopes = raw.split()
    if any(not s.isprintable() or '"' in s or "\\" in s for s in scopes):
        raise SettingsError(f"VARDMOTE_{name} must be scopes separated by spaces, got {raw!r}")
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


def _trusted_proxies(env: Mapping[str, str]) -> tuple[Network, ...]:
    """_trusted_proxies reads VARDMOTE_TRUSTED_PROXIES: addresses or networks (CIDR), separated by
    spaces or commas."""
    raw = _read(env, "TRUSTED_PROXIES")
    if raw is None:
        return ()
    networks: list[Network] = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(
                f"VARDMOTE_TRUSTED_PROXIES must hold IP addresses or networks like 10.0.0.0/8, got {item!r}"
            ) from None
    return tuple(networks)


def _audit_key(env: Mapping[str, str]) -> Secret:
    key = _read_secret(env, "AUDIT_KEY") or ""
    if key and len(key.encode()) < 32:
        raise SettingsError("VARDMOTE_AUDIT_KEY must be at least 32 bytes long")
    return Secret(key)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """load_settings reads Settings from the environment (or the given mapping)."""
    env = os.environ if env is None else env
    defaults = Settings()
    timezone = _read(env, "TIMEZONE") or defaults.timezone
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:
        raise SettingsError(f"VARDMOTE_TIMEZONE is not a known time zone: {timezone!r}") from None
    public_url = _read(env, "PUBLIC_URL") or ""
    if public_url and not public_url.startswith(("http://", "https://")):
        raise SettingsError(f"VARDMOTE_PUBLIC_URL must start with http:// or https://, got {public_url!r}")
    database_url = _read_secret(env, "DATABASE_URL") or ""
    secret_key = _read_secret(env, "SECRET_KEY") or ""
    if secret_key and len(secret_key.encode()) < 16:
        raise SettingsError("VARDMOTE_SECRET_KEY must be at least 16 bytes long")
    redis_url = _redis_url(env, defaults.redis_url)
    if redis_url and not secret_key:
        # Several processes must seal and open the same tokens: a key each in its own var
        # folder would make one process's guest links unreadable to the others.
        raise SettingsError("VARDMOTE_REDIS_URL needs VARDMOTE_SECRET_KEY, the same on every process")
    smtp_username, smtp_password, smtp_starttls, mail_from = _smtp(env)
    outbox_dir = _read(env, "OUTBOX_DIR")
    oidc_issuer, oidc_client_id, oidc_client_secret = _patient_oidc(env)
    staff_issuer, staff_client_id, staff_client_secret = _staff_oidc(env)
    turn, turn_urls, turn_secret = _turn(env)
    turn_tls_cert, turn_tls_key = _pem_pair(env)
    turn_port = _int(env, "TURN_PORT", defaults.turn_port, 1, 65535)
    turn_tls_port = _int(env, "TURN_TLS_PORT", defaults.turn_tls_port, 0, 65535)
    if turn_tls_port == turn_port:
        raise SettingsError(f"VARDMOTE_TURN_TLS_PORT must differ from VARDMOTE_TURN_PORT ({turn_port})")
    media = _bool(env, "MEDIA", defaults.media)
    janus_nodes = _janus_nodes(env)
    janus_rtp_ports = _port_range(env, "JANUS_RTP_PORTS", defaults.janus_rtp_ports)
    turn_relay_ports = _port_range(env, "TURN_RELAY_PORTS", defaults.turn_relay_ports)
    if media and turn == "embedded":
        # External Janus nodes run elsewhere: only the embedded Janus's ports meet the relay's.
        _check_ports(None if janus_nodes else janus_rtp_ports, turn_relay_ports, turn_port, turn_tls_port)
    return Settings(
        var_dir=Path(_read(env, "VAR_DIR") or defaults.var_dir),
        database_url=database_url,
        db_pool_size=_int(env, "DB_POOL_SIZE", defaults.db_pool_size, 1, 1000),
        host=_read(env, "HOST") or defaults.host,
        port=_int(env, "PORT", defaults.port, 1, 65535),
        public_url=public_url,
        organisation=_read(env, "ORGANISATION") or defaults.organisation,
        secret_key=Secret(secret_key),
        link_grace_minutes=_int(env, "LINK_GRACE_MINUTES", defaults.link_grace_minutes, 0),
        session_hours=_int(env, "SESSION_HOURS", defaults.session_hours, 1),
        demo=_bool(env, "DEMO", defaults.demo),
        cookie_secure=_bool(env, "COOKIE_SECURE", public_url.startswith("https://")),
        signin_max_failures=_int(env, "SIGNIN_MAX_FAILURES", defaults.signin_max_failures, 1),
        timezone=timezone,
        media=media,
        janus_nodes=janus_nodes,
        janus_binary=_read(env, "JANUS_BINARY") or defaults.janus_binary,
        janus_ws_port=_int(env, "JANUS_WS_PORT", defaults.janus_ws_port, 1, 65535),
        janus_rtp_ports=janus_rtp_ports,
        janus_ice_interfaces=_read(env, "JANUS_ICE_INTERFACES") or defaults.janus_ice_interfaces,
        janus_reclaim_seconds=_int(env, "JANUS_RECLAIM_SECONDS", defaults.janus_reclaim_seconds, 0, 3600),
        janus_nat_1_1=_addresses(env, "JANUS_NAT_1_1"),
        janus_ice_tcp=_bool(env, "JANUS_ICE_TCP", defaults.janus_ice_tcp),
        turn=turn,
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        turn_address=_ipv4(env, "TURN_ADDRESS"),
        turn_port=turn_port,
        turn_tls_port=turn_tls_port,
        turn_relay_ports=turn_relay_ports,
        turn_tls_cert=turn_tls_cert,
        turn_tls_key=turn_tls_key,
        turn_allowed_peers=_addresses(env, "TURN_ALLOWED_PEERS"),
        turn_credential_seconds=_int(
            env, "TURN_CREDENTIAL_SECONDS", defaults.turn_credential_seconds, 60, 7 * 24 * 3600
        ),
        turn_binary=_read(env, "TURN_BINARY") or defaults.turn_binary,
        redis_url=redis_url,
        host_left_seconds=_int(env, "HOST_LEFT_SECONDS", defaults.host_left_seconds, 1, 3600),
        reconnect_seconds=_int(env, "RECONNECT_SECONDS", defaults.reconnect_seconds, 1, 600),
        lobby_limit=_int(env, "LOBBY_LIMIT", defaults.lobby_limit, 1, 10000),
        connections_per_address=_int(
            env, "CONNECTIONS_PER_ADDRESS", defaults.connections_per_address, 1, 100000
        ),
        join_deadline_seconds=_int(env, "JOIN_DEADLINE_SECONDS", defaults.join_deadline_seconds, 1, 300),
        vendor_dir=_vendor_dir(env, defaults.vendor_dir),
        smtp_host=_read(env, "SMTP_HOST") or defaults.smtp_host,
        smtp_port=_int(env, "SMTP_PORT", defaults.smtp_port, 1, 65535),
        smtp_username=smtp_username,
        smtp_password=smtp_password,
        smtp_starttls=smtp_starttls,
        mail_from=mail_from,
        outbox_dir=Path(outbox_dir) if outbox_dir is not None else defaults.outbox_dir,
        smtp_timeout_seconds=_int(env, "SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout_seconds, 1, 600),
        mail_attempts=_int(env, "MAIL_ATTEMPTS", defaults.mail_attempts, 1, 100),
        mail_retry_seconds=_int(env, "MAIL_RETRY_SECONDS", int(defaults.mail_retry_seconds), 1, 3600),
        interpreter_service_address=_address(env, "INTERPRETER_SERVICE_ADDRESS"),
        patient_oidc_issuer=oidc_issuer,
        patient_oidc_client_id=oidc_client_id,
        patient_oidc_client_secret=oidc_client_secret,
        patient_oidc_personnummer_claim=_read(env, "PATIENT_OIDC_PERSONNUMMER_CLAIM")
        or defaults.patient_oidc_personnummer_claim,
        patient_oidc_acr=_read(env, "PATIENT_OIDC_ACR") or defaults.patient_oidc_acr,
        patient_oidc_scopes=_scopes(env, "PATIENT_OIDC_SCOPES", defaults.patient_oidc_scopes),
        staff_oidc_issuer=staff_issuer,
        staff_oidc_client_id=staff_client_id,
        staff_oidc_client_secret=staff_client_secret,
        staff_oidc_scopes=_scopes(env, "STAFF_OIDC_SCOPES", defaults.staff_oidc_scopes),
        staff_oidc_hsa_id_claim=_read(env, "STAFF_OIDC_HSA_ID_CLAIM") or defaults.staff_oidc_hsa_id_claim,
        staff_oidc_name_claim=_read(env, "STAFF_OIDC_NAME_CLAIM") or defaults.staff_oidc_name_claim,
        staff_oidc_admin_claim=_read(env, "STAFF_OIDC_ADMIN_CLAIM") or defaults.staff_oidc_admin_claim,
        staff_oidc_acr=_read(env, "STAFF_OIDC_ACR") or defaults.staff_oidc_acr,
        staff_oidc_label=(_read(env, "STAFF_OIDC_LABEL") or defaults.staff_oidc_label)[:80],
        local_signin=_bool(env, "LOCAL_SIGNIN", not staff_issuer),
        break_glass_admin=_read(env, "BREAK_GLASS_ADMIN") or defaults.break_glass_admin,
        oauth_token_seconds=_int(env, "OAUTH_TOKEN_SECONDS", defaults.oauth_token_seconds, 30, 3600),
        fhir_provision_clinicians=_bool(env, "FHIR_PROVISION_CLINICIANS", defaults.fhir_provision_clinicians),
        trusted_proxies=_trusted_proxies(env),
        audit_key=_audit_key(env),
        retention_throttle_hours=_int(
            env, "RETENTION_THROTTLE_HOURS", defaults.retention_throttle_hours, 1, 24 * 365
        ),
        retention_outbox_days=_int(env, "RETENTION_OUTBOX_DAYS", defaults.retention_outbox_days, 1, 3650),
        retention_guest_names_days=_int(
            env, "RETENTION_GUEST_NAMES_DAYS", defaults.retention_guest_names_days, 1, 3650
        ),
        purge_minutes=_int(env, "PURGE_MINUTES", defaults.purge_minutes, 1, 24 * 60),
    )
