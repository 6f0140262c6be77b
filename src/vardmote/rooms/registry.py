"""Registry: the live meetings of one vardmote process, and the door its WebSockets use.

Without ``VARDMOTE_REDIS_URL`` a live meeting lives in this process's memory:
:class:`LiveMeetings` makes a meeting's :class:`~vardmote.rooms.live.LiveMeeting`
on its first join and keeps it. :class:`LocalDoor` is what vardmote.web.signalling
talks to (join, handle, drop, lost); vardmote.cluster.meetings has a door of the
same shape for several processes.
"""

from __future__ import annotations

import datetime as dt
import itertools

from vardmote.media.plane import MediaPlane
from vardmote.rooms import messages as m
from vardmote.rooms.effects import ConnId
from vardmote.rooms.live import AuditSink, Connection, LiveMeeting
from vardmote.rooms.participant import Identity
from vardmote.rooms.policy import RoomPolicy


class LiveMeetings:
    """LiveMeetings is the registry of live meetings in this process.

    Trade-off: one process holds a meeting's room; several vardmote processes
    will share rooms through Redis later, behind this same registry.
    """

    def __init__(
        self,
        plane: MediaPlane,
        audit: AuditSink,
        *,
        host_left_seconds: int,
        reconnect_seconds: int,
        lobby_limit: int | None = None,
    ) -> None:
        self.plane = plane
        self._audit = audit
        self._host_left = host_left_seconds
        self._reconnect = reconnect_seconds
        self._lobby_limit = lobby_limit
        self._meetings: dict[str, LiveMeeting] = {}
        self._ids = itertools.count(1)

    def new_conn_id(self) -> ConnId:
        """new_conn_id names a new connection."""
        return f"c{next(self._ids)}"

    def get(self, meeting_id: str, policy: RoomPolicy) -> LiveMeeting:
        """get returns the meeting's live room, making it on first use."""
        live = self._meetings.get(meeting_id)
        if live is None:
            live = LiveMeeting(
                meeting_id,
                policy,
                self.plane,
                self._audit,
                host_left_seconds=self._host_left,
                reconnect_seconds=self._reconnect,
                lobby_limit=self._lobby_limit,
            )
            self._meetings[meeting_id] = live
        return live

    def find(self, meeting_id: str) -> LiveMeeting | None:
        """find returns the meeting's live room if there is one."""
        return self._meetings.get(meeting_id)

    def door(self, meeting_id: str) -> LocalDoor:
        """door is the meeting as a WebSocket reaches it (the same in vardmote.cluster)."""
        return LocalDoor(self, meeting_id)

    def meetings(self) -> list[LiveMeeting]:
        """meetings are the live meetings of this process (for /metrics)."""
        return list(self._meetings.values())

    async def close(self) -> None:
        """close leaves Janus for every meeting and closes the connections to Janus."""
        for live in list(self._meetings.values()):
            await live.close()
        self._meetings.clear()
        await self.plane.close()


class LocalDoor:
    """LocalDoor is one meeting of this process as its WebSockets reach it."""

    def __init__(self, meetings: LiveMeetings, meeting_id: str) -> None:
        self._meetings = meetings
        self.meeting_id = meeting_id

    async def join(
        self,
        conn: ConnId,
        connection: Connection,
        identity: Identity,
        join: m.Join,
        links_expire_at: dt.datetime,
        policy: RoomPolicy,
    ) -> None:
        """join lets a proven identity in, making the meeting's live room on first use."""
        live = self._meetings.get(self.meeting_id, policy)
        await live.links_expire(links_expire_at)
        await live.join(conn, connection, identity, join.name, join.resume, join.keep_media)

    async def handle(self, conn: ConnId, command: m.Command, frame: str | bytes) -> None:
        """handle applies one decoded frame of a joined connection."""
        live = self._meetings.find(self.meeting_id)
        if live is not None:
            await live.handle(conn, command)

    async def drop(self, conn: ConnId) -> None:
        """drop: the connection closed."""
        live = self._meetings.find(self.meeting_id)
        if live is not None:
            await live.drop(conn)

    async def lost(self, conn: ConnId) -> None:
        """lost: the connection closed because this process is stopping; media stays."""
        live = self._meetings.find(self.meeting_id)
        if live is not None:
            await live.connections_lost([conn])
