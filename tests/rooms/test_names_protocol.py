"""Guest names through the meeting WebSocket: the app in-process, on the test database.

Live meetings are on (``media``), with a Janus node that does not answer: a
join, the lobby, "Tillåt" and the chat never reach Janus, so these frames are
the whole of what is tested. A refused name leaves the connection open for a
join under another name; the chat carries the role as its own field beside
the name, and that field, not the name, is what the page marks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from booking_helpers import book
from conftest import bearer
from name_texts import INVISIBLE, LOOKS_LIKE_ROLE
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.settings import JanusNodeSetting, Secret


@pytest.fixture
def live_client(ctx: Context) -> Iterator[TestClient]:
    """live_client is the app with live meetings on and a Janus at a closed loopback port."""
    nowhere = JanusNodeSetting("ws://127.0.0.1:9", Secret("api"), Secret("admin"))
    settings = dataclasses.replace(ctx.settings, media=True, janus_nodes=(nowhere,))
    live = Context(settings, ctx.db)
    with TestClient(create_app(settings, live), base_url="http://vardmote.test") as c:
        yield c


@pytest.fixture
def booked(live_client: TestClient, clinician: User) -> tuple[str, str, str]:
    """booked is (meeting id, guest link token, the clinician's session token) of a Vårdmöte patient."""
    headers = bearer(live_client, "annika")
    meeting = book(live_client, headers, "Namn i mötet", 1, type_key="vardmote_patient")
    token = headers["Authorization"].removeprefix("Bearer ")
    return meeting["id"], meeting["guest_url"].rsplit("/m/", 1)[1], token


def _next(ws: WebSocketTestSession, kind: str, sender: str | None = None) -> dict[str, Any]:
    """_next is the next message of kind (from sender, if given; the ones before it are skipped)."""
    for _ in range(20):
        message: dict[str, Any] = ws.receive_json()
        if message.get("type") == kind and sender in (None, message.get("from")):
            return message
    raise AssertionError(f"no {kind!r} in 20 messages")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("Olle\u202eelo", INVISIBLE, id="bidi-override"),
        pytest.param("\u2067Olle\u2069", INVISIBLE, id="bidi-isolate"),
        pytest.param("Ol\u200ble", INVISIBLE, id="zero-width-space"),
        pytest.param("Ol\u00adle", INVISIBLE, id="soft-hyphen"),
        pytest.param("Annika Berg (mötesorganisatör)", LOOKS_LIKE_ROLE, id="role"),
        pytest.param("Annika Berg （ｍöｔｅｓｏｒｇａｎｉｓａｔöｒ）", LOOKS_LIKE_ROLE, id="fullwidth"),
        pytest.param("Annika (vаrd)", LOOKS_LIKE_ROLE, id="cyrillic-a"),
        pytest.param("Vårdpersonal", LOOKS_LIKE_ROLE, id="staff"),
    ],
)
def test_a_refused_name_is_answered_with_its_reason_and_another_name_may_join(
    live_client: TestClient, booked: tuple[str, str, str], name: str, reason: str
) -> None:
    meeting_id, link, _ = booked
    with live_client.websocket_connect(f"/ws/meetings/{meeting_id}") as guest:
        guest.send_json({"type": "join", "link": link, "name": name})
        refused = guest.receive_json()
        assert refused == {"type": "error", "code": "bad_message", "message": reason, "request": "join"}

        guest.send_json({"type": "join", "link": link, "name": "Olle"})
        joined = _next(guest, "joined")
        assert joined["state"] == "lobby"
        me = next(p for p in joined["participants"] if p["id"] == joined["participant"])
        assert (me["name"], me["role"]) == ("Olle", "guest")


def test_the_chat_carries_the_role_beside_the_name_never_in_it(
    live_client: TestClient, booked: tuple[str, str, str]
) -> None:
    meeting_id, link, session = booked
    url = f"/ws/meetings/{meeting_id}"
    with (
        live_client.websocket_connect(url, headers={"cookie": f"vm_session={session}"}) as host,
        live_client.websocket_connect(url) as guest,
    ):
        host.send_json({"type": "join"})
        joined = _next(host, "joined")
        assert joined["role"] == "host"
        guest.send_json({"type": "join", "link": link, "name": "Olle"})
        olle = _next(guest, "joined")["participant"]
        host.send_json({"type": "admit", "participant": olle})
        _next(guest, "admitted")

        guest.send_json({"type": "chat", "text": "Hej!"})
        from_guest = _next(host, "chat", sender=olle)
        assert (from_guest["name"], from_guest["role"]) == ("Olle", "guest")
        host.send_json({"type": "chat", "text": "Välkommen."})
        from_host = _next(guest, "chat", sender=joined["participant"])
        assert from_host["role"] == "host"
        assert from_host["name"] == "Annika Testsson"  # the registered name, nothing added to it
