"""/metrics counts a live meeting as it happens: sockets, people by state, the lobby's wait.

One ``vardmote serve`` with real Janus; Annika admits David (aiortc peers on the
meeting WebSocket) and /metrics is read in Prometheus's text format.
"""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from live_clients import people
from prometheus_client.parser import text_string_to_metric_families

import servers
from servers import Booking, Server

pytestmark = pytest.mark.media

server = servers.server_fixture("live-metrics")
annika = servers.annika
meeting = servers.meeting


def _samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_follow_a_live_meeting(server: Server, meeting: Booking, annika: str) -> None:
    before = await asyncio.to_thread(_samples, server)
    waits_before = before.get(("vardmote_lobby_wait_seconds_count", ()), 0.0)
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.guest("David")
        lobby = await asyncio.to_thread(_samples, server)
        assert lobby[("vardmote_participants", (("state", "lobby"),))] == 1
        assert lobby[("vardmote_websockets", ())] == before.get(("vardmote_websockets", ()), 0) + 2
        await host.send({"type": "admit", "participant": david.id})
        await david.wait_for("admitted")

        during = await asyncio.to_thread(_samples, server)
        assert during[("vardmote_live_meetings", ())] >= 1
        assert during[("vardmote_participants", (("state", "admitted"),))] == 2
        assert during[("vardmote_participants", (("state", "lobby"),))] == 0
        assert during[("vardmote_lobby_wait_seconds_count", ())] == waits_before + 1
        assert during[("vardmote_lobby_wait_seconds_sum", ())] > 0
    await asyncio.sleep(0.5)
    after = await asyncio.to_thread(_samples, server)
    assert after[("vardmote_websockets", ())] == before.get(("vardmote_websockets", ()), 0)
