"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when asked), the app, people.

Set ``VARDMOTE_TEST_DATABASE_URL`` to a PostgreSQL server URL (``make test``
does) and the whole suite runs against a fresh database made on that server
for this run (databases.py; every server a test starts gets one of its own);
otherwise against a SQLite file. The schema is migrated once
per run with the real Alembic scripts; every test starts from empty tables
plus the default meeting types.

The run happens in a network namespace of its own (netns.py), entered at the
start of the session: every socket and subprocess of the tests stays in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text

from databases import fresh_database, postgres_server_url
from netns import NamespaceError, enter_test_namespace
from smtp_helpers import smtp_server  # noqa: F401  (a fixture for every test folder)
from vardmote.accounts import passwords
from vardmote.accounts.models import Role, User
from vardmote.accounts.service import add_user
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.db import Base, Database
from vardmote.invitations.templates import ensure_templates
from vardmote.meetings.types import ensure_meeting_types
from vardmote.migrate import upgrade
from vardmote.settings import Secret, Settings

PASSWORD = "rätt-lösenord-1"


def pytest_sessionstart(session: pytest.Session) -> None:
    """pytest_sessionstart moves the run into a network namespace of its own (netns.py) before
    any socket, thread or subprocess is made, and deletes it when the run ends."""
    try:
        namespace = enter_test_namespace()
    except NamespaceError as e:
        raise pytest.UsageError(str(e)) from None
    session.config.add_cleanup(namespace.close)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """cheap_password_hashing runs real argon2id with the smallest costs, so that the
    hundreds of accounts the tests make take milliseconds; the production costs
    are argon2-cffi's defaults (see vardmote.accounts.passwords)."""
    real = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords._hasher = real


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """database_url is the migrated database of this test run."""
    server = postgres_server_url()
    if server:
        with fresh_database(server) as url:
            upgrade(url)
            yield url
    else:
        path = tmp_path_factory.mktemp("db") / "vardmote.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_postgresql:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """settings are the embedded defaults in a temporary folder, not in demo mode."""
    return Settings(
        var_dir=tmp_path / "var",
        secret_key=Secret("test-secret-key-" + "x" * 32),
        public_url="http://vardmote.test",
        media=False,  # the in-process app tests need no Janus; tests/media and tests/e2e start one
    )


@pytest.fixture
def ctx(settings: Settings, database: Database) -> Context:
    """ctx is a Context on the emptied test database with the default meeting types."""
    _empty(database)
    context = Context(settings, database)
    with database.session() as s:
        ensure_meeting_types(s)
        ensure_templates(s)
    return context


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    """client calls the app in-process, as a browser at 127.0.0.1 would."""
    with TestClient(create_app(ctx.settings, ctx), base_url="http://vardmote.test") as c:
        yield c


@pytest.fixture
def env(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """env points the vardmote command at the test database, with the test's key and public address."""
    monkeypatch.setenv("VARDMOTE_DATABASE_URL", ctx.db.url)
    monkeypatch.setenv("VARDMOTE_VAR_DIR", str(ctx.settings.var_dir))
    monkeypatch.setenv("VARDMOTE_SECRET_KEY", ctx.settings.secret_key.reveal())
    monkeypatch.setenv("VARDMOTE_PUBLIC_URL", ctx.settings.public_url)
    monkeypatch.delenv("VARDMOTE_DATABASE_URL_FILE", raising=False)
    monkeypatch.delenv("VARDMOTE_SECRET_KEY_FILE", raising=False)


def make_user(ctx: Context, username: str, role: str = Role.CLINICIAN.value) -> User:
    """make_user adds a staff account with the password PASSWORD."""
    with ctx.db.session() as s:
        return add_user(ctx, s, username, username.capitalize() + " Testsson", PASSWORD, role)


@pytest.fixture
def clinician(ctx: Context) -> User:
    """clinician is Annika, who books and hosts meetings."""
    return make_user(ctx, "annika")


@pytest.fixture
def other_clinician(ctx: Context) -> User:
    """other_clinician is Bertil, a colleague at another clinic."""
    return make_user(ctx, "bertil")


@pytest.fixture
def administrator(ctx: Context) -> User:
    """administrator changes meeting-type limits and reads the audit log."""
    return make_user(ctx, "admin", Role.ADMIN.value)


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """bearer signs in through the API and returns the Authorization header."""
    response = client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
