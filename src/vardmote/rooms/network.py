"""Network: relay credentials, ICE restarts and how each participant's media connection is doing.

What docs/protocol.md calls "Through every network":

- ``ice_servers``: an admitted participant asks for fresh relay credentials (the
  browser does before an ICE restart). The room only says whom they are for
  (:class:`~vardmote.rooms.effects.SendWithIceServers`); the glue makes them. The
  lobby never gets any: nobody waiting can use the relay.
- ``ice_restart``: the browser's subscriber lost its path; Janus is asked for an
  offer that restarts ICE. A ``publisher`` or ``screen`` restarts with a new
  ``offer`` of the browser's own, the usual way.
- ``connection``: the browser's report of its media (connected or reconnecting,
  direct or through the relay, good or poor). Everyone who sees the participant
  sees ``reconnecting`` ("Återansluter…"); only hosts see ``media_path`` and
  ``poor_connection``, so that staff can help.
- :func:`media_stalled`: Janus receives nothing on a participant's camera
  publisher (neither sound nor picture), so the others see them reconnecting
  even when their own network is down and they cannot report it.

Each command is a function of the Room, the sender, the command and ``now``, as
in :mod:`.participant_commands`; :data:`HANDLERS` is what the room dispatches to.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vardmote.rooms import messages as m
from vardmote.rooms import texts
from vardmote.rooms.effects import Effect, JanusRestartIce, SendWithIceServers
from vardmote.rooms.errors import ErrorCode
from vardmote.rooms.participant import Participant

if TYPE_CHECKING:
    from vardmote.rooms.room import Room

Effects = list[Effect]


def ice_servers(room: Room, p: Participant, command: m.IceServers, now: float) -> Effects:
    """ice_servers answers an admitted participant with fresh relay credentials."""
    if p.conn is None:
        return []
    return [SendWithIceServers(p.conn, p.id, {"type": "ice_servers"})]


def ice_restart(room: Room, p: Participant, command: m.IceRestart, now: float) -> Effects:
    """ice_restart asks Janus to restart ICE on p's subscriber; a publisher restarts by offering."""
    if command.pc != "subscriber":
        return [room.refusal(p, ErrorCode.NOT_ALLOWED, texts.RESTART_BY_OFFER, "ice_restart")]
    return [JanusRestartIce(p.id)]


def connection(room: Room, p: Participant, command: m.ConnectionReport, now: float) -> Effects:
    """connection records p's report of their media; whoever sees p is told if it changed."""
    report = (command.state == "reconnecting", command.path, command.quality == "poor")
    if report == (p.reconnecting, p.media_path, p.poor_connection):
        return []
    before = room.viewers_of(p)
    p.reconnecting, p.media_path, p.poor_connection = report
    return room.announce(p, before)


def media_stalled(room: Room, participant_id: str, stalled: bool) -> Effects:
    """media_stalled records that Janus receives nothing (stalled) from the participant's camera
    publisher, or receives it again; whoever sees them is told if it changed."""
    p = room.participants.get(participant_id)
    if p is None or not p.admitted or p.media_stalled == stalled:
        return []
    before = room.viewers_of(p)
    p.media_stalled = stalled
    return room.announce(p, before)


HANDLERS: Mapping[type, Callable[[Room, Participant, Any, float], Effects]] = {
    m.IceServers: ice_servers,
    m.IceRestart: ice_restart,
    m.ConnectionReport: connection,
}
"""HANDLERS is the network commands the room dispatches to, by message class."""
