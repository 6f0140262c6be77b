"""GET /metrics (vardmote.metrics): Prometheus's text format without sign-in, the counting
functions changing what it shows, the live meetings read at scrape time, and nothing personal."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vardmote import metrics
from vardmote.meetings.types import DEFAULT_TYPES
from vardmote.rooms import messages
from vardmote.rooms.participant import LinkHolder, Staff
from vardmote.rooms.policy import RoomPolicy
from vardmote.rooms.room import Room

NAMES = {
    "vardmote_live_meetings": "gauge",
    "vardmote_participants": "gauge",
    "vardmote_websockets": "gauge",
    "vardmote_lobby_wait_seconds": "histogram",
    "vardmote_failovers": "counter",
    "vardmote_janus_node_up": "gauge",
    "vardmote_bus_events": "counter",
}


def _scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """_scrape gets /metrics and parses it: (sample name, sorted labels) -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_are_shown_without_sign_in_in_prometheus_format(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    for name, kind in NAMES.items():
        assert families.get(name) == kind, name
    assert "process_resident_memory_bytes" in response.text
    samples = _scrape(client)
    assert samples[("vardmote_live_meetings", ())] == 0  # media off: no live meetings
    for state in ("lobby", "admitted", "dropped"):
        assert samples[("vardmote_participants", (("state", state),))] == 0
    for kind in ("process", "janus_node"):
        assert ("vardmote_failovers_total", (("kind", kind),)) in samples
    assert not any(name.endswith("_created") for name, _ in samples)


def test_metrics_are_not_in_the_api_description(client: TestClient) -> None:
    assert "/metrics" not in client.get("/api/v1/openapi.json").json()["paths"]


def test_the_counting_functions_change_what_metrics_shows(client: TestClient) -> None:
    before = _scrape(client)

    def change(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    metrics.websocket_opened()
    metrics.websocket_opened()
    metrics.websocket_closed()
    metrics.lobby_waited(42.0)
    metrics.failover("process")
    metrics.failover("janus_node")
    metrics.failover("janus_node")
    metrics.bus_event("meeting.cancelled")
    metrics.janus_node_health("ws://janus-a.internal:8188", True)
    metrics.janus_node_health("wss://admin:hemligt@janus-b.internal:8989/janus?x=1", False)
    after = _scrape(client)

    assert change("vardmote_websockets") == 1
    assert change("vardmote_lobby_wait_seconds_count") == 1
    assert change("vardmote_lobby_wait_seconds_sum") == pytest.approx(42.0)
    assert change("vardmote_lobby_wait_seconds_bucket", le="30.0") == 0
    assert change("vardmote_lobby_wait_seconds_bucket", le="60.0") == 1
    assert change("vardmote_failovers_total", kind="process") == 1
    assert change("vardmote_failovers_total", kind="janus_node") == 2
    assert change("vardmote_bus_events_total", event="meeting.cancelled") == 1
    assert after[("vardmote_janus_node_up", (("node", "ws://janus-a.internal:8188"),))] == 1
    # A node's address without its user, password or query.
    assert after[("vardmote_janus_node_up", (("node", "wss://janus-b.internal:8989/janus"),))] == 0
    assert "hemligt" not in client.get("/metrics").text
    metrics.websocket_closed()


@dataclass
class _Live:
    room: Room


class _Registry:
    """_Registry stands in for app.state.live (LiveMeetings): its meetings() is all /metrics reads."""

    def __init__(self, *rooms: Room) -> None:
        self.rooms = [_Live(room) for room in rooms]

    def meetings(self) -> list[_Live]:
        return self.rooms

    async def close(self) -> None:
        pass


def _room(meeting_id: str) -> Room:
    row = next(row for row in DEFAULT_TYPES if row["key"] == "vardmote_patient")
    return Room(meeting_id, RoomPolicy.from_mapping(row), reconnect_seconds=30, host_left_seconds=60)


def _admit(room: Room, host_conn: str, guest_conn: str) -> None:
    guest = room.participant_for(guest_conn)
    assert guest is not None
    frame = messages.decode(json.dumps({"type": "admit", "participant": guest.id}))
    room.handle(host_conn, frame, 1.0)


def test_live_meetings_and_participants_are_counted_when_scraped(client: TestClient) -> None:
    busy = _room("m-1")
    busy.join("c1", Staff("annika", "Annika Berg"), None, 0.0, None)
    busy.join("c2", LinkHolder(11), "David Personsson", 0.0, None)
    busy.join("c3", LinkHolder(12), "Maria", 0.0, None)
    busy.join("c4", LinkHolder(13), "Sara", 0.0, None)
    _admit(busy, "c1", "c2")
    _admit(busy, "c1", "c4")
    busy.drop("c4", 2.0)  # admitted, then the connection was lost
    waiting = _room("m-2")
    waiting.join("c5", LinkHolder(21), "Erik", 0.0, None)
    empty = _room("m-3")
    client.app.state.live = _Registry(busy, waiting, empty)  # type: ignore[attr-defined]

    samples = _scrape(client)
    assert samples[("vardmote_live_meetings", ())] == 2  # m-3 has nobody in it
    assert samples[("vardmote_participants", (("state", "admitted"),))] == 2  # annika, David
    assert samples[("vardmote_participants", (("state", "lobby"),))] == 2  # Maria, Erik
    assert samples[("vardmote_participants", (("state", "dropped"),))] == 1  # Sara

    text = client.get("/metrics").text
    for personal in ("annika", "David", "Personsson", "Erik", "m-1", "m-2", "c1"):
        assert personal not in text
    client.app.state.live = None  # type: ignore[attr-defined]
