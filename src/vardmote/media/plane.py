"""Plane: the pool of Janus connections, one per node, and the sessions on them, made again when lost.

The rules it owns:

- one Janus connection per node, shared by every meeting on it; a closed
  connection is replaced on the next request instead of failing every meeting;
- one shared session per node (:meth:`MediaPlane.session_for`), replaced when
  it ended;
- sessions of their own for meetings that want them (:meth:`MediaPlane.new_session`),
  so that another vardmote can take a meeting's session over with
  :meth:`MediaPlane.claim_session` when this one dies or hands over
  (:meth:`MediaPlane.abandon`); Janus keeps a session whose connection went
  away for ``reclaim_session_timeout`` seconds (see :mod:`vardmote.media.janus`).

:meth:`MediaPlane.node_up` answers ``/healthz``. :attr:`MediaPlane.relay` is the TURN relay
the rooms hand to browsers (None: none). This is I/O (WebSockets to
Janus); the rooms reach it only through :mod:`vardmote.rooms.live`.
"""

from __future__ import annotations

import asyncio
import contextlib

from vardmote.media.janus import JanusClient, JanusException, JanusSession
from vardmote.media.placement import JanusNode, Placement
from vardmote.media.relay_access import RelayAccess

MEETING_KEEPALIVE_SECONDS = 10.0
"""Keepalive of a meeting's own session. Janus counts reclaim_session_timeout from a session's
last request, so a process killed just before a keepalive leaves the others that timeout less
this interval to claim it (at least 20 s with the default 30)."""


class MediaPlane:
    """MediaPlane keeps one Janus connection per node, and a shared session on each."""

    def __init__(self, placement: Placement, *, relay: RelayAccess | None = None) -> None:
        self.placement = placement
        self.relay = relay
        """relay is the TURN relay browsers are given (vardmote.media.relay_access); None: no relay."""
        self._sessions: dict[str, JanusSession] = {}
        self._clients: dict[str, JanusClient] = {}
        self._lock = asyncio.Lock()

    async def _client(self, node: JanusNode) -> JanusClient:
        """_client returns the open connection to node, connecting if needed (lock held)."""
        client = self._clients.get(node.url)
        if client is None or client.closed:
            health = self.placement.health
            try:
                client = await JanusClient.connect(
                    node.url, node.api_secret, on_close=lambda _e: health.mark(node.url, False)
                )
            except JanusException:
                health.mark(node.url, False)
                raise
            health.mark(node.url, True)
            self._clients[node.url] = client
            self._sessions.pop(node.url, None)
        return client

    async def session_for(self, node: JanusNode) -> JanusSession:
        """session_for returns the node's shared live session, connecting if needed."""
        async with self._lock:
            client = await self._client(node)
            session = self._sessions.get(node.url)
            if session is None or session.ended:
                session = await client.create_session()
                self._sessions[node.url] = session
            return session

    async def new_session(self, node: JanusNode) -> JanusSession:
        """new_session makes a session of its own on the node's connection (connecting
        if needed); its owner destroys it. Another vardmote may claim it by its id."""
        async with self._lock:
            client = await self._client(node)
        return await client.create_session(keepalive_interval=MEETING_KEEPALIVE_SECONDS)

    async def claim_session(self, node: JanusNode, session_id: int) -> JanusSession:
        """claim_session takes over a session on node that another connection made
        (e.g. a vardmote that was killed); adopt its handles on it. Raises
        JanusError when Janus no longer has the session."""
        async with self._lock:
            client = await self._client(node)
        return await client.claim_session(session_id)

    async def node_up(self, node: JanusNode, timeout: float = 2.0) -> bool:
        """node_up tells whether node answers (for /healthz); it keeps the session it makes."""
        try:
            session = await asyncio.wait_for(self.session_for(node), timeout)
            await asyncio.wait_for(session.keepalive(), timeout)
            return True
        except (JanusException, TimeoutError, OSError):
            return False

    async def close(self, timeout: float = 2.0) -> None:
        """close ends every session on the connections (within timeout seconds) and the
        connections. Janus would otherwise keep the sessions reclaim_session_timeout
        seconds more."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._sessions.clear()
        sessions = [s for client in clients for s in client.sessions]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(s.destroy() for s in sessions), return_exceptions=True)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()

    async def abandon(self) -> None:
        """abandon drops every connection and leaves every session in Janus, to be
        claimed by another vardmote within reclaim_session_timeout (a hand-over)."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._sessions.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.abandon()
