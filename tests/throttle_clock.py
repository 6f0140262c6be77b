"""A throttle's clock for tests: time that stands still until a test moves it, so that a
throttle's waits (Retry-After, the hour a streak is remembered) come out exact.

The staff sign-in's throttle (accounts.oidc_throttle) and the token endpoint's (clients.token)
each read their own utcnow; stop_clock puts a Clock in its place.
"""

from __future__ import annotations

import datetime as dt

import pytest

from vardmote.db import utcnow


class Clock:
    """Clock is a throttle's time: it stands still until moved."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def move(self, seconds: float) -> None:
        """move puts the clock seconds ahead."""
        self.now += dt.timedelta(seconds=seconds)


def stop_clock(monkeypatch: pytest.MonkeyPatch, utcnow_at: str) -> Clock:
    """stop_clock puts a Clock standing at the present in place of the function at utcnow_at (a
    dotted path, e.g. "vardmote.clients.token.utcnow") for the rest of the test."""
    clock = Clock()
    monkeypatch.setattr(utcnow_at, clock)
    return clock
