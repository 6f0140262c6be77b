"""Handover: a meeting moves to another vardmote process with no break in media.

When vardmote runs as several processes (vardmote.cluster), the process that
holds a meeting's room may be killed or stopped while people are in it. Their
browsers' PeerConnections go to Janus, not to vardmote, so media goes on; the
process that takes the meeting over claims the Janus session and keeps every
handle. What the room must then do differs from an ordinary lost connection
(:meth:`Room.drop`, where the participant's handles go and a resumed client
negotiates afresh):

- :func:`connections_lost`: the connections went with their process. Each
  participant keeps their place for the reconnect window *and* their media:
  no handle is detached, their streams and subscriptions stay, the others go
  on seeing and hearing them. If the window runs out they are taken out as
  after any drop.
- :func:`resume_with_media`: a client that kept its PeerConnections comes back
  (``join`` with ``resume`` and ``keep_media``) on a new connection, through
  any process. It is told ``media_kept: true`` in ``joined`` and offers nothing
  again. A client that did not keep them (a reloaded page) resumes as usual.

Pure: no I/O. Each function returns the effects for the I/O edge (live.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from vardmote.rooms import texts
from vardmote.rooms.effects import Audit, CloseConnection, ConnId, Effect, Send
from vardmote.rooms.host_left import host_left_message
from vardmote.rooms.participant import Participant

if TYPE_CHECKING:
    from vardmote.rooms.room import Room


def connections_lost(
    room: Room, conns: Iterable[ConnId], now: float, *, keep_media: bool = True
) -> list[Effect]:
    """connections_lost: these connections went with their vardmote process; their
    participants keep their place and (keep_media: the meeting still holds its Janus
    session) their media for the reconnect window."""
    effects: list[Effect] = []
    for conn in conns:
        p = room.participant_for(conn)
        if p is None:
            continue
        before = room.viewers_of(p)
        room.forget_conn(conn)
        p.conn = None
        p.dropped_at = now
        p.media_kept = p.admitted and keep_media
        effects += room.announce(p, before)
    return effects + room.sync(now) if effects else effects


def media_kept(p: Participant) -> bool:
    """media_kept tells whether p's Janus handles are there for a client that kept its
    PeerConnections: admitted, and either still connected or lost with a process."""
    return p.admitted and (p.conn is not None or p.media_kept)


def resume_with_media(room: Room, p: Participant, conn: ConnId, now: float) -> list[Effect]:
    """resume_with_media puts p on connection conn and keeps everything of their media."""
    effects: list[Effect] = []
    if p.conn is not None:
        # Their old connection is still known here (its process is gone or the client came
        # back first): it is closed, and the media it set up stays with the new one.
        effects += [
            Send((p.conn,), {"type": "taken_over", "message": texts.TAKEN_OVER}),
            CloseConnection(p.conn, "taken_over"),
        ]
        room.forget_conn(p.conn)
    before = room.viewers_of(p)
    p.conn = conn
    p.dropped_at = None
    p.media_kept = False
    p.resume_token = room.new_resume_token()
    room.remember_conn(conn, p)
    effects.append(Audit("meeting.resumed", p.actor, {"participant": p.id, "state": str(p.state)}))
    joined = {**room.joined_message(p, resumed=True), "media_kept": True}
    effects.append(room.to_participant(p, joined))
    if room.host_left.running and not p.is_host:
        effects.append(Send((conn,), host_left_message(room.host_left.seconds_left(now))))
    effects += room.announce(p, before)
    return effects + room.sync(now)
