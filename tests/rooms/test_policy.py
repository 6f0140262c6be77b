"""RoomPolicy: the meeting-type table read into the rules of a live meeting."""

from __future__ import annotations

import re
from typing import Any

import pytest
from room_helpers import policy_of

from vardmote.meetings.models import MeetingType
from vardmote.meetings.types import DEFAULT_TYPES
from vardmote.rooms.policy import Role, RoomPolicy


@pytest.mark.parametrize(
    ("key", "limit", "lobby", "link_role", "anonymous", "full_resolution", "room_devices"),
    [
        ("vardmote_patient", 15, True, Role.GUEST, False, False, False),
        ("digitalt_vardmote", 2, True, Role.GUEST, False, False, False),
        ("informationsmote_patient", 100, True, Role.GUEST, True, False, False),
        ("internt", 50, False, None, False, False, False),
        ("vardrum", 15, True, Role.GUEST, False, False, True),
        ("mdk", 15, True, Role.GUEST, False, True, False),
    ],
)
def test_each_default_type_gives_the_policy_of_the_specification(
    key: str,
    limit: int,
    lobby: bool,
    link_role: Role | None,
    anonymous: bool,
    full_resolution: bool,
    room_devices: bool,
) -> None:
    assert policy_of(key) == RoomPolicy(limit, lobby, link_role, anonymous, full_resolution, room_devices)


def test_it_reads_a_meeting_type_row_of_the_database() -> None:
    row = next(r for r in DEFAULT_TYPES if r["key"] == "informationsmote_patient")
    meeting_type = MeetingType(**{**row, "participant_limit": 250})
    policy = RoomPolicy.from_meeting_type(meeting_type)
    assert policy.participant_limit == 250
    assert policy.anonymous


def test_a_type_without_guest_links_lets_no_link_in_whatever_who_may_join_says() -> None:
    row = {**DEFAULT_TYPES[0], "has_guest_link": False}
    assert RoomPolicy.from_mapping(row).link_role is None


def test_the_client_sees_the_policy_it_needs() -> None:
    assert policy_of("mdk").client_view() == {
        "participant_limit": 15,
        "lobby": True,
        "anonymous": False,
        "content_sharing": "full_resolution",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"lobby_rule": "sometimes"},
            "meeting type lobby_rule must be one of ['guests_wait', 'none'], got 'sometimes'",
            id="lobby-rule",
        ),
        pytest.param(
            {"who_may_join": "everyone"},
            "meeting type who_may_join must be one of "
            "['staff_and_guests', 'staff_and_room_device', 'staff_only'], got 'everyone'",
            id="who-may-join",
        ),
        pytest.param(
            {"content_sharing": "8k"},
            "meeting type content_sharing must be one of ['full_resolution', 'standard'], got '8k'",
            id="content-sharing",
        ),
        pytest.param(
            {"participant_limit": 0}, "participant_limit must be at least 1 or None, got 0", id="zero-limit"
        ),
    ],
)
def test_it_refuses_a_row_it_does_not_understand(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        RoomPolicy.from_mapping({**DEFAULT_TYPES[0], **change})
    assert str(raised.value) == message


def test_a_link_can_never_make_a_host() -> None:
    with pytest.raises(ValueError, match="a guest link can never make a host"):
        RoomPolicy(15, True, Role.HOST, False, False, False)
