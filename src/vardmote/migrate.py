"""Migrate: bring a database to the newest schema with Alembic.

The Alembic scripts ship inside the package (``vardmote/migrations``), so an
installed vardmote migrates without a checkout or an ``alembic.ini``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """alembic_config points Alembic at the packaged scripts and database_url."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """upgrade migrates the database to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")
