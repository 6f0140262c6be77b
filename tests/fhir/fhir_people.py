"""Fixtures of the FHIR tests' people and journal system, one copy for every test file that books:
Annika and Bertil, clinicians with HSA-ids; Karin and Per, adult patients; Cosmic, the journal
system with every Appointment permission; headers with a fresh token of Cosmic's.

A test file takes the ones it uses as module attributes (`annika = fhir_people.annika`), as
tests/web and tests/media take servers.annika. tests/fhir has no conftest.py for them: without an
__init__.py it would stand in for tests/conftest.py as the module `conftest`.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from fhir_helpers import ANNIKA_HSA, BERTIL_HSA, clinician_with_hsa_id
from inbox_helpers import Person, add_person, years_ago

from fhir_clients import JournalSystem, bearer_headers, register_journal_system
from vardmote.accounts.models import User
from vardmote.context import Context


@pytest.fixture
def annika(ctx: Context) -> User:
    """annika is the clinician the journal books, with her HSA-id."""
    return clinician_with_hsa_id(ctx, "annika", ANNIKA_HSA)


@pytest.fixture
def bertil(ctx: Context) -> User:
    """bertil is another clinician, with an HSA-id of his own."""
    return clinician_with_hsa_id(ctx, "bertil", BERTIL_HSA)


@pytest.fixture
def karin(ctx: Context) -> Person:
    """karin is an adult patient."""
    return add_person(ctx, "Karin Ek", years_ago(52), "238")


@pytest.fixture
def per(ctx: Context) -> Person:
    """per is another adult patient."""
    return add_person(ctx, "Per Holm", years_ago(61), "239")


@pytest.fixture
def cosmic(ctx: Context) -> JournalSystem:
    """cosmic is the journal system, with every Appointment permission."""
    return register_journal_system(ctx, "Cosmic")


@pytest.fixture
def headers(client: TestClient, cosmic: JournalSystem) -> dict[str, str]:
    """headers carry a fresh token of cosmic's."""
    return bearer_headers(client, cosmic)
