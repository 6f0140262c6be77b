"""Running servers for the tests and benchmarks: ``vardmote serve`` in a subprocess, its API, a booking.

The one way the browser tests (tests/e2e), the media tests (tests/media) and
the benchmarks (bench/) start vardmote. :func:`serve` runs a demo server on a
free loopback port with its own var folder, as in production. With
``media=True`` it also runs the embedded Janus, its ICE held to the test
network namespace's veth address (netns.py; never this machine's own
address) and its RTP on a free block of UDP ports, and counts as up only
once Janus is.

Database: when the run is given a PostgreSQL server (``VARDMOTE_TEST_DATABASE_URL``,
databases.py), every server gets a fresh database on it, dropped when the
server stops; otherwise the server keeps its own SQLite file in its var
folder. :meth:`Server.database` opens whichever it is.

The log: when a server stops, its log is read, and one that has an ERROR (or
CRITICAL) record or a traceback fails the caller: a fixture's teardown (pytest
reports an error for the last test that used it), or the ``with`` block. A
test that provokes an error on purpose declares it with
:meth:`Server.expect_in_log` (or ``serve(expected_errors=...)``).

:func:`server_fixture` makes a test module's own ``server`` fixture;
:func:`book_protected_meeting` books a meeting through the API, and the
fixtures :func:`annika` and :func:`meeting` do so on a module's ``server``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from booking_helpers import meeting_body
from databases import fresh_database, postgres_server_url
from machine import free_rtp_range, free_tcp_port
from netns import media_address
from vardmote.audit.log import use_key as use_audit_key
from vardmote.db import Database
from vardmote.settings import Secret, Settings

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
DEMO_PASSWORD = "demo"


@dataclass
class Server:
    """Server is a running ``vardmote serve``: its address, var folder, database and log."""

    url: str
    """The base address, http://127.0.0.1:<port>, without a trailing slash."""
    var_dir: Path
    """The server's VARDMOTE_VAR_DIR (its Janus keeps janus/janus.pid and secrets there)."""
    log: Path
    """The server's stdout and stderr together."""
    media: bool
    """Whether the embedded Janus runs (VARDMOTE_MEDIA=1)."""
    database_url: str
    """The database the server uses: a fresh PostgreSQL one or its own SQLite file."""
    process: subprocess.Popen[bytes]
    janus_ws_port: int
    expected_errors: list[str] = field(default_factory=list)
    """Regular expressions of error records the server's log may have (expect_in_log)."""
    stopped: bool = False
    """The test stopped the process itself (kill, stop): its ending is expected."""
    secret_key: str = ""
    """The VARDMOTE_SECRET_KEY the server was given; empty: the one in its var folder."""

    def kill(self) -> None:
        """kill ends the process with SIGKILL, as a crash or the OOM killer would."""
        self.stopped = True
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """stop sends SIGTERM, as a rolling upgrade does, and waits for the process to end."""
        self.stopped = True
        self.process.terminate()
        self.process.wait(timeout=STOP_TIMEOUT)

    @property
    def janus_url(self) -> str:
        """janus_url is the embedded Janus's WebSocket API (its api_secret is in janus_secrets)."""
        return f"ws://127.0.0.1:{self.janus_ws_port}"

    def ws_url(self, meeting_id: str) -> str:
        """ws_url is the meeting's signalling WebSocket (docs/protocol.md)."""
        return self.url.replace("http://", "ws://", 1) + f"/ws/meetings/{meeting_id}"

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

    def sign_in(self, username: str = "annika", password: str = DEMO_PASSWORD) -> str:
        """sign_in opens an API session and returns its token (also valid as the vm_session cookie)."""
        answer = self.call("POST", "/api/v1/session", {"username": username, "password": password})
        token: str = answer["token"]
        return token

    def janus_pid(self) -> int:
        """janus_pid is the process id of the server's embedded Janus."""
        return int((self.var_dir / "janus" / "janus.pid").read_text().strip())

    def janus_secrets(self) -> dict[str, str]:
        """janus_secrets are the embedded Janus's api_secret and admin_key."""
        data: dict[str, str] = json.loads((self.var_dir / "janus" / "secrets.json").read_text())
        return data

    def kill_janus(self) -> None:
        """kill_janus kills the embedded Janus outright; the server notices, logs it as an
        error (which it declares expected here) and restarts it."""
        self.expect_in_log(JANUS_ENDED)
        os.kill(self.janus_pid(), signal.SIGKILL)

    def wait_for_janus_restart(self, restarts: int = 1, timeout: float = 15.0) -> dict[str, Any]:
        """wait_for_janus_restart waits until /healthz says Janus is up and has been restarted
        at least restarts times, and returns that health; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health and health["janus"]["up"] and health["janus"]["restarts"] >= restarts:
                return health
            if time.monotonic() > deadline:
                pytest.fail(f"Janus was not restarted {restarts} time(s) within {timeout:.0f} s: {health}")
            time.sleep(0.1)

    def database(self) -> Database:
        """database opens the server's database (for what the API does not show), with the
        server's audit key (from its var folder) for what it records; dispose it after."""
        db = Database(self.database_url)
        use_audit_key(db.engine, self.settings().effective_audit_key())
        return db

    def settings(self) -> Settings:
        """settings are enough of the server's settings to open its database and links (its
        secret key, given or in its var folder)."""
        return Settings(
            var_dir=self.var_dir,
            public_url=self.url,
            database_url=self.database_url,
            media=False,
            secret_key=Secret(self.secret_key),
        )

    def expect_in_log(self, pattern: str) -> None:
        """expect_in_log lets the server's log have error records that match pattern (a regular
        expression searched in the record, traceback included) until the server stops."""
        self.expected_errors.append(pattern)

    def log_errors(self) -> list[str]:
        """log_errors are the error records and tracebacks in the log that no expect_in_log allows."""
        return log_errors(self.log.read_text(errors="replace"), self.expected_errors)


JANUS_ENDED = r"ERROR vardmote\.media\.embedded Janus \(pid \d+\) ended with"
"""What the server logs when its Janus dies (Server.kill_janus expects it)."""

# A record of vardmote's logging ("2025-01-31 09:00:00,000 ERROR name message")
# or of uvicorn's ("ERROR:    message").
_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) |(?P<uvicorn>[A-Z]+):\s)")
_ERROR_LEVELS = {"ERROR", "CRITICAL"}
_TRACEBACK = "Traceback (most recent call last)"


def log_errors(text: str, expected: Iterable[str] = ()) -> list[str]:
    """log_errors lists the records of a server log (a record is a line with its continuation
    lines, e.g. a traceback) that are errors: an ERROR or CRITICAL record, a traceback, or
    a line outside any record that says ERROR; except those that match an expected pattern."""
    records: list[list[str]] = []
    for line in text.splitlines():
        if _RECORD.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    allowed = [re.compile(p) for p in expected]
    found = []
    for lines in records:
        record = "\n".join(lines)
        start = _RECORD.match(lines[0])
        level = (start.group("level") or start.group("uvicorn")) if start else None
        error = level in _ERROR_LEVELS or _TRACEBACK in record or (start is None and "ERROR" in record)
        if error and not any(p.search(record) for p in allowed):
            found.append(record)
    return found


def _started(server: Server) -> bool:
    """_started tells whether /healthz says all is well and, with media on, that its Janus is up."""
    health = server.health()
    if health is None or health.get("status") != "ok":
        return False
    return not server.media or bool(health["janus"].get("up"))


@contextmanager
def _database(database_url: str | None, var_dir: Path) -> Iterator[str]:
    """_database is database_url, else a fresh database on the run's PostgreSQL server,
    else the server's own SQLite file in var_dir."""
    if database_url:
        yield database_url
    elif postgres_server_url():
        with fresh_database(postgres_server_url(), "server") as url:
            yield url
    else:
        yield Settings(var_dir=var_dir).effective_database_url


@contextmanager
def serve(
    var_dir: Path,
    *,
    media: bool = False,
    env: dict[str, str] | None = None,
    database_url: str | None = None,
    expected_errors: Iterable[str] = (),
) -> Iterator[Server]:
    """serve runs ``vardmote serve`` in demo mode until the block ends, then checks its log.

    env adds settings of the caller's own (e.g. ``{"VARDMOTE_HOST_LEFT_SECONDS": "6"}``)
    over the defaults; no other VARDMOTE_* variable of this process reaches the server.
    database_url overrides the run's database (see the module). expected_errors are
    patterns of error records the log may have (Server.expect_in_log). It checks that the
    server uses the database it was given, and fails if the server ended on its own or
    its log has errors.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    with _database(database_url, var_dir) as url:
        with _running(var_dir, url, media=media, env=env) as server:
            server.expected_errors.extend(expected_errors)
            yield server
        errors = server.log_errors()
        if errors:
            pytest.fail(
                f"the log of vardmote serve ({server.log}) has errors:\n\n" + "\n\n".join(errors),
                pytrace=False,
            )


@contextmanager
def _running(
    var_dir: Path, database_url: str, *, media: bool, env: dict[str, str] | None
) -> Iterator[Server]:
    port, janus_port = free_tcp_port(), free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    environment.update(
        VARDMOTE_DEMO="1",
        VARDMOTE_VAR_DIR=str(var_dir),
        VARDMOTE_HOST="127.0.0.1",
        VARDMOTE_PORT=str(port),
        VARDMOTE_JANUS_WS_PORT=str(janus_port),
        VARDMOTE_DATABASE_URL=database_url,
        VARDMOTE_TURN="off",  # no relay unless the test's env asks for one (tests/media/test_relay.py)
    )
    environment["VARDMOTE_MEDIA"] = "1" if media else "0"  # on by default in vardmote
    if media:
        environment.update(
            VARDMOTE_PUBLIC_URL=url,
            VARDMOTE_JANUS_RTP_PORTS="{}-{}".format(*free_rtp_range()),
            VARDMOTE_JANUS_ICE_INTERFACES=media_address(),
        )
    environment.update(env or {})
    log = var_dir / "server.log"
    command = str(Path(sys.executable).parent / "vardmote")
    with log.open("wb") as out:
        process = subprocess.Popen([command, "serve"], env=environment, stdout=out, stderr=subprocess.STDOUT)
    secret_key = environment.get("VARDMOTE_SECRET_KEY", "")
    server = Server(url, var_dir, log, media, database_url, process, janus_port, secret_key=secret_key)
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
        engine = "postgresql" if database_url.startswith("postgresql") else "sqlite"
        assert health["database"]["engine"] == engine, health
        yield server
        if process.poll() is not None and not server.stopped:
            pytest.fail(f"vardmote serve ended on its own with {process.returncode}:\n{log.read_text()}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_fixture(
    folder: str, *, media: bool = True, env: dict[str, str] | None = None, scope: str = "module"
) -> Any:
    """server_fixture makes a test module's ``server`` fixture: one ``vardmote serve`` (with
    media by default) for the module, in a folder named folder under pytest's temporary
    folder; env goes to :func:`serve`.

    Bind it in the module as ``server = server_fixture(...)`` (pytest finds fixtures by the
    module's names), with :func:`annika` and :func:`meeting` beside it if the module uses them.
    """

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        """server is ``vardmote serve`` in demo mode; its log is checked when it stops."""
        with serve(tmp_path_factory.mktemp(folder) / "var", media=media, env=env) as running:
            yield running

    return server


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
    session: str | None = None,
    username: str = "annika",
    password: str = DEMO_PASSWORD,
) -> Booking:
    """book_protected_meeting books a meeting of type_key 09:00–09:30 Stockholm time, days
    from today (tomorrow by default; its guest link works already today), through the API
    as the signed-in session, or as username after signing in."""
    if session is None:
        session = server.sign_in(username, password)
    body = meeting_body(title, days, type_key=type_key)
    (meeting,) = server.call("POST", "/api/v1/meetings", body, session)
    guest_url: str = meeting["guest_url"]
    return Booking(session, meeting["id"], guest_url, guest_url.rsplit("/m/", 1)[1])


@pytest.fixture
def annika(server: Server) -> str:
    """annika is the clinician's session token (sent as the vm_session cookie) on the module's server."""
    return server.sign_in()


@pytest.fixture
def meeting(server: Server, annika: str) -> Booking:
    """meeting is a "Vårdmöte patient" booked by annika for tomorrow; its guest link works now."""
    return book_protected_meeting(server, session=annika)
