"""WeekShortcut answers the usual week view itself, exactly as the route would, and passes
every other request on to the app untouched (web/week.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from starlette.types import Receive, Scope, Send

from booking_helpers import TZ, book
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.web import api
from vardmote.web.week import WeekShortcut, week_span


class Route:
    """Route stands for the app behind the shortcut: it counts what reaches it."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}")
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_the_usual_week_is_answered_and_the_rest_passed_on(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    headers = bearer(client, "annika")
    token = headers["Authorization"].removeprefix("Bearer ")
    book(client, headers, "Uppföljning", days=1, type_key="vardmote_patient")
    route = Route()
    shortcut = TestClient(WeekShortcut(route, ctx), base_url="http://vardmote.test")
    monday = dt.datetime.now(TZ).date() - dt.timedelta(days=dt.datetime.now(TZ).weekday())
    answered = [
        ("", headers),
        ("", {"Cookie": f"vm_session={token}"}),
        (f"from={monday}&to={monday + dt.timedelta(days=14)}", headers),
        ("include_cancelled=TRUE", headers),
        ("include_cancelled=0&sida=2", headers),  # a parameter the route ignores too
    ]
    for query, given in answered:
        answer = shortcut.get(f"/api/v1/meetings?{query}", headers=given)
        assert answer.status_code == 200, query
        assert answer.headers["content-type"] == "application/json"
        assert isinstance(answer.json(), list)
    assert route.reached == []
    passed_on = [
        ("", {}),
        ("", {"Authorization": "Bearer " + "x" * 43}),
        ("from=2026-13-01", headers),
        ("from=" + "x" * 11, headers),
        ("from=2026-12-01&from=2026-12-08", headers),
        ("include_cancelled=ja", headers),
        ("include_cancelled=", headers),
        ("from=2026-12-08&to=2026-12-01", headers),
        ("from=2026-01-01&to=2027-06-01", headers),
        ("from=0001-01-01", headers),
    ]
    for query, given in passed_on:
        assert shortcut.get(f"/api/v1/meetings?{query}", headers=given).status_code == 299, query
    assert shortcut.post("/api/v1/meetings", headers=headers).status_code == 299
    assert shortcut.get("/api/v1/meetings/", headers=headers).status_code == 299
    assert shortcut.get("/api/v1/me", headers=headers).status_code == 299
    assert len(route.reached) == len(passed_on) + 3


def test_a_failing_database_leaves_the_answer_to_the_route(
    client: TestClient, clinician: User, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = bearer(client, "annika")

    @contextmanager
    def failing() -> Iterator[Connection]:
        raise OperationalError("SELECT", {}, Exception("the server closed the connection"))
        yield  # a generator, as light_unit is

    monkeypatch.setattr(ctx.db, "light_unit", failing)
    route = Route()
    shortcut = TestClient(WeekShortcut(route, ctx), base_url="http://vardmote.test")
    assert shortcut.get("/api/v1/meetings", headers=headers).status_code == 299
    assert route.reached == ["GET /api/v1/meetings?"]
    # In the app, the route then answers on a connection of its own.
    assert client.get("/api/v1/meetings", headers=headers).status_code == 200


def test_the_shortcut_and_the_route_answer_alike(
    client: TestClient, clinician: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route answers include_cancelled=yes/no (FastAPI reads them), the shortcut does not."""
    by_the_route: list[object] = []

    def counted(*args: Any) -> tuple[dt.datetime, dt.datetime]:
        by_the_route.append(args)
        return week_span(*args)

    monkeypatch.setattr(api, "week_span", counted)
    headers = bearer(client, "annika")
    book(client, headers, "Vanligt möte", days=1, required=["a@example.se"])
    book(client, headers, "Skyddat", days=2, type_key="vardmote_patient", optional=["b@example.se"])
    gone = book(client, headers, "Avbokat", days=2, type_key="vardmote_patient")
    assert client.delete(f"/api/v1/meetings/{gone['id']}", headers=headers).status_code == 200
    first = dt.datetime.now(TZ).date()
    span = {"from": first.isoformat(), "to": (first + dt.timedelta(days=7)).isoformat()}
    for plain, spelled in (("false", "no"), ("true", "yes")):
        by_shortcut = client.get(
            "/api/v1/meetings", params={**span, "include_cancelled": plain}, headers=headers
        )
        by_route = client.get(
            "/api/v1/meetings", params={**span, "include_cancelled": spelled}, headers=headers
        )
        assert by_shortcut.status_code == by_route.status_code == 200
        assert len(by_the_route) == 1
        by_the_route.clear()
        assert by_shortcut.json() == by_route.json()
        assert len(by_shortcut.json()) == (3 if plain == "true" else 2)
        for name in ("content-type", "cache-control", "content-security-policy", "x-content-type-options"):
            assert by_shortcut.headers[name] == by_route.headers[name], name
