"""The week view's one query answers what the service's meetings_between and general_links do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from booking_helpers import TZ, book
from conftest import bearer
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.meetings import links
from vardmote.meetings import service as meetings
from vardmote.web.api import meeting_out


def _as_the_service_lists_them(
    ctx: Context, user: User, first: dt.date, include_cancelled: bool
) -> list[dict[str, Any]]:
    start = dt.datetime.combine(first, dt.time(), TZ)
    end = start + dt.timedelta(days=7)
    with ctx.db.session() as s:
        me = s.get(User, user.id)
        assert me is not None
        found = meetings.meetings_between(ctx, s, me, start, end, include_cancelled=include_cancelled)
        general = links.general_links(s, found)
        return [meeting_out(ctx, s, m, general).model_dump(mode="json") for m in found]


def test_the_week_view_answers_as_the_service_does(
    client: TestClient, clinician: User, other_clinician: User, ctx: Context
) -> None:
    headers = bearer(client, "annika")
    others = bearer(client, other_clinician.username)
    plain = book(client, headers, "Vanligt möte", days=2, required=["a@example.se", "b@example.se"])
    protected = book(
        client, headers, "Skyddat", days=3, type_key="vardmote_patient", optional=["c@example.se"]
    )
    renewed = book(client, headers, "Förnyad länk", days=3, type_key="vardmote_patient")
    assert client.post(f"/api/v1/meetings/{renewed['id']}/links/general", headers=headers).status_code == 201
    client.post(f"/api/v1/meetings/{renewed['id']}/links", json={"recipient": "Tolk"}, headers=headers)
    unprotected = book(client, headers, "Inte längre skyddat", days=4, type_key="vardmote_patient")
    assert client.delete(f"/api/v1/meetings/{unprotected['id']}/type", headers=headers).status_code == 200
    cancelled = book(
        client, headers, "Avbokat", days=4, type_key="vardmote_patient", required=["d@example.se"]
    )
    assert client.delete(f"/api/v1/meetings/{cancelled['id']}", headers=headers).status_code == 200
    book(client, others, "Någon annans", days=3, type_key="vardmote_patient")
    first = dt.datetime.now(TZ).date() + dt.timedelta(days=1)
    for include_cancelled in (False, True):
        params = {"from": first.isoformat(), "to": (first + dt.timedelta(days=7)).isoformat()}
        if include_cancelled:
            params["include_cancelled"] = "true"
        answer = client.get("/api/v1/meetings", params=params, headers=headers)
        assert answer.status_code == 200
        expected = _as_the_service_lists_them(ctx, clinician, first, include_cancelled)
        assert answer.json() == expected
        titles = [m["title"] for m in answer.json()]
        assert "Någon annans" not in titles
        assert ("Avbokat" in titles) is include_cancelled
    week = {m["id"]: m for m in client.get("/api/v1/meetings", params=params, headers=headers).json()}
    assert week[plain["id"]]["guest_url"] is None
    assert week[unprotected["id"]]["guest_url"] is None
    assert week[protected["id"]]["guest_url"] is not None
    assert week[renewed["id"]]["guest_url"] not in (None, renewed["guest_url"])
    assert [p["address"] for p in week[plain["id"]]["participants"]] == ["a@example.se", "b@example.se"]
