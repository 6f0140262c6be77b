"""The connection test endpoint with a real Janus and a real coturn: ``/api/v1/connection-test``.

``vardmote serve`` runs with its embedded Janus (the EchoTest linked beside
the VideoRoom) and its embedded coturn, behind a trusted proxy (127.0.0.1), so
that each test speaks from an address of its own in ``X-Forwarded-For``. The
browser is aiortc: a PeerConnection with one data channel and no ICE servers,
every candidate gathered before it offers, as "Testa anslutningen" does.
David, a patient, tests on the meeting's guest link before anyone lets him in;
Annika, a clinician, on her meeting; the Vårdrum's room computer with its
token and the meeting's id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aioice import stun
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

import servers
from netns import media_address
from relay_helpers import allocate, embedded_relay_env, free_port_pair
from servers import Booking, Server, book_protected_meeting
from vardmote.accounts.devices import add_device
from vardmote.media.janus import JanusError, JanusHandle, JanusSession
from vardmote.media.relay_access import PROBE_USERNAME
from vardmote.web.connection_test import ConnectionTests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "media"))
from janus_fixtures import connected, running_janus

pytestmark = pytest.mark.media

ENDPOINT = "/api/v1/connection-test"
LINK_NOT_FOUND = (
    "Länken fungerar inte. Kontrollera att du har kopierat hela länken, eller kontakta din mottagning."
)
TOO_BUSY = "Anslutningstestet kan inte göras just nu. Försök igen om en stund."
TOO_OFTEN = "Du har testat anslutningen många gånger på kort tid. Vänta en minut och försök igen."
WITH_MEDIA = "Anslutningstestet skickar inget ljud och ingen bild: erbjudandet får bara ha datakanaler."
TOO_MANY_FOR_MEETING = (
    "Anslutningen testas redan flera gånger samtidigt för det här mötet. Vänta en stund och försök igen."
)
TOO_MANY_CANDIDATES = "Erbjudandet (sdp) har för många kandidater: högst 30 får anges."
CANDIDATE_UNUSABLE = (
    "Erbjudandet (sdp) har en kandidat med en adress som inte kan användas: den egna datorn "
    "(loopback), en länklokal, multicast- eller ospecificerad adress, eller ett namn."
)
ECHO_PREFIX = b"Janus EchoTest here! You wrote: "


TURN_PORT = free_port_pair(media_address(), set())
server = servers.server_fixture(
    "connection-test",
    env={
        "VARDMOTE_TRUSTED_PROXIES": "127.0.0.1",
        **embedded_relay_env(TURN_PORT, free_port_pair(media_address(), {TURN_PORT})),
    },
)
annika = servers.annika
meeting = servers.meeting

_addresses = (f"192.0.2.{n}" for n in itertools.count(1))


def new_address() -> str:
    """new_address is a client address no test used before (from the documentation range)."""
    return next(_addresses)


class Browser:
    """Browser is one page's connection test: a data-channel-only PeerConnection and its echo."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: RTCDataChannel = self.pc.createDataChannel("anslutningstest")
        self.received: asyncio.Queue[bytes | str] = asyncio.Queue()
        self.open = asyncio.Event()
        self.channel.on("open", self.open.set)
        self.channel.on("message", self.received.put_nowait)

    async def offer(self) -> str:
        """offer is the data-channel offer with every candidate, on the namespace's address only."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        lines = self.pc.localDescription.sdp.splitlines()
        kept = [line for line in lines if not line.startswith("a=candidate:") or media_address() in line]
        return "\r\n".join(kept) + "\r\n"

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def echo(self, data: bytes | str, timeout: float = 6.0) -> bytes | str:
        """echo sends data over the data channel and returns what comes back."""
        async with asyncio.timeout(timeout):
            await self.open.wait()
            self.channel.send(data)
            return await self.received.get()

    async def close(self) -> None:
        await self.pc.close()


@asynccontextmanager
async def client(server: Server, address: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """client talks to the server as if through the trusted proxy, from address."""
    headers = {"X-Forwarded-For": address or new_address()}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=15) as http:
        yield http


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    page = Browser()
    try:
        yield page
    finally:
        await page.close()


@pytest.fixture(autouse=True)
async def every_test_ended(server: Server) -> AsyncIterator[None]:
    """every_test_ended ends, after each test, the connection tests it left running, so that the
    next test starts with none (they count against the 20 at once until they end)."""
    yield
    async with client(server) as http:
        for test_id in list(STARTED):
            await http.delete(f"{ENDPOINT}/{test_id}")
    STARTED.clear()


STARTED: list[str] = []
"""Ids of the connection tests started (see every_test_ended)."""


async def post(http: httpx.AsyncClient, body: dict[str, Any], **options: Any) -> httpx.Response:
    """post asks for a connection test and remembers its id to end it after the test."""
    response = await http.post(ENDPOINT, json=body, **options)
    if response.status_code == 200:
        STARTED.append(response.json()["id"])
    return response


def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    found: dict[str, Any] = response.json()
    return found


# ---- the test itself -----------------------------------------------------------------------------


async def test_a_guest_in_the_lobby_tests_the_connection_and_the_bytes_come_back(
    server: Server, meeting: Booking
) -> None:
    async with browser() as page, client(server) as http:
        response = await post(http, {"link": meeting.link, "sdp": await page.offer()})
        assert response.status_code == 200, response.text
        test = response.json()
        assert set(test) == {"id", "sdp", "relay", "seconds"}
        assert test["seconds"] == 20
        assert f" {media_address()} " in test["sdp"]  # Janus's own candidates are in its answer
        await page.answer(test["sdp"])

        assert await page.echo(b"\x00hej\xff") == b"\x00hej\xff"
        assert await page.echo("hej") == ECHO_PREFIX.decode() + "hej"
        assert page.pc.connectionState == "connected"
        assert (await http.delete(f"{ENDPOINT}/{test['id']}")).status_code == 204


async def test_the_test_gets_only_probe_credentials_which_the_relay_refuses(
    server: Server, meeting: Booking
) -> None:
    async with browser() as page, client(server) as http:
        response = await post(http, {"link": meeting.link, "sdp": await page.offer()})
        (probe,) = response.json()["relay"]
        assert probe["username"] == PROBE_USERNAME
        assert probe["urls"][0] == f"turn:{media_address()}:{TURN_PORT}?transport=udp"
        for transport in ("udp", "tcp"):
            with pytest.raises(stun.TransactionFailed) as refused:
                await allocate((media_address(), TURN_PORT), probe, transport)
            assert refused.value.response.error_code == 401


async def test_staff_test_their_meeting_by_its_id_and_a_room_device_with_its_token(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with browser() as page, client(server) as http:
        body = {"meeting": meeting.meeting_id, "sdp": await page.offer()}
        response = await post(http, body, headers={"Authorization": f"Bearer {annika}"})
        assert response.status_code == 200, response.text
        await page.answer(response.json()["sdp"])
        assert await page.echo(b"annika") == b"annika"

    vardrum = book_protected_meeting(server, session=annika, type_key="vardrum")
    token = register_device(server, "Vårdrum 3, Allergimottagning")
    async with browser() as page, client(server) as http:
        body = {"device": token, "meeting": vardrum.meeting_id, "sdp": await page.offer()}
        response = await post(http, body)
        assert response.status_code == 200, response.text
        await page.answer(response.json()["sdp"])
        assert await page.echo(b"rum") == b"rum"

        body = {"device": token, "meeting": meeting.meeting_id, "sdp": await page.offer()}
        refused = await post(http, body)
        assert refused.status_code == 403
        assert problem_of(refused)["detail"] == "Rumsenheter kan bara ansluta till möten av typen Vårdrum."


def register_device(server: Server, name: str) -> str:
    db = server.database()
    try:
        with db.session() as s:
            _, token = add_device(s, name, "Allergimottagning barn, Västerås", actor="system:cli")
            return token
    finally:
        db.dispose()


# ---- refusals ------------------------------------------------------------------------------------


async def test_an_unknown_or_revoked_link_is_refused_in_swedish(server: Server, meeting: Booking) -> None:
    async with browser() as page, client(server) as http:
        sdp = await page.offer()
        unknown = await post(http, {"link": "x" * 43, "sdp": sdp})
        assert unknown.status_code == 404
        assert problem_of(unknown)["detail"] == LINK_NOT_FOUND

        # "Skapa ny gästlänk": the old general link is revoked.
        server.call("POST", f"/api/v1/meetings/{meeting.meeting_id}/links/general", token=meeting.session)
        gone = await post(http, {"link": meeting.link, "sdp": sdp})
        assert gone.status_code == 410
        assert problem_of(gone)["detail"].startswith("Länken gäller inte längre.")


async def test_staff_by_cookie_need_the_csrf_token_and_strangers_a_session(
    server: Server, meeting: Booking, annika: str
) -> None:
    async with browser() as page, client(server) as http:
        body = {"meeting": meeting.meeting_id, "sdp": await page.offer()}
        signed_out = await post(http, body)
        assert signed_out.status_code == 401
        by_cookie = await post(http, body, headers={"Cookie": f"vm_session={annika}"})
        assert by_cookie.status_code == 403
        assert problem_of(by_cookie)["detail"].startswith("Sidan har varit öppen för länge")
        admin = server.sign_in("admin")  # staff, but neither the organiser nor invited
        not_hers = await post(http, body, headers={"Authorization": f"Bearer {admin}"})
        assert not_hers.status_code == 404
        assert problem_of(not_hers)["detail"] == "Mötet finns inte."


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param(
            {"sdp": "v=0\r\n"},
            "link",
            "Ange antingen en länk (link) eller ett möte (meeting), inte båda.",
            id="no-one",
        ),
        pytest.param(
            {"link": "L", "meeting": "M", "sdp": "v=0\r\n"},
            "link",
            "Ange antingen en länk (link) eller ett möte (meeting), inte båda.",
            id="both",
        ),
        pytest.param(
            {"device": "D", "sdp": "v=0\r\n"},
            "meeting",
            "En rumsenhet anger också vilket möte (meeting) den ska ansluta till.",
            id="device-alone",
        ),
        pytest.param({"link": "L"}, "sdp", "Uppgiften saknas.", id="no-sdp"),
        pytest.param({"link": "L", "sdp": 5}, "sdp", "Uppgiften ska vara text.", id="sdp-number"),
        pytest.param(
            {"link": "L", "sdp": "hej"},
            "sdp",
            "Erbjudandet (sdp) ska vara en sessionsbeskrivning som börjar med v=0 och har "
            "högst 60000 tecken.",
            id="not-sdp",
        ),
        pytest.param(
            {"link": "L", "sdp": "v=0\r\n", "name": "David"}, "name", "Okänd uppgift.", id="unknown-field"
        ),
    ],
)
async def test_bad_input_is_refused_with_the_field_named(
    server: Server, body: dict[str, Any], field: str, message: str
) -> None:
    async with client(server) as http:
        response = await post(http, body)
    assert response.status_code == 422
    assert {"field": field, "message": message} in problem_of(response)["errors"]


async def test_an_offer_with_sound_or_picture_is_refused_and_never_reaches_janus(
    server: Server, meeting: Booking
) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    pc.createDataChannel("anslutningstest")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with client(server) as http:
            response = await post(http, {"link": meeting.link, "sdp": pc.localDescription.sdp})
    finally:
        await pc.close()
    assert response.status_code == 422
    assert problem_of(response)["errors"] == [{"field": "sdp", "message": WITH_MEDIA}]


async def test_a_body_over_64_kib_and_a_body_that_is_not_json_are_refused(
    server: Server, meeting: Booking
) -> None:
    async with client(server) as http:
        big = json.dumps({"link": meeting.link, "sdp": "v=0\r\n" + "a" * 70_000})
        too_large = await http.post(ENDPOINT, content=big, headers={"Content-Type": "application/json"})
        assert too_large.status_code == 413
        assert problem_of(too_large)["detail"] == "Begäran är för stor."
        garbled = await http.post(ENDPOINT, content=b"{link", headers={"Content-Type": "application/json"})
        assert garbled.status_code == 422
        assert problem_of(garbled)["errors"] == [{"field": "body", "message": "Skicka ett JSON-objekt."}]


async def test_one_address_may_start_six_tests_at_once_and_then_waits(server: Server) -> None:
    async with browser() as page, client(server) as http:
        body = {"link": "x" * 43, "sdp": await page.offer()}  # a link tried, found by no one
        answers = [await post(http, body) for _ in range(7)]
        other = await post(http, body, headers={"X-Forwarded-For": new_address()})
    assert [a.status_code for a in answers] == [404] * 6 + [429]
    assert problem_of(answers[-1])["detail"] == TOO_OFTEN
    assert answers[-1].headers["Retry-After"] == "10"
    assert other.status_code == 404


async def test_staff_are_counted_by_their_session_not_by_a_shared_address(
    server: Server, meeting: Booking, annika: str
) -> None:
    """A hospital's staff may reach the service from one public address: a guest who used up
    that address's tests does not use up Annika's, and hers are counted on their own."""
    hospital = new_address()
    async with browser() as page, client(server, hospital) as http:
        sdp = await page.offer()
        for _ in range(6):
            await post(http, {"link": "x" * 43, "sdp": sdp})
        assert (await post(http, {"link": "x" * 43, "sdp": sdp})).status_code == 429
        bearer = {"Authorization": f"Bearer {annika}"}
        body = {"meeting": meeting.meeting_id, "sdp": sdp}
        hers = []
        for _ in range(7):
            hers.append(await post(http, body, headers=bearer))
            if hers[-1].status_code == 200:  # ended at once: only the rate is counted here
                assert (await http.delete(f"{ENDPOINT}/{STARTED.pop()}")).status_code == 204
    assert [a.status_code for a in hers] == [200] * 6 + [429]
    assert problem_of(hers[-1])["detail"] == TOO_OFTEN


async def test_made_up_sessions_are_counted_against_the_address_and_learn_nothing_of_meetings(
    server: Server, meeting: Booking
) -> None:
    """A session that is not valid buys no bucket of its own: its tries count against the
    address, as a guest link's do; and it gets 401 whether or not the meeting exists."""
    async with browser() as page, client(server) as http:
        sdp = await page.offer()
        unknown = "00000000-0000-4000-8000-000000000000"
        answers = []
        for n in range(7):
            made_up = {"Authorization": f"Bearer made-up-{n}"}
            meeting_id = meeting.meeting_id if n % 2 else unknown
            answers.append(await post(http, {"meeting": meeting_id, "sdp": sdp}, headers=made_up))
        assert [a.status_code for a in answers] == [401] * 6 + [429]
        assert problem_of(answers[-1])["detail"] == TOO_OFTEN
        cookie = await post(
            http,
            {"meeting": unknown, "sdp": sdp},
            headers={"X-Forwarded-For": new_address(), "Cookie": "vm_session=x"},
        )
        assert cookie.status_code == 401  # not 404: the session is checked before the meeting


async def test_an_ipv6_client_is_counted_by_its_64_not_by_each_address(server: Server) -> None:
    async with browser() as page, client(server) as http:
        body = {"link": "x" * 43, "sdp": await page.offer()}
        answers = [
            await post(http, body, headers={"X-Forwarded-For": f"2001:db8:1:2::{n + 1:x}"}) for n in range(7)
        ]
        elsewhere = await post(http, body, headers={"X-Forwarded-For": "2001:db8:1:3::1"})
    assert [a.status_code for a in answers] == [404] * 6 + [429]
    assert elsewhere.status_code == 404


async def test_one_guest_link_runs_at_most_three_tests_at_once(server: Server, meeting: Booking) -> None:
    """One link (or one meeting's staff) cannot take every one of the process's slots, even
    from many addresses."""
    pages = [Browser() for _ in range(5)]
    try:
        async with client(server) as http:
            answers = []
            for page in pages[:4]:
                body = {"link": meeting.link, "sdp": await page.offer()}
                answers.append(await post(http, body, headers={"X-Forwarded-For": new_address()}))
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            assert problem_of(answers[-1])["detail"] == TOO_MANY_FOR_MEETING
            assert answers[-1].headers["Retry-After"] == "20"

            assert (await http.delete(f"{ENDPOINT}/{answers[0].json()['id']}")).status_code == 204
            body = {"link": meeting.link, "sdp": await pages[4].offer()}
            again = await post(http, body, headers={"X-Forwarded-For": new_address()})
            assert again.status_code == 200, again.text
    finally:
        await asyncio.gather(*(page.close() for page in pages))


def with_candidates(sdp: str, extra: list[str]) -> str:
    """with_candidates is the offer with more a=candidate lines after its data channel's."""
    lines = sdp.rstrip("\r\n").split("\r\n")
    return "\r\n".join(lines + extra) + "\r\n"


def candidate(n: int, address: str, port: int = 40000) -> str:
    return f"a=candidate:{n} 1 udp 2122260223 {address} {port + n} typ host generation 0"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("::1", id="loopback-v6"),
        pytest.param("169.254.10.20", id="link-local"),
        pytest.param("fe80::1", id="link-local-v6"),
        pytest.param("224.0.0.251", id="multicast"),
        pytest.param("0.0.0.0", id="unspecified"),
        pytest.param("::ffff:127.0.0.1", id="loopback-in-v6"),
        pytest.param("janus.internal.example", id="a-name"),
    ],
)
async def test_an_offer_with_a_candidate_janus_must_not_knock_on_is_refused(
    server: Server, meeting: Booking, address: str
) -> None:
    async with browser() as page, client(server) as http:
        sdp = with_candidates(await page.offer(), [candidate(90, address)])
        response = await post(http, {"link": meeting.link, "sdp": sdp})
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"] == [{"field": "sdp", "message": CANDIDATE_UNUSABLE}]


async def test_an_offer_may_have_thirty_candidates_on_private_networks_but_not_more(
    server: Server, meeting: Booking
) -> None:
    """Private ranges stay usable (a patient on a LAN, here the namespace's 10.x); hundreds of
    candidates do not."""
    async with browser() as page, client(server) as http:
        sdp = await page.offer()
        present = sdp.count("a=candidate:")
        # More of the namespace's own address (10.x, a private range: Janus's checks stay there).
        lan = [candidate(100 + n, media_address()) for n in range(30 - present)]
        allowed = await post(http, {"link": meeting.link, "sdp": with_candidates(sdp, lan)})
        assert allowed.status_code == 200, allowed.text
        one_more = with_candidates(sdp, [*lan, candidate(200, media_address())])
        refused = await post(
            http, {"link": meeting.link, "sdp": one_more}, headers={"X-Forwarded-For": new_address()}
        )
    assert refused.status_code == 422, refused.text
    assert problem_of(refused)["errors"] == [{"field": "sdp", "message": TOO_MANY_CANDIDATES}]


async def test_an_audio_line_behind_bare_carriage_returns_is_seen_and_refused(
    server: Server, meeting: Booking
) -> None:
    """A bare CR ends a line for some parsers: an m-line behind one is an m-line all the same."""
    async with browser() as page, client(server) as http:
        sdp = await page.offer()
        hidden = sdp[: -len("\r\n")] + "\rm=audio 9 UDP/TLS/RTP/SAVPF 111\rc=IN IP4 0.0.0.0\r\n"
        response = await post(http, {"link": meeting.link, "sdp": hidden})
    assert response.status_code == 422
    assert problem_of(response)["errors"] == [{"field": "sdp", "message": WITH_MEDIA}]


async def test_the_twenty_first_test_at_once_is_refused_until_one_ends(
    server: Server, meeting: Booking, annika: str
) -> None:
    pages = [Browser() for _ in range(22)]
    ids: list[str] = []
    # Three at once per link: seven meetings' links.
    meeting_links = [meeting.link] + [book_protected_meeting(server, session=annika).link for _ in range(6)]
    try:
        async with client(server) as http:
            for n, page in enumerate(pages[:20]):
                response = await http.post(
                    ENDPOINT,
                    json={"link": meeting_links[n // 3], "sdp": await page.offer()},
                    headers={"X-Forwarded-For": new_address()},
                )
                assert response.status_code == 200, response.text
                ids.append(response.json()["id"])
            body = {"link": meeting_links[6], "sdp": await pages[20].offer()}
            refused = await post(http, body, headers={"X-Forwarded-For": new_address()})
            assert refused.status_code == 503
            assert problem_of(refused)["detail"] == TOO_BUSY

            assert (await http.delete(f"{ENDPOINT}/{ids.pop(0)}")).status_code == 204
            body = {"link": meeting_links[6], "sdp": await pages[21].offer()}
            taken = await post(http, body, headers={"X-Forwarded-For": new_address()})
            assert taken.status_code == 200, taken.text
            ids.append(taken.json()["id"])
            for test_id in ids:
                assert (await http.delete(f"{ENDPOINT}/{test_id}")).status_code == 204
    finally:
        await asyncio.gather(*(page.close() for page in pages))


async def test_a_test_ended_by_delete_is_hung_up_and_gone(server: Server, meeting: Booking) -> None:
    async with browser() as page, client(server) as http:
        response = await post(http, {"link": meeting.link, "sdp": await page.offer()})
        test_id = response.json()["id"]
        await page.answer(response.json()["sdp"])
        assert await page.echo(b"ett") == b"ett"

        assert (await http.delete(f"{ENDPOINT}/{test_id}")).status_code == 204
        again = await http.delete(f"{ENDPOINT}/{test_id}")
        assert again.status_code == 404
        assert problem_of(again)["detail"] == "Anslutningstestet finns inte eller är redan avslutat."
        closed = asyncio.Event()
        page.channel.on("close", closed.set)
        if page.channel.readyState != "closed":
            async with asyncio.timeout(10):
                await closed.wait()  # Janus hung the PeerConnection up


async def test_a_test_nobody_ends_is_hung_up_by_the_server_after_its_seconds(
    server: Server, meeting: Booking
) -> None:
    async with browser() as page, client(server) as http:
        response = await http.post(ENDPOINT, json={"link": meeting.link, "sdp": await page.offer()})
        test = response.json()
        await page.answer(test["sdp"])
        assert await page.echo(b"tyst") == b"tyst"
        closed = asyncio.Event()
        page.channel.on("close", closed.set)
        async with asyncio.timeout(test["seconds"] + 10):
            await closed.wait()
        gone = await http.delete(f"{ENDPOINT}/{test['id']}")
        assert gone.status_code == 404


class MadeAnyway:
    """MadeAnyway is a Janus session as Janus sees it: once the attach request is sent the
    handle exists, whatever the client does meanwhile (a cancelled request included). It
    records every handle so made."""

    def __init__(self, session: JanusSession) -> None:
        self.session = session
        self.made: list[JanusHandle] = []
        self.attaching: list[asyncio.Task[JanusHandle]] = []

    async def attach(self, plugin: str) -> JanusHandle:
        task = asyncio.create_task(self._attach(plugin))
        self.attaching.append(task)
        return await asyncio.shield(task)

    async def _attach(self, plugin: str) -> JanusHandle:
        handle = await self.session.attach(plugin)
        self.made.append(handle)
        return handle


async def test_a_request_cancelled_while_janus_attaches_leaves_no_echo_handle_behind(tmp_path: Path) -> None:
    """The client goes away (the request is cancelled) while Janus is making the EchoTest
    handle: Janus makes it all the same, on the session the meetings share; it is detached
    once known. And the tests running when the service stops are ended."""
    async with running_janus(tmp_path) as janus, connected(janus) as client:
        session = await client.create_session()
        tests = ConnectionTests()
        janus_side = MadeAnyway(session)
        asking = asyncio.create_task(tests.attach(janus_side))  # type: ignore[arg-type]
        while not janus_side.attaching:
            await asyncio.sleep(0)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        await asyncio.gather(*janus_side.attaching)
        await asyncio.sleep(0)  # the cancelled request's clean-up starts
        assert tests.take_slot("link:x") is None
        running = await tests.attach(session)
        tests.started(running, "link:x")
        await tests.close()

        (orphan,) = janus_side.made
        for handle in (orphan, running):
            with pytest.raises(JanusError) as gone:
                await session.request({"janus": "detach", "handle_id": handle.id})
            assert gone.value.code == 459  # Janus: no such handle
        assert tests.running == {}
        assert tests.per_key == {}
        await session.destroy()
