"""SharedLiveMeetings in this process, with real Redis and a real Janus: what needs a clock of
its own to test (letting a meeting nobody is in go, and taking it up again from its snapshot).

The WebSocket side is a :class:`Socket` that keeps what it is sent; everything behind it (the
inbox stream, the lease, the snapshot, Janus) is the real thing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
from janus_fixtures import running_janus

from redis_server import running_redis
from vardmote.cluster import meetings as cluster
from vardmote.media.placement import SingleNode
from vardmote.media.plane import MediaPlane
from vardmote.meetings.types import DEFAULT_TYPES
from vardmote.rooms import messages as m
from vardmote.rooms.participant import Staff
from vardmote.rooms.policy import RoomPolicy

pytestmark = pytest.mark.media

MEETING = "6f1d2c3b-0000-4000-8000-000000000001"
POLICY = RoomPolicy.from_mapping(next(row for row in DEFAULT_TYPES if row["key"] == "vardmote_patient"))
ANNIKA = Staff("annika", "Annika Berg")


class Socket:
    """Socket is a participant's WebSocket as the meeting sees it: it keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[Mapping[str, Any]] = []
        self.closed: str | None = None

    async def send(self, message: Mapping[str, Any]) -> None:
        self.messages.append(message)

    async def close(self, reason: str) -> None:
        self.closed = reason

    async def wait_for(self, kind: str, timeout: float = 5.0) -> Mapping[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                found = [message for message in self.messages if message.get("type") == kind]
                if found:
                    return found[-1]
                await asyncio.sleep(0.02)


async def _no_audit(meeting_id: str, actor: str, action: str, details: Mapping[str, Any]) -> None:
    """The audit log is not what these tests are about (tests/media/test_live_meeting.py has it)."""


async def _policy(meeting_id: str) -> RoomPolicy:
    return POLICY


async def _join(shared: cluster.SharedLiveMeetings, socket: Socket, resume: str | None = None) -> str:
    conn = shared.new_conn_id()
    join = m.Join(link=None, name=None, resume=resume)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await shared.door(MEETING).join(conn, socket, ANNIKA, join, expires, POLICY)
    await socket.wait_for("joined")
    return conn


async def test_a_meeting_nobody_is_in_is_let_go_and_taken_up_again_from_its_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "IDLE_RELEASE_SECONDS", 0.5)
    async with asyncio.timeout(30), running_janus(tmp_path / "janus") as janus:
        with running_redis(tmp_path / "redis") as server:
            shared = cluster.SharedLiveMeetings(
                server.url,
                MediaPlane(SingleNode(janus.node)),
                _no_audit,
                policy_of=_policy,
                booking_change=lambda event: None,
                host_left_seconds=60,
                reconnect_seconds=1,
            )
            await shared.start()
            try:
                first = Socket()
                conn = await _join(shared, first)
                await shared.door(MEETING).handle(conn, m.Lock(), '{"type":"lock"}')
                await first.wait_for("settings")
                owner_key = f"vardmote:meeting:{MEETING}:owner"
                with redis.Redis.from_url(server.url) as client:
                    assert client.get(owner_key) == shared.process.encode()

                    await shared.door(MEETING).drop(conn)

                    async with asyncio.timeout(8):  # the reconnect window, then idle, then a renewal tick
                        while client.get(owner_key) is not None:
                            await asyncio.sleep(0.1)
                    assert shared.meetings() == []
                    saved = json.loads(client.get(f"vardmote:meeting:{MEETING}:state") or b"{}")
                assert saved["room"]["locked"] is True
                assert saved["room"]["participants"] == []
                assert saved["media"]["session"] is None  # the Janus room and session ended with it

                again = Socket()
                await _join(shared, again)
                joined = await again.wait_for("joined")
                assert joined["settings"]["locked"] is True
                assert [live.meeting_id for live in shared.meetings()] == [MEETING]
            finally:
                await shared.close()
