"""A live meeting follows its booking at once, end to end on a live server with real Janus.

Annika hosts a meeting on ``vardmote serve`` (tests/servers.py) while she changes
its booking through the API or the meeting page: a personal link is revoked,
the meeting gets another type, the meeting is cancelled, a colleague's staff
invitation is removed. The guests are
aiortc peers on the meeting WebSocket (live_clients.py); what they receive is
what a browser would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_clients import participants_named, people, room_in_janus
from sqlalchemy import select

import servers
from booking_helpers import csrf_of
from servers import Booking, Server, book_protected_meeting
from vardmote.accounts.service import activate_user, deactivate_user
from vardmote.db import utcnow
from vardmote.invitations.models import MeetingRecipient
from vardmote.meetings.models import Meeting
from vardmote.web.live_booking import ACCOUNT_WATCH_SECONDS

pytestmark = pytest.mark.media

LINK_GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)
TYPE_CHANGED = "Vårdpersonalen har ändrat mötet. Anslut igen, så väntar du i lobbyn tills du blir insläppt."

ACCOUNT_CLOSED = (
    "Ditt konto är inaktiverat, så du kan inte vara kvar i mötet. Kontakta din administratör om det är fel."
)

server = servers.server_fixture("live-booking")
annika = servers.annika
meeting = servers.meeting


async def _call(server: Server, method: str, path: str, session: str, body: Any = None) -> Any:
    """_call is one API request as Annika, off the event loop the clients read on."""
    return await asyncio.to_thread(server.call, method, path, body, session)


def _post_as_annika(
    server: Server, annika: str, meeting: Booking, action: str, data: dict[str, str] | None = None
) -> httpx.Response:
    """_post_as_annika posts a form of the meeting's page (action: the path under it) as
    Annika, with the page's CSRF token."""
    page = f"/moten/{meeting.meeting_id}"
    with httpx.Client(base_url=server.url, cookies={"vm_session": annika}) as client:
        form = {"csrf": csrf_of(client.get(page).text), **(data or {})}
        return client.post(f"{page}/{action}", data=form, follow_redirects=False)


def _invite_the_admin_to_host(server: Server, meeting: Booking, annika: str) -> str:
    """_invite_the_admin_to_host sends the demo administrator a staff invitation to the meeting
    ("Skicka anslutningslänk", Personal), so that they may host it; returns their session."""
    data = {"kind": "personal", "address": "admin@regionvastmanland.example.se", "username": "admin"}
    invited = _post_as_annika(server, annika, meeting, "skicka/kalender", data)
    assert invited.status_code == 303, invited.text
    return server.sign_in("admin")


async def test_a_revoked_personal_link_takes_its_holder_out_at_once_and_the_host_sees_them_go(
    server: Server, meeting: Booking, annika: str
) -> None:
    path = f"/api/v1/meetings/{meeting.meeting_id}/links"
    interpreter = await _call(server, "POST", path, annika, {"recipient": "Tolk"})
    token = interpreter["url"].rsplit("/m/", 1)[1]
    async with people(server, meeting, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host)
        sara = await room.admitted_guest(host, "Sara", token)
        await sara.publish()
        assert await host.wait_for_frames(sara.id, 5) > 0
        mark = len(host.messages)

        await _call(server, "POST", f"{path}/{interpreter['id']}/revoke", annika)

        assert await sara.wait_for("link_gone") == {"type": "link_gone", "message": LINK_GONE}
        async with asyncio.timeout(5):
            await sara.closed.wait()
        removed = await host.wait_for("participant", lambda m: m["change"] == "remove", after=mark)
        assert removed["participant"] == {"id": sara.id}
        again = await room.connect("Sara")
        refused = await again.join(token)
        assert (refused["type"], refused.get("code")) == ("error", "link_gone")
        assert david.of_type("link_gone") == []
        assert host.errors() == []


async def test_a_new_type_sends_the_guests_away_and_they_come_back_under_its_rules(
    server: Server, annika: str
) -> None:
    booking = book_protected_meeting(server, session=annika)
    async with people(server, booking, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David")
        eva = await room.admitted_guest(host, "Eva")
        await david.publish()
        assert await eva.wait_for_frames(david.id, 5) > 0

        await _call(
            server,
            "PUT",
            f"/api/v1/meetings/{booking.meeting_id}/type",
            annika,
            {"type_key": "informationsmote_patient"},
        )

        for guest in (david, eva):
            ended = await guest.wait_for("ended")
            assert ended == {"type": "ended", "reason": "type_changed", "message": TYPE_CHANGED}
            async with asyncio.timeout(5):
                await guest.closed.wait()
        assert not host.closed.is_set()

        # Back by the same link: the anonymous type's lobby, and only the hosts are seen.
        david_back = await room.admitted_guest(host, "David")
        eva_back = await room.admitted_guest(host, "Eva")
        seen = set().union(*map(participants_named, eva_back.messages))
        assert seen == {host.id, eva_back.id}
        assert david_back.id not in seen
        joined = await eva_back.wait_for("joined")
        assert joined["policy"]["anonymous"] is True
        assert host.errors() == []


async def test_a_cancelled_meeting_ends_for_everyone_and_its_janus_room_is_destroyed(
    server: Server, annika: str
) -> None:
    booking = book_protected_meeting(server, session=annika)
    async with people(server, booking, annika) as room:
        host = await room.host(publish=True)
        david = await room.admitted_guest(host, "David")
        eva = await room.guest("Eva")  # still in the lobby
        async with room_in_janus(server) as janus:
            assert await janus.exists(booking.meeting_id)

            await _call(server, "DELETE", f"/api/v1/meetings/{booking.meeting_id}", annika)

            for person in (host, david, eva):
                ended = await person.wait_for("ended")
                assert ended == {"type": "ended", "reason": "cancelled", "message": "Mötet är avbokat."}
                async with asyncio.timeout(5):
                    await person.closed.wait()
            async with asyncio.timeout(5):
                while await janus.exists(booking.meeting_id):
                    await asyncio.sleep(0.1)

        again = await room.connect("David")
        refused = await again.join(booking.link)
        assert (refused["type"], refused.get("code")) == ("error", "link_gone")


async def test_a_colleague_whose_staff_invitation_is_removed_leaves_the_meeting_they_host(
    server: Server, meeting: Booking, annika: str
) -> None:
    admin = await asyncio.to_thread(_invite_the_admin_to_host, server, meeting, annika)
    async with people(server, meeting, annika) as room, people(server, meeting, admin) as colleagues:
        host = await room.host(publish=True)
        colleague = await colleagues.host()
        david = await room.admitted_guest(host)
        assert colleague.id != host.id

        db = server.database()
        try:
            with db.session() as s:
                recipient = s.scalars(
                    select(MeetingRecipient.id).where(
                        MeetingRecipient.meeting_id == meeting.meeting_id, MeetingRecipient.kind == "personal"
                    )
                ).one()
        finally:
            db.dispose()
        mark = len(host.messages)
        removed = await asyncio.to_thread(
            _post_as_annika, server, annika, meeting, f"mottagare/{recipient}/ta-bort"
        )
        assert removed.status_code == 303, removed.text

        told = await colleague.wait_for("removed")
        assert told == {"type": "removed", "message": "Du är inte längre inbjuden att leda det här mötet."}
        async with asyncio.timeout(5):
            await colleague.closed.wait()
        gone = await host.wait_for("participant", lambda m: m["change"] == "remove", after=mark)
        assert gone["participant"] == {"id": colleague.id}
        again = await colleagues.connect("Admin", staff=True)
        refused = await again.join()
        assert (refused["type"], refused.get("code")) == ("error", "not_found")
        assert david.of_type("removed") == []
        assert not host.closed.is_set()


async def test_an_organiser_whose_account_is_deactivated_leaves_within_seconds_and_the_others_stay(
    server: Server, meeting: Booking, annika: str
) -> None:
    """Accounts are deactivated on the command line, in another process: the server's account
    watch finds it (web/live_booking.py, every ACCOUNT_WATCH_SECONDS)."""
    admin = await asyncio.to_thread(_invite_the_admin_to_host, server, meeting, annika)

    def set_annika(active: bool) -> None:
        db = server.database()
        try:
            with db.session() as s:
                (activate_user if active else deactivate_user)(s, "annika", actor="system:cli")
        finally:
            db.dispose()

    async with people(server, meeting, annika) as room, people(server, meeting, admin) as colleagues:
        host = await room.host(publish=True)
        colleague = await colleagues.host()
        david = await room.admitted_guest(host)
        mark = len(colleague.messages)
        try:
            await asyncio.to_thread(set_annika, False)
            told = await host.wait_for("removed", timeout=ACCOUNT_WATCH_SECONDS + 5)
            assert told == {"type": "removed", "message": ACCOUNT_CLOSED}
            async with asyncio.timeout(5):
                await host.closed.wait()
            gone = await colleague.wait_for("participant", lambda m: m["change"] == "remove", after=mark)
            assert gone["participant"] == {"id": host.id}
            again = await room.connect("Annika", staff=True)
            refused = await again.join()
            assert refused["type"] == "error", refused
            assert colleague.of_type("removed") == david.of_type("removed") == []
            assert not colleague.closed.is_set()
            assert not david.closed.is_set()
        finally:
            await asyncio.to_thread(set_annika, True)


async def test_when_the_meetings_links_expire_the_guest_goes_and_the_host_stays(
    tmp_path: Path,
) -> None:
    env = {"VARDMOTE_LINK_GRACE_MINUTES": "0"}
    with servers.serve(tmp_path / "var", media=True, env=env) as expiring:
        session = await asyncio.to_thread(expiring.sign_in)
        booking = await asyncio.to_thread(book_protected_meeting, expiring, session=session)
        db = expiring.database()
        try:
            with db.session() as s:  # the meeting runs over: it "ended" a moment from now
                booked = s.get(Meeting, booking.meeting_id)
                assert booked is not None
                booked.starts_at = utcnow() - dt.timedelta(minutes=30)
                booked.ends_at = utcnow() + dt.timedelta(seconds=4)
        finally:
            db.dispose()
        async with people(expiring, booking, session) as room:
            host = await room.host(publish=True)
            david = await room.admitted_guest(host)
            assert await david.wait_for("link_gone", timeout=10) == {
                "type": "link_gone",
                "message": LINK_GONE,
            }
            async with asyncio.timeout(5):
                await david.closed.wait()
            assert not host.closed.is_set()
            again = await room.connect("David")
            refused = await again.join(booking.link)
            assert (refused["type"], refused.get("code")) == ("error", "link_gone")
