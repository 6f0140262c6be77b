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
and reports its health for ``/healthz``. A restarted Janus knows no rooms,
sessions or PeerConnections: clients of the old process get
JanusUnavailable, and must connect again and make the rooms anew.

Concurrency: an EmbeddedJanus belongs to one event loop. start() and stop()
are not to be called concurrently with each other; healthy() and status() may
be called at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vardmote.media.janus import JanusClient, JanusException
from vardmote.media.placement import JanusNode
from vardmote.settings import Secret, Settings

log = logging.getLogger("vardmote.media.embedded")

VIDEOROOM_LIBRARY = "libjanus_videoroom.so"
ECHOTEST_LIBRARY = "libjanus_echotest.so"
WEBSOCKETS_LIBRARY = "libjanus_websockets.so"

# Where Janus's plugins live: Debian's multiarch folders first, then common builds.
LIBRARY_FOLDERS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")

LOG_ROTATE_BYTES = 10_000_000
LONG_ENOUGH_SECONDS = 60.0
"""A Janus that ran this long before dying is restarted after the shortest pause again."""


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


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _until(condition: Callable[[], bool], *, within: float) -> bool:
    """_until polls condition until it holds or within seconds have passed, and tells which.

    Polling, because the kernel offers no event for "this port is free again" or
    "every thread of that process has exited"; each check is one cheap syscall.
    """
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _leftover_pid(pid_file: Path, conf: Path) -> int | None:
    """_leftover_pid is the pid of a Janus of this var folder that still runs, if any."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(conf).encode() in cmdline else None


async def _end_leftover(pid_file: Path, conf: Path) -> None:
    """_end_leftover ends a Janus of this var folder left running by a crashed vardmote."""
    pid = await asyncio.to_thread(_leftover_pid, pid_file, conf)
    if pid is None:
        return
    log.warning("ending the Janus (pid %s) a previous vardmote left running", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    await _until(lambda: not _running(pid), within=3)


def _running(pid: int) -> bool:
    """_running tells whether any thread of a process still runs (Linux /proc).

    A killed process's main thread may be a zombie while its other threads still
    exit and hold its sockets.
    """
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for thread in threads:
        try:
            if (thread / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                return True
        except OSError:
            continue
    return False


class EmbeddedJanus:
    """EmbeddedJanus runs one Janus process for this vardmote and keeps it running."""

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
        if probe_interval <= 0 or probe_failures < 1 or not backoff or min(backoff) < 0:
            raise ValueError(
                "EmbeddedJanus needs probe_interval > 0, probe_failures >= 1 and non-negative pauses, "
                f"got {probe_interval}, {probe_failures}, {tuple(backoff)}"
            )
        self.settings = settings
        self.folder = (settings.var_dir / "janus").resolve()
        self.url = f"ws://127.0.0.1:{settings.janus_ws_port}"
        self._session_timeout = session_timeout
        self._start_timeout = start_timeout
        self._probe_interval = probe_interval
        self._probe_failures = probe_failures
        self._backoff = tuple(backoff)
        self._secrets: EmbeddedSecrets | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._started_at = 0.0
        self._up = False
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self.restarts = 0
        """How many times Janus was restarted after it died or stopped answering."""

    @property
    def node(self) -> JanusNode:
        """node is this Janus as a node for placement; known once started."""
        if self._secrets is None:
            raise EmbeddedJanusError("the embedded Janus has not been started")
        return JanusNode(self.url, self._secrets.api_secret, self._secrets.admin_key)

    @property
    def pid(self) -> int | None:
        """pid is the process id of the running Janus, or None."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    def healthy(self) -> bool:
        """healthy tells whether Janus runs and answered its latest check."""
        return self.pid is not None and self._up

    def status(self) -> dict[str, object]:
        """status is the embedded Janus's part of /healthz."""
        return {"mode": "embedded", "url": self.url, "up": self.healthy(), "restarts": self.restarts}

    async def start(self) -> None:
        """start writes the configuration, starts Janus, waits until it answers and
        then watches it. Raises EmbeddedJanusError, with the end of its log, if it
        cannot be started."""
        if self._supervisor is not None:
            raise EmbeddedJanusError("the embedded Janus is already started")
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
        self._stopping = False
        await _end_leftover(self.folder / "janus.pid", self.folder / "conf")
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name="janus-supervisor")

    async def stop(self) -> None:
        """stop ends the watching and Janus itself: SIGTERM, then SIGKILL after 5 s."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._terminate()
        self._up = False
        with contextlib.suppress(FileNotFoundError):
            (self.folder / "janus.pid").unlink()

    def _prepare_files(self, server_name: str) -> tuple[Path, Path]:
        """_prepare_files writes Janus's configuration and rotates its log (disk work, run in a thread)."""
        assert self._secrets is not None
        conf = write_config(
            self.settings, self._secrets, server_name=server_name, session_timeout=self._session_timeout
        )
        log_path = self.folder / "janus.log"
        if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
            log_path.replace(self.folder / "janus.log.1")
        return conf, log_path

    async def _launch(self) -> None:
        """_launch starts one Janus process and returns once it answers info."""
        assert self._secrets is not None
        port = self.settings.janus_ws_port
        if not await _until(lambda: _port_is_free(port), within=3.0):  # a Janus just ended may hold it
            raise EmbeddedJanusError(
                f"port {self.settings.janus_ws_port} on 127.0.0.1 is taken; set VARDMOTE_JANUS_WS_PORT"
            )
        server_name = f"vardmote-{secrets.token_hex(6)}"
        conf, log_path = await asyncio.to_thread(self._prepare_files, server_name)
        output = await asyncio.to_thread(log_path.open, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.settings.janus_binary,
                "--configs-folder",
                str(conf),
                "--config",
                str(conf / "janus.jcfg"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # a Ctrl-C meant for vardmote reaches Janus through stop()
            )
        finally:
            output.close()
        self._started_at = time.monotonic()
        await asyncio.to_thread((self.folder / "janus.pid").write_text, f"{self._process.pid}\n")
        log.info("started Janus (pid %s) at %s; its log is %s", self._process.pid, self.url, log_path)
        try:
            await self._wait_answering(server_name)
        except EmbeddedJanusError:
            await self._terminate()
            raise
        self._up = True

    async def _wait_answering(self, server_name: str) -> None:
        """_wait_answering waits until this very process answers info (by its server name)."""
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise EmbeddedJanusError(
                    f"Janus exited with {self._process.returncode} while starting; "
                    f"the end of {self.folder / 'janus.log'}:\n{self._log_tail()}"
                )
            info = await self._info(timeout=1.0)
            if info is not None and info.get("server-name") == server_name:
                return
            await asyncio.sleep(0.05)
        raise EmbeddedJanusError(
            f"Janus did not answer at {self.url} within {self._start_timeout:.0f} s; "
            f"the end of {self.folder / 'janus.log'}:\n{self._log_tail()}"
        )

    async def _info(self, *, timeout: float) -> dict[str, object] | None:
        """_info asks Janus for info over a new connection; None when it does not answer."""
        try:
            async with await JanusClient.connect(self.url, timeout=timeout) as client:
                return await client.info()
        except JanusException:
            return None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join((self.folder / "janus.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            log.warning("Janus (pid %s) did not end on SIGTERM; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def _supervise(self) -> None:
        """_supervise checks Janus every probe_interval and restarts it when it dies or
        fails probe_failures checks in a row (it is then killed first)."""
        failures = 0  # quick deaths in a row; sets the pause before the next start
        while not self._stopping:
            process = self._process
            assert process is not None
            await self._watch(process)
            if self._stopping:
                return
            self._up = False
            ran = time.monotonic() - self._started_at
            if ran >= LONG_ENOUGH_SECONDS:
                failures = 0
            pause = self._backoff[min(failures, len(self._backoff) - 1)]
            failures += 1
            log.error(
                "Janus (pid %s) ended with %s after %.0f s; restarting it in %.1f s",
                process.pid,
                process.returncode,
                ran,
                pause,
            )
            await asyncio.sleep(pause)
            try:
                await self._launch()
            except EmbeddedJanusError as e:
                log.error("restarting Janus failed: %s", e)
                continue
            self.restarts += 1
            log.warning("Janus restarted (pid %s); %d restarts so far", self.pid, self.restarts)

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """_watch returns when process has ended, killing it if it stopped answering."""
        ended = asyncio.ensure_future(process.wait())
        silent = 0
        try:
            while True:
                done, _ = await asyncio.wait({ended}, timeout=self._probe_interval)
                if done:
                    return
                answered = await self._info(timeout=min(2.0, self._probe_interval)) is not None
                self._up = answered and process.returncode is None
                silent = 0 if answered else silent + 1
                if silent >= self._probe_failures:
                    log.error("Janus (pid %s) stopped answering; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
        finally:
            ended.cancel()
