"""The week view's own sign-in check and one-trip commit, and the security headers'
middleware: each answers as the general path does."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from booking_helpers import TZ, book
from conftest import bearer
from vardmote.accounts.models import StaffSession, User
from vardmote.app import SecurityHeaders
from vardmote.context import Context
from vardmote.meetings import links
from vardmote.meetings.models import Meeting, MeetingType


def test_the_week_and_me_refuse_alike(client: TestClient, clinician: User, ctx: Context) -> None:
    headers = bearer(client, "annika")
    unknown = {"Authorization": "Bearer " + "x" * 43}
    for given in ({}, unknown, {"Authorization": "Bearer kort"}, {"Cookie": "vm_session=" + "y" * 43}):
        week = client.get("/api/v1/meetings", headers=given)
        me = client.get("/api/v1/me", headers=given)
        assert week.status_code == me.status_code == 401
        assert week.json() == me.json()
        assert week.headers["content-type"] == me.headers["content-type"]
    # Signing in is checked before the query's parameters, as for every other route.
    assert client.get("/api/v1/meetings", params={"from": "x" * 11}, headers=unknown).status_code == 401
    assert client.get("/api/v1/meetings", params={"from": "x" * 11}, headers=headers).status_code == 422
    with ctx.db.session() as s:
        user = s.get(User, clinician.id)
        assert user is not None
        user.active = False
    assert client.get("/api/v1/meetings", headers=headers).status_code == 401


def test_the_week_commits_the_sessions_extension(client: TestClient, clinician: User, ctx: Context) -> None:
    headers = bearer(client, "annika")
    with ctx.db.session() as s:
        row = s.scalars(select(StaffSession)).one()
        row.expires_at = row.expires_at - dt.timedelta(minutes=5)
        earlier = row.expires_at
    assert client.get("/api/v1/meetings", headers=headers).status_code == 200
    with ctx.db.session() as s:
        later = s.scalars(select(StaffSession.expires_at)).one()
    assert later > earlier + dt.timedelta(minutes=4)


def test_guest_links_show_while_they_work(client: TestClient, clinician: User, ctx: Context) -> None:
    """Beyond test_api_week_query: a link past its grace time, and a type without guest links."""
    headers = bearer(client, "annika")
    protected = book(client, headers, "Skyddat", days=1, type_key="vardmote_patient")
    without = book(client, headers, "Utan gästlänk", days=1, type_key="vardmote_patient")
    with ctx.db.session() as s:
        kinds = s.scalars(select(MeetingType)).all()
        meeting = s.get(Meeting, without["id"])
        assert meeting is not None
        no_guests = next((k for k in kinds if not k.has_guest_link), None)
        if no_guests is None:  # every default type has guest links: make one without
            no_guests = MeetingType(**{c.key: getattr(kinds[0], c.key) for c in MeetingType.__table__.c})
            no_guests.key, no_guests.label, no_guests.has_guest_link = "utan_lank", "Utan länk", False
            s.add(no_guests)
            s.flush()
        meeting.type_key = no_guests.key
    first = dt.datetime.now(TZ).date()
    params = {"from": first.isoformat(), "to": (first + dt.timedelta(days=7)).isoformat()}
    week = {m["id"]: m for m in client.get("/api/v1/meetings", params=params, headers=headers).json()}
    assert week[protected["id"]]["guest_url"] is not None
    assert week[without["id"]]["guest_url"] is None
    assert week[without["id"]]["type_label"] == no_guests.label
    for m in week.values():
        one = client.get(f"/api/v1/meetings/{m['id']}", headers=headers).json()
        assert one == m
    # Past its grace time the link no longer shows, in the week as for one meeting.
    with ctx.db.session() as s:
        meeting = s.get(Meeting, protected["id"])
        assert meeting is not None
        grace = dt.timedelta(minutes=ctx.settings.link_grace_minutes)
        meeting.starts_at = dt.datetime.now(dt.UTC) - grace - dt.timedelta(hours=1)
        meeting.ends_at = dt.datetime.now(dt.UTC) - grace - dt.timedelta(minutes=1)
        link = links.general_link(ctx, s, meeting)
        assert link is not None
    first = meeting.starts_at.astimezone(TZ).date()
    params = {"from": first.isoformat(), "to": (first + dt.timedelta(days=1)).isoformat()}
    week = {m["id"]: m for m in client.get("/api/v1/meetings", params=params, headers=headers).json()}
    assert week[protected["id"]]["guest_url"] is None
    assert client.get(f"/api/v1/meetings/{protected['id']}", headers=headers).json() == week[protected["id"]]


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(SecurityHeaders)

    @app.get("/plain")
    async def plain() -> Response:
        return Response("x")

    @app.get("/own")
    async def own() -> Response:
        return Response("x", headers={"Cache-Control": "max-age=60", "X-Frame-Options": "SAMEORIGIN"})

    @app.get("/static/file.css")
    async def static() -> Response:
        return Response("x")

    return app


def test_the_security_headers_are_added_unless_the_response_has_its_own() -> None:
    with TestClient(_app()) as c:
        plain = c.get("/plain")
        assert plain.headers["x-frame-options"] == "DENY"
        assert plain.headers["x-content-type-options"] == "nosniff"
        assert plain.headers["referrer-policy"] == "same-origin"
        assert plain.headers["content-security-policy"].startswith("default-src 'self'")
        assert plain.headers["cache-control"] == "no-store"
        assert plain.text == "x"
        own = c.get("/own")
        assert own.headers.get_list("cache-control") == ["max-age=60"]
        assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert own.headers["x-content-type-options"] == "nosniff"
        static = c.get("/static/file.css")
        assert "cache-control" not in static.headers
        assert static.headers["x-frame-options"] == "DENY"
        missing = c.get("/nowhere")
        assert missing.status_code == 404
        assert missing.headers["cache-control"] == "no-store"


def test_the_apps_static_files_are_cacheable_and_its_pages_are_not(client: TestClient) -> None:
    page = client.get("/sa-fungerar-det")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    asset = client.get("/static/css/vardmote.css")
    assert asset.status_code == 200
    assert asset.headers.get("cache-control") != "no-store"
    assert asset.headers["x-content-type-options"] == "nosniff"


def test_the_week_checks_sign_in_first_whatever_its_parameters(client: TestClient, clinician: User) -> None:
    """The week checks signing in within its own query's trip only when FastAPI will accept
    the parameters; otherwise first, so that an unknown session is still a 401."""
    headers = bearer(client, "annika")
    unknown = {"Authorization": "Bearer " + "x" * 43}
    for params, signed_in in (
        ({"include_cancelled": "yes"}, 200),
        ({"include_cancelled": "kanske"}, 422),
        ([("from", "2026-01-05"), ("from", "2026-01-06")], 200),
        ({"to": "2026-13-01"}, 422),
    ):
        assert client.get("/api/v1/meetings", params=params, headers=unknown).status_code == 401
        assert client.get("/api/v1/meetings", params=params, headers=headers).status_code == signed_in


def test_me_commits_the_sessions_extension(client: TestClient, clinician: User, ctx: Context) -> None:
    headers = bearer(client, "annika")
    with ctx.db.session() as s:
        row = s.scalars(select(StaffSession)).one()
        row.expires_at = row.expires_at - dt.timedelta(minutes=5)
        earlier = row.expires_at
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json() == {"username": "annika", "display_name": "Annika Testsson", "role": "clinician"}
    with ctx.db.session() as s:
        later = s.scalars(select(StaffSession.expires_at)).one()
    assert later > earlier + dt.timedelta(minutes=4)


def test_the_week_and_me_survive_a_dropped_connection(
    client: TestClient, clinician: User, ctx: Context
) -> None:
    """They take their connection without the pool's ping and, should it have been dropped,
    run once more on a fresh one (the week: its route answers what its shortcut could not);
    every other route's checkout pings as before."""
    if not ctx.db.is_postgresql:
        pytest.skip("PostgreSQL only: SQLite has no connection to drop")
    headers = bearer(client, "annika")
    for path in ("/api/v1/meetings", "/api/v1/me", "/api/v1/meeting-types"):
        assert client.get(path, headers=headers).status_code == 200
        with create_engine(ctx.db.url, poolclass=NullPool).connect() as conn:  # the pool's connections end
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert client.get(path, headers=headers).status_code == 200
