"""Helpers for the journal-system (API client) tests: the administrator signed in at the
clients' page, a page's visible text and its field errors, and the audit entries of one action.

A test file takes the admin fixture as a module attribute (`admin = client_helpers.admin`), as
tests/web takes servers.annika.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking_helpers import sign_in
from vardmote.accounts.models import User
from vardmote.audit.models import AuditEntry
from vardmote.context import Context


@pytest.fixture
def admin(client: TestClient, administrator: User) -> TestClient:
    """admin is the client, signed in as the administrator by the sign-in form."""
    sign_in(client, "admin")
    return client


def page_text(page: str) -> str:
    """page_text is a page's visible text with its tags removed and spaces collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def field_errors(page: str) -> dict[str, str]:
    """field_errors maps each field to the error shown beside it."""
    return {
        name: htmllib.unescape(message)
        for name, message in re.findall(r'<p class="field-error" id="fel-(\w+)">([^<]+)</p>', page)
    }


def audit_of(ctx: Context, action: str) -> list[tuple[str, dict[str, Any]]]:
    """audit_of are the actor and details of every audit entry of action, oldest first."""
    with ctx.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        return [(row.actor, json.loads(row.details)) for row in rows]
