"""Helpers for the booking, page and API tests: times ahead, booking, moving a meeting, signing in
by the form, the audit and row counts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from conftest import PASSWORD
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.meetings.models import Meeting

TZ = ZoneInfo("Europe/Stockholm")
ORGANISATION = "Region Västmanland"
"""The organisation of the test settings (the embedded default)."""


def local(days: int, hour: int = 9, minute: int = 0) -> str:
    """local is a form time, 'YYYY-MM-DDTHH:MM' in Stockholm, days from today."""
    day = dt.datetime.now(TZ).date() + dt.timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def meeting_body(title: str = "Uppföljning", days: int = 7, **extra: Any) -> dict[str, Any]:
    """meeting_body is a good booking for the API: 09:00–09:30 local, days from today."""
    return {"title": title, "start": local(days, 9), "end": local(days, 9, 30), **extra}


def book(
    client: TestClient, headers: dict[str, str], title: str = "Uppföljning", days: int = 7, **extra: Any
) -> dict[str, Any]:
    """book books one meeting through the API and returns it as JSON."""
    response = client.post("/api/v1/meetings", json=meeting_body(title, days, **extra), headers=headers)
    assert response.status_code == 201, response.text
    made: list[dict[str, Any]] = response.json()
    return made[0]


def path_of(url: str) -> str:
    """path_of is the path of an absolute address of the service."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://vardmote.test", url
    return parts.path


def move(ctx: Context, meeting_id: str, starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    """move sets a meeting's times in the database, bypassing the booking rules."""
    with ctx.db.session() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.starts_at, meeting.ends_at = starts_at, ends_at


def audit(ctx: Context, meeting_id: str | None = None) -> list[tuple[str, str]]:
    """audit lists (actor, action) of the audit entries, of one meeting if given, oldest first."""
    query = select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id)
    if meeting_id is not None:
        query = query.where(AuditEntry.meeting_id == meeting_id)
    with ctx.db.session() as s:
        return [(actor, action) for actor, action in s.execute(query)]


def count(ctx: Context, model: type[Any]) -> int:
    """count is the number of rows of a table."""
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def csrf_of(html: str) -> str:
    """csrf_of is the CSRF token in a page's first form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no csrf field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, nasta: str = "/kalender") -> None:
    """sign_in signs in through the form, as a browser does: the page, then the post."""
    page = client.get("/logga-in")
    assert page.status_code == 200
    response = client.post(
        "/logga-in",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD, "nasta": nasta},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert client.cookies.get("vm_session")
