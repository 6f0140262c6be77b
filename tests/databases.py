"""The test run's databases: a fresh PostgreSQL database when the run is given a server.

``VARDMOTE_TEST_DATABASE_URL`` names a PostgreSQL server (``make
test-postgresql`` sets it from ``scripts/start-postgresql``: the unix socket
/var/run/postgresql, which the tests' network namespace does not hide). Then
:func:`fresh_database` makes an empty database on it and drops it afterwards;
without it, the caller uses SQLite. Used by tests/conftest.py (the in-process
tests' database) and servers.py (one database per ``vardmote serve``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

PREFIX = "vardmote_test_"
"""Every database the tests make is named PREFIX + what + a random suffix."""


def postgres_server_url() -> str:
    """postgres_server_url is the PostgreSQL server of this run, or "" for SQLite."""
    return os.environ.get("VARDMOTE_TEST_DATABASE_URL", "")


@contextmanager
def fresh_database(server_url: str, what: str = "run") -> Iterator[str]:
    """fresh_database makes an empty database on the PostgreSQL server at server_url,
    yields its URL and drops it afterwards (also while clients are still connected)."""
    import psycopg

    url = make_url(server_url)
    name = f"{PREFIX}{what}_{uuid.uuid4().hex[:10]}"
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def bench_database(what: str) -> Iterator[str]:
    """bench_database is a fresh database for a benchmark: on the run's PostgreSQL server, or on
    the one scripts/start-postgresql starts (as ``make test-postgresql`` does)."""
    server = postgres_server_url()
    if not server:
        start = Path(__file__).resolve().parents[1] / "scripts" / "start-postgresql"
        server = subprocess.run([str(start)], capture_output=True, text=True, check=True).stdout.strip()
    with fresh_database(server, what) as url:
        yield url
