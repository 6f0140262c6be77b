"""HAProxy for the tests: Debian's ``haproxy`` with the production config, deploy/haproxy.cfg.

:func:`running_haproxy` runs ``haproxy -f deploy/haproxy.cfg -db`` (in the
foreground, logging to stdout) on a free loopback port of the test network
namespace (netns.py), with the given backends (host:port each, at most
:data:`MAX_BACKENDS`) in the environment variables the config reads, waits
until it listens, and stops it when the block ends. Its stats socket (in
the folder) tells the tests what HAProxy thinks of each backend:
:meth:`Haproxy.server_states` and :meth:`Haproxy.wait_for_state`.

HAProxy is installed by ``scripts/install-system-packages --test``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from machine import free_tcp_port, listening

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
MAX_BACKENDS = 4
"""deploy/haproxy.cfg has slots VARDMOTE_BACKEND_1 … _4."""
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass
class Haproxy:
    """Haproxy is a running HAProxy in front of backends: its address, stats socket and log."""

    port: int
    backends: list[str]
    """The backends as given, host:port; the config names them vardmote1, vardmote2, … in order."""
    stats_socket: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """url is http://127.0.0.1:<port>, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        """ws_url is a WebSocket address through HAProxy (path like /ws/meetings/x)."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def server_name(self, backend: str) -> str:
        """server_name is the config's name of a backend (vardmote1 for the first)."""
        return f"vardmote{self.backends.index(backend) + 1}"

    def stats(self, command: str) -> str:
        """stats sends one command to the stats socket (level user) and returns the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(self.stats_socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def server_states(self) -> dict[str, str]:
        """server_states maps each backend (host:port, as given) to what HAProxy thinks of it:
        "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/1" (coming up), "MAINT", …"""
        lines = self.stats("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "vardmote" and row.get("svname", "").startswith("vardmote"):
                states[self.backends[int(row["svname"].removeprefix("vardmote")) - 1]] = row["status"]
        return states

    def wait_for_state(self, backend: str, state: str, timeout: float = 10.0) -> None:
        """wait_for_state waits until HAProxy's health checks put backend in state ("UP" or
        "DOWN"); fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while (found := self.server_states().get(backend)) != state:
            if time.monotonic() > deadline:
                pytest.fail(f"HAProxy did not mark {backend} {state} within {timeout:.0f} s: {found}")
            time.sleep(0.05)


def _haproxy() -> str:
    found = shutil.which("haproxy")
    if found is None:
        pytest.fail("haproxy is not installed: run scripts/install-system-packages --test")
    return found


@contextmanager
def running_haproxy(tmp_path: Path, backends: list[str]) -> Iterator[Haproxy]:
    """running_haproxy runs HAProxy with deploy/haproxy.cfg in front of backends (host:port
    each, 1 to MAX_BACKENDS) on a free loopback port until the block ends; its folder is
    tmp_path/haproxy. It fails the caller if HAProxy does not start or ends on its own."""
    if not 1 <= len(backends) <= MAX_BACKENDS:
        raise ValueError(f"deploy/haproxy.cfg takes 1 to {MAX_BACKENDS} backends, not {len(backends)}")
    folder = tmp_path / "haproxy"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    stats_socket = folder / "stats.sock"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    environment.update(
        VARDMOTE_HAPROXY_BIND=f"127.0.0.1:{port}",
        VARDMOTE_HAPROXY_STATS_SOCKET=str(stats_socket),
    )
    for number, backend in enumerate(backends, start=1):
        environment[f"VARDMOTE_BACKEND_{number}"] = backend
    log = folder / "haproxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_haproxy(), "-f", str(CONFIG), "-db"], env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    proxy = Haproxy(port, list(backends), stats_socket, log, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (listening(port) and stats_socket.exists()):
            if process.poll() is not None:
                pytest.fail(f"haproxy exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"haproxy did not listen within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")
            time.sleep(0.05)
        yield proxy
        if process.poll() is not None:
            pytest.fail(f"haproxy ended on its own with {process.returncode}:\n{log.read_text()}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
