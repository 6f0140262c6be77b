"""Connection test: ``POST /api/v1/connection-test`` and ``DELETE /api/v1/connection-test/{id}``.

"Testa anslutningen" in "Ställ in ljud och bild": before "Anslut nu" the page
checks whether media can reach the Janus the meeting would be placed on,
directly, only through the relay, or not at all (docs/protocol.md,
"Connection test"). The browser makes a PeerConnection with a data channel and
nothing else, gathers every candidate, and posts its offer here; this route
attaches Janus's EchoTest plugin (vardmote.media.echotest) on the meeting's
node and answers with Janus's answer and the relay's **probe** servers. The
browser then sends a few bytes over the data channel and waits for them back
(direct), and asks each relay URL for an allocation with the probe's
credentials, which the relay refuses with 401 (it is reachable on that
transport). The browser decides and tells the person.

Who may: whoever may come to the meeting's door. A guest link that works now
(the lobby included: no admission is needed, since nothing is sent to anyone),
signed-in staff who may host the meeting (with the session's CSRF token when
signed in by cookie, like every API change), or a registered room device with
the meeting's id. Nobody gets usable relay credentials here: those are for the
admitted only (the meeting's ``admitted``), so the relay cannot be used from the
lobby.

Bounds, since anyone with a link can ask: a token bucket (:data:`TESTS_PER_MINUTE`)
per client address (an IPv6 address by its /64, which one client usually has
whole) for links and room devices, checked before the database is read, so that
link tokens cannot be tried here faster than that. Staff are counted per session
(a hospital's staff may share one public address), but only once the session was
found valid: before that their address is charged a looser bucket
(:data:`STAFF_TESTS_PER_MINUTE`), and a session that is not valid is charged to the
address's ordinary bucket, so made-up cookies neither buy fresh buckets nor fill
the memory of them. The session is checked before the meeting is looked up (no
404 for someone not signed in). At most :data:`AT_ONCE_PER_MEETING` tests at once
per guest link, or per meeting for staff and room devices (429), and
:data:`MAX_AT_ONCE` per process (503); a body of at most :data:`MAX_BODY_BYTES`;
at most :data:`~vardmote.media.echotest.MAX_CANDIDATES` candidates in the offer,
none of them at an address Janus must not send to (loopback, link-local,
multicast, unspecified: :func:`~vardmote.media.echotest.unusable_address`);
each EchoTest handle ended after :data:`TEST_SECONDS`, on ``DELETE``, or when the
service stops (:func:`end_all`). No media ever (an offer with sound or picture is
refused), and nothing personal is logged or audited: the test is not an act in
the meeting, so it is not audited at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import secrets
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, FastAPI, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from vardmote.accounts.devices import resolve_device
from vardmote.accounts.service import require_session
from vardmote.context import Context
from vardmote.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    NotSignedIn,
    TooManyAttempts,
    VardmoteError,
)
from vardmote.invitations.hosting import may_host
from vardmote.lib.ratelimit import TokenBucket
from vardmote.media import echotest
from vardmote.media.janus import JanusError, JanusException, JanusHandle, JanusSession
from vardmote.media.plane import MediaPlane
from vardmote.meetings import links
from vardmote.meetings.models import Meeting
from vardmote.rooms import texts
from vardmote.rooms.messages import MAX_SDP_CHARS
from vardmote.rooms.policy import RoomPolicy
from vardmote.web.api_bodies import Problem
from vardmote.web.deps import CSRF_HEADER, check_csrf, client_address, session_token

log = logging.getLogger("vardmote.connection_test")

MAX_BODY_BYTES = 64 * 1024
"""The largest request body: an offer with every candidate gathered is a few KiB."""
MAX_AT_ONCE = 20
"""Connection tests running at once in one process; one more is answered 503."""
TEST_SECONDS = 20.0
"""An EchoTest handle is ended this long after it was made, unless the browser ends it first."""
TESTS_PER_MINUTE = 6.0
"""Connection tests one client address may start per minute on average ..."""
TESTS_AT_ONCE = 6
"""... and at once (a page that tests again after a network change)."""
STAFF_TESTS_PER_MINUTE = 60.0
"""Staff requests one address may make per minute before their session is checked (a hospital's
staff may share the address; each valid session is then held to TESTS_PER_MINUTE) ..."""
STAFF_TESTS_AT_ONCE = 30
"""... and at once."""
AT_ONCE_PER_MEETING = 3
"""Connection tests running at once for one guest link, or for one meeting by staff or room
devices: one link cannot take every slot of the process."""
ADDRESSES_KEPT = 10_000
"""Addresses (and staff sessions) whose bucket is remembered; the longest unused is forgotten first."""
JANUS_SECONDS = 8.0
"""How long Janus may take to answer the offer."""

TOO_BUSY = "Anslutningstestet kan inte göras just nu. Försök igen om en stund."
TOO_OFTEN = "Du har testat anslutningen många gånger på kort tid. Vänta en minut och försök igen."
TOO_MANY_FOR_MEETING = (
    "Anslutningen testas redan flera gånger samtidigt för det här mötet. Vänta en stund och försök igen."
)
NO_MEDIA = "Videomöten är avstängda i den här installationen, så anslutningen kan inte testas."
TEST_NOT_FOUND = "Anslutningstestet finns inte eller är redan avslutat."
LINK_OR_MEETING = "Ange antingen en länk (link) eller ett möte (meeting), inte båda."
DEVICE_NEEDS_MEETING = "En rumsenhet anger också vilket möte (meeting) den ska ansluta till."
OFFER_INVALID = (
    "Erbjudandet (sdp) ska vara en sessionsbeskrivning som börjar med v=0 och har högst "
    f"{MAX_SDP_CHARS} tecken."
)
OFFER_WITH_MEDIA = "Anslutningstestet skickar inget ljud och ingen bild: erbjudandet får bara ha datakanaler."
OFFER_REFUSED = "Videotjänsten kunde inte använda erbjudandet (sdp). Ladda om sidan och försök igen."
TOO_MANY_CANDIDATES = (
    f"Erbjudandet (sdp) har för många kandidater: högst {echotest.MAX_CANDIDATES} får anges."
)
CANDIDATE_UNREADABLE = "Erbjudandet (sdp) har en kandidatrad som inte går att läsa."
CANDIDATE_UNUSABLE = (
    "Erbjudandet (sdp) har en kandidat med en adress som inte kan användas: den egna datorn "
    "(loopback), en länklokal, multicast- eller ospecificerad adress, eller ett namn."
)
NOT_JSON = "Skicka ett JSON-objekt."
TEXT_FIELD = "Uppgiften ska vara text."
UNKNOWN_FIELD = "Okänd uppgift."
MISSING = "Uppgiften saknas."

_FIELDS = frozenset({"link", "meeting", "device", "sdp"})


class ConnectionTestOut(BaseModel):
    """ConnectionTestOut is Janus's answer to the browser's offer and how to end the test."""

    id: str
    """Ends the test early with ``DELETE /api/v1/connection-test/{id}``."""
    sdp: str
    """Janus's answer, every candidate of its in it."""
    relay: list[dict[str, Any]]
    """The relay's URLs with credentials it refuses (401): RTCIceServer entries, ``[]`` without a relay."""
    seconds: int
    """The test ends by itself this many seconds after it started."""


_OFFER_EXAMPLE = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
)
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["sdp"],
                "properties": {
                    "link": {"type": "string", "maxLength": 200, "description": "a guest link's token"},
                    "meeting": {
                        "type": "string",
                        "maxLength": 64,
                        "description": "the meeting's id (signed-in staff, or with device)",
                    },
                    "device": {"type": "string", "maxLength": 200, "description": "a room device's token"},
                    "sdp": {
                        "type": "string",
                        "maxLength": MAX_SDP_CHARS,
                        "description": "a data-channel-only offer, every candidate gathered",
                    },
                },
            },
            "example": {"link": "<token of /m/<token>>", "sdp": _OFFER_EXAMPLE},
        }
    },
}

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 410, 413, 422, 429, 503)
}

router = APIRouter(prefix="/api/v1", tags=["connection test"], responses=_PROBLEMS)


class Unavailable(VardmoteError):
    """Unavailable: the test cannot be made now (too many at once, Janus away, media off)."""

    status = 503
    slug = "unavailable"
    title = "Inte tillgängligt just nu"


@dataclass
class _Running:
    handle: JanusHandle
    key: str
    """Whose tests it counts among (a guest link, or a meeting): AT_ONCE_PER_MEETING."""
    timer: asyncio.TimerHandle | None = None


class ConnectionTests:
    """ConnectionTests are one process's running connection tests and the buckets of its clients."""

    def __init__(self) -> None:
        self.running: dict[str, _Running] = {}
        self.starting = 0
        """Tests between their slot being taken and Janus's answer."""
        self.per_key: Counter[str] = Counter()
        """Tests starting or running, per guest link or meeting."""
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._ending: set[asyncio.Task[Any]] = set()
        """Tests being ended by their timer, and handles attached for a request that was cancelled
        meanwhile (kept here: the loop holds its tasks only weakly)."""

    def allow(
        self, key: str, now: float, *, per_minute: float = TESTS_PER_MINUTE, burst: int = TESTS_AT_ONCE
    ) -> bool:
        """allow takes one test from the bucket of key (a client address or a valid staff
        session), if there is one."""
        bucket = self._buckets.pop(key, None) or TokenBucket(per_minute / 60, burst)
        self._buckets[key] = bucket
        while len(self._buckets) > ADDRESSES_KEPT:
            self._buckets.popitem(last=False)
        return bucket.allow(now)

    def take_slot(self, key: str) -> str | None:
        """take_slot counts one more test starting for key (a guest link or a meeting); None when
        it may start, else why not (TOO_MANY_FOR_MEETING, TOO_BUSY)."""
        if self.per_key[key] >= AT_ONCE_PER_MEETING:
            return TOO_MANY_FOR_MEETING
        if len(self.running) + self.starting >= MAX_AT_ONCE:
            return TOO_BUSY
        self.starting += 1
        self.per_key[key] += 1
        return None

    def not_started(self, key: str) -> None:
        """not_started gives back the slot of a test Janus did not answer."""
        self.starting -= 1
        self._release(key)

    def _release(self, key: str) -> None:
        self.per_key[key] -= 1
        if self.per_key[key] <= 0:
            del self.per_key[key]

    def started(self, handle: JanusHandle, key: str) -> str:
        """started keeps a test whose offer Janus answered, ended after TEST_SECONDS; its id."""
        self.starting -= 1
        test_id = secrets.token_urlsafe(18)
        running = _Running(handle, key)
        loop = asyncio.get_running_loop()
        # call_later rather than a sleeping task: nothing is left pending when the service stops.
        running.timer = loop.call_later(TEST_SECONDS, self._time_up, test_id)
        self.running[test_id] = running
        return test_id

    def _time_up(self, test_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.end(test_id))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def end(self, test_id: str) -> bool:
        """end ends a test's EchoTest handle (Janus hangs its PeerConnection up); tells whether it ran."""
        running = self.running.pop(test_id, None)
        if running is None:
            return False
        self._release(running.key)
        if running.timer is not None:
            running.timer.cancel()
        with contextlib.suppress(JanusException):
            await running.handle.detach()
        return True

    async def attach(self, session: JanusSession) -> JanusHandle:
        """attach attaches an EchoTest handle on session. When the request is cancelled meanwhile
        (the client went away) Janus makes the handle all the same: it is detached as soon as
        it is known, not left on the shared session."""
        attaching = asyncio.ensure_future(session.attach(echotest.PLUGIN))
        try:
            return await asyncio.shield(attaching)
        except asyncio.CancelledError:
            attaching.add_done_callback(self._detach_orphan)
            raise

    def _detach_orphan(self, attaching: asyncio.Future[JanusHandle]) -> None:
        if attaching.cancelled() or attaching.exception() is not None:
            return
        task = asyncio.get_running_loop().create_task(_detach_quietly(attaching.result()))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close(self) -> None:
        """close ends every running test (the service stops) and waits for those being ended."""
        await asyncio.gather(*(self.end(test_id) for test_id in list(self.running)), return_exceptions=True)
        if self._ending:
            await asyncio.gather(*list(self._ending), return_exceptions=True)


async def _detach_quietly(handle: JanusHandle) -> None:
    with contextlib.suppress(JanusException):
        await handle.detach()


async def end_all(app: FastAPI) -> None:
    """end_all ends the app's running connection tests; the app calls it when it stops, before
    the media plane closes (a rolling upgrade leaves the shared Janus session behind)."""
    found = getattr(app.state, "connection_tests", None)
    if isinstance(found, ConnectionTests):
        await found.close()


def _tests(request: Request) -> ConnectionTests:
    found = getattr(request.app.state, "connection_tests", None)
    if found is None:
        found = request.app.state.connection_tests = ConnectionTests()
    assert isinstance(found, ConnectionTests)
    return found


@dataclass(frozen=True)
class _Ask:
    """_Ask is a checked request: who asks (one of three) and the offer."""

    sdp: str
    link: str | None = None
    meeting: str | None = None
    device: str | None = None


async def _read_body(request: Request) -> bytes:
    """_read_body reads the body, refusing one over MAX_BODY_BYTES (413) before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413)
    return bytes(body)


def _parse(body: bytes) -> _Ask:
    """_parse checks the body's fields; InvalidInput names each wrong one, in Swedish."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput.one("body", NOT_JSON) from None
    if not isinstance(data, dict):
        raise InvalidInput.one("body", NOT_JSON)
    problems = [FieldError(str(name)[:64], UNKNOWN_FIELD) for name in data if name not in _FIELDS]
    values: dict[str, str | None] = {}
    for name in sorted(_FIELDS):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_SDP_CHARS):
            problems.append(FieldError(name, TEXT_FIELD))
            value = None
        values[name] = value
    sdp = values["sdp"]
    if sdp is None:
        if not any(p.field == "sdp" for p in problems):
            problems.append(FieldError("sdp", MISSING))
    elif not sdp.startswith("v=0"):
        problems.append(FieldError("sdp", OFFER_INVALID))
    elif not echotest.is_data_channel_only(sdp):
        problems.append(FieldError("sdp", OFFER_WITH_MEDIA))
    elif (wrong := _candidate_problem(sdp)) is not None:
        problems.append(FieldError("sdp", wrong))
    link, meeting, device = values["link"], values["meeting"], values["device"]
    if link is not None and (meeting is not None or device is not None):
        problems.append(FieldError("link", LINK_OR_MEETING))
    elif link is None and meeting is None:
        field = "meeting" if device is not None else "link"
        problems.append(FieldError(field, DEVICE_NEEDS_MEETING if device is not None else LINK_OR_MEETING))
    if problems:
        raise InvalidInput(problems)
    assert sdp is not None
    return _Ask(sdp=sdp, link=link, meeting=meeting, device=device)


def _candidate_problem(sdp: str) -> str | None:
    """_candidate_problem is what is wrong with the offer's candidates, in Swedish, if anything:
    too many, one that cannot be read, or one at an address Janus must not send checks to."""
    try:
        found = echotest.candidates(sdp)
    except ValueError:
        return CANDIDATE_UNREADABLE
    if len(found) > echotest.MAX_CANDIDATES:
        return TOO_MANY_CANDIDATES
    if any(echotest.unusable_address(c.address) for c in found):
        return CANDIDATE_UNUSABLE
    return None


def _meeting_of(ctx: Context, ask: _Ask, request: Request, tests: ConnectionTests) -> str:
    """_meeting_of is the id of the meeting whose door the asker stands at (runs in a thread: it
    reads the database); NotFound, LinkGone, NotSignedIn, Forbidden or TooManyAttempts
    otherwise. Staff's session is checked first, before the meeting is looked up, and its
    bucket charged once it is found valid (a session that is not valid is charged to the
    address's bucket instead)."""
    with ctx.db.session() as s:
        if ask.link is not None:
            link = links.resolve(ctx, s, ask.link)  # NotFound, LinkGone
            return link.meeting_id
        assert ask.meeting is not None
        user = None
        if ask.device is None:
            token, bearer = session_token(request)
            try:
                row = require_session(ctx, s, token)
            except NotSignedIn:
                _charge(tests, _address_key(request))
                raise
            _charge(tests, "session:" + hashlib.sha256(str(token).encode()).hexdigest()[:32])
            if not bearer:
                check_csrf(row, request.headers.get(CSRF_HEADER))
            user = row.user
        found = s.get(Meeting, ask.meeting) if len(ask.meeting) == 36 else None
        if found is None or found.cancelled_at is not None or found.meeting_type is None:
            raise NotFound(texts.MEETING_NOT_FOUND)
        if ask.device is not None:
            resolve_device(s, ask.device)  # NotFound, Forbidden
            if not RoomPolicy.from_meeting_type(found.meeting_type).room_devices:
                raise Forbidden(texts.NO_DEVICES)
            return found.id
        assert user is not None
        if not may_host(s, found, user):
            raise NotFound(texts.MEETING_NOT_FOUND)  # as for a meeting that does not exist
        return found.id


def _charge(tests: ConnectionTests, key: str) -> None:
    """_charge takes one test from key's bucket from the request's thread (the buckets belong to
    the event loop); TooManyAttempts when it is empty."""
    if not anyio.from_thread.run_sync(tests.allow, key, time.monotonic()):
        raise TooManyAttempts(TOO_OFTEN, int(60 / TESTS_PER_MINUTE))


def _address_key(request: Request) -> str:
    """_address_key is the client's address as the buckets count it: an IPv6 address by its /64
    (one client usually has all of it), an IPv4 one (also written in IPv6) as it is."""
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "address:" + address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return "address:" + str(ipaddress.IPv6Network((ip, 64), strict=False))
        ip = ip.ipv4_mapped
    return "address:" + str(ip)


def _first_bucket(request: Request, ask: _Ask) -> tuple[str, float, int]:
    """_first_bucket is the bucket charged before the database is read: the address's for links
    and room devices, a looser one of the address's for staff (whose session, once found valid,
    is charged in _meeting_of)."""
    if ask.meeting is not None and ask.device is None:
        return "staff-" + _address_key(request), STAFF_TESTS_PER_MINUTE, STAFF_TESTS_AT_ONCE
    return _address_key(request), TESTS_PER_MINUTE, TESTS_AT_ONCE


def _slot_key(ask: _Ask, meeting_id: str) -> str:
    """_slot_key is whose tests at once are counted: the guest link's, else the meeting's."""
    if ask.link is not None:
        return "link:" + hashlib.sha256(ask.link.encode()).hexdigest()[:32]
    return "meeting:" + meeting_id


async def _answer(
    tests: ConnectionTests, plane: MediaPlane, meeting_id: str, sdp: str
) -> tuple[JanusHandle, str]:
    """_answer attaches an EchoTest on the meeting's node and has it answer the offer."""
    node = plane.placement.node_for(meeting_id)
    session = await plane.session_for(node)
    handle = await tests.attach(session)
    try:
        async with asyncio.timeout(JANUS_SECONDS):
            answer = await echotest.answer_offer(handle, sdp)
    except BaseException:
        with contextlib.suppress(JanusException):
            await handle.detach()
        raise
    return handle, answer


@router.post(
    "/connection-test",
    response_model=ConnectionTestOut,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Testa anslutningen: Janus svarar på en datakanal före mötet",
)
async def start_connection_test(request: Request) -> ConnectionTestOut:
    """Starts a connection test: Janus's EchoTest answers a data-channel-only offer on the node
    the meeting would be placed on. Send a few bytes (binary) over the data channel: they come
    back. ``relay`` lists the relay's URLs with credentials it refuses (401 proves it reachable).
    The test ends after ``seconds`` or on DELETE. Allowed by a working guest link (also before
    admission), signed-in staff who may host the meeting, or a room device with the meeting's id."""
    ctx: Context = request.app.state.ctx
    tests = _tests(request)
    ask = _parse(await _read_body(request))
    key, per_minute, burst = _first_bucket(request, ask)
    if not tests.allow(key, time.monotonic(), per_minute=per_minute, burst=burst):
        raise TooManyAttempts(TOO_OFTEN, int(60 / TESTS_PER_MINUTE))
    meeting_id = await run_in_threadpool(_meeting_of, ctx, ask, request, tests)
    live = request.app.state.live
    if live is None:
        raise Unavailable(NO_MEDIA)
    plane: MediaPlane = live.plane
    slot = _slot_key(ask, meeting_id)
    refused = tests.take_slot(slot)
    if refused == TOO_MANY_FOR_MEETING:
        raise TooManyAttempts(refused, int(TEST_SECONDS))
    if refused is not None:
        raise Unavailable(refused)
    try:
        handle, answer = await _answer(tests, plane, meeting_id, ask.sdp)
    except BaseException as e:
        tests.not_started(slot)
        if isinstance(e, JanusError) and e.code in echotest.UNUSABLE_OFFER:
            raise InvalidInput.one("sdp", OFFER_REFUSED) from None
        if isinstance(e, JanusError):
            log.warning("connection test: Janus refused the EchoTest: %s", e)
            raise Unavailable(TOO_BUSY) from None
        if isinstance(e, JanusException | TimeoutError):
            log.warning("connection test: Janus did not answer: %s", type(e).__name__)
            raise Unavailable(TOO_BUSY) from None
        raise
    test_id = tests.started(handle, slot)
    relay = plane.relay.probe_servers() if plane.relay is not None else []
    return ConnectionTestOut(id=test_id, sdp=answer, relay=relay, seconds=int(TEST_SECONDS))


@router.delete(
    "/connection-test/{test_id}",
    status_code=204,
    response_class=Response,
    summary="Avsluta ett anslutningstest",
)
async def end_connection_test(request: Request, test_id: Annotated[str, Path(max_length=64)]) -> Response:
    """Ends a connection test before its time (its id is the only key to it)."""
    if not await _tests(request).end(test_id):
        raise NotFound(TEST_NOT_FOUND)
    return Response(status_code=204)
