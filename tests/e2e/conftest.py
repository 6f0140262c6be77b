"""Fixtures for the end-to-end tests: a real server, Debian's Chromium, screenshots.

The server is ``vardmote serve`` in a subprocess, in demo mode, on a free
loopback port, with its own var folder. When ``VARDMOTE_TEST_DATABASE_URL``
names a PostgreSQL server, a fresh database is made on it for this run and
dropped afterwards; otherwise the server keeps its default SQLite file.

Chromium is Debian's (``/usr/bin/chromium``), never a downloaded one. Every
browser context may reach the server only: a request to any other host is
aborted and fails the test, so a page that pulls in an outside font or script
is caught here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright
from sqlalchemy.engine import make_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
STARTUP_TIMEOUT = 30.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _free_port() -> int:
    """_free_port asks the kernel for a loopback port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_database(server_url: str) -> Iterator[str]:
    """_postgres_database makes an empty database for the server and drops it afterwards."""
    import psycopg

    url = make_url(server_url)
    name = f"vardmote_e2e_{uuid.uuid4().hex[:10]}"
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """_wait_until_healthy polls /healthz until it answers 200 and returns its JSON;
    fails with the server's output if the server dies or does not answer in time."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vardmote serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    health: dict[str, Any] = json.load(response)
                    return health
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"vardmote serve did not answer /healthz within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")


def _serve(var_dir: Path, database_url: str | None) -> Iterator[str]:
    """_serve runs ``vardmote serve`` until the generator is closed and yields its address."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    env.update(
        VARDMOTE_DEMO="1",
        VARDMOTE_VAR_DIR=str(var_dir),
        VARDMOTE_HOST="127.0.0.1",
        VARDMOTE_PORT=str(port),
        VARDMOTE_JANUS_WS_PORT=str(_free_port()),
    )
    if database_url:
        env["VARDMOTE_DATABASE_URL"] = database_url
    command = str(Path(sys.executable).parent / "vardmote")
    log = var_dir / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen([command, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        health = _wait_until_healthy(base_url, process, log)
        engine = "postgresql" if database_url else "sqlite"
        assert health["database"]["engine"] == engine, health
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server_url is the address of a running demo server with a fresh database."""
    var_dir = tmp_path_factory.mktemp("e2e-var")
    server = os.environ.get("VARDMOTE_TEST_DATABASE_URL", "")
    if server:
        for database_url in _postgres_database(server):
            yield from _serve(var_dir, database_url)
    else:
        yield from _serve(var_dir, None)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """browser is headless Debian Chromium with a fake camera and microphone."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


NewContext = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser, server_url: str) -> Iterator[NewContext]:
    """new_context makes a Swedish, Stockholm-time browser context that may reach the server only.

    Keyword arguments (e.g. a Playwright device) override the defaults. Each
    context has its own cookies, so a second context is a second person.
    """
    made: list[BrowserContext] = []
    outside: list[str] = []

    def guard(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in LOOPBACK:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def make(**overrides: Any) -> BrowserContext:
        options: dict[str, Any] = {
            "base_url": server_url,
            "locale": "sv-SE",
            "timezone_id": "Europe/Stockholm",
            "accept_downloads": True,
        }
        options.update(overrides)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.route("**/*", guard)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not outside, f"the pages asked for addresses outside the server: {outside}"


class Steps:
    """Steps saves a numbered full-page screenshot of each step into one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def shot(self, page: Page, name: str) -> Path:
        """shot saves page as NN-name.png and returns the path."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def steps() -> Callable[[str], Steps]:
    """steps(folder) empties test-artifacts/e2e/<folder> and numbers screenshots into it."""

    def make(folder: str) -> Steps:
        path = ARTIFACTS / folder
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return Steps(path)

    return make
