"""Updates: what the meeting's recipients are told when the meeting changes.

The invitations layer reacts to the meetings layer's events (`vardmote.meetings.events`) with
in-transaction handlers, so an update is guarded and sent in the transaction of the change:
a title the personal-data guard refuses raises InvalidInput and the change is not saved.

| event                                      | recipients get                                  |
|--------------------------------------------|-------------------------------------------------|
| MeetingChanged                             | an update; inbox messages unread again          |
| MeetingCancelled, MeetingTypeRemoved       | a CANCEL; every link withdrawn                  |
| MeetingTypeChosen, to a type without guest links | guests a CANCEL; staff keep their invitation |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from vardmote.invitations import sending
from vardmote.meetings.events import MeetingCancelled, MeetingChanged, MeetingTypeChosen, MeetingTypeRemoved
from vardmote.meetings.models import Meeting

if TYPE_CHECKING:
    from vardmote.context import Context
    from vardmote.lib.events import EventBus


def subscribe(bus: EventBus[Context]) -> None:
    """subscribe adds the invitations' handlers of meeting events to bus (in-transaction)."""
    bus.handle(MeetingChanged, _changed)
    bus.handle(MeetingTypeChosen, _type_chosen)
    bus.handle(MeetingTypeRemoved, _cancelled)
    bus.handle(MeetingCancelled, _cancelled)


def _meeting(s: Session, meeting_id: str) -> Meeting:
    meeting = s.get(Meeting, meeting_id)
    assert meeting is not None, "published inside the transaction that holds the meeting"
    return meeting


def _changed(ctx: Context, s: Session, event: MeetingChanged) -> None:
    sending.meeting_changed(ctx, s, _meeting(s, event.meeting_id), event.actor)


def _type_chosen(ctx: Context, s: Session, event: MeetingTypeChosen) -> None:
    meeting = _meeting(s, event.meeting_id)
    if meeting.meeting_type is not None and not meeting.meeting_type.has_guest_link:
        sending.meeting_cancelled(ctx, s, meeting, event.actor, guests_only=True)


def _cancelled(ctx: Context, s: Session, event: MeetingCancelled | MeetingTypeRemoved) -> None:
    sending.meeting_cancelled(ctx, s, _meeting(s, event.meeting_id), event.actor)
