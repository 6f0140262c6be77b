"""Settings: the one place where Vårdmöte reads its configuration.

Every setting comes from an environment variable named ``VARDMOTE_<NAME>``.
Values are read strictly: a malformed value stops the start with a message
that names the variable and what was given. Every secret may instead be given
as ``VARDMOTE_<NAME>_FILE``, the path of a file that holds it, so that secrets
need not sit in the environment. Secrets are held in :class:`Secret`, which
never prints its value. Every variable is documented in
``docs/configuration.md``. Reading one variable strictly is
``vardmote.settings_values``'s; this module puts the values together and checks
the ones that depend on each other.
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

from vardmote.settings_values import (
    Network,
    SettingsError,
    check_ports_apart,
    check_turn_url,
    is_one_host,
    read,
    read_addresses,
    read_bool,
    read_email_address,
    read_file_pair,
    read_int,
    read_ipv4,
    read_networks,
    read_path,
    read_port_range,
    read_scopes,
    read_secret,
    read_time_zone,
)

# Other modules import these from here, the three of settings_values among them.
__all__ = [
    "LOA3",
    "JanusNodeSetting",
    "Network",
    "Secret",
    "Settings",
    "SettingsError",
    "TurnMode",
    "check_turn_url",
    "load_settings",
]

LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
"""The Swedish assurance level 3 (tillitsnivå 3) of an e-identification, as OpenID Connect's ``acr``."""

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
            if address.version == 4 and is_one_host(address):
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


def _janus_nodes(env: Mapping[str, str]) -> tuple[JanusNodeSetting, ...]:
    """_janus_nodes reads VARDMOTE_JANUS_URLS (space-separated ws:// or wss:// URLs) with
    one secret for all nodes: VARDMOTE_JANUS_API_SECRET and VARDMOTE_JANUS_ADMIN_KEY."""
    raw = read(env, "JANUS_URLS")
    if raw is None:
        return ()
    urls = raw.split()
    for url in urls:
        if not url.startswith(("ws://", "wss://")):
            raise SettingsError(f"VARDMOTE_JANUS_URLS must hold ws:// or wss:// URLs, got {url!r}")
    api_secret = read_secret(env, "JANUS_API_SECRET")
    admin_key = read_secret(env, "JANUS_ADMIN_KEY")
    if not api_secret or not admin_key:
        raise SettingsError(
            "VARDMOTE_JANUS_URLS needs VARDMOTE_JANUS_API_SECRET and VARDMOTE_JANUS_ADMIN_KEY"
        )
    return tuple(JanusNodeSetting(url, Secret(api_secret), Secret(admin_key)) for url in urls)


def _turn(env: Mapping[str, str]) -> tuple[TurnMode, tuple[str, ...], Secret]:
    """_turn reads VARDMOTE_TURN, VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET(_FILE): external needs
    URLs and the secret; a secret shorter than 16 bytes is refused."""
    raw = (read(env, "TURN") or Settings.turn).lower()
    if raw not in ("embedded", "external", "off"):
        raise SettingsError(f"VARDMOTE_TURN must be embedded, external or off, got {raw!r}")
    mode: TurnMode = "embedded" if raw == "embedded" else "external" if raw == "external" else "off"
    urls = tuple((read(env, "TURN_URLS") or "").split())
    for url in urls:
        check_turn_url(url, "VARDMOTE_TURN_URLS")
    secret = read_secret(env, "TURN_SECRET", at_least=16) or ""
    if any(c == "#" or c.isspace() or not c.isprintable() for c in secret):
        # Not echoed: it is the secret. coturn's configuration file ends a value at '#' or a line break.
        raise SettingsError(
            "VARDMOTE_TURN_SECRET may not hold '#', spaces, line breaks or other control characters"
        )
    if mode == "external" and not (urls and secret):
        raise SettingsError("VARDMOTE_TURN=external needs VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET")
    return mode, urls, Secret(secret)


def _redis_url(env: Mapping[str, str], default: str) -> str:
    """_redis_url reads VARDMOTE_REDIS_URL (redis://, rediss:// or unix://)."""
    raw = read(env, "REDIS_URL")
    if raw is None:
        return default
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        # Not echoed: the URL may hold Redis's password.
        raise SettingsError("VARDMOTE_REDIS_URL must start with redis://, rediss:// or unix://")
    return raw


def _smtp(env: Mapping[str, str]) -> tuple[str, Secret, bool, str]:
    """_smtp reads the SMTP login, STARTTLS and the sender address, and refuses a login
    without STARTTLS: the password (and every join link after it) would cross the network in
    clear text."""
    username = read(env, "SMTP_USERNAME") or ""
    password = read_secret(env, "SMTP_PASSWORD") or ""
    starttls = read_bool(env, "SMTP_STARTTLS", Settings.smtp_starttls)
    if bool(username) != bool(password):
        raise SettingsError("VARDMOTE_SMTP_USERNAME and VARDMOTE_SMTP_PASSWORD must be given together")
    if username and not starttls:
        raise SettingsError("VARDMOTE_SMTP_USERNAME needs VARDMOTE_SMTP_STARTTLS on")
    return username, Secret(password), starttls, read_email_address(env, "MAIL_FROM")


def _patient_oidc(env: Mapping[str, str]) -> tuple[str, str, Secret]:
    """_patient_oidc reads the patients' identity provider: an http(s) issuer needs its client
    id and secret."""
    issuer = read(env, "PATIENT_OIDC_ISSUER") or ""
    client_id = read(env, "PATIENT_OIDC_CLIENT_ID") or ""
    secret = read_secret(env, "PATIENT_OIDC_CLIENT_SECRET") or ""
    if issuer and not issuer.startswith(("https://", "http://")):
        raise SettingsError(f"VARDMOTE_PATIENT_OIDC_ISSUER must be an http(s) URL, got {issuer!r}")
    if issuer and not (client_id and secret):
        raise SettingsError(
            "VARDMOTE_PATIENT_OIDC_ISSUER needs VARDMOTE_PATIENT_OIDC_CLIENT_ID and "
            "VARDMOTE_PATIENT_OIDC_CLIENT_SECRET"
        )
    return issuer, client_id, Secret(secret)


def _staff_oidc(env: Mapping[str, str]) -> tuple[str, str, Secret]:
    """_staff_oidc reads the staff's identity provider: an http(s) issuer needs its client id
    (the secret may be empty)."""
    issuer = read(env, "STAFF_OIDC_ISSUER") or ""
    client_id = read(env, "STAFF_OIDC_CLIENT_ID") or ""
    secret = read_secret(env, "STAFF_OIDC_CLIENT_SECRET") or ""
    if issuer and not issuer.startswith(("https://", "http://")):
        raise SettingsError(f"VARDMOTE_STAFF_OIDC_ISSUER must be an http(s) URL, got {issuer!r}")
    if issuer and not client_id:
        raise SettingsError("VARDMOTE_STAFF_OIDC_ISSUER needs VARDMOTE_STAFF_OIDC_CLIENT_ID")
    return issuer, client_id, Secret(secret)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """load_settings reads Settings from the environment (or the given mapping)."""
    env = os.environ if env is None else env
    defaults = Settings()
    timezone = read_time_zone(env, "TIMEZONE", defaults.timezone)
    public_url = read(env, "PUBLIC_URL") or ""
    if public_url and not public_url.startswith(("http://", "https://")):
        raise SettingsError(f"VARDMOTE_PUBLIC_URL must start with http:// or https://, got {public_url!r}")
    database_url = read_secret(env, "DATABASE_URL") or ""
    secret_key = read_secret(env, "SECRET_KEY", at_least=16) or ""
    redis_url = _redis_url(env, defaults.redis_url)
    if redis_url and not secret_key:
        # Several processes must seal and open the same tokens: a key each in its own var
        # folder would make one process's guest links unreadable to the others.
        raise SettingsError("VARDMOTE_REDIS_URL needs VARDMOTE_SECRET_KEY, the same on every process")
    smtp_username, smtp_password, smtp_starttls, mail_from = _smtp(env)
    oidc_issuer, oidc_client_id, oidc_client_secret = _patient_oidc(env)
    staff_issuer, staff_client_id, staff_client_secret = _staff_oidc(env)
    turn, turn_urls, turn_secret = _turn(env)
    turn_tls_cert, turn_tls_key = read_file_pair(env, "TURN_TLS_CERT", "TURN_TLS_KEY")
    turn_port = read_int(env, "TURN_PORT", defaults.turn_port, 1, 65535)
    turn_tls_port = read_int(env, "TURN_TLS_PORT", defaults.turn_tls_port, 0, 65535)
    if turn_tls_port == turn_port:
        raise SettingsError(f"VARDMOTE_TURN_TLS_PORT must differ from VARDMOTE_TURN_PORT ({turn_port})")
    media = read_bool(env, "MEDIA", defaults.media)
    janus_nodes = _janus_nodes(env)
    janus_rtp_ports = read_port_range(env, "JANUS_RTP_PORTS", defaults.janus_rtp_ports)
    turn_relay_ports = read_port_range(env, "TURN_RELAY_PORTS", defaults.turn_relay_ports)
    if media and turn == "embedded":
        # The embedded relay binds its ports on this machine, as does the embedded Janus its
        # media ports; external Janus nodes run elsewhere, so only the embedded Janus's count.
        ranges = [("TURN_RELAY_PORTS", turn_relay_ports)]
        if not janus_nodes:
            ranges.append(("JANUS_RTP_PORTS", janus_rtp_ports))
        check_ports_apart(ranges, [("TURN_PORT", turn_port), ("TURN_TLS_PORT", turn_tls_port)])
    return Settings(
        var_dir=read_path(env, "VAR_DIR", defaults.var_dir),
        database_url=database_url,
        db_pool_size=read_int(env, "DB_POOL_SIZE", defaults.db_pool_size, 1, 1000),
        host=read(env, "HOST") or defaults.host,
        port=read_int(env, "PORT", defaults.port, 1, 65535),
        public_url=public_url,
        organisation=read(env, "ORGANISATION") or defaults.organisation,
        secret_key=Secret(secret_key),
        link_grace_minutes=read_int(env, "LINK_GRACE_MINUTES", defaults.link_grace_minutes, 0),
        session_hours=read_int(env, "SESSION_HOURS", defaults.session_hours, 1),
        demo=read_bool(env, "DEMO", defaults.demo),
        cookie_secure=read_bool(env, "COOKIE_SECURE", public_url.startswith("https://")),
        signin_max_failures=read_int(env, "SIGNIN_MAX_FAILURES", defaults.signin_max_failures, 1),
        timezone=timezone,
        media=media,
        janus_nodes=janus_nodes,
        janus_binary=read(env, "JANUS_BINARY") or defaults.janus_binary,
        janus_ws_port=read_int(env, "JANUS_WS_PORT", defaults.janus_ws_port, 1, 65535),
        janus_rtp_ports=janus_rtp_ports,
        janus_ice_interfaces=read(env, "JANUS_ICE_INTERFACES") or defaults.janus_ice_interfaces,
        janus_reclaim_seconds=read_int(env, "JANUS_RECLAIM_SECONDS", defaults.janus_reclaim_seconds, 0, 3600),
        janus_nat_1_1=read_addresses(env, "JANUS_NAT_1_1"),
        janus_ice_tcp=read_bool(env, "JANUS_ICE_TCP", defaults.janus_ice_tcp),
        turn=turn,
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        turn_address=read_ipv4(env, "TURN_ADDRESS"),
        turn_port=turn_port,
        turn_tls_port=turn_tls_port,
        turn_relay_ports=turn_relay_ports,
        turn_tls_cert=turn_tls_cert,
        turn_tls_key=turn_tls_key,
        turn_allowed_peers=read_addresses(env, "TURN_ALLOWED_PEERS"),
        turn_credential_seconds=read_int(
            env, "TURN_CREDENTIAL_SECONDS", defaults.turn_credential_seconds, 60, 7 * 24 * 3600
        ),
        turn_binary=read(env, "TURN_BINARY") or defaults.turn_binary,
        redis_url=redis_url,
        host_left_seconds=read_int(env, "HOST_LEFT_SECONDS", defaults.host_left_seconds, 1, 3600),
        reconnect_seconds=read_int(env, "RECONNECT_SECONDS", defaults.reconnect_seconds, 1, 600),
        lobby_limit=read_int(env, "LOBBY_LIMIT", defaults.lobby_limit, 1, 10000),
        connections_per_address=read_int(
            env, "CONNECTIONS_PER_ADDRESS", defaults.connections_per_address, 1, 100000
        ),
        join_deadline_seconds=read_int(env, "JOIN_DEADLINE_SECONDS", defaults.join_deadline_seconds, 1, 300),
        vendor_dir=read_path(env, "VENDOR_DIR", defaults.vendor_dir),
        smtp_host=read(env, "SMTP_HOST") or defaults.smtp_host,
        smtp_port=read_int(env, "SMTP_PORT", defaults.smtp_port, 1, 65535),
        smtp_username=smtp_username,
        smtp_password=smtp_password,
        smtp_starttls=smtp_starttls,
        mail_from=mail_from,
        outbox_dir=read_path(env, "OUTBOX_DIR", defaults.outbox_dir),
        smtp_timeout_seconds=read_int(env, "SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout_seconds, 1, 600),
        mail_attempts=read_int(env, "MAIL_ATTEMPTS", defaults.mail_attempts, 1, 100),
        mail_retry_seconds=read_int(env, "MAIL_RETRY_SECONDS", int(defaults.mail_retry_seconds), 1, 3600),
        interpreter_service_address=read_email_address(env, "INTERPRETER_SERVICE_ADDRESS"),
        patient_oidc_issuer=oidc_issuer,
        patient_oidc_client_id=oidc_client_id,
        patient_oidc_client_secret=oidc_client_secret,
        patient_oidc_personnummer_claim=read(env, "PATIENT_OIDC_PERSONNUMMER_CLAIM")
        or defaults.patient_oidc_personnummer_claim,
        patient_oidc_acr=read(env, "PATIENT_OIDC_ACR") or defaults.patient_oidc_acr,
        patient_oidc_scopes=read_scopes(env, "PATIENT_OIDC_SCOPES", defaults.patient_oidc_scopes),
        staff_oidc_issuer=staff_issuer,
        staff_oidc_client_id=staff_client_id,
        staff_oidc_client_secret=staff_client_secret,
        staff_oidc_scopes=read_scopes(env, "STAFF_OIDC_SCOPES", defaults.staff_oidc_scopes),
        staff_oidc_hsa_id_claim=read(env, "STAFF_OIDC_HSA_ID_CLAIM") or defaults.staff_oidc_hsa_id_claim,
        staff_oidc_name_claim=read(env, "STAFF_OIDC_NAME_CLAIM") or defaults.staff_oidc_name_claim,
        staff_oidc_admin_claim=read(env, "STAFF_OIDC_ADMIN_CLAIM") or defaults.staff_oidc_admin_claim,
        staff_oidc_acr=read(env, "STAFF_OIDC_ACR") or defaults.staff_oidc_acr,
        staff_oidc_label=(read(env, "STAFF_OIDC_LABEL") or defaults.staff_oidc_label)[:80],
        local_signin=read_bool(env, "LOCAL_SIGNIN", not staff_issuer),
        break_glass_admin=read(env, "BREAK_GLASS_ADMIN") or defaults.break_glass_admin,
        oauth_token_seconds=read_int(env, "OAUTH_TOKEN_SECONDS", defaults.oauth_token_seconds, 30, 3600),
        fhir_provision_clinicians=read_bool(
            env, "FHIR_PROVISION_CLINICIANS", defaults.fhir_provision_clinicians
        ),
        trusted_proxies=read_networks(env, "TRUSTED_PROXIES"),
        audit_key=Secret(read_secret(env, "AUDIT_KEY", at_least=32) or ""),
        retention_throttle_hours=read_int(
            env, "RETENTION_THROTTLE_HOURS", defaults.retention_throttle_hours, 1, 24 * 365
        ),
        retention_outbox_days=read_int(env, "RETENTION_OUTBOX_DAYS", defaults.retention_outbox_days, 1, 3650),
        retention_guest_names_days=read_int(
            env, "RETENTION_GUEST_NAMES_DAYS", defaults.retention_guest_names_days, 1, 3650
        ),
        purge_minutes=read_int(env, "PURGE_MINUTES", defaults.purge_minutes, 1, 24 * 60),
    )
