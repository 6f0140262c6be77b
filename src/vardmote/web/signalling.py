"""Signalling: the WebSocket of docs/protocol.md at ``/ws/meetings/{meeting_id}``.

This module is the transport only: it checks the origin, reads frames,
applies the bounds on connections (per client address, the deadline for
``join``, the frame rate, after which a flooding connection is closed),
counts the host commands the room refuses it (audited once, when it closes),
proves who is joining
(a guest link's token, a room device's token, or the staff session cookie)
and hands everything else to the meeting's
:class:`~vardmote.rooms.live.LiveMeeting`. No frame ever reaches Janus
except through the room's rules.

Trade-off: a room device's token is not tied to one meeting. With it and a
Vårdrum meeting's id a device can knock, but only wait in that meeting's
lobby until a host lets it in, so a stolen token alone opens no meeting.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import vardmote.metrics as metrics
from vardmote.accounts.devices import resolve_device
from vardmote.accounts.service import resolve_session
from vardmote.audit.log import record
from vardmote.cluster.meetings import RECONNECT, SharedLiveMeetings, SharingUnavailable
from vardmote.context import Context
from vardmote.errors import Forbidden, LinkGone, NotFound
from vardmote.invitations.hosting import may_host
from vardmote.lib.ratelimit import TokenBucket
from vardmote.meetings import links
from vardmote.meetings.models import Meeting
from vardmote.rooms import messages as m
from vardmote.rooms import texts
from vardmote.rooms.errors import DEFAULT_TEXT, ErrorCode, ProtocolError, error_frame
from vardmote.rooms.host_commands import refused_command
from vardmote.rooms.participant import Device, Identity, LinkHolder, Staff, actor_of
from vardmote.rooms.policy import RoomPolicy
from vardmote.rooms.registry import LiveMeetings
from vardmote.web.deps import SESSION_COOKIE, client_address

log = logging.getLogger("vardmote.signalling")

router = APIRouter()

SERVICE_RESTART = 1012
"""The close code uvicorn gives every WebSocket when this process is stopping (SIGTERM)."""
POLICY_VIOLATION = 1008
"""The close code of a connection that broke a bound: no join in time, a flood of frames."""
TRY_AGAIN_LATER = 1013
"""The close code of a connection refused because too many are open from its address."""
REFUSALS_BEFORE_CLOSE = 20
"""Frames over the rate limit a connection may send (and one more each second) before it is
closed: a page never comes near it, a flood reaches it within seconds."""


class _Addresses:
    """_Addresses counts this process's open meeting WebSockets per client address."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()

    def take(self, address: str, limit: int) -> bool:
        """take counts one more connection from address, unless limit are open already."""
        if self.open[address] >= limit:
            return False
        self.open[address] += 1
        return True

    def give_back(self, address: str) -> None:
        """give_back: a connection from address closed."""
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


def _addresses(ws: WebSocket) -> _Addresses:
    found = getattr(ws.app.state, "ws_addresses", None)
    if found is None:
        found = ws.app.state.ws_addresses = _Addresses()
    assert isinstance(found, _Addresses)
    return found


class _Socket:
    """_Socket is a WebSocket as a LiveMeeting's Connection: sends and closes once."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self.closed = False
        self._lobby_since: float | None = None
        self.participant: str | None = None
        """The participant id the room gave this connection (from ``joined``)."""
        self.refused: Counter[str] = Counter()
        """Host commands the room refused on this connection, by type (audited on close)."""

    async def send(self, message: Mapping[str, Any]) -> None:
        if self.closed:
            return
        self._count(message)
        refused = refused_command(message)
        if refused is not None:
            self.refused[refused] += 1
        try:
            await self._ws.send_json(dict(message))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True

    def _count(self, message: Mapping[str, Any]) -> None:
        """_count measures the wait in the lobby for /metrics, from what this person is told."""
        kind = message.get("type")
        if kind == "joined" and isinstance(message.get("participant"), str):
            self.participant = message["participant"]
        if kind == "joined" and message.get("state") == "lobby":
            self._lobby_since = time.monotonic()
        elif kind == "admitted" and self._lobby_since is not None:
            metrics.lobby_waited(time.monotonic() - self._lobby_since)
            self._lobby_since = None

    async def close(self, reason: str, code: int | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        # The client may have gone first: closing then raises WebSocketDisconnect.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            # "reconnect": the meeting's owner found this process cut off; the page comes back.
            if code is None:
                code = SERVICE_RESTART if reason == RECONNECT else 1000
            await self._ws.close(code=code, reason=reason[:100])


@dataclass(frozen=True)
class _Entry:
    identity: Identity
    policy: RoomPolicy
    links_expire_at: dt.datetime


def _same_origin(ws: WebSocket, ctx: Context) -> bool:
    """_same_origin: a browser's Origin must be the service's own (no cross-site sockets)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser: it cannot ride on someone's cookie
    allowed = {ctx.settings.effective_public_url.rstrip("/")}
    host = ws.headers.get("host")
    if host:
        allowed |= {f"http://{host}", f"https://{host}"}
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" in allowed


def _identify(ctx: Context, meeting_id: str, join: m.Join, cookie: str | None) -> _Entry:
    """_identify proves who joins (runs in a thread: it reads the database).

    Raises ProtocolError with not_found, link_gone or not_allowed. Whether a
    room device may join this meeting's type is the room's rule, not decided here.
    """
    with ctx.db.session() as s:
        if join.device is not None:
            try:
                device = resolve_device(s, join.device)
            except NotFound as e:
                raise ProtocolError(ErrorCode.NOT_FOUND, e.message, "join") from None
            except Forbidden as e:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, e.message, "join") from None
            meeting = _meeting(s, meeting_id)
            identity: Identity = Device(device.id, device.name)
        elif join.link is not None:
            try:
                link = links.resolve(ctx, s, join.link)
            except NotFound:
                raise ProtocolError(ErrorCode.NOT_FOUND, links.LINK_NOT_FOUND, "join") from None
            except LinkGone:
                raise ProtocolError(ErrorCode.LINK_GONE, links.LINK_GONE, "join") from None
            if link.meeting_id != meeting_id:
                raise ProtocolError(ErrorCode.NOT_FOUND, links.LINK_NOT_FOUND, "join")
            meeting = link.meeting
            identity = LinkHolder(link.id, shared=link.kind == "general", invited_as=link.recipient)
        else:
            row = resolve_session(ctx, s, cookie)
            if row is None:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, texts.SIGN_IN_OR_LINK, "join")
            meeting = _meeting(s, meeting_id)
            if not may_host(s, meeting, row.user):
                # Staff host their own meetings and those a colleague invited them to; the same
                # answer as for a meeting that does not exist.
                raise ProtocolError(ErrorCode.NOT_FOUND, texts.MEETING_NOT_FOUND, "join")
            identity = Staff(row.user.username, row.user.display_name)
        assert meeting.meeting_type is not None
        policy = RoomPolicy.from_meeting_type(meeting.meeting_type)
        return _Entry(identity, policy, links.expires_at(ctx, meeting))


def _meeting(s: Session, meeting_id: str) -> Meeting:
    """_meeting is the protected, uncancelled meeting staff or a room device join by its id."""
    found = s.get(Meeting, meeting_id) if len(meeting_id) == 36 else None
    if found is None or found.cancelled_at is not None or found.meeting_type is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, texts.MEETING_NOT_FOUND, "join")
    return found


async def audit_sink(
    ctx: Context, meeting_id: str, actor: str, action: str, details: Mapping[str, Any]
) -> None:
    """audit_sink writes one audit entry of a live meeting in its own transaction."""

    def write() -> None:
        with ctx.db.session() as s:
            record(s, actor, action, meeting_id, details)

    await run_in_threadpool(write)


@router.websocket("/ws/meetings/{meeting_id}")
async def meeting_socket(ws: WebSocket, meeting_id: str) -> None:
    """meeting_socket serves one participant's connection to a meeting."""
    ctx: Context = ws.app.state.ctx
    live_meetings: LiveMeetings | SharedLiveMeetings | None = ws.app.state.live
    if not _same_origin(ws, ctx):
        await ws.close(code=1008, reason="origin")
        return
    address = client_address(ws)
    addresses = _addresses(ws)
    await ws.accept()
    if not addresses.take(address, ctx.settings.connections_per_address):
        socket = _Socket(ws)
        await socket.send(error_frame(ErrorCode.TOO_MANY, texts.TOO_MANY_CONNECTIONS, "join"))
        await socket.close("too_many", TRY_AGAIN_LATER)
        return
    metrics.websocket_opened()
    try:
        await _serve(ws, ctx, live_meetings, meeting_id)
    finally:
        addresses.give_back(address)
        metrics.websocket_closed()


async def _serve(
    ws: WebSocket, ctx: Context, live_meetings: LiveMeetings | SharedLiveMeetings | None, meeting_id: str
) -> None:
    socket = _Socket(ws)
    if live_meetings is None:
        await socket.send(error_frame(ErrorCode.MEDIA_UNAVAILABLE, texts.NO_ROOM, "join"))
        await socket.close("media_off")
        return
    bucket = TokenBucket(m.MESSAGES_PER_SECOND, m.MESSAGE_BURST)
    strikes = TokenBucket(1.0, REFUSALS_BEFORE_CLOSE)
    conn = live_meetings.new_conn_id()
    door = live_meetings.door(meeting_id)
    joined = False
    entry: _Entry | None = None
    server_stopping = False
    last_rate_error = 0.0
    join_by = asyncio.get_running_loop().time() + ctx.settings.join_deadline_seconds
    try:
        while True:
            try:
                async with asyncio.timeout_at(None if joined else join_by):
                    frame = await _receive(ws)
            except TimeoutError:
                await socket.send(error_frame(ErrorCode.NOT_JOINED, texts.JOIN_TOO_LATE))
                await socket.close("join_deadline", POLICY_VIOLATION)
                break
            if isinstance(frame, int):
                server_stopping = frame == SERVICE_RESTART
                break
            now = time.monotonic()
            if not bucket.allow(now):
                if not strikes.allow(now):
                    # Refused again and again: a flood, not a page; it is closed.
                    await socket.send(error_frame(ErrorCode.RATE_LIMITED, texts.FLOODING))
                    await socket.close("rate_limited", POLICY_VIOLATION)
                    break
                if now - last_rate_error >= 1.0:
                    last_rate_error = now
                    await socket.send(
                        error_frame(ErrorCode.RATE_LIMITED, DEFAULT_TEXT[ErrorCode.RATE_LIMITED])
                    )
                continue
            try:
                command = m.decode(frame)
            except ProtocolError as e:
                await socket.send(error_frame(e.code, e.message_sv, e.request))
                if e.code == ErrorCode.TOO_LARGE:
                    break
                continue
            if not joined:
                if not isinstance(command, m.Join):
                    await socket.send(error_frame(ErrorCode.NOT_JOINED, DEFAULT_TEXT[ErrorCode.NOT_JOINED]))
                    continue
                try:
                    found = await run_in_threadpool(
                        _identify, ctx, meeting_id, command, ws.cookies.get(SESSION_COOKIE)
                    )
                except ProtocolError as e:
                    await socket.send(error_frame(e.code, e.message_sv, e.request))
                    break
                joined, entry = True, found
                await door.join(conn, socket, found.identity, command, found.links_expire_at, found.policy)
            else:
                await door.handle(conn, command, frame)
            if socket.closed:
                break
    except WebSocketDisconnect:
        pass
    except SharingUnavailable:
        # Redis is unreachable: the page is told and reconnects later (media already flowing
        # goes on in Janus meanwhile).
        await socket.send(error_frame(ErrorCode.SERVICE_UNAVAILABLE, texts.SERVICE_UNAVAILABLE))
    finally:
        with contextlib.suppress(SharingUnavailable):  # the owner then finds it on resume
            if joined and server_stopping:
                await door.lost(conn)  # the browser keeps its media and resumes on another process
            elif joined:
                await door.drop(conn)
        await socket.close("bye")
        if entry is not None and socket.refused:
            await _audit_refusals(ctx, meeting_id, entry.identity, socket)


async def _audit_refusals(ctx: Context, meeting_id: str, identity: Identity, socket: _Socket) -> None:
    """_audit_refusals writes the host commands refused on one connection as one audit entry:
    how many, of which types (a guest sending ``end`` in a loop writes one entry, not hundreds)."""
    details = {
        "participant": socket.participant,
        "count": sum(socket.refused.values()),
        "commands": dict(sorted(socket.refused.items())),
    }
    await audit_sink(ctx, meeting_id, actor_of(identity), "meeting.host_command_refused", details)


async def _receive(ws: WebSocket) -> str | bytes | int:
    """_receive returns the next frame, or the close code once the connection closed."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return int(message.get("code") or 1005)
    text = message.get("text")
    if text is not None:
        return str(text)
    data = message.get("bytes")
    return bytes(data) if data is not None else b""
