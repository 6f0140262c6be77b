"""Janus: an asyncio client for the WebSocket API of the Janus WebRTC Server.

vardmote is the only client of Janus's API (see docs/DESIGN): browsers never
reach it. One :class:`JanusClient` is one WebSocket (subprotocol
``janus-protocol``) to one Janus node; on it live sessions
(:class:`JanusSession`), and in a session handles (:class:`JanusHandle`), one
per plugin attachment, e.g. one per PeerConnection in the VideoRoom.

How Janus answers (Janus 1.x):

- every request carries a ``transaction`` that the answer repeats, and the
  node's ``apisecret`` (only ``info`` goes without);
- ``success``, ``server_info`` or ``error`` answers most requests;
- ``keepalive`` and ``trickle`` are answered with ``ack``;
- a plugin ``message`` is answered with ``success`` when the plugin handles it
  at once (VideoRoom ``create``, ``exists``, ``kick``, …), or with ``ack``
  followed by an ``event`` carrying the same transaction when it handles it
  later (``join``, ``publish``, ``start``, …). The event may come before the
  ack; both orders work here;
- a plugin reports failure inside its data (``error_code`` and ``error``), in
  a ``success`` or an ``event``;
- messages that answer nothing (``event`` without a pending transaction,
  ``webrtcup``, ``media``, ``slowlink``, ``hangup``, ``detached``,
  ``timeout``) are events of a handle, or of a session for ``timeout``.

Exceptions::

    JanusException
    ├── JanusError          Janus or its plugin refused the request: .code, .reason
    └── JanusUnavailable    no answer: cannot connect, the connection dropped or was closed
        └── JanusTimeout    a request had no answer within its timeout

Concurrency: a client belongs to the event loop that connected it and is not
thread-safe. Any task of that loop may make requests at the same time. One
reader task reads every message; it only resolves the futures of pending
requests and queues events, and never runs callers' code. A handle's event
callback runs in the handle's own task, one event at a time and in order, so a
callback may itself make requests. Bodies are never logged: they carry room
secrets and the admin key.

Hand-over (Janus's ``claim``): when a connection goes away, Janus ends its
sessions at once, unless ``reclaim_session_timeout`` (janus.jcfg) is set; then
a session, its handles and their PeerConnections live on for that many seconds,
counted from the session's last request (a keepalive counts), and another
connection may take it over with :meth:`JanusClient.claim_session`. Janus
answers a claim with ``success``, or error 458 for a session it does not know
(never made, destroyed or expired). From then on the session's events go to the
claiming connection only; a connection that had it before, still open or not,
is not told and gets no more events of it, and its closing no longer affects
the session. Events Janus had for the session while no connection held it are
lost. A claim names no handles: :meth:`JanusSession.adopt` registers the
handles the claimer knows of, with no request to Janus.
:meth:`JanusClient.abandon` drops a connection on purpose and leaves its
sessions to be claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypedDict, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from vardmote.settings import Secret

log = logging.getLogger("vardmote.media.janus")

Json = dict[str, Any]

DEFAULT_TIMEOUT = 10.0
"""Seconds a request may wait for its answer before it fails with JanusTimeout."""

KEEPALIVE_INTERVAL = 25.0
"""Seconds between keepalives; Janus drops a silent session after 60 s by default."""

MAX_UNADOPTED = 256
"""Events a claimed session keeps for handles not adopted yet; later ones are dropped."""

CLOSING_KINDS = frozenset({"detached", "timeout", "closed"})
"""Event kinds after which a handle receives nothing more."""


class Jsep(TypedDict):
    """Jsep is a session description as Janus carries it: an offer or an answer."""

    type: str
    sdp: str


class JanusException(Exception):
    """JanusException is the base of every error of this client."""


class JanusError(JanusException):
    """JanusError: Janus or its plugin refused a request, with Janus's code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusUnavailable(JanusException):
    """JanusUnavailable: Janus cannot be reached, or the connection dropped or was closed."""


class JanusTimeout(JanusUnavailable):
    """JanusTimeout: a request had no answer within its timeout."""


@dataclass(frozen=True)
class JanusEvent:
    """JanusEvent is a message from Janus that answers no pending request."""

    kind: str
    """``event`` (the plugin's), ``webrtcup``, ``media``, ``slowlink``, ``hangup``,
    ``detached``, ``timeout`` (the session expired) or ``closed`` (made by this
    client: the connection to Janus is gone)."""

    data: Json = field(default_factory=dict)
    """The plugin's data for ``event``; empty for the others."""

    jsep: Jsep | None = None
    """The session description that came with a plugin event, if any."""

    message: Json = field(default_factory=dict)
    """The whole message as Janus sent it (e.g. ``reason`` of a hangup, ``type`` of media)."""


class PluginAnswer(NamedTuple):
    """PluginAnswer is a plugin's answer to a message: its data and any session description."""

    data: Json
    jsep: Jsep | None


EventCallback = Callable[[JanusEvent], Awaitable[None]]


@dataclass
class _Pending:
    future: asyncio.Future[Json]
    answered_by_ack: bool
    answered_by_event: bool


def _jsep(value: Any) -> Jsep | None:
    """_jsep returns a session description found in a message, or None."""
    if isinstance(value, dict) and isinstance(value.get("sdp"), str):
        return cast(Jsep, value)
    return None


def _raise_for_error(answer: Json) -> None:
    if answer.get("janus") == "error":
        error = answer.get("error") or {}
        raise JanusError(int(error.get("code", 0)), str(error.get("reason", "unknown error")))


def _plugin_answer(answer: Json) -> PluginAnswer:
    """_plugin_answer takes the plugin's data out of an answer, raising its error."""
    data = (answer.get("plugindata") or {}).get("data") or {}
    if "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error", "")))
    return PluginAnswer(data, _jsep(answer.get("jsep")))


class JanusClient:
    """JanusClient is one WebSocket connection to one Janus node; make it with connect()."""

    def __init__(
        self,
        ws: ClientConnection,
        api_secret: Secret | None,
        timeout: float,
        on_close: Callable[[JanusUnavailable], None] | None,
    ) -> None:
        self._ws = ws
        self._api_secret = api_secret
        self._timeout = timeout
        self._closing = False
        self._on_close = on_close
        self._pending: dict[str, _Pending] = {}
        self._sessions: dict[int, JanusSession] = {}
        self._closed: JanusUnavailable | None = None
        self._closed_event = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="janus-reader")

    @classmethod
    async def connect(
        cls,
        url: str,
        api_secret: Secret | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_close: Callable[[JanusUnavailable], None] | None = None,
    ) -> JanusClient:
        """connect opens the WebSocket to the Janus at url (ws:// or wss://).

        timeout bounds the connection and, by default, every request. on_close is
        called once, with the reason, when the connection is gone for any cause.
        """
        try:
            ws = await connect(
                url,
                subprotocols=[Subprotocol("janus-protocol")],
                open_timeout=timeout,
                close_timeout=2,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
            raise JanusUnavailable(f"cannot connect to Janus at {url}: {e}") from e
        return cls(ws, api_secret, timeout, on_close)

    @property
    def closed(self) -> bool:
        """closed tells whether the connection is gone; every request then fails."""
        return self._closed is not None

    async def request(self, body: Json, *, timeout: float | None = None) -> Json:
        """request sends one request and returns Janus's answer to it.

        It adds the transaction and the apisecret, and raises JanusError for an
        ``error`` answer. A plugin message resolves on ``success`` or on its
        ``event``; keepalive and trickle on ``ack``.
        """
        if self._closed is not None:
            raise JanusUnavailable(str(self._closed))
        transaction = secrets.token_urlsafe(12)
        message = {**body, "transaction": transaction}
        if self._api_secret is not None:
            message["apisecret"] = self._api_secret.reveal()
        kind = body.get("janus")
        pending = _Pending(
            asyncio.get_running_loop().create_future(),
            answered_by_ack=kind in ("keepalive", "trickle"),
            answered_by_event=kind == "message",
        )
        self._pending[transaction] = pending
        try:
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                await self._ws.send(json.dumps(message))
                answer = await pending.future
        except ConnectionClosed as e:
            raise JanusUnavailable(f"the connection to Janus closed: {e}") from e
        except TimeoutError:
            raise JanusTimeout(f"Janus did not answer {kind!r} in time") from None
        finally:
            self._pending.pop(transaction, None)
        _raise_for_error(answer)
        return answer

    async def info(self) -> Json:
        """info returns the node's ``server_info`` (version, plugins, transports)."""
        return await self.request({"janus": "info"})

    async def create_session(self, *, keepalive_interval: float | None = KEEPALIVE_INTERVAL) -> JanusSession:
        """create_session makes a Janus session and keeps it alive every keepalive_interval
        seconds (None: no keepalives, so Janus drops the session when it times out)."""
        answer = await self.request({"janus": "create"})
        session = JanusSession(self, int(answer["data"]["id"]), keepalive_interval)
        self._sessions[session.id] = session
        return session

    async def claim_session(
        self, session_id: int, *, keepalive_interval: float | None = KEEPALIVE_INTERVAL
    ) -> JanusSession:
        """claim_session takes over a session another connection made (Janus's ``claim``),
        e.g. one a killed vardmote left, and keeps it alive like create_session.

        Its handles are unknown here until adopted (JanusSession.adopt); their
        events that arrive before that are kept for adopt. Raises JanusError
        (code 458) when Janus no longer has the session. A session of this very
        connection is returned as it is.
        """
        known = self._sessions.get(session_id)
        if known is not None:
            return known
        # Registered before the claim is sent: events may follow Janus's answer at once.
        session = JanusSession(self, session_id, keepalive_interval, claimed=True)
        self._sessions[session_id] = session
        try:
            await self.request({"janus": "claim", "session_id": session_id})
        except BaseException:
            session._end(None)
            raise
        return session

    @property
    def sessions(self) -> tuple[JanusSession, ...]:
        """sessions are the sessions this connection holds (made or claimed, not ended)."""
        return tuple(self._sessions.values())

    async def close(self) -> None:
        """close closes the connection; pending requests fail with JanusUnavailable,
        and every session and handle gets a ``closed`` event.

        It sends no ``destroy``: Janus ends the sessions when the connection is
        gone, at once, or reclaim_session_timeout seconds later when that is set
        (destroy them first to end them now).
        """
        self._closing = True
        await self._ws.close()
        await self._reader

    async def abandon(self, *, timeout: float = 1.0) -> None:
        """abandon drops the connection and leaves its sessions in Janus, for another
        connection (another vardmote) to claim within reclaim_session_timeout.

        Each session first gets a keepalive (within timeout seconds), since
        Janus counts that time from a session's last request. Then, unlike
        close(), the sessions and handles here end silently: no ``closed``
        events, no callbacks, no keepalives. Pending requests fail with
        JanusUnavailable.
        """
        sessions = list(self._sessions.values())
        if sessions and self._closed is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*(s.keepalive() for s in sessions), return_exceptions=True)
        for session in sessions:
            session._end(None)
        if sessions:
            log.info("left %d Janus session(s) to be claimed", len(sessions))
        await self.close()

    async def wait_closed(self) -> None:
        """wait_closed returns once the connection is gone."""
        await self._closed_event.wait()

    async def __aenter__(self) -> JanusClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _read(self) -> None:
        reason = "the connection to Janus closed"
        try:
            async for raw in self._ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("Janus sent a message that is not JSON; ignored")
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except ConnectionClosed as e:
            reason = f"the connection to Janus dropped: {e}"
        except Exception:
            log.exception("reading from Janus failed")
            reason = "reading from Janus failed"
        finally:
            self._shutdown(reason)

    def _dispatch(self, message: Json) -> None:
        """_dispatch resolves the request a message answers, or routes it as an event."""
        kind = message.get("janus")
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if pending is not None:
            answers = (
                kind in ("success", "error", "server_info")
                or (kind == "ack" and pending.answered_by_ack)
                or (kind == "event" and pending.answered_by_event)
            )
            if answers:
                if not pending.future.done():
                    pending.future.set_result(message)
                return
        if kind in ("ack", "success", "error", "server_info"):
            return  # an ack of a plugin message, or the answer to a request that timed out
        session = self._sessions.get(message.get("session_id", 0))
        if session is None:
            log.debug("Janus event %r for no known session; ignored", kind)
            return
        session._route(message)

    def _forget(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def _shutdown(self, reason: str) -> None:
        """_shutdown fails pending requests, closes sessions and tells on_close, once."""
        if self._closed is not None:
            return
        error = JanusUnavailable(reason)
        self._closed = error
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(JanusUnavailable(reason))
        self._pending.clear()
        for session in list(self._sessions.values()):
            session._end(JanusEvent("closed", message={"reason": reason}))
        self._sessions.clear()
        self._closed_event.set()
        # Our own close (the health probe's, at shutdown) is routine; losing Janus is not.
        log.log(logging.DEBUG if self._closing else logging.WARNING, "Janus connection closed: %s", reason)
        if self._on_close is not None:
            try:
                self._on_close(error)
            except Exception:
                log.exception("on_close callback failed")


class JanusSession:
    """JanusSession is one Janus session; it keeps itself alive until destroyed."""

    def __init__(
        self, client: JanusClient, session_id: int, keepalive_interval: float | None, *, claimed: bool = False
    ) -> None:
        self.client = client
        self.id = session_id
        self._handles: dict[int, JanusHandle] = {}
        self._ended = False
        self._unadopted: list[Json] | None = [] if claimed else None
        """A claimed session's events for handles not adopted yet (at most MAX_UNADOPTED)."""
        self._keepalive: asyncio.Task[None] | None = None
        if keepalive_interval is not None:
            self._keepalive = asyncio.create_task(
                self._keep_alive(keepalive_interval), name=f"janus-keepalive-{session_id}"
            )

    @property
    def ended(self) -> bool:
        """ended tells whether the session is gone (destroyed, timed out or disconnected)."""
        return self._ended

    async def request(self, body: Json, *, timeout: float | None = None) -> Json:
        """request sends a request within this session."""
        return await self.client.request({**body, "session_id": self.id}, timeout=timeout)

    async def attach(self, plugin: str, *, on_event: EventCallback | None = None) -> JanusHandle:
        """attach makes a handle on plugin (e.g. ``janus.plugin.videoroom``).

        The handle's events go to on_event, awaited one at a time in the handle's
        own task, or, without a callback, into ``handle.events``.
        """
        answer = await self.request({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(answer["data"]["id"]), plugin, on_event)
        self._handles[handle.id] = handle
        return handle

    def adopt(self, handle_id: int, plugin: str, *, on_event: EventCallback | None = None) -> JanusHandle:
        """adopt takes on a handle that already exists in Janus (in a claimed session),
        with no request to Janus: its events are routed here, as for attach,
        starting with any that arrived since the claim.

        Janus is not asked whether the handle exists: requests on a handle it
        no longer has fail with JanusError (code 459). A handle adopted already
        is returned as it is.
        """
        known = self._handles.get(handle_id)
        if known is not None:
            return known
        handle = JanusHandle(self, handle_id, plugin, on_event)
        if self._ended:
            handle._stop()
            return handle
        self._handles[handle_id] = handle
        if self._unadopted:
            early = [m for m in self._unadopted if m.get("sender") == handle_id]
            self._unadopted = [m for m in self._unadopted if m.get("sender") != handle_id]
            for message in early:
                self._route(message)
        return handle

    async def keepalive(self) -> None:
        """keepalive tells Janus the session is in use, resetting its session timeout."""
        await self.request({"janus": "keepalive"})

    async def destroy(self) -> None:
        """destroy ends the session and its handles in Janus; gone already is fine."""
        if self._ended:
            return
        self._end(None)
        with contextlib.suppress(JanusUnavailable, JanusError):
            await self.request({"janus": "destroy"})

    async def _keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.keepalive()
            except JanusError as e:
                log.warning("Janus session %s is gone: %s", self.id, e)
                self._end(JanusEvent("timeout", message={"janus": "timeout", "session_id": self.id}))
                return
            except JanusTimeout:
                log.warning("Janus did not answer a keepalive of session %s in time", self.id)
            except JanusUnavailable:
                return

    def _route(self, message: Json) -> None:
        kind = str(message.get("janus"))
        if kind == "timeout":
            log.warning("Janus session %s timed out", self.id)
            self._end(JanusEvent("timeout", message=message))
            return
        handle = self._handles.get(message.get("sender", 0))
        if handle is None:
            if self._unadopted is not None and len(self._unadopted) < MAX_UNADOPTED:
                self._unadopted.append(message)
                return
            log.debug("Janus event %r for no known handle; ignored", kind)
            return
        event = JanusEvent(kind, message=message)
        if kind == "event":
            data = (message.get("plugindata") or {}).get("data") or {}
            event = JanusEvent(kind, data, _jsep(message.get("jsep")), message)
        if kind == "detached":
            self._handles.pop(handle.id, None)
        handle._deliver(event)

    def let_go(self) -> None:
        """let_go forgets the session here without telling Janus: its keepalives and handles'
        events stop, and another vardmote (or this one, by claim_session) takes it over."""
        self._end(None)

    def _end(self, event: JanusEvent | None) -> None:
        """_end marks the session gone and gives every handle the closing event."""
        self._ended = True
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        for handle in self._handles.values():
            if event is None:
                handle._stop()
            else:
                handle._deliver(event)
        self._handles.clear()
        self._unadopted = None
        self.client._forget(self.id)

    def _forget(self, handle_id: int) -> None:
        self._handles.pop(handle_id, None)


class JanusHandle:
    """JanusHandle is one attachment to a plugin; events arrive in order on it."""

    def __init__(
        self, session: JanusSession, handle_id: int, plugin: str, on_event: EventCallback | None
    ) -> None:
        self.session = session
        self.id = handle_id
        self.plugin = plugin
        self.events: asyncio.Queue[JanusEvent] = asyncio.Queue()
        """Events for this handle, when it has no callback."""
        self._closed = False
        self._pump: asyncio.Task[None] | None = None
        if on_event is not None:
            self._pump = asyncio.create_task(self._run_callback(on_event), name=f"janus-events-{handle_id}")

    @property
    def closed(self) -> bool:
        """closed tells whether the handle receives no more events."""
        return self._closed

    async def request(self, body: Json, *, timeout: float | None = None) -> Json:
        """request sends a request addressed to this handle."""
        return await self.session.request({**body, "handle_id": self.id}, timeout=timeout)

    async def message(
        self, body: Json, jsep: Jsep | None = None, *, timeout: float | None = None
    ) -> PluginAnswer:
        """message sends body to the plugin and returns its answer (data, jsep).

        For a request the plugin handles later (VideoRoom ``join``, ``publish``,
        ``start``, …) this waits for the event that answers it. A plugin error
        (``error_code`` in its data) raises JanusError.
        """
        request: Json = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = dict(jsep)
        return _plugin_answer(await self.request(request, timeout=timeout))

    async def trickle(self, candidate: Json | None) -> None:
        """trickle gives Janus one ICE candidate of the peer, or None when gathering completed."""
        await self.request({"janus": "trickle", "candidate": candidate or {"completed": True}})

    async def hangup(self) -> None:
        """hangup closes the handle's PeerConnection and keeps the handle."""
        await self.request({"janus": "hangup"})

    async def detach(self) -> None:
        """detach ends the handle in Janus; gone already is fine."""
        self.session._forget(self.id)
        self._stop()
        with contextlib.suppress(JanusUnavailable, JanusError):
            await self.request({"janus": "detach"})

    def _deliver(self, event: JanusEvent) -> None:
        if self._closed:
            return
        self.events.put_nowait(event)
        if event.kind in CLOSING_KINDS:
            self._closed = True

    def _stop(self) -> None:
        self._closed = True
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()

    async def _run_callback(self, on_event: EventCallback) -> None:
        while True:
            event = await self.events.get()
            try:
                await on_event(event)
            except Exception:
                log.exception("event callback of Janus handle %s failed on %r", self.id, event.kind)
            if event.kind in CLOSING_KINDS:
                return
