"""A database error never carries a statement's values into the log: the engine hides them
(``hide_parameters``), so a personnummer in a failed statement stays out."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from vardmote.context import Context
from vardmote.patients.models import Patient

PERSONNUMMER = "191212121212"
NAME = "Tolvan Tolvansson"


def test_a_failed_statement_with_a_personnummer_does_not_log_it(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    with ctx.db.session() as s:
        s.add(Patient(personnummer=PERSONNUMMER, name=NAME))
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("vardmote")
    # A real error from the real database: the personnummer is taken.
    with pytest.raises(IntegrityError) as caught, ctx.db.session() as s:
        s.execute(insert(Patient).values(personnummer=PERSONNUMMER, name=NAME))
    log.exception("request failed", exc_info=caught.value)
    logged = caplog.text
    assert "request failed" in logged
    assert "patients" in logged, "the statement itself is still named"
    assert "hidden due to hide_parameters" in logged
    assert PERSONNUMMER not in logged
    assert NAME not in logged
    assert PERSONNUMMER not in str(caught.value)


def test_a_value_the_database_refuses_is_not_in_the_log_either(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL ends a data error's message with the value it refused (``invalid input syntax
    for type integer: "…"``); SQLite's malformed-JSON error names none. Neither reaches the log."""
    statement = "SELECT CAST(:p AS integer)" if ctx.db.is_postgresql else "SELECT json_extract(:p, '$')"
    given = "19121212-1212"
    with pytest.raises(DBAPIError) as caught, ctx.db.session() as s:
        s.execute(text(statement), {"p": given})
    logging.getLogger("vardmote").error("request failed", exc_info=caught.value)
    assert "request failed" in caplog.text
    assert given not in caplog.text
