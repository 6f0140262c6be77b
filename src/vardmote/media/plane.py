"""Plane: the pool of Janus connections and sessions, one per node, made again when lost.

The rule it owns: every live meeting on a node shares one Janus connection
and one session; a closed connection or an ended session is replaced on the
next request instead of failing every meeting. :meth:`MediaPlane.node_up`
answers ``/healthz``. This is I/O (WebSockets to Janus); the rooms reach it
only through :mod:`vardmote.rooms.live`.
"""

from __future__ import annotations

import asyncio
import contextlib

from vardmote.media.janus import JanusClient, JanusException, JanusSession
from vardmote.media.placement import JanusNode, Placement


class MediaPlane:
    """MediaPlane keeps one Janus connection and session per node, made again when lost."""

    def __init__(self, placement: Placement) -> None:
        self.placement = placement
        self._sessions: dict[str, JanusSession] = {}
        self._clients: dict[str, JanusClient] = {}
        self._lock = asyncio.Lock()

    async def session_for(self, node: JanusNode) -> JanusSession:
        """session_for returns a live session on node, connecting if needed."""
        async with self._lock:
            session = self._sessions.get(node.url)
            client = self._clients.get(node.url)
            if session is not None and client is not None and not client.closed and not session.ended:
                return session
            client = await JanusClient.connect(node.url, node.api_secret)
            session = await client.create_session()
            self._clients[node.url] = client
            self._sessions[node.url] = session
            return session

    async def node_up(self, node: JanusNode, timeout: float = 2.0) -> bool:
        """node_up tells whether node answers (for /healthz); it keeps the session it makes."""
        try:
            session = await asyncio.wait_for(self.session_for(node), timeout)
            await asyncio.wait_for(session.keepalive(), timeout)
            return True
        except (JanusException, TimeoutError, OSError):
            return False

    async def close(self) -> None:
        """close ends every session and connection."""
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()
        self._sessions.clear()
