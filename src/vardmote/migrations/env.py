"""Alembic environment: migrates the database given in the config's sqlalchemy.url."""

from __future__ import annotations

from alembic import context

import vardmote.accounts.models
import vardmote.audit.models
import vardmote.clients.models
import vardmote.fhir.models
import vardmote.invitations.models
import vardmote.meetings.models
import vardmote.patients.models
import vardmote.skype.models  # noqa: F401  (registers the tables)
from vardmote.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """run_migrations_online migrates over a live connection."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
