"""The token bucket that limits messages per connection."""

from __future__ import annotations

import pytest

from vardmote.lib.ratelimit import TokenBucket


def test_it_allows_a_burst_and_then_refuses() -> None:
    bucket = TokenBucket(rate=1, burst=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]


def test_it_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2, burst=2)
    assert bucket.allow(0.0)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.1)
    assert bucket.allow(0.6)  # 0.5 s at 2/s is one token
    assert not bucket.allow(0.6)


def test_it_never_holds_more_than_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    bucket.allow(0.0)
    assert [bucket.allow(100.0) for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 5), (-1, 5), (1, 0.5)], ids=["zero-rate", "negative", "tiny"]
)
def test_it_refuses_a_nonsense_configuration(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="token bucket needs"):
        TokenBucket(rate=rate, burst=burst)
