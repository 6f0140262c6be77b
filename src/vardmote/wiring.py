"""Wiring: which layer reacts to which domain event (see `vardmote.lib.events`).

Lower layers publish events without knowing who listens; this is the one place that
subscribes the higher layers, called by every Context as it is built (app, command line,
tests alike). A layer that reacts to events adds its ``subscribe`` call here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vardmote.invitations import updates

if TYPE_CHECKING:
    from vardmote.context import Context
    from vardmote.lib.events import EventBus


def subscribe_all(bus: EventBus[Context]) -> None:
    """subscribe_all subscribes every reacting layer to bus."""
    updates.subscribe(bus)
