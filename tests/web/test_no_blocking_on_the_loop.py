"""Page handlers wait for the database in the thread pool, never on the event loop.

A real ``vardmote serve`` (without media); the test holds a lock in its database from outside
(SQLite: the write lock; PostgreSQL: a table lock), so that a request's database work waits for
it. While that request waits, /livez must answer at once: before, the sign-in ("Logga in", with
argon2 and the database in an ``async def``) and "Skicka kalenderinbjudan" did their work on the
event loop, and one waiting request stopped every other one. (On SQLite the write lock stops
the sending request already in its session check, which has always run in the thread pool: there
the sending test shows that the service answers, the PostgreSQL run that the handler's own work
is off the loop.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text

from booking_helpers import csrf_of
from servers import DEMO_PASSWORD, Server, book_protected_meeting, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """server is ``vardmote serve`` in demo mode, without media."""
    with serve(tmp_path_factory.mktemp("no-blocking") / "var") as running:
        yield running


@contextmanager
def database_held(server: Server, table: str) -> Iterator[None]:
    """database_held holds the server's database so that work on table waits: on PostgreSQL an
    ACCESS EXCLUSIVE lock of table, on SQLite the write lock (every transaction of the server
    begins IMMEDIATE, so all its database work waits)."""
    db = server.database()
    conn = db.engine.connect()
    try:
        if db.is_postgresql:
            conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        else:
            conn.execute(text("SELECT 1"))  # in a transaction begun IMMEDIATE: the write lock
        yield
    finally:
        conn.rollback()
        conn.close()
        db.dispose()


def waiting_request(work: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    """waiting_request starts work in a thread; its response lands in the list."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(work()), daemon=True)
    thread.start()
    return thread, answers


def livez_seconds(server: Server) -> float:
    started = time.monotonic()
    assert httpx.get(server.url + "/livez", timeout=10).status_code == 200
    return time.monotonic() - started


def test_a_sign_in_waiting_for_the_database_leaves_the_service_answering(server: Server) -> None:
    browser = httpx.Client(base_url=server.url, timeout=60)
    form = browser.get("/logga-in")
    with database_held(server, "users"):
        thread, answers = waiting_request(
            lambda: browser.post(
                "/logga-in",
                data={"csrf": csrf_of(form.text), "username": "annika", "password": DEMO_PASSWORD},
            )
        )
        time.sleep(0.5)
        assert thread.is_alive(), "the sign-in did not wait for the database"
        assert livez_seconds(server) < 1
    thread.join(timeout=30)
    (signed_in,) = answers
    assert signed_in.status_code == 303  # on to the calendar
    assert browser.cookies.get("vm_session")
    browser.close()


def test_skicka_kalenderinbjudan_waiting_for_the_database_leaves_the_service_answering(
    server: Server,
) -> None:
    meeting = book_protected_meeting(server)
    browser = httpx.Client(base_url=server.url, cookies={"vm_session": meeting.session}, timeout=60)
    page = browser.get(f"/moten/{meeting.meeting_id}")
    db = server.database()
    held = "mail_outbox" if db.is_postgresql else ""
    db.dispose()
    with database_held(server, held):
        thread, answers = waiting_request(
            lambda: browser.post(
                f"/moten/{meeting.meeting_id}/skicka/kalender",
                data={"csrf": csrf_of(page.text), "kind": "extern", "address": "extern@kommun.example.se"},
                follow_redirects=False,
            )
        )
        time.sleep(0.5)
        assert thread.is_alive(), "sending did not wait for the database"
        assert livez_seconds(server) < 1
    thread.join(timeout=30)
    (sent,) = answers
    assert sent.status_code == 303
    browser.close()
