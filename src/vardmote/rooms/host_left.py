"""Host left: the countdown that ends a meeting its hosts have all left.

The rule (docs/protocol.md, ``host_left``): when the last admitted host goes
while guests are in the meeting, a countdown of ``host_left_seconds`` starts
and the guests are told how long they have; when a host comes back it stops;
when it runs out the meeting ends for the guests.

:class:`HostLeftCountdown` is pure state: it reads no clock (``now`` is
passed in) and schedules nothing. The room asks it what happens and says so
in effects; the I/O edge (:mod:`.live`) wakes the room at its deadline.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from vardmote.rooms import texts


class Change(Enum):
    """Change is what a change in who is present did to the countdown."""

    STARTED = "started"
    STOPPED = "stopped"


class HostLeftCountdown:
    """HostLeftCountdown is one room's countdown after the last host has left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        """How long guests may stay without a host (``VARDMOTE_HOST_LEFT_SECONDS``)."""
        self.since: float | None = None
        """When the last host left; None while the countdown is not running."""

    @property
    def running(self) -> bool:
        """running tells whether the countdown has started and neither stopped nor run out."""
        return self.since is not None

    def follow(
        self, *, hosts_were_present: bool, hosts_present: bool, guests: bool, now: float
    ) -> Change | None:
        """follow starts or stops the countdown after the people in the meeting changed.

        It starts when the hosts were present and no longer are while guests
        are admitted; it stops when a host is present again.
        """
        if hosts_were_present and not hosts_present and guests and self.since is None:
            self.since = now
            return Change.STARTED
        if hosts_present and self.since is not None:
            self.since = None
            return Change.STOPPED
        return None

    def stop(self) -> None:
        """stop stops the countdown (it ran out, or the meeting ended)."""
        self.since = None

    def deadline(self) -> float | None:
        """deadline is when the countdown runs out, or None while it is not running."""
        return None if self.since is None else self.since + self.seconds

    def has_run_out(self, now: float) -> bool:
        """has_run_out tells whether the countdown is running and its time is up."""
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def full_seconds(self) -> int:
        """full_seconds is the whole countdown in seconds, as guests are told when it starts."""
        return math.ceil(self.seconds)

    def seconds_left(self, now: float) -> int:
        """seconds_left is what remains in whole seconds (0 once it has run out), e.g. for a resumed guest."""
        deadline = self.deadline()
        return 0 if deadline is None else max(0, math.ceil(deadline - now))


def host_left_message(seconds: int) -> dict[str, Any]:
    """host_left_message tells admitted guests the hosts have gone and how long the meeting lasts."""
    return {"type": "host_left", "seconds": seconds, "message": texts.host_left(seconds)}


def host_returned_message() -> dict[str, Any]:
    """host_returned_message tells the admitted that a host is back and the countdown stopped."""
    return {"type": "host_returned"}


def ended_message() -> dict[str, Any]:
    """ended_message tells each guest that the countdown ran out and the meeting is over."""
    return {"type": "ended", "reason": "host_left", "message": texts.ENDED_HOST_LEFT}
