"""The Janus client against a real Janus: info, sessions, handles, secrets, keepalives."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest
from janus_fixtures import connected, running_janus

from vardmote.media import echotest, videoroom
from vardmote.media.janus import JanusClient, JanusError, JanusEvent, JanusTimeout, JanusUnavailable
from vardmote.media.videoroom import PLUGIN, RoomControl
from vardmote.settings import Secret

pytestmark = pytest.mark.media

UNAUTHORIZED = 403
NO_SUCH_SESSION = 458


async def test_info_answers_with_the_version_and_only_the_plugins_vardmote_uses(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, connected(janus) as client:
        info = await client.info()
    assert info["janus"] == "server_info"
    assert info["version_string"].startswith("1.")
    assert sorted(info["plugins"]) == sorted([PLUGIN, echotest.PLUGIN])  # EchoTest: the connection test
    assert list(info["transports"]) == ["janus.transport.websockets"]


async def test_a_session_attaches_a_videoroom_handle_and_detaches_it(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, connected(janus) as client:
        session = await client.create_session()
        handle = await session.attach(PLUGIN)
        assert handle.id > 0
        assert handle.plugin == PLUGIN
        data, jsep = await handle.message({"request": "exists", "room": "ingen"})
        assert data == {"videoroom": "success", "room": "ingen", "exists": False}
        assert jsep is None
        await handle.detach()
        with pytest.raises(JanusError) as refused:
            await handle.message({"request": "exists", "room": "ingen"})
        assert refused.value.code == 459  # no such handle
        await session.destroy()
        assert session.ended


@pytest.mark.parametrize(
    "secret",
    [pytest.param(None, id="missing"), pytest.param(Secret("fel-hemlighet"), id="wrong")],
)
async def test_a_request_without_the_right_api_secret_is_refused(
    tmp_path: Path, secret: Secret | None
) -> None:
    async with running_janus(tmp_path) as janus:
        client = await JanusClient.connect(janus.url, secret)
        try:
            with pytest.raises(JanusError) as refused:
                await client.create_session()
        finally:
            await client.close()
    assert refused.value.code == UNAUTHORIZED
    assert refused.value.reason == "Unauthorized request (wrong or missing secret/token)"


async def test_connecting_to_a_port_where_no_janus_listens_is_unavailable(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus:
        url = janus.url
    with pytest.raises(JanusUnavailable, match=re.escape(f"cannot connect to Janus at {url}: ")):
        await JanusClient.connect(url, timeout=2.0)


async def test_keepalives_keep_a_session_that_janus_would_otherwise_drop(tmp_path: Path) -> None:
    async with running_janus(tmp_path, session_timeout=2) as janus, connected(janus) as client:
        kept = await client.create_session(keepalive_interval=0.3)
        silent = await client.create_session(keepalive_interval=None)
        silent_events: list[JanusEvent] = []

        async def collect(event: JanusEvent) -> None:
            silent_events.append(event)

        await silent.attach(PLUGIN, on_event=collect)
        async with asyncio.timeout(10):
            while not silent.ended:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.1)  # the handle's callback task runs
        assert [e.kind for e in silent_events] == ["timeout"]
        with pytest.raises(JanusError) as gone:
            await silent.keepalive()
        assert gone.value.code == NO_SUCH_SESSION
        assert not kept.ended
        await kept.attach(PLUGIN)  # Janus still knows the kept session


async def test_requests_fail_as_unavailable_after_the_client_closed(tmp_path: Path) -> None:
    closed: list[JanusUnavailable] = []
    async with running_janus(tmp_path) as janus:
        client = await JanusClient.connect(janus.url, janus.node.api_secret, on_close=closed.append)
        session = await client.create_session()
        handle = await session.attach(PLUGIN)
        await client.close()
        assert client.closed
        assert session.ended
        assert handle.closed
        assert (await handle.events.get()).kind == "closed"
        with pytest.raises(JanusUnavailable):
            await client.info()
    assert len(closed) == 1


async def test_an_event_callback_may_itself_make_requests(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus, connected(janus) as client:
        session = await client.create_session()
        rooms = RoomControl(await session.attach(PLUGIN), janus.node.admin_key)
        await rooms.create("mote-1")
        answers: list[tuple[str, bool]] = []

        async def on_event(event: JanusEvent) -> None:
            answers.append((event.data["videoroom"], await rooms.exists("mote-1")))

        clinician = await session.attach(PLUGIN, on_event=on_event)
        await videoroom.join_as_publisher(clinician, "mote-1", "Annika Testsson")
        await rooms.destroy("mote-1")
        async with asyncio.timeout(5):
            while not answers:
                await asyncio.sleep(0.05)
    assert answers == [("destroyed", False)]


async def test_a_request_that_janus_does_not_answer_in_time_times_out(tmp_path: Path) -> None:
    async with running_janus(tmp_path, probe_interval=60) as janus, connected(janus) as client:
        assert janus.pid is not None
        os.kill(janus.pid, signal.SIGSTOP)
        try:
            with pytest.raises(JanusTimeout, match="Janus did not answer 'info' in time"):
                await client.request({"janus": "info"}, timeout=0.3)
        finally:
            os.kill(janus.pid, signal.SIGCONT)
        assert (await client.info())["janus"] == "server_info"
