"""Fixtures for the end-to-end tests: real servers, Debian's Chromium, screenshots.

A server is ``vardmote serve`` in a subprocess (tests/servers.py), in demo
mode, on a free loopback port, with its own var folder: ``server_url``
without media, ``media_server`` with its embedded Janus. When
``VARDMOTE_TEST_DATABASE_URL`` names a PostgreSQL server, a fresh database is
made on it for each server and dropped afterwards; otherwise each server
keeps its default SQLite file. A server's log is checked when its fixture
ends (an error in it fails the teardown).

Chromium, like everything of the run, lives in the tests' own network
namespace (tests/netns.py): 127.0.0.1 is the namespace's loopback.

Chromium is Debian's (``/usr/bin/chromium``), never a downloaded one. Every
browser context may reach the server only: a request to any other host is
aborted and fails the test, so a page that pulls in an outside font or script
is caught here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

from servers import Server, serve

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
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="package")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """demo_server is a running demo server (media off) with a fresh database."""
    with serve(tmp_path_factory.mktemp("e2e-var") / "var", media=False) as server:
        yield server


@pytest.fixture(scope="package")
def server_url(demo_server: Server) -> str:
    """server_url is demo_server's address."""
    return demo_server.url


@pytest.fixture(scope="package")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """media_server is a demo server with media on: its embedded Janus is up, ICE held to the
    test namespace's veth address, RTP on free ports; a fresh database as for server_url.

    Its ``call`` speaks to the JSON API; ``book_protected_meeting`` (tests/servers.py) books on
    it; ``kill_janus`` and ``wait_for_janus_restart`` test losing Janus (leave it restarted and up).
    """
    with serve(tmp_path_factory.mktemp("e2e-media") / "var", media=True) as server:
        yield server


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


def _contexts(browser: Browser, base_url: Callable[[], str]) -> Iterator[NewContext]:
    """_contexts yields a maker of guarded browser contexts, closes them afterwards and fails
    the test if a page asked for an address outside the server."""
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
            "locale": "sv-SE",
            "timezone_id": "Europe/Stockholm",
            "accept_downloads": True,
        }
        options.update(overrides)
        if "base_url" not in options:
            options["base_url"] = base_url()
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.route("**/*", guard)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not outside, f"the pages asked for addresses outside the server: {outside}"


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewContext]:
    """new_context makes a Swedish, Stockholm-time browser context that may reach loopback only,
    by default against server_url (started only then).

    Keyword arguments (e.g. a Playwright device, or ``base_url=media_server.url``) override the
    defaults. Each context has its own cookies, so a second context is a second person.
    """
    yield from _contexts(browser, lambda: str(request.getfixturevalue("server_url")))


@pytest.fixture
def new_media_context(browser: Browser, media_server: Server) -> Iterator[NewContext]:
    """new_media_context is new_context against media_server."""
    yield from _contexts(browser, lambda: media_server.url)


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
