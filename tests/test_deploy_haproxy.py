"""deploy/haproxy.cfg with Debian's HAProxy (tests/haproxy.py): round robin without stickiness,
requests that still succeed while a backend dies and after its health checks take it out, a
backend that answers /healthz with 503 kept in, the forwarded headers, no paths in its log,
/metrics refused, and a real ``vardmote serve``'s signalling WebSocket through it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from haproxy import running_haproxy
from machine import free_tcp_port
from servers import serve


class _Backend:
    """_Backend is a tiny HTTP server standing in for a vardmote process: / answers with its
    name and the headers it got (names in lower case), /livez with live_status after live_delay
    seconds, /healthz with 503 (a database or Janus outage, shared by every process)."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_tcp_port()
        self.live_status = 200
        self.live_delay = 0.0
        self._server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/livez":
                    time.sleep(backend.live_delay)
                    status, body = backend.live_status, b"{}"
                elif self.path == "/healthz":
                    status, body = 503, b"{}"
                else:
                    status = 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    body = json.dumps({"name": backend.name, "headers": headers}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # a health check may hang up first
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """stop closes the listening socket: connections to it are refused, as to a dead process."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def _backends(*names: str) -> Iterator[list[_Backend]]:
    started = [_Backend(name) for name in names]
    try:
        for backend in started:
            backend.start()
        yield started
    finally:
        for backend in started:
            backend.stop()


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def _names(url: str, count: int) -> Counter[str]:
    return Counter(_get(url)["name"] for _ in range(count))


def test_round_robin_reaches_every_backend_without_stickiness(tmp_path: Path) -> None:
    with _backends("a", "b") as (a, b), running_haproxy(tmp_path, [a.address, b.address]) as proxy:
        proxy.wait_for_state(a.address, "UP")
        proxy.wait_for_state(b.address, "UP")
        assert _names(proxy.url + "/", 10) == {"a": 5, "b": 5}
        # No cookie pins a browser to a process.
        with urllib.request.urlopen(proxy.url + "/", timeout=5) as response:
            assert response.headers.get("Set-Cookie") is None


def test_the_client_address_and_scheme_are_forwarded(tmp_path: Path) -> None:
    with _backends("a") as (a,), running_haproxy(tmp_path, [a.address]) as proxy:
        headers = _get(proxy.url + "/")["headers"]
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"
        assert headers["host"] == f"127.0.0.1:{proxy.port}"


def test_the_proxy_log_has_no_request_paths(tmp_path: Path) -> None:
    """Paths hold guest-link and calendar-feed tokens (docs/operations.md, Logs)."""
    with _backends("a") as (a,), running_haproxy(tmp_path, [a.address]) as proxy:
        _get(proxy.url + "/m/hemlig-gastlank-123?x=kalender-456")
        deadline = time.monotonic() + 5
        while " GET" not in proxy.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = proxy.log.read_text()
    assert " 200 " in log
    assert " GET" in log
    for secret in ("hemlig", "kalender", "/m/"):
        assert secret not in log


def test_metrics_are_refused_from_outside(tmp_path: Path) -> None:
    with _backends("a") as (a,), running_haproxy(tmp_path, [a.address]) as proxy:
        for path in ("/metrics", "/metrics/", "/metrics?x=1", "/%6detrics", "/metrics/%2e%2e"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                _get(proxy.url + path)
            assert refused.value.code == 403, path
        assert _get(proxy.url + "/metricsarkiv")["name"] == "a"


def test_requests_succeed_while_a_backend_dies_and_after_it_is_marked_down(tmp_path: Path) -> None:
    with _backends("a", "b") as (a, b), running_haproxy(tmp_path, [a.address, b.address]) as proxy:
        proxy.wait_for_state(b.address, "UP")
        b.stop()
        # Before the checks notice: a refused connection is tried again on the other backend.
        assert _names(proxy.url + "/", 4) == {"a": 4}

        started = time.monotonic()
        proxy.wait_for_state(b.address, "DOWN", timeout=5)
        assert time.monotonic() - started < 3  # inter 500ms, fall 2
        assert _names(proxy.url + "/", 4) == {"a": 4}

        # Back on the same port: one good check (rise 1) brings it in again.
        back = _Backend("b", b.port)
        back.start()
        try:
            proxy.wait_for_state(b.address, "UP", timeout=5)
            assert _names(proxy.url + "/", 4) == {"a": 2, "b": 2}
        finally:
            back.stop()


def test_only_a_backend_that_does_not_answer_livez_is_taken_out(tmp_path: Path) -> None:
    """/healthz answering 503 (the database or a Janus node is down, which every process shares)
    does not count; a process that answers /livez otherwise, or too slowly, is out."""
    with _backends("a", "b") as (a, b), running_haproxy(tmp_path, [a.address, b.address]) as proxy:
        time.sleep(1.5)  # three checks while /healthz says 503
        assert proxy.server_states()[b.address] == "UP"
        b.live_delay = 1.5  # hung: the check's timeout is a second
        proxy.wait_for_state(b.address, "DOWN", timeout=5)
        b.live_delay = 0.0
        proxy.wait_for_state(b.address, "UP", timeout=5)
        b.live_status = 404  # answering something else: not a vardmote
        proxy.wait_for_state(b.address, "DOWN", timeout=5)


def test_the_signalling_websocket_passes_through_to_vardmote(tmp_path: Path) -> None:
    with serve(tmp_path / "var") as server:
        backend = server.url.removeprefix("http://")
        with running_haproxy(tmp_path, [backend]) as proxy:
            proxy.wait_for_state(backend, "UP")
            health = _get(proxy.url + "/healthz")
            assert health["status"] == "ok"
            # Prometheus scrapes the process itself; through HAProxy /metrics is refused.
            with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
                assert b"vardmote_websockets" in response.read()
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(proxy.url + "/metrics", timeout=5)
            assert refused.value.code == 403

            # A browser's socket: its Origin is HAProxy's address, which vardmote accepts as its Host.
            with connect(proxy.ws_url("/ws/meetings/x"), origin=Origin(proxy.url), open_timeout=5) as ws:
                frame = json.loads(ws.recv(timeout=5))
            # Without media the server answers every socket with this error and closes it.
            assert frame["type"] == "error"
            assert frame["code"] == "media_unavailable"
