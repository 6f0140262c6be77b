"""Bounds on what a client may send over HTTP: bodies are refused before they are read or parsed.

Against a real ``vardmote serve`` (tests/servers.py): a request announces a
body far over the limit and sends only its first kilobyte; the answer, a
Swedish 413 (problem JSON under ``/api/``, an error page elsewhere), must come
while the rest was never sent, so the server neither waited for it nor parsed
it. A body sent in chunks, with no length announced, is cut off the same way.
The bounds' settings are read as docs/configuration.md says.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from servers import Server, server_fixture
from vardmote.settings import Settings, SettingsError, load_settings
from vardmote.skype.calendar_export import MAX_FILE_BYTES
from vardmote.web.body_limits import BODY_MAX_BYTES, UPLOAD_MAX_BYTES

server = server_fixture("bounds-web", media=False)


class Answer:
    """Answer is an HTTP response read off a raw socket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def _read_answer(sock: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body)


def _post_announcing(
    server: Server,
    path: str,
    *,
    length: int | None,
    content_type: str,
    sent: bytes,
    cookie: str | None = None,
) -> tuple[Answer, float]:
    """_post_announcing sends a POST whose headers announce length bytes (None: chunked) but
    whose body is only sent; it returns the answer and how long it took."""
    address = urlsplit(server.url)
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {address.netloc}",
        f"Content-Type: {content_type}",
        "Accept: text/html",
    ]
    if length is None:
        headers.append("Transfer-Encoding: chunked")
    else:
        headers.append(f"Content-Length: {length}")
    if cookie is not None:
        headers.append(f"Cookie: vm_session={cookie}")
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        if length is None:
            step = 64 * 1024
            for start in range(0, len(sent), step):
                piece = sent[start : start + step]
                try:
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server has answered and stopped reading
        else:
            sock.sendall(sent)
        answer = _read_answer(sock)
    return answer, time.monotonic() - started


def test_an_api_body_announced_too_large_is_refused_in_swedish_before_it_is_sent(server: Server) -> None:
    answer, took = _post_announcing(
        server,
        "/api/v1/session",
        length=100 * 1024 * 1024,
        content_type="application/json",
        sent=b'{"username": "annika", "password": "' + b"x" * 1000,
    )
    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = json.loads(answer.body)
    assert (problem["status"], problem["title"]) == (413, "För stor begäran")
    assert took < 5, "the answer came without the rest of the body"


def test_a_form_announced_too_large_gets_a_swedish_page_not_a_parse(server: Server) -> None:
    # No CSRF field, and a body that would take a long while to parse: the size decides first.
    answer, took = _post_announcing(
        server,
        "/logga-in",
        length=BODY_MAX_BYTES + 1,
        content_type="application/x-www-form-urlencoded",
        sent=b"username=annika&password=" + b"a" * 1000,
    )
    assert answer.status == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "För stor begäran" in answer.body.decode()
    assert took < 5


def test_a_chunked_body_is_cut_off_at_the_limit(server: Server) -> None:
    answer, _ = _post_announcing(
        server,
        "/logga-in",
        length=None,
        content_type="application/x-www-form-urlencoded",
        sent=b"username=annika&password=" + b"a" * (BODY_MAX_BYTES + 100_000),
    )
    assert answer.status == 413
    assert "För stor begäran" in answer.body.decode()


def test_a_form_under_the_limit_still_works(server: Server) -> None:
    answer, _ = _post_announcing(
        server,
        "/logga-in",
        length=len(body := b"username=annika&password=fel&csrf=" + b"a" * 100_000),
        content_type="application/x-www-form-urlencoded",
        sent=body,
    )
    assert answer.status != 413
    assert answer.status < 500


def test_the_skype_upload_may_be_larger_than_a_form_but_not_without_bound(server: Server) -> None:
    admin = server.sign_in("admin")
    boundary = "gräns"
    start = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="export.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    answer, took = _post_announcing(
        server,
        "/admin/skype",
        length=UPLOAD_MAX_BYTES + 1,
        content_type=f"multipart/form-data; boundary={boundary}",
        sent=start + b"a" * 1000,
        cookie=admin,
    )
    assert answer.status == 413
    assert "För stor begäran" in answer.body.decode()
    assert took < 5
    assert UPLOAD_MAX_BYTES > MAX_FILE_BYTES > BODY_MAX_BYTES


def test_the_bounds_are_read_from_their_settings() -> None:
    settings = load_settings(
        {
            "VARDMOTE_LOBBY_LIMIT": "7",
            "VARDMOTE_CONNECTIONS_PER_ADDRESS": "300",
            "VARDMOTE_JOIN_DEADLINE_SECONDS": "3",
        }
    )

    def bounds(s: Settings) -> tuple[int, int, int]:
        return (s.lobby_limit, s.connections_per_address, s.join_deadline_seconds)

    assert bounds(settings) == (7, 300, 3)
    assert bounds(load_settings({})) == (50, 20, 10)


@pytest.mark.parametrize(
    ("name", "raw"),
    [("LOBBY_LIMIT", "0"), ("CONNECTIONS_PER_ADDRESS", "många"), ("JOIN_DEADLINE_SECONDS", "0")],
)
def test_a_bound_out_of_range_stops_the_start(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"VARDMOTE_{name}"):
        load_settings({f"VARDMOTE_{name}": raw})
