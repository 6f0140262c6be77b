"""Booking changes: what a live room does when its meeting's booking changes under it.

The room follows the booking at once (vardmote.web.live_booking carries the
meetings layer's events here):

- **a link stops working** (revoked, renewed, its recipient removed with "Ta
  bort"): whoever came by it gets ``link_gone``, is taken out of the lobby or
  the meeting and their connection is closed; the hosts see them go. Coming
  back by it is refused before the room (the link resolves as gone);
- **the meeting is cancelled ("Avboka") or its protection removed ("Ta bort
  möte")**: everyone gets ``ended`` with a plain message and the room ends
  (the Janus room is destroyed);
- **the links' time is over** (the meeting's end and its grace, followed by
  ``Room.links_expire_at``): everyone who came by a link goes as above;
- **a colleague's invitation to host is removed** ("Ta bort" on a Personal
  recipient): that colleague gets ``removed`` and goes; the organiser and the
  others stay; likewise a staff member whose account is deactivated (organiser
  or not), with another message;
- **the meeting gets another type ("Välj om mötestyp")**: the new type's rules
  hold from that moment. Every participant who is not a host (guests and room
  devices) gets ``ended`` (``type_changed``) and is taken out, so nobody sees,
  hears or is seen by anyone under the old type's rules for a moment longer;
  the hosts stay. A guest whose link still works opens it again and comes in
  through the new type's lobby. When the new type has no guest links, their
  links are revoked as well.

Pure: no I/O. Each function returns the effects for the I/O edge (live.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vardmote.rooms import texts
from vardmote.rooms.effects import Audit, Effect, Send
from vardmote.rooms.host_commands import end_for_everyone, send_away
from vardmote.rooms.participant import LinkHolder, Staff
from vardmote.rooms.policy import RoomPolicy

if TYPE_CHECKING:
    from vardmote.rooms.room import Room

Effects = list[Effect]

SYSTEM = "system:booking"
"""The audit actor of what the room does because the booking changed (the change itself is
audited as the staff member who made it)."""


def link_gone(room: Room, link_id: int, now: float) -> Effects:
    """link_gone takes out everyone who came by the link (the general link may have several)."""
    return _holders_go(room, lambda link: link.link_id == link_id, now)


def links_expired(room: Room, now: float) -> Effects:
    """links_expired takes out everyone who came by a link: the links' time is over
    (``Room.links_expire_at``, the meeting's end and its grace)."""
    return _holders_go(room, lambda link: True, now)


def _holders_go(room: Room, which: Callable[[LinkHolder], bool], now: float) -> Effects:
    """_holders_go sends ``link_gone`` to everyone who came by a link that which picks, and
    takes them out."""
    holders = [
        p for p in room.participants.values() if isinstance(p.identity, LinkHolder) and which(p.identity)
    ]
    message = {"type": "link_gone", "message": texts.LINK_GONE}
    effects: Effects = []
    for holder in holders:
        effects += send_away(room, SYSTEM, holder, "meeting.link_gone", message, now)
    return effects


def meeting_over(room: Room, reason: str, message: str) -> Effects:
    """meeting_over ends the live meeting for everyone: it was cancelled (reason ``cancelled``)
    or its protection was removed (``unprotected``)."""
    audit = Audit("meeting.ended", SYSTEM, {"reason": reason, "participants": room.admitted_count})
    return [audit, *end_for_everyone(room, {"type": "ended", "reason": reason, "message": message})]


def hosting_withdrawn(room: Room, username: str, now: float, text: str = texts.HOSTING_WITHDRAWN) -> Effects:
    """hosting_withdrawn sends the staff member away who may host no longer, telling them text:
    their invitation to host was removed (the organiser's own hosting is never withdrawn that
    way: it is not an invitation), or their account was deactivated (``texts.ACCOUNT_CLOSED``,
    the organiser too)."""
    message = {"type": "removed", "message": text}
    effects: Effects = []
    for p in [
        p
        for p in room.participants.values()
        if isinstance(p.identity, Staff) and p.identity.username == username
    ]:
        effects += send_away(room, SYSTEM, p, "meeting.hosting_withdrawn", message, now)
    return effects


def type_changed(room: Room, policy: RoomPolicy, now: float) -> Effects:
    """type_changed puts the new type's rules in force and sends every participant who is not
    a host away; they may come back under the new rules."""
    room.policy = policy
    message = {"type": "ended", "reason": "type_changed", "message": texts.TYPE_CHANGED}
    leaving = [p for p in room.participants.values() if not p.is_host]
    effects: Effects = []
    for p in leaving:
        effects += send_away(room, SYSTEM, p, "meeting.type_changed", message, now)
    # Those leaving are not told of each other's going: their connections are closing.
    gone = {p.conn for p in leaving}
    return [
        e for e in effects if not (isinstance(e, Send) and e.message is not message and set(e.to) <= gone)
    ]
