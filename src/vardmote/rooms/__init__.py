"""The live meeting: participants, lobby, roles, hands, mutes, floor, limits and timers.

Pure rules, no I/O and no clock; the protocol they implement is
``docs/protocol.md``. The glue (the WebSocket endpoint and the Janus runtime)
decodes each frame with :func:`messages.decode`, calls the :class:`Room`, and
carries out the effects it returns. The per-connection rate limit is
``vardmote.lib.ratelimit.TokenBucket`` with ``messages.MESSAGE_BURST`` and
``messages.MESSAGES_PER_SECOND``.

Modules:

- :mod:`.policy` — :class:`RoomPolicy`, read from a meeting type's row.
- :mod:`.messages` — frames → typed commands; raises :class:`errors.ProtocolError`.
- :mod:`.room` — :class:`Room`: join, resume, take-over, drop, tick, dispatch, ``sync``.
- :mod:`.joining` — who may join, as what, and whether straight in or to the lobby.
- :mod:`.limits` — the participant limit (join and admit alike).
- :mod:`.host_left` — the countdown after the last host has left.
- :mod:`.publishing` — who may publish camera and screen.
- :mod:`.participant_commands` — leave, negotiation, sharing, hands, chat.
- :mod:`.network` — relay credentials (for the admitted only), ICE restarts, connection reports.
- :mod:`.host_commands` — admit, deny, remove, mute, lock, floor, end.
- :mod:`.effects` — what the glue must do: send, close, Janus, audit.
- :mod:`.participant` — identities, participants, their list entry.
- :mod:`.visibility` — who may see whom.
- :mod:`.errors` — the fixed error codes and their default texts.
- :mod:`.texts` — every Swedish sentence people see.
- :mod:`.live` — the I/O edge: carries out the effects on Janus and sockets.
"""

from vardmote.rooms.errors import ErrorCode, ProtocolError
from vardmote.rooms.messages import decode
from vardmote.rooms.participant import Device, LinkHolder, Participant, Staff
from vardmote.rooms.policy import Role, RoomPolicy
from vardmote.rooms.room import Room
from vardmote.rooms.visibility import may_see, visible_participants

__all__ = [
    "Device",
    "ErrorCode",
    "LinkHolder",
    "Participant",
    "ProtocolError",
    "Role",
    "Room",
    "RoomPolicy",
    "Staff",
    "decode",
    "may_see",
    "visible_participants",
]
