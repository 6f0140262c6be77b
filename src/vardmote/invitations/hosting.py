"""Hosting: who may open a meeting as its host.

The organiser may, and so may a colleague the organiser sent a staff invitation to
("Skicka anslutningslänk", recipient Personal) while that invitation is not removed. The
meeting pages and the meeting WebSocket both ask here, so the rule is written once. It
lives with the invitations because the staff invitation is what grants it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.errors import NotFound
from vardmote.invitations.models import MeetingRecipient
from vardmote.invitations.sending import RecipientKind
from vardmote.meetings.models import Meeting
from vardmote.meetings.service import MEETING_NOT_FOUND, find_meeting


def may_host(s: Session, meeting: Meeting, user: User) -> bool:
    """may_host tells whether user may host meeting: its organiser, or a colleague with a staff
    invitation to it that was not removed."""
    if meeting.organiser_id == user.id:
        return True
    invited = s.scalar(
        select(MeetingRecipient.id).where(
            MeetingRecipient.meeting_id == meeting.id,
            MeetingRecipient.kind == RecipientKind.STAFF.value,
            MeetingRecipient.user_id == user.id,
            MeetingRecipient.removed_at.is_(None),
        )
    )
    return invited is not None


def meeting_to_host(ctx: Context, s: Session, user: User, meeting_id: str) -> Meeting:
    """meeting_to_host is the meeting with meeting_id if user may host it (see may_host),
    cancelled or not; NotFound otherwise, with the same answer as for no meeting at all."""
    meeting = find_meeting(s, meeting_id)
    if meeting is None or not may_host(s, meeting, user):
        raise NotFound(MEETING_NOT_FOUND)
    return meeting
