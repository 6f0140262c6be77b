"""Helpers for the staff sign-in tests against the real OpenID provider (tests/oidc_provider.py).

Not a conftest.py (see signin_support.py). The browser's part is played by two clients: the
app's TestClient (cookies of vardmote.test) and the provider's own browser (httpx, cookies
of the provider), joined by :meth:`Provider.follow_sign_in`. A test module takes its fixtures
from :func:`staff_fixtures`::

    running, provider, settings = staff_fixtures()
"""

from __future__ import annotations

import dataclasses
import html as htmllib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from oidc_provider import CLINICIAN, Provider, path_of, running_provider, staff_sign_in_with
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.lib.oidc_discovery import forget_providers
from vardmote.settings import Settings

START = "/logga-in/oidc/start"
BREAK_GLASS = "reserv"
"""The break-glass administrator's username in these tests."""


def staff_fixtures() -> tuple[Any, Any, Any]:
    """staff_fixtures makes a test module's three fixtures: ``running`` (one provider for the
    module), ``provider`` (it reset for each test, the clinician Annika signing in unless a test
    says otherwise) and ``settings`` (:func:`staff_settings` with it)."""

    @pytest.fixture(scope="module")
    def running() -> Iterator[Provider]:
        with running_provider() as p:
            yield p

    @pytest.fixture
    def provider(running: Provider) -> Provider:
        p = fresh_provider(running)
        p.next_sign_in(account=CLINICIAN)
        return p

    @pytest.fixture
    def settings(settings: Settings, provider: Provider) -> Settings:
        return staff_settings(settings, provider)

    return running, provider, settings


def fresh_provider(running: Provider) -> Provider:
    """fresh_provider is the module's provider reset (and started again if a test stopped it), with
    Vårdmöte's discovery cache emptied (providers of other modules may have had the port)."""
    forget_providers()
    return running.fresh()


def staff_settings(settings: Settings, provider: Provider) -> Settings:
    """staff_settings are production settings (demo off) as a region sets them: staff sign in with
    the provider, administrators by the group vardmote-admin, local passwords off (their default
    with staff OIDC) but for the break-glass administrator."""
    return dataclasses.replace(
        staff_sign_in_with(settings, provider), local_signin=False, break_glass_admin=BREAK_GLASS
    )


def sign_in(client: TestClient, provider: Provider, start: str = START) -> Response:
    """sign_in presses the sign-in button, goes through the provider as the person it plans for,
    and returns Vårdmöte's answer to the provider's redirect back (not followed)."""
    back = provider.follow_sign_in(client, start)
    assert back.startswith("http://vardmote.test/logga-in/oidc/klar?"), back
    return client.get(path_of(back), follow_redirects=False)


def text_of(html: str) -> str:
    """text_of is a page's visible text, tags removed and spaces collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def audit(ctx: Context, action: str) -> list[tuple[str, dict[str, Any]]]:
    """audit is the audit log's entries of one action: (actor, details), oldest first."""
    with ctx.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        return [(row.actor, json.loads(row.details)) for row in rows]
