"""Room control against a real Janus: create with the admin key, exists, participants, destroy."""

from __future__ import annotations

from pathlib import Path

import pytest
from janus_fixtures import connected, room_control, running_janus

from vardmote.media import videoroom
from vardmote.media.janus import JanusError
from vardmote.media.videoroom import PLUGIN, RoomControl, RoomOptions, room_secret
from vardmote.settings import Secret

pytestmark = pytest.mark.media

MEETING = "mote-2f6c1e"


async def test_the_admin_key_creates_a_room_that_then_exists(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, room_control(janus) as (_, rooms):
        assert not await rooms.exists(MEETING)
        await rooms.create(MEETING, RoomOptions(publishers=3, bitrate=512_000))
        assert await rooms.exists(MEETING)
        assert await rooms.participants(MEETING) == []


@pytest.mark.parametrize(
    ("admin_key", "code", "reason"),
    [
        pytest.param(None, videoroom.MISSING_ELEMENT, "Missing mandatory element (admin_key)", id="missing"),
        pytest.param(
            Secret("gissad-nyckel"), videoroom.UNAUTHORIZED, "Unauthorized (wrong admin_key)", id="wrong"
        ),
    ],
)
async def test_a_room_is_not_created_without_the_right_admin_key(
    tmp_path: Path, admin_key: Secret | None, code: int, reason: str
) -> None:
    async with running_janus(tmp_path) as janus, connected(janus) as client:
        session = await client.create_session()
        handle = await session.attach(PLUGIN)
        body = {"request": "create", "room": MEETING}
        if admin_key is not None:
            body["admin_key"] = admin_key.reveal()
        with pytest.raises(JanusError) as refused:
            await handle.message(body)
        assert (refused.value.code, refused.value.reason) == (code, reason)
        assert not await RoomControl(handle, janus.node.admin_key).exists(MEETING)


async def test_a_room_that_exists_is_not_made_twice(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, room_control(janus) as (_, rooms):
        await rooms.create(MEETING)
        with pytest.raises(JanusError) as refused:
            await rooms.create(MEETING)
    assert refused.value.code == videoroom.ROOM_EXISTS


async def test_participants_lists_who_joined_and_destroy_ends_the_room(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, room_control(janus) as (session, rooms):
        await rooms.create(MEETING)
        clinician = await session.attach(PLUGIN)
        joined = await videoroom.join_as_publisher(clinician, MEETING, "Annika Testsson")
        assert joined.room == MEETING
        assert joined.feeds == ()
        assert [(p.id, p.display, p.publisher) for p in await rooms.participants(MEETING)] == [
            (joined.id, "Annika Testsson", False)
        ]
        await rooms.destroy(MEETING)
        assert not await rooms.exists(MEETING)
        event = await clinician.events.get()
        assert event.data == {"videoroom": "destroyed", "room": MEETING}
        await rooms.destroy(MEETING)  # a room that is gone already is fine
        with pytest.raises(JanusError) as refused:
            await rooms.participants(MEETING)
        assert refused.value.code == videoroom.NO_SUCH_ROOM


async def test_a_room_is_governed_only_with_its_own_secret(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, room_control(janus) as (session, rooms):
        await rooms.create(MEETING)
        other_key = RoomControl(await session.attach(PLUGIN), Secret("en-annan-nyckel"))
        with pytest.raises(JanusError) as refused:
            await other_key.destroy(MEETING)
        assert (refused.value.code, refused.value.reason) == (
            videoroom.UNAUTHORIZED,
            "Unauthorized (wrong secret)",
        )
        assert await rooms.exists(MEETING)


def test_room_secrets_differ_per_room_and_per_admin_key() -> None:
    key = Secret("nyckel")
    assert room_secret(key, "a").reveal() == room_secret(key, "a").reveal()
    assert room_secret(key, "a").reveal() != room_secret(key, "b").reveal()
    assert room_secret(key, "a").reveal() != room_secret(Secret("annan"), "a").reveal()
    assert "nyckel" not in repr(room_secret(key, "a"))
