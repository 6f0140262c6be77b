"""Invitation events: what the invitations layer tells the layers above it (see `vardmote.lib.events`).

Published inside the transaction of the change, like the meeting events.
"""

from __future__ import annotations

from dataclasses import dataclass

from vardmote.lib.events import DomainEvent, event


@event("hosting.withdrawn")
@dataclass(frozen=True)
class HostingWithdrawn(DomainEvent):
    """HostingWithdrawn: a colleague's staff invitation to a meeting was removed ("Ta bort"), so
    they may no longer host it. ``username`` is their account's; ``actor`` who removed it."""

    meeting_id: str
    username: str
    actor: str


@event("hosting.account_closed")
@dataclass(frozen=True)
class HostAccountClosed(DomainEvent):
    """HostAccountClosed: a staff member in a live meeting has an account that may be used no
    more (deactivated, or gone), so they may no longer host it. Found by the live meetings'
    account watch (vardmote.web.live_booking), not published by a transaction; ``actor`` is
    that watch's."""

    meeting_id: str
    username: str
    actor: str


@event("mail.queued")
@dataclass(frozen=True)
class MailQueued(DomainEvent):
    """MailQueued: an e-mail of the meeting was written to the outbox; after commit the process's
    outbox worker is woken to send it (`vardmote.invitations.outbox`)."""

    meeting_id: str
