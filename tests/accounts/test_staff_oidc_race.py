"""Two first sign-ins of the same person at the same moment (two tabs, a double click) make one
account, on the real databases: accounts/staff_oidc.py's provision in two sessions at once.

The second session looks for the account before the first has committed, so on PostgreSQL it
finds nothing, its insert waits on the first's row and then meets the unique HSA-id: provision
takes the IntegrityError, finds the first's account and goes on with it. SQLite lets one writer
at a time begin (BEGIN IMMEDIATE, vardmote.db), so there the second begins only after the
first has committed and finds the account at once; the test shows which way each went."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select

from vardmote.accounts.models import User
from vardmote.accounts.staff_oidc import StaffClaims, provision
from vardmote.audit.models import AuditEntry
from vardmote.context import Context

ANNIKA = StaffClaims("SE2321000016-1003", "Annika Läkare", None)
RACED = "account for an HSA-id (oidc): made by another transaction at the same moment; using it"


def test_two_first_sign_ins_at_once_make_one_account(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vardmote.accounts.provisioning")
    postgresql = ctx.db.is_postgresql
    second_thread: list[int] = []
    inserting = threading.Event()

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        inserts_user = statement.lstrip().upper().startswith("INSERT INTO USERS")
        if inserts_user and threading.get_ident() in second_thread:
            inserting.set()

    found: dict[str, int] = {}
    failed: list[BaseException] = []

    def second_sign_in() -> None:
        second_thread.append(threading.get_ident())
        try:
            with ctx.db.session() as s:
                found["second"] = provision(ctx, s, ANNIKA).id
        except BaseException as e:
            failed.append(e)

    event.listen(ctx.db.engine, "before_cursor_execute", before_execute)
    first = ctx.db.open_session()
    try:
        found["first"] = provision(ctx, first, ANNIKA).id  # made, not yet committed
        thread = threading.Thread(target=second_sign_in)
        thread.start()
        # PostgreSQL: the second has looked, found nothing, and is inserting (it waits on our row).
        # SQLite: it waits to begin at all, so it never gets as far as inserting meanwhile.
        reached_insert = inserting.wait(timeout=10 if postgresql else 1)
        time.sleep(0.2)
        first.commit()
        thread.join(timeout=30)
    finally:
        ctx.db.finish(first, commit=False)
        event.remove(ctx.db.engine, "before_cursor_execute", before_execute)

    assert not thread.is_alive()
    assert failed == []
    assert found["second"] == found["first"]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        query = select(AuditEntry.details).where(AuditEntry.action == "user.provisioned")
        provisioned = s.scalars(query).all()
    assert [json.loads(d)["hsa_id"] for d in provisioned] == ["SE2321000016-1003"]
    raced = [r.getMessage() for r in caplog.records if r.getMessage() == RACED]
    if postgresql:
        assert reached_insert
        assert raced == [RACED]  # the IntegrityError branch
    else:
        assert not reached_insert
        assert raced == []  # serialised by SQLite's writer lock: found, not raced
