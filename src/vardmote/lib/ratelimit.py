"""Rate limit: a token bucket, for messages on one connection.

Pure: the caller passes the time (monotonic seconds), so tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """TokenBucket allows ``burst`` events at once and ``rate`` per second on average."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {self.rate}, {self.burst}")
        self.tokens = self.burst

    def allow(self, now: float) -> bool:
        """allow takes one token if there is one; False means the event must be refused."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
