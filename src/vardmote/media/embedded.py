"""Embedded: the Janus that vardmote starts and watches when no nodes are configured.

:func:`write_config` writes a configuration for Janus 1.x (Debian's package)
under ``<var_dir>/janus/``::

    secrets.json       api_secret and admin_key, made once, mode 0600, reused
    conf/              janus.jcfg, janus.plugin.videoroom.jcfg,
                       janus.transport.websockets.jcfg (mode 0600: they hold the secrets)
    plugins/           links to the VideoRoom plugin and the EchoTest plugin only (the
                       connection test before joining: a data channel echoed back)
    transports/        a link to the WebSocket transport only
    none/              empty: no event handlers, no external loggers
    janus.log          Janus's output; janus.log.1 the one before
    janus.pid          the running Janus, to end one left behind by a crash

Security choices: the API listens on 127.0.0.1 only and accepts requests from
127.* only; the admin API is off; every request needs the random api_secret
and creating a room needs the random admin_key. The secrets are read by Janus
from its files, never passed on its command line, so ``ps`` does not show
them. ICE may use only the interfaces of Settings.janus_ice_interfaces, and
media only the ports of Settings.janus_rtp_ports. Behind a 1:1 NAT, Janus
also offers the public address(es) of Settings.janus_nat_1_1
(``nat_1_1_mapping``, keeping the private one too); Settings.janus_ice_tcp
turns on ICE over TCP, which Janus does only as ICE Lite. Janus 1.x never gathers
candidates on a loopback interface: a list naming only loopback (``lo``)
enforces nothing, and Janus then gathers on every interface (a warning is
logged).

:class:`EmbeddedJanus` starts the process, waits until it answers ``info``,
restarts it when it dies (after a short, growing pause) or stops answering,
and reports its health for ``/healthz`` (the supervision it shares with the
relay's coturn is :mod:`vardmote.media.supervision`). A restarted Janus knows no rooms,
sessions or PeerConnections: clients of the old process get
JanusUnavailable, and must connect again and make the rooms anew.

Concurrency: an EmbeddedJanus belongs to one event loop. start() and stop()
are not to be called concurrently with each other; healthy() and status() may
be called at any time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vardmote.media.janus import JanusClient, JanusException
from vardmote.media.placement import JanusNode
from vardmote.media.supervision import Supervised, ports_free
from vardmote.settings import Secret, Settings

log = logging.getLogger("vardmote.media.embedded")

VIDEOROOM_LIBRARY = "libjanus_videoroom.so"
ECHOTEST_LIBRARY = "libjanus_echotest.so"
WEBSOCKETS_LIBRARY = "libjanus_websockets.so"

# Where Janus's plugins live: Debian's multiarch folders first, then common builds.
LIBRARY_FOLDERS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")

LOG_ROTATE_BYTES = 10_000_000
"""janus.log is moved to janus.log.1 at a start once it is larger than this."""


class EmbeddedJanusError(RuntimeError):
    """EmbeddedJanusError: the embedded Janus cannot be configured or started; says why."""


@dataclass(frozen=True)
class EmbeddedSecrets:
    """EmbeddedSecrets are the embedded Janus's generated secrets."""

    api_secret: Secret
    admin_key: Secret


def load_or_make_secrets(folder: Path) -> EmbeddedSecrets:
    """load_or_make_secrets reads folder/secrets.json, or makes it (mode 0600) on first use.

    The secrets stay the same across restarts so that a restarted vardmote can
    still govern the rooms of a Janus that kept running.
    """
    path = folder / "secrets.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        made = {"api_secret": secrets.token_urlsafe(32), "admin_key": secrets.token_urlsafe(32)}
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(made, f)
    if path.stat().st_mode & 0o077:
        log.warning("%s could be read by others; made it private (0600)", path)
        path.chmod(0o600)
    try:
        data = json.loads(path.read_text())
        return EmbeddedSecrets(Secret(str(data["api_secret"])), Secret(str(data["admin_key"])))
    except (ValueError, KeyError, TypeError) as e:
        raise EmbeddedJanusError(f"{path} is not a secrets file of vardmote ({e}); remove it") from e


def find_libraries(folders: Sequence[str] = LIBRARY_FOLDERS) -> tuple[Path, Path]:
    """find_libraries returns the paths of Janus's VideoRoom plugin and WebSocket transport."""
    for pattern in folders:
        for base in sorted(Path("/").glob(pattern.lstrip("/"))):
            plugin = base / "plugins" / VIDEOROOM_LIBRARY
            transport = base / "transports" / WEBSOCKETS_LIBRARY
            if plugin.exists() and transport.exists():
                return plugin, transport
    raise EmbeddedJanusError(
        f"Janus's {VIDEOROOM_LIBRARY} and {WEBSOCKETS_LIBRARY} were not found in {', '.join(folders)}; "
        "install Debian's package janus (scripts/install-system-packages)"
    )


def _quote(value: str) -> str:
    """_quote makes a libconfig string; control characters are refused, not escaped."""
    if any(ord(c) < 32 for c in value):
        raise EmbeddedJanusError(f"a Janus setting may not hold control characters, got {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_private(path: Path, text: str) -> None:
    """_write_private replaces path with text, readable by its owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _link(folder: Path, *targets: Path) -> None:
    """_link makes folder hold links to targets (by their names) and nothing else."""
    folder.mkdir(exist_ok=True)
    names = {target.name for target in targets}
    for old in folder.iterdir():
        if old.name not in names:
            old.unlink()
    for target in targets:
        link = folder / target.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def write_config(
    settings: Settings,
    keys: EmbeddedSecrets,
    *,
    server_name: str = "vardmote",
    session_timeout: int = 60,
    libraries: tuple[Path, Path] | None = None,
) -> Path:
    """write_config writes the embedded Janus's configuration and returns its conf folder.

    It is written afresh at every start, so that changed settings take effect.
    server_name identifies this very process in its ``info`` answer.
    """
    folder = (settings.var_dir / "janus").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    conf = folder / "conf"
    conf.mkdir(exist_ok=True)
    (folder / "none").mkdir(exist_ok=True)
    plugin, transport = libraries or find_libraries()
    echotest = plugin.parent / ECHOTEST_LIBRARY
    if echotest.exists():
        _link(folder / "plugins", plugin, echotest)
    else:
        log.warning(
            "Janus's %s was not found next to %s: the connection test will not work", echotest.name, plugin
        )
        _link(folder / "plugins", plugin)
    _link(folder / "transports", transport)
    low, high = settings.janus_rtp_ports
    interfaces = settings.janus_ice_interfaces.strip()
    nat = f"\tice_enforce_list = {_quote(interfaces)}\n" if interfaces else ""
    if settings.janus_nat_1_1:
        nat += f"\tnat_1_1_mapping = {_quote(','.join(settings.janus_nat_1_1))}\n\tkeep_private_host = true\n"
    if settings.janus_ice_tcp:
        nat += "\tice_lite = true\n\tice_tcp = true\n"
    _write_private(
        conf / "janus.jcfg",
        f"""# Written by vardmote at every start of its embedded Janus; edits are lost.
general: {{
\tconfigs_folder = {_quote(str(conf))}
\tplugins_folder = {_quote(str(folder / "plugins"))}
\ttransports_folder = {_quote(str(folder / "transports"))}
\tevents_folder = {_quote(str(folder / "none"))}
\tloggers_folder = {_quote(str(folder / "none"))}
\tdebug_level = 4
\tdebug_timestamps = true
\tdebug_colors = false
\tserver_name = {_quote(server_name)}
\tapi_secret = {_quote(keys.api_secret.reveal())}
\tsession_timeout = {int(session_timeout)}
\treclaim_session_timeout = {int(settings.janus_reclaim_seconds)}
\thide_dependencies = true
\texit_on_dl_error = true
}}
media: {{
\trtp_port_range = "{low}-{high}"
}}
nat: {{
{nat}}}
events: {{
\tbroadcast = false
}}
""",
    )
    _write_private(
        conf / "janus.plugin.videoroom.jcfg",
        f"""# Written by vardmote; rooms are made through the API, never here.
general: {{
\tadmin_key = {_quote(keys.admin_key.reveal())}
\tstring_ids = true
}}
""",
    )
    _write_private(
        conf / "janus.transport.websockets.jcfg",
        f"""# Written by vardmote: the Janus API on loopback only, no admin API.
general: {{
\tjson = "plain"
\tws = true
\tws_port = {int(settings.janus_ws_port)}
\tws_ip = "127.0.0.1"
\tws_acl = "127."
\twss = false
}}
admin: {{
\tadmin_ws = false
\tadmin_wss = false
}}
""",
    )
    return conf


def only_loopback(interfaces: str) -> bool:
    """only_loopback tells whether an ICE interface list names loopback and nothing else.

    Janus 1.x never gathers candidates on loopback; enforcing only loopback makes
    it find no interface to enforce, and it then gathers on every interface.
    """
    names = [n.strip() for n in interfaces.split(",") if n.strip()]
    return bool(names) and all(n == "lo" or n.startswith(("127.", "::1")) for n in names)


class EmbeddedJanus(Supervised):
    """EmbeddedJanus runs one Janus process for this vardmote and keeps it running."""

    name = "Janus"
    noun = "Janus"
    stem = "janus"
    error = EmbeddedJanusError
    logger = log

    def __init__(
        self,
        settings: Settings,
        *,
        session_timeout: int = 60,
        start_timeout: float = 10.0,
        probe_interval: float = 5.0,
        probe_failures: int = 3,
        backoff: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0),
    ) -> None:
        super().__init__(
            (settings.var_dir / "janus").resolve(),
            start_timeout=start_timeout,
            probe_interval=probe_interval,
            probe_failures=probe_failures,
            backoff=backoff,
        )
        self.settings = settings
        self.url = f"ws://127.0.0.1:{settings.janus_ws_port}"
        self._session_timeout = session_timeout
        self._secrets: EmbeddedSecrets | None = None
        self._server_name = ""

    @property
    def node(self) -> JanusNode:
        """node is this Janus as a node for placement; known once started."""
        if self._secrets is None:
            raise EmbeddedJanusError("the embedded Janus has not been started")
        return JanusNode(self.url, self._secrets.api_secret, self._secrets.admin_key)

    def status(self) -> dict[str, object]:
        """status is the embedded Janus's part of /healthz."""
        return {"mode": "embedded", "url": self.url, "up": self.healthy(), "restarts": self.restarts}

    async def _before_start(self) -> None:
        """_before_start finds the Janus program and loads (or makes) the secrets."""
        if shutil.which(self.settings.janus_binary) is None:
            raise EmbeddedJanusError(
                f"the Janus program {self.settings.janus_binary!r} was not found; install Debian's "
                "package janus (scripts/install-system-packages) or set VARDMOTE_JANUS_BINARY"
            )
        if only_loopback(self.settings.janus_ice_interfaces):
            log.warning(
                "VARDMOTE_JANUS_ICE_INTERFACES=%r names only loopback, where Janus never gathers "
                "candidates; Janus will gather on every interface instead",
                self.settings.janus_ice_interfaces,
            )
        self._secrets = load_or_make_secrets(self.folder)

    @property
    def _mark(self) -> Path:
        return self.folder / "conf"

    def _prepare(self) -> list[str]:
        """_prepare writes Janus's configuration, with a new server name, and rotates its log
        (disk work, run in a thread)."""
        assert self._secrets is not None
        self._server_name = f"vardmote-{secrets.token_hex(6)}"
        conf = write_config(
            self.settings, self._secrets, server_name=self._server_name, session_timeout=self._session_timeout
        )
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            self.log_path.replace(self.folder / "janus.log.1")
        return [
            self.settings.janus_binary,
            "--configs-folder",
            str(conf),
            "--config",
            str(conf / "janus.jcfg"),
        ]

    def _ports_free(self) -> bool:
        return ports_free("127.0.0.1", [(socket.SOCK_STREAM, self.settings.janus_ws_port)])

    def _ports_taken(self) -> str:
        return f"port {self.settings.janus_ws_port} on 127.0.0.1 is taken; set VARDMOTE_JANUS_WS_PORT"

    @property
    def _serves_at(self) -> str:
        return self.url

    @property
    def _answers_where(self) -> str:
        return f"at {self.url}"

    async def _probe(self, timeout: float) -> bool:
        return await self._info(timeout=timeout) is not None

    async def _answers_as_started(self) -> bool:
        """_answers_as_started tells whether this very process answers info (by its server name)."""
        info = await self._info(timeout=1.0)
        return info is not None and info.get("server-name") == self._server_name

    async def _info(self, *, timeout: float) -> dict[str, object] | None:
        """_info asks Janus for info over a new connection; None when it does not answer."""
        try:
            async with await JanusClient.connect(self.url, timeout=timeout) as client:
                return await client.info()
        except JanusException:
            return None
