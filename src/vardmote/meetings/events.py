"""Meeting events: what the meetings layer tells the layers above it (see `vardmote.lib.events`).

They are published by `vardmote.meetings.service` and `vardmote.meetings.links` inside the
transaction of the change, at the point where the change's own audit entry is written, so
that in-transaction handlers see the meeting as the docstrings below say. Names follow the
audit actions. ``actor`` is the audit actor who made the change (``user:<name>``), for the
handlers' own audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from vardmote.lib.events import DomainEvent, event


@event("meeting.changed")
@dataclass(frozen=True)
class MeetingChanged(DomainEvent):
    """MeetingChanged: the title, times or participants of one meeting changed.

    Published after the meeting holds its new values and SEQUENCE.
    """

    meeting_id: str
    actor: str


@event("meeting.type_chosen")
@dataclass(frozen=True)
class MeetingTypeChosen(DomainEvent):
    """MeetingTypeChosen: a meeting was made protected ("Skapa möte") or got another type
    ("Välj om mötestyp"). ``from_type`` is None when it was an ordinary calendar entry.

    Published after the meeting holds its new type, before its links follow it (revoked when
    the new type has no guest links, a general link made when one is missing).
    """

    meeting_id: str
    actor: str
    from_type: str | None
    to_type: str


@event("meeting.type_removed")
@dataclass(frozen=True)
class MeetingTypeRemoved(DomainEvent):
    """MeetingTypeRemoved: "Ta bort möte", the meeting's protection was removed; it stays an
    ordinary calendar entry.

    Published as the removal starts: the meeting still has its type and links then.
    """

    meeting_id: str
    actor: str


@event("meeting.cancelled")
@dataclass(frozen=True)
class MeetingCancelled(DomainEvent):
    """MeetingCancelled: one meeting (or one occurrence of a series) was cancelled ("Avboka").

    Published as the cancellation starts: the meeting is not yet marked cancelled and its
    links still work then.
    """

    meeting_id: str
    actor: str


@event("link.revoked")
@dataclass(frozen=True)
class LinkRevoked(DomainEvent):
    """LinkRevoked: one guest link stopped working (revoked on its own, renewed, or with its
    meeting). Published after the link is marked revoked."""

    meeting_id: str
    link_id: int
    actor: str
