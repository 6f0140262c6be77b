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
