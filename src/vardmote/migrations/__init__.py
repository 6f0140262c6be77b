"""Alembic migrations of the Vårdmöte schema (run with ``vardmote migrate``)."""
