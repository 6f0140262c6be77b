"""The countdown after the last host has left: started, stopped, run out, as pure state."""

from __future__ import annotations

import pytest

from vardmote.rooms.host_left import (
    Change,
    HostLeftCountdown,
    ended_message,
    host_left_message,
    host_returned_message,
)


def _started(at: float = 100.0, seconds: float = 60) -> HostLeftCountdown:
    countdown = HostLeftCountdown(seconds)
    assert (
        countdown.follow(hosts_were_present=True, hosts_present=False, guests=True, now=at) is Change.STARTED
    )
    return countdown


@pytest.mark.parametrize(
    ("hosts_were_present", "hosts_present", "guests", "expected"),
    [
        pytest.param(True, False, True, Change.STARTED, id="the-last-host-leaves-guests-stay"),
        pytest.param(True, False, False, None, id="the-last-host-leaves-nobody-else-is-in"),
        pytest.param(False, False, True, None, id="guests-without-a-host-from-the-start"),
        pytest.param(True, True, True, None, id="a-host-is-still-there"),
        pytest.param(False, True, True, None, id="a-host-comes-with-nothing-running"),
    ],
)
def test_it_starts_only_when_the_last_host_leaves_guests_behind(
    hosts_were_present: bool, hosts_present: bool, guests: bool, expected: Change | None
) -> None:
    countdown = HostLeftCountdown(60)
    change = countdown.follow(
        hosts_were_present=hosts_were_present, hosts_present=hosts_present, guests=guests, now=5.0
    )
    assert change is expected
    assert countdown.running is (expected is Change.STARTED)


def test_it_stops_when_a_host_returns() -> None:
    countdown = _started()
    assert (
        countdown.follow(hosts_were_present=False, hosts_present=True, guests=True, now=130) is Change.STOPPED
    )
    assert not countdown.running
    assert countdown.deadline() is None


def test_it_does_not_start_again_while_it_runs() -> None:
    countdown = _started(at=100)
    assert countdown.follow(hosts_were_present=True, hosts_present=False, guests=True, now=110) is None
    assert countdown.deadline() == 160


@pytest.mark.parametrize(
    ("now", "run_out", "left"),
    [
        pytest.param(100.0, False, 60, id="just-started"),
        pytest.param(130.2, False, 30, id="half-way-rounds-up"),
        pytest.param(159.9, False, 1, id="a-moment-before"),
        pytest.param(160.0, True, 0, id="exactly-at-the-deadline"),
        pytest.param(500.0, True, 0, id="long-after"),
    ],
)
def test_it_runs_out_at_its_deadline_and_counts_whole_seconds(now: float, run_out: bool, left: int) -> None:
    countdown = _started(at=100, seconds=60)
    assert countdown.has_run_out(now) is run_out
    assert countdown.seconds_left(now) == left


def test_it_never_runs_out_while_it_is_not_running() -> None:
    countdown = HostLeftCountdown(60)
    assert not countdown.has_run_out(10_000)
    assert countdown.seconds_left(10_000) == 0
    assert countdown.deadline() is None


def test_it_tells_guests_the_whole_countdown_in_seconds_when_it_starts() -> None:
    assert HostLeftCountdown(60).full_seconds() == 60
    assert HostLeftCountdown(59.5).full_seconds() == 60


def test_stopping_it_clears_the_deadline() -> None:
    countdown = _started()
    countdown.stop()
    assert not countdown.running
    assert not countdown.has_run_out(10_000)


def test_its_messages_follow_the_protocol() -> None:
    assert host_left_message(60) == {
        "type": "host_left",
        "seconds": 60,
        "message": "Vårdpersonalen har lämnat mötet. Mötet avslutas om 60 sekunder"
        " om ingen från vårdpersonalen kommer tillbaka.",
    }
    assert host_returned_message() == {"type": "host_returned"}
    assert ended_message() == {
        "type": "ended",
        "reason": "host_left",
        "message": "Vårdpersonalen har lämnat mötet, så mötet är avslutat.",
    }
