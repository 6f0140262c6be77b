"""A Redis server for the tests: Debian's ``redis-server`` on a free loopback port.

:func:`running_redis` starts one in a folder of its own (no persistence:
nothing is saved, nothing read at start), on 127.0.0.1 of the test network
namespace (netns.py), waits until it answers PING, and stops it when the
block ends. :meth:`RedisServer.kill` ends it outright (SIGKILL), for tests of
what vardmote does when Redis goes away; :meth:`RedisServer.start` brings it
back on the same port. :func:`redis_fixture` makes a fixture of it.

Redis is installed by ``scripts/install-system-packages --test``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from machine import free_tcp_port

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass
class RedisServer:
    """RedisServer is a running ``redis-server``: its port, folder and log."""

    port: int
    folder: Path
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """url is redis://127.0.0.1:<port>/0, as vardmote's settings take it."""
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> str:
        """command sends one command (inline protocol) and returns the first line of the answer,
        e.g. ``command("PING") == "+PONG"``; raises OSError if Redis does not answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.decode(errors="replace").splitlines()[0] if answer else ""

    def up(self) -> bool:
        """up tells whether Redis answers PING."""
        try:
            return self.command("PING") == "+PONG"
        except OSError:
            return False

    def start(self) -> None:
        """start runs redis-server (again, on the same port) and waits until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [_redis_server(), *self._options()], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.up():
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(
                    f"redis-server did not answer within {STARTUP_TIMEOUT:.0f} s:\n{self.log.read_text()}"
                )
            time.sleep(0.05)

    def _options(self) -> list[str]:
        """_options: loopback only, its own folder, nothing saved (no RDB, no AOF), log to stdout."""
        options = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "dir": str(self.folder),
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "protected-mode": "yes",
            "logfile": "",
        }
        return [part for name, value in options.items() for part in (f"--{name}", value)]

    def kill(self) -> None:
        """kill ends Redis outright (SIGKILL), as a crash would; start brings it back."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """stop ends Redis (SIGTERM, then SIGKILL after STOP_TIMEOUT)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail("redis-server is not installed: run scripts/install-system-packages --test")
    return found


@contextmanager
def running_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """running_redis runs redis-server on a free loopback port, in tmp_path/redis, until the
    block ends; without persistence."""
    folder = tmp_path / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_tcp_port(), folder, folder / "redis.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def redis_fixture(scope: str = "function") -> Any:
    """redis_fixture makes a ``redis`` fixture (bind it as ``redis = redis_fixture()``): one
    Redis for each test by default, or for the module with scope="module"."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
        """redis is a redis-server of the test's own."""
        with running_redis(tmp_path_factory.mktemp("redis")) as server:
            yield server

    return redis
