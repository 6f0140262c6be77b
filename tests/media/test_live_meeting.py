"""A live meeting end to end: ``vardmote serve`` with its embedded Janus, people on WebSockets.

The server runs as a subprocess, as in production (one for this module, with
a host-left timeout of 3 s and a reconnect window of 5 s; tests/servers.py
runs it and checks its log when it stops, and the clients are in
``live_clients.py``). Annika, a clinician, books a "Vårdmöte
patient" through the API and hosts it; David, a patient, joins on the
meeting's guest link. Both send a synthetic camera and a silent
microphone from aiortc and count the video frames they receive from each
other, through Janus, with nothing but the signalling protocol between them
and vardmote.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from live_clients import (
    candidate_addresses,
    extra_links,
    feeds_in_janus,
    frames_stop,
    people,
)
from sqlalchemy import select
from sqlalchemy.engine import make_url

import servers
from databases import postgres_server_url
from netns import media_address
from servers import Booking, Server, book_protected_meeting, serve
from vardmote.audit.models import AuditEntry
from vardmote.media.janus import JanusClient, JanusError
from vardmote.meetings.models import Meeting
from vardmote.rooms.messages import MESSAGE_BURST

pytestmark = pytest.mark.media

HOST_LEFT_SECONDS = 3
RECONNECT_SECONDS = 5
ONLY_HOSTS = "Bara en värd kan göra det."


# The module's server (pytest finds fixtures by the module's names), and the fixtures on it.
server = servers.server_fixture(
    "live",
    env={
        "VARDMOTE_HOST_LEFT_SECONDS": str(HOST_LEFT_SECONDS),
        "VARDMOTE_RECONNECT_SECONDS": str(RECONNECT_SECONDS),
    },
)
annika = servers.annika
meeting = servers.meeting


def test_the_server_keeps_its_meetings_in_the_database_the_run_was_given(
    server: Server, meeting: Booking
) -> None:
    """Under VARDMOTE_TEST_DATABASE_URL the live server runs on a fresh database on that
    PostgreSQL server (not on a SQLite file of its own); without it, on its SQLite file."""
    health = server.health()
    assert health is not None
    given = postgres_server_url()
    if given:
        assert health["database"]["engine"] == "postgresql", health
        used, run = make_url(server.database_url), make_url(given)
        assert used.get_backend_name() == "postgresql"
        assert (used.host, used.query.get("host")) == (run.host, run.query.get("host"))
        assert used.database != run.database
        assert (used.database or "").startswith("vardmote_test_server_")
    else:
        assert health["database"]["engine"] == "sqlite", health
        assert server.database_url == f"sqlite:///{(server.var_dir / 'vardmote.sqlite3').resolve()}"
    db = server.database()
    try:
        with db.session() as s:
            booked = s.get(Meeting, meeting.meeting_id)
            assert booked is not None
            assert booked.title == "Uppföljning"
    finally:
        db.dispose()


async def test_a_guest_gets_nothing_before_tillåt_and_then_both_see_each_other(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.guest()

        mark = await david.offer_publisher_raw()
        refused = await david.wait_error("not_admitted", after=mark)
        assert refused["request"] == "offer"
        await david.send({"type": "candidate", "pc": "publisher", "candidate": None})
        await david.wait_error("not_admitted", after=mark + 1)
        await asyncio.sleep(0.5)  # the host's camera is up in Janus by now
        assert david.of_type("offer") == []
        assert david.of_type("streams") == []
        assert set(await feeds_in_janus(server, meeting.meeting_id)) == {f"{host.id}-camera"}
        async with await JanusClient.connect(server.janus_url, timeout=5.0) as stranger:
            with pytest.raises(JanusError, match="403"):  # without vardmote's api_secret
                await stranger.create_session()

        await host.send({"type": "admit", "participant": david.id})
        await david.wait_for("admitted")
        await david.publish()

        assert await david.wait_for_frames(host.id, 11) > 10
        assert await host.wait_for_frames(david.id, 11) > 10
        streams = await david.wait_for("streams")
        assert streams["streams"] == [{"participant": host.id, "kind": "camera"}]
        sent_by_janus = host.janus_sdps + david.janus_sdps
        assert {a for sdp in sent_by_janus for a in candidate_addresses(sdp)} == {media_address()}
        assert host.errors() == []
        assert david.of_type("client_failure") == []


async def test_the_sixteenth_is_refused_with_meeting_full_when_fifteen_are_admitted(
    server: Server, meeting: Booking, annika: str
) -> None:
    tokens = extra_links(server, meeting.meeting_id, 15)
    async with people(server, meeting, annika) as room:
        host = await room.host()
        crowd = [await room.admitted_guest(host, f"Gäst {i}", link) for i, link in enumerate(tokens[:14], 1)]
        late = await room.guest("Gäst 15", tokens[14])

        mark = len(host.messages)
        await host.send({"type": "admit", "participant": late.id})
        full = await host.wait_error("meeting_full", after=mark)
        assert full == {
            "type": "error",
            "code": "meeting_full",
            "message": "Mötet är fullt: högst 15 deltagare får vara med.",
            "request": "admit",
        }
        await asyncio.sleep(0.2)
        assert late.of_type("admitted") == []

        await crowd[0].send({"type": "leave"})
        await host.wait_for("participant", lambda m: m["change"] == "remove", after=mark)
        await host.send({"type": "admit", "participant": late.id})
        await late.wait_for("admitted")


async def test_tysta_alla_gäster_mutes_the_guests_microphone_in_janus_and_keeps_it_muted(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host)
        await david.publish()
        assert await host.wait_for_frames(david.id, 1) >= 1
        await host.send({"type": "guests_may_unmute", "allowed": False})
        await david.wait_for("settings", lambda m: m["guests_may_unmute"] is False)

        await host.send({"type": "mute_all_guests"})
        muted = await david.wait_for("muted")
        assert muted == {"type": "muted", "by": host.id, "may_unmute": False}
        await host.wait_for(
            "participant", lambda m: m["participant"]["id"] == david.id and m["participant"]["host_muted"]
        )

        feed = (await feeds_in_janus(server, meeting.meeting_id))[f"{david.id}-camera"]
        assert [(s.type, s.moderated) for s in feed.streams] == [("audio", True), ("video", False)]
        host_feed = (await feeds_in_janus(server, meeting.meeting_id))[f"{host.id}-camera"]
        assert not any(s.moderated for s in host_feed.streams)

        mark = len(david.messages)
        await david.send({"type": "media_state", "camera": True, "microphone": True})
        refused = await david.wait_error("not_allowed", after=mark)
        assert refused["message"] == (
            "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv."
        )
        feed = (await feeds_in_janus(server, meeting.meeting_id))[f"{david.id}-camera"]
        assert [(s.type, s.moderated) for s in feed.streams] == [("audio", True), ("video", False)]


async def test_a_removed_guests_media_stops_and_their_link_cannot_join_again(
    server: Server, meeting: Booking, annika: str
) -> None:
    # David has a personal link: removing him bars it (the general link is shared and is not barred).
    david_link, eva_link = extra_links(server, meeting.meeting_id, 2)
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David", david_link)
        await david.publish()
        eva = await room.admitted_guest(host, "Eva", eva_link)  # an interpreter, who stays
        await eva.publish()
        assert await host.wait_for_frames(david.id, 11) > 10
        assert await host.wait_for_frames(eva.id, 11) > 10

        mark = len(host.messages)
        await host.send({"type": "remove", "participant": david.id})
        removed = await david.wait_for("removed")
        assert removed["message"] == "Vårdpersonalen har tagit bort dig från mötet."
        async with asyncio.timeout(5):
            await david.closed.wait()
        await host.wait_for("participant", lambda m: m["change"] == "remove", after=mark)
        streams = await host.wait_for("streams", after=mark)
        assert streams["streams"] == [{"participant": eva.id, "kind": "camera"}]
        assert await frames_stop(host, david.id)
        assert f"{david.id}-camera" not in await feeds_in_janus(server, meeting.meeting_id)

        # Janus renegotiated the host's subscriber itself; its offer still says whose the rest is.
        offers = [m for m in host.messages[mark:] if m["type"] == "offer"]
        assert offers
        assert {s["participant"] for s in offers[-1]["streams"]} == {eva.id}
        before = host.frames_from(eva.id)
        assert await host.wait_for_frames(eva.id, before + 11) > before + 10

        again = await room.connect("David")
        refused = await again.join(david_link)
        assert refused["code"] == "removed"
        assert refused["request"] == "join"
        async with asyncio.timeout(5):
            await again.closed.wait()
        assert host.errors() == []
        assert eva.errors() == []


async def test_when_the_host_leaves_the_guest_is_told_and_the_meeting_ends_after_the_timeout(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)

        await host.send({"type": "leave"})
        left = await david.wait_for("host_left")
        told = time.monotonic()
        assert left["seconds"] == HOST_LEFT_SECONDS
        assert left["message"].startswith("Vårdpersonalen har lämnat mötet.")
        async with asyncio.timeout(5):
            await host.closed.wait()

        ended = await david.wait_for("ended", timeout=HOST_LEFT_SECONDS + 3)
        waited = time.monotonic() - told
        assert ended == {
            "type": "ended",
            "reason": "host_left",
            "message": "Vårdpersonalen har lämnat mötet, så mötet är avslutat.",
        }
        assert HOST_LEFT_SECONDS - 0.5 < waited < HOST_LEFT_SECONDS + 2
        async with asyncio.timeout(5):
            await david.closed.wait()


async def test_a_dropped_guest_who_comes_back_in_time_is_in_the_meeting_again_without_the_lobby(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host)
        await david.publish()
        assert await david.wait_for_frames(host.id, 11) > 10
        assert await host.wait_for_frames(david.id, 11) > 10
        resume, david_id = david.resume, david.id

        await david.drop()
        await host.wait_for(
            "participant",
            lambda m: m["participant"]["id"] == david_id and m["participant"]["connected"] is False,
        )
        assert await frames_stop(host, david_id)

        back = await room.connect("David")
        mark = len(host.messages)
        joined = await back.join(meeting.link, resume=resume)
        assert joined["type"] == "joined", joined
        assert (joined["participant"], joined["state"], joined["resumed"]) == (david_id, "admitted", True)
        assert joined["resume"] != resume
        await asyncio.sleep(0.2)
        assert back.of_type("lobby") == []
        await host.wait_for(
            "participant",
            lambda m: m["participant"]["id"] == david_id and m["participant"]["connected"],
            after=mark,
        )

        await back.publish()
        assert await back.wait_for_frames(host.id, 11) > 10
        before = host.frames_from(david_id)
        assert await host.wait_for_frames(david_id, before + 11) > before + 10
        assert back.errors() == []
        assert host.errors() == []


async def test_a_colleague_who_was_not_invited_cannot_join_as_host_by_the_meeting_id(
    server: Server, meeting: Booking
) -> None:
    """Staff host their own meetings and those they were sent a staff invitation to; knowing a
    meeting's id (it is in every guest page) lets no other signed-in colleague in."""
    async with people(server, meeting, server.sign_in("admin")) as room:
        colleague = await room.connect("Admin", staff=True)
        answer = await colleague.join()
        assert answer["type"] == "error", answer
        assert answer["code"] == "not_found", answer
        assert answer["message"] == "Mötet finns inte."


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param("inte json", "bad_message", id="not-json"),
        pytest.param("[1, 2]", "bad_message", id="not-an-object"),
        pytest.param('{"type": "dance"}', "unknown_type", id="unknown-type"),
        pytest.param('{"type": "offer", "pc": "publisher", "sdp": "hej"}', "bad_message", id="bad-sdp"),
        pytest.param('{"type": "chat", "text": "Hej"}', "not_joined", id="before-join"),
    ],
)
async def test_a_bad_frame_is_answered_with_its_error_and_the_connection_stays(
    server: Server, meeting: Booking, frame: str, code: str
) -> None:
    async with people(server, meeting, "") as room:
        david = await room.connect("David")
        await david.send_raw(frame)
        await david.wait_error(code)
        joined = await david.join(meeting.link)
        assert joined["type"] == "joined"


async def test_a_frame_over_64_kib_is_refused_and_the_connection_closed(
    server: Server, meeting: Booking
) -> None:
    async with people(server, meeting, "") as room:
        david = await room.connect("David")
        await david.send_raw(json.dumps({"type": "chat", "text": "x" * 70 * 1024}))
        async with asyncio.timeout(5):
            await david.closed.wait()
        # The WebSocket layer refuses it (uvicorn's ws_max_size): "message too big".
        assert david.close_code == 1009


async def test_a_flood_beyond_the_rate_limit_is_dropped_with_rate_limited(
    server: Server, meeting: Booking
) -> None:
    async with people(server, meeting, "") as room:
        david = await room.connect("David")
        # Over the burst, but not so far over that the connection is closed as a flood
        # (test_bounds_signalling.py).
        for _ in range(MESSAGE_BURST + 15):
            await david.send({"type": "raise_hand"})
        await david.wait_error("rate_limited")
        await asyncio.sleep(0.3)
        assert len(david.errors("rate_limited")) == 1  # at most one a second
        answered = len(david.errors("not_joined"))
        assert MESSAGE_BURST <= answered < MESSAGE_BURST + 15
        assert not david.closed.is_set()


async def test_host_commands_from_a_guest_are_refused_and_audited_once_as_they_go(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with people(server, meeting, annika) as room:
        host = await room.host()
        david = await room.admitted_guest(host)
        for command in (
            {"type": "mute", "participant": host.id},
            {"type": "remove", "participant": host.id},
            {"type": "end"},
        ):
            mark = len(david.messages)
            await david.send(command)
            refused = await david.wait_error("not_allowed", after=mark)
            assert (refused["message"], refused["request"]) == (ONLY_HOSTS, command["type"])
        assert host.of_type("ended") == []
        assert host.of_type("muted") == []
        await david.close()  # the connection's refusals are audited as it closes

        db = server.database()
        try:
            async with asyncio.timeout(5):
                while True:
                    with db.session() as s:
                        rows = s.scalars(
                            select(AuditEntry)
                            .where(AuditEntry.meeting_id == meeting.meeting_id)
                            .where(AuditEntry.action == "meeting.host_command_refused")
                            .order_by(AuditEntry.id)
                        ).all()
                        found = [(r.actor, json.loads(r.details)) for r in rows]
                    if found:
                        break
                    await asyncio.sleep(0.1)
        finally:
            db.dispose()
        ((actor, details),) = found
        assert details == {
            "participant": david.id,
            "count": 3,
            "commands": {"end": 1, "mute": 1, "remove": 1},
        }
        assert actor.startswith("guest:")
        assert "David" not in json.dumps(found)  # guest names never go into the audit log


async def test_after_janus_dies_and_is_restarted_a_new_offer_brings_the_media_back(
    tmp_path: Path,
) -> None:
    with serve(tmp_path / "var", media=True) as own:
        session = own.sign_in()
        async with people(own, book_protected_meeting(own, session=session), session) as room:
            host = await room.host(publish=True)
            david = await room.admitted_guest(host)
            await david.publish()
            assert await david.wait_for_frames(host.id, 11) > 10
            assert await host.wait_for_frames(david.id, 11) > 10
            marks = len(host.messages), len(david.messages)

            own.kill_janus()
            for person, mark in zip((host, david), marks, strict=True):
                gone = await person.wait_error("media_unavailable", after=mark)
                assert gone["message"] == "Videotjänsten svarar inte just nu. Försök igen om en stund."
            await asyncio.to_thread(own.wait_for_janus_restart, 1)

            await host.publish()
            await david.publish()
            before = david.frames_from(host.id), host.frames_from(david.id)
            assert await david.wait_for_frames(host.id, before[0] + 11) > before[0] + 10
            assert await host.wait_for_frames(david.id, before[1] + 11) > before[1] + 10
