"""Database: the SQLAlchemy engine, sessions and the declarative base.

SQLite is the embedded default and PostgreSQL the scaled-out choice; every
model and query here works on both. Times are stored as naive UTC datetimes
(``UtcDateTime``) and converted to aware UTC when read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base is the declarative base of every Vårdmöte table."""

    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """UtcDateTime stores aware datetimes as naive UTC and reads them back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    """utcnow returns the current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


DEFAULT_POOL_SIZE = 5
"""Pooled connections per process, and as many requests at once that use the database
(the ``db_pool_size`` setting; see :meth:`Database.request_slots`). A process runs its
Python on one core (the GIL): more requests at once than a few only make their threads
take turns at the GIL, which costs more than waiting on the event loop. Measured with
bench/api_load.py (two processes, 500 week views a second): p99 about 30–50 ms with 10,
15–22 ms with 5 and 15–19 ms with 3."""
POOL_OVERFLOW = 10
"""Connections beyond the pool for what does not hold a request slot: the signalling
WebSockets, the health check and background work."""


def make_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """make_engine creates the engine for url; SQLite gets foreign keys and WAL.

    hide_parameters: a database error's message (which reaches the log) names the
    statement but not its values, which may be a personnummer or a token."""
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    if url.startswith("postgresql") or (url.startswith("sqlite:///") and ":memory:" not in url):
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = POOL_OVERFLOW
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Python's sqlite3 opens transactions lazily; BEGIN IMMEDIATE below
            # needs autocommit off at the driver level and control here.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock at BEGIN, so two writers never deadlock on
            # an upgrade from a read lock; the audit chain relies on this.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        event.listen(engine, "handle_error", _without_values)

        # pool_pre_ping, except for a checkout by Database.retried's work, which runs
        # again on a fresh connection if its connection turns out dropped.
        @event.listens_for(engine, "checkout")
        def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            if _UNPINGED.get():
                return
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as e:
                raise DisconnectionError(f"pooled connection dropped: {e}") from e  # the pool takes another

    return engine


def _without_values(context: ExceptionContext) -> None:
    """_without_values takes the values out of a PostgreSQL error's message before it is
    raised (and perhaps logged): its DETAIL names them (``Key (personnummer)=(…) already
    exists``), and a data error's message ends with the value it refused. What is left
    names the kind of error, the table, the column and the constraint."""
    error = context.original_exception
    diag = getattr(error, "diag", None)
    if context.is_disconnect or diag is None:
        return
    primary = diag.message_primary or type(error).__name__
    if (diag.sqlstate or "").startswith("22"):
        primary = primary.split(":", 1)[0]
    where = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
        )
        if value
    )
    message = f"{primary} ({where})" if where else primary
    error.args = (message,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args:
        wrapped.args = (f"({type(error).__module__}.{type(error).__name__}) {message}",)


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
_UNPINGED: ContextVar[bool] = ContextVar("vardmote_unpinged", default=False)
P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Database owns the engine and hands out sessions, one per unit of work."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.pool_size = pool_size
        self.engine = make_engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def request_slots(self) -> asyncio.Semaphore:
        """request_slots limits the requests that hold a database session at once to the
        pool's size (one semaphore per event loop; tests run several loops).

        A request's session keeps its connection from its first query to its commit, across
        several trips to the thread pool. Without this limit, more requests than
        connections make the worker threads wait for a connection inside the pool while the
        requests that hold one wait for a free thread: every request stalls until the pool's
        timeout. Requests wait here instead, on the event loop, first come first served."""
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.pool_size)
        return slots

    @property
    def is_postgresql(self) -> bool:
        """is_postgresql tells whether the database is PostgreSQL."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """session yields a session that commits on success and rolls back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def open_session(self) -> Session:
        """open_session makes a session for the caller to end with :meth:`finish`; it
        connects only at its first query. :meth:`session` is the usual way."""
        return self._sessions()

    @staticmethod
    def finish(s: Session, *, commit: bool) -> None:
        """finish ends a session from :meth:`open_session` as :meth:`session` does: commits
        it (or, with commit false, rolls it back), rolls back if the commit fails, and closes it."""
        try:
            if commit:
                s.commit()
            else:
                s.rollback()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def autocommit(self, s: Session) -> None:
        """autocommit makes s, on PostgreSQL, run each statement in a transaction of its own
        (call it before s's first query): for a request that reads and writes at most the
        extension of a staff session, that saves the BEGIN and COMMIT round trips. Its
        commit then does no I/O. SQLite keeps its transaction (BEGIN IMMEDIATE)."""
        if self.is_postgresql and not s.in_transaction():
            s.connection(execution_options=_AUTOCOMMIT)

    @contextmanager
    def light_unit(self) -> Iterator[Connection]:
        """light_unit yields a Core connection (no ORM session) for a short unit of work
        whose caller has a way back should it fail: taken from the pool without the
        checkout's ping (a round trip); in autocommit on PostgreSQL (see :meth:`autocommit`),
        in a transaction committed at the end on SQLite. Only for work that reads, or writes
        only what it may write again (the extension of a staff session): a connection found
        dropped fails it, and the caller does it again the usual way (see web/week.py)."""
        unpinged = _UNPINGED.set(True)
        try:
            with self.engine.connect() as conn:
                if self.is_postgresql:
                    conn.execution_options(**_AUTOCOMMIT)
                with conn.begin():
                    yield conn
        finally:
            _UNPINGED.reset(unpinged)

    @staticmethod
    def retried(s: Session, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """retried runs work, whose first query takes s's connection without the ping of
        every other checkout (a round trip); should that connection turn out dropped (the
        database restarted, or closed it), s is rolled back and work runs once more, on a
        connection pinged as usual. Only for work that may run twice: one that reads, or
        writes only what it may write again (the extension of a staff session), in
        autocommit (see :meth:`autocommit`), so that nothing of the first run is lost."""
        unpinged = _UNPINGED.set(True)
        try:
            return work(*args, **kwargs)
        except DBAPIError as e:
            if not e.connection_invalidated:
                raise
        finally:
            _UNPINGED.reset(unpinged)
        s.rollback()
        return work(*args, **kwargs)

    @staticmethod
    def finished(s: Session) -> bool:
        """finished tells whether s has nothing left to commit or roll back: no transaction
        begun (or it was committed already) and no object added, changed or deleted since.
        Closing such a session does no I/O."""
        return not s.in_transaction() and not (s.new or s.dirty or s.deleted)

    def dispose(self) -> None:
        """dispose closes every pooled connection."""
        self.engine.dispose()
