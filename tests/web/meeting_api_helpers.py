"""What the meetings API tests share: the problem answers' checks and the booking texts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from booking_helpers import TZ

NOT_FOUND = "Mötet finns inte, eller så är det inte ditt."
ADDRESSES = "Skriv deltagarnas e-postadresser, åtskilda med semikolon."
EITHER = "Ange antingen ett slutdatum eller ett antal tillfällen för återkommande möte."
COUNT = "Antal tillfällen ska vara ett heltal från 2 till 100."
JOURNAL = "Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen."
CANCELLED = "Mötet är avbokat och kan inte ändras."


def moment(iso: str) -> dt.datetime:
    """moment reads an API time (ISO 8601, Z for UTC)."""
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def date_in(days: int) -> str:
    """date_in is the date days from today in Stockholm, as the API takes it."""
    return (dt.datetime.now(TZ).date() + dt.timedelta(days=days)).isoformat()


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """assert_problem checks an RFC 9457 problem answer and returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def invalid(response: Any) -> list[dict[str, str]]:
    """invalid checks a 422 problem answer and returns its field errors."""
    body = assert_problem(response, 422, "invalid-input")
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["title"] == "Uppgifterna behöver rättas"
    errors: list[dict[str, str]] = body["errors"]
    assert all(set(e) == {"field", "message"} for e in errors)
    return errors
