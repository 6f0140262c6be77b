"""Servers for the end-to-end tests: ``vardmote serve`` in a subprocess, its JSON API, a booking.

``serve`` starts a demo server on a free loopback port with its own var
folder, on a given database (SQLite when none). With ``media=True`` it also
runs the embedded Janus, with ICE held to this machine's own non-loopback
IPv4 address and a free block of RTP ports (docs/design-notes.md), and
counts as up only once Janus is.

``book_protected_meeting`` books a "Vårdmöte patient" through the API, as
annika, and returns what a test needs to join it as host or guest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from booking_helpers import meeting_body
from machine import free_rtp_range, free_tcp_port, local_address

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    """Server is a running ``vardmote serve``: its address, var folder and log."""

    url: str
    """The base address, http://127.0.0.1:<port>, without a trailing slash."""
    var_dir: Path
    """The server's VARDMOTE_VAR_DIR (its Janus keeps janus/janus.pid there)."""
    log: Path
    """The server's stdout and stderr together."""
    media: bool
    """Whether the embedded Janus runs (VARDMOTE_MEDIA=1)."""

    def health(self) -> dict[str, Any] | None:
        """health is /healthz as JSON (also when it answers 503), or None if the server does not answer."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                found: dict[str, Any] = json.load(response)
                return found
        except urllib.error.HTTPError as e:
            body: dict[str, Any] = json.load(e)
            return body
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """call sends JSON to the API (path like /api/v1/meetings), with a bearer token if
        given, and returns the JSON answer; an error status raises urllib's HTTPError."""
        request = urllib.request.Request(
            self.url + path, data=None if body is None else json.dumps(body).encode(), method=method
        )
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def sign_in(self, username: str = "annika", password: str = "demo") -> str:
        """sign_in opens an API session and returns its token (also valid as the vm_session cookie)."""
        token: str = self.call("POST", "/api/v1/session", {"username": username, "password": password})[
            "token"
        ]
        return token

    def janus_pid(self) -> int:
        """janus_pid is the process id of the server's embedded Janus."""
        return int((self.var_dir / "janus" / "janus.pid").read_text().strip())

    def kill_janus(self) -> None:
        """kill_janus kills the embedded Janus outright; the server notices and restarts it."""
        os.kill(self.janus_pid(), signal.SIGKILL)

    def wait_for_janus_restart(self, timeout: float = 15.0) -> dict[str, Any]:
        """wait_for_janus_restart waits until /healthz says Janus is up and has been restarted,
        and returns that health; fails the test with the last health otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health and health["janus"]["up"] and health["janus"]["restarts"]:
                return health
            if time.monotonic() > deadline:
                pytest.fail(f"Janus was not restarted within {timeout:.0f} s: {health}")
            time.sleep(0.1)


def _started(server: Server) -> bool:
    """_started tells whether /healthz says all is well and, with media on, that its Janus is up."""
    health = server.health()
    if health is None or health.get("status") != "ok":
        return False
    return not server.media or bool(health["janus"].get("up"))


def serve(
    var_dir: Path, database_url: str | None, *, media: bool = False, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """serve runs ``vardmote serve`` in demo mode until the generator is closed and yields it.

    It checks that the server uses the database it was given: PostgreSQL when
    database_url is set, its own SQLite file otherwise. env adds settings of the
    test's own (e.g. ``{"VARDMOTE_HOST_LEFT_SECONDS": "6"}``) over the defaults.
    """
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    environment.update(
        VARDMOTE_DEMO="1",
        VARDMOTE_VAR_DIR=str(var_dir),
        VARDMOTE_HOST="127.0.0.1",
        VARDMOTE_PORT=str(port),
        VARDMOTE_JANUS_WS_PORT=str(free_tcp_port()),
    )
    if media:
        environment.update(
            VARDMOTE_MEDIA="1",
            VARDMOTE_PUBLIC_URL=url,
            VARDMOTE_JANUS_RTP_PORTS="{}-{}".format(*free_rtp_range()),
            VARDMOTE_JANUS_ICE_INTERFACES=local_address(),
        )
    if database_url:
        environment["VARDMOTE_DATABASE_URL"] = database_url
    environment.update(env or {})
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir / "server.log"
    server = Server(url, var_dir, log, media)
    command = str(Path(sys.executable).parent / "vardmote")
    with log.open("wb") as out:
        process = subprocess.Popen([command, "serve"], env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _started(server):
            if process.poll() is not None:
                pytest.fail(f"vardmote serve exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                what = "vardmote serve or its Janus" if media else "vardmote serve"
                pytest.fail(f"{what} did not come up within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")
            time.sleep(0.1)
        health = server.health()
        assert health is not None
        engine = "postgresql" if database_url else "sqlite"
        assert health["database"]["engine"] == engine, health
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Booking(NamedTuple):
    """Booking is a protected meeting booked through the API."""

    session: str
    """The booker's API session token; as the vm_session cookie it signs a browser in."""
    meeting_id: str
    guest_url: str
    """The meeting's general guest link, an absolute address on the server."""
    link: str
    """The guest link's token, the last part of guest_url (/m/<link>)."""


def book_protected_meeting(
    server: Server,
    title: str = "Uppföljning",
    *,
    days: int = 1,
    type_key: str = "vardmote_patient",
    username: str = "annika",
    password: str = "demo",
) -> Booking:
    """book_protected_meeting signs in through the API and books a protected meeting
    09:00–09:30 Stockholm time, days from today (tomorrow by default)."""
    session = server.sign_in(username, password)
    body = meeting_body(title, days, type_key=type_key)
    (meeting,) = server.call("POST", "/api/v1/meetings", body, session)
    guest_url: str = meeting["guest_url"]
    return Booking(session, meeting["id"], guest_url, guest_url.rsplit("/m/", 1)[1])
