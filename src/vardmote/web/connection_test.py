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
per client address for links and room devices, and per staff session for staff
(a hospital's staff may share one public address), checked before the database
is read, so that link tokens cannot be tried here faster than that; at most
:data:`MAX_AT_ONCE` tests at once per process (503), a body of at most
:data:`MAX_BODY_BYTES`, and each EchoTest handle ended after :data:`TEST_SECONDS`
or on ``DELETE``. No media ever (an
offer with sound or picture is refused), and nothing personal is logged or
audited: the test is not an act in the meeting, so it is not audited at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from vardmote.accounts.devices import resolve_device
from vardmote.accounts.service import require_session
from vardmote.context import Context
from vardmote.errors import FieldError, Forbidden, InvalidInput, NotFound, TooManyAttempts, VardmoteError
from vardmote.invitations.hosting import may_host
from vardmote.lib.ratelimit import TokenBucket
from vardmote.media import echotest
from vardmote.media.janus import JanusError, JanusException, JanusHandle
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
ADDRESSES_KEPT = 10_000
"""Addresses (and staff sessions) whose bucket is remembered; the longest unused is forgotten first."""
JANUS_SECONDS = 8.0
"""How long Janus may take to answer the offer."""

TOO_BUSY = "Anslutningstestet kan inte göras just nu. Försök igen om en stund."
TOO_OFTEN = "Du har testat anslutningen många gånger på kort tid. Vänta en minut och försök igen."
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
    timer: asyncio.TimerHandle | None = None


class ConnectionTests:
    """ConnectionTests are one process's running connection tests and the buckets of its clients."""

    def __init__(self) -> None:
        self.running: dict[str, _Running] = {}
        self.starting = 0
        """Tests between their slot being taken and Janus's answer."""
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._ending: set[asyncio.Task[bool]] = set()
        """Tests being ended by their timer (kept here: the loop holds its tasks only weakly)."""

    def allow(self, key: str, now: float) -> bool:
        """allow takes one test from the bucket of key (a client address or a staff session), if
        there is one."""
        bucket = self._buckets.pop(key, None) or TokenBucket(TESTS_PER_MINUTE / 60, TESTS_AT_ONCE)
        self._buckets[key] = bucket
        while len(self._buckets) > ADDRESSES_KEPT:
            self._buckets.popitem(last=False)
        return bucket.allow(now)

    def take_slot(self) -> bool:
        """take_slot counts one more test starting, unless MAX_AT_ONCE run already."""
        if len(self.running) + self.starting >= MAX_AT_ONCE:
            return False
        self.starting += 1
        return True

    def started(self, handle: JanusHandle) -> str:
        """started keeps a test whose offer Janus answered, ended after TEST_SECONDS; its id."""
        test_id = secrets.token_urlsafe(18)
        running = _Running(handle)
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
        if running.timer is not None:
            running.timer.cancel()
        with contextlib.suppress(JanusException):
            await running.handle.detach()
        return True


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


def _meeting_of(ctx: Context, ask: _Ask, request: Request) -> str:
    """_meeting_of is the id of the meeting whose door the asker stands at (runs in a thread: it
    reads the database); NotFound, LinkGone, NotSignedIn or Forbidden otherwise."""
    with ctx.db.session() as s:
        if ask.link is not None:
            link = links.resolve(ctx, s, ask.link)  # NotFound, LinkGone
            return link.meeting_id
        assert ask.meeting is not None
        found = s.get(Meeting, ask.meeting) if len(ask.meeting) == 36 else None
        if found is None or found.cancelled_at is not None or found.meeting_type is None:
            raise NotFound(texts.MEETING_NOT_FOUND)
        if ask.device is not None:
            resolve_device(s, ask.device)  # NotFound, Forbidden
            if not RoomPolicy.from_meeting_type(found.meeting_type).room_devices:
                raise Forbidden(texts.NO_DEVICES)
            return found.id
        token, bearer = session_token(request)
        row = require_session(ctx, s, token)  # NotSignedIn
        if not bearer:
            check_csrf(row, request.headers.get(CSRF_HEADER))
        if not may_host(s, found, row.user):
            raise NotFound(texts.MEETING_NOT_FOUND)  # as for a meeting that does not exist
        return found.id


def _bucket_key(request: Request, ask: _Ask) -> str:
    """_bucket_key is whose tests are counted: staff by their session (one public address may be a
    whole hospital's), links and room devices by the client's address. The session is not
    checked yet: a made-up one only buys a 401."""
    if ask.meeting is not None and ask.device is None:
        token, _ = session_token(request)
        if token:
            return "session:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "address:" + client_address(request)


async def _answer(plane: MediaPlane, meeting_id: str, sdp: str) -> tuple[JanusHandle, str]:
    """_answer attaches an EchoTest on the meeting's node and has it answer the offer."""
    node = plane.placement.node_for(meeting_id)
    session = await plane.session_for(node)
    handle = await session.attach(echotest.PLUGIN)
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
    if not tests.allow(_bucket_key(request, ask), time.monotonic()):
        raise TooManyAttempts(TOO_OFTEN, int(60 / TESTS_PER_MINUTE))
    meeting_id = await run_in_threadpool(_meeting_of, ctx, ask, request)
    live = request.app.state.live
    if live is None:
        raise Unavailable(NO_MEDIA)
    plane: MediaPlane = live.plane
    if not tests.take_slot():
        raise Unavailable(TOO_BUSY)
    try:
        handle, answer = await _answer(plane, meeting_id, ask.sdp)
    except JanusError as e:
        if e.code in echotest.UNUSABLE_OFFER:
            raise InvalidInput.one("sdp", OFFER_REFUSED) from None
        log.warning("connection test: Janus refused the EchoTest: %s", e)
        raise Unavailable(TOO_BUSY) from None
    except (JanusException, TimeoutError) as e:
        log.warning("connection test: Janus did not answer: %s", type(e).__name__)
        raise Unavailable(TOO_BUSY) from None
    finally:
        tests.starting -= 1
    test_id = tests.started(handle)
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
