"""Two calls at the same moment, for the tests of what a second transaction does while a first
one holds its locks: never a double booking, a second token for one assertion, or a failure
instead of a count.

On PostgreSQL the second waits at a row lock or a unique index; on SQLite every write transaction
holds the database lock from its BEGIN IMMEDIATE, so there it waits earlier, with the same outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.orm import Session

from vardmote.context import Context

First = TypeVar("First")
Second = TypeVar("Second")


def at_the_same_moment(
    ctx: Context, first: Callable[[Session], First], second: Callable[[Session], Second]
) -> tuple[First, Second]:
    """at_the_same_moment runs first in an open transaction (not yet committed), second in another
    thread and a session of its own meanwhile, checks that second waits for first (still running
    half a second later), commits first and returns both results. An exception of second's comes
    out of here."""
    s = ctx.db.open_session()
    try:
        first_result = first(s)

        def run_second() -> Second:
            with ctx.db.session() as other:
                return second(other)

        with ThreadPoolExecutor(1) as pool:
            later = pool.submit(run_second)
            time.sleep(0.5)
            assert not later.done(), "the second call did not wait for the first"
            ctx.db.finish(s, commit=True)
            return first_result, later.result(timeout=30)
    finally:
        s.close()
