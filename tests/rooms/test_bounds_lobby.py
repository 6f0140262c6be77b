"""The bound on a meeting's lobby, and host commands refused without an audit entry each."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    PATIENT,
    Meeting,
    Person,
    audits,
    closed,
    guest,
    only_error,
    policy_of,
    to,
)

from vardmote.rooms import host_commands, texts
from vardmote.rooms.errors import ErrorCode, error_frame
from vardmote.rooms.participant import LinkHolder
from vardmote.rooms.policy import RoomPolicy


def _capped(limit: int, policy: RoomPolicy | str = "vardmote_patient") -> Meeting:
    meeting = Meeting(policy)
    meeting.room.lobby_limit = limit
    return meeting


def test_one_guest_more_than_the_lobby_holds_is_refused_with_too_many() -> None:
    meeting = _capped(3)
    for n in range(3):
        assert to(meeting.join(guest(n)), guest(n), "joined")[0]["state"] == "lobby"
    effects = meeting.join(guest(3))
    assert only_error(effects) == ("too_many", texts.LOBBY_FULL)
    assert closed(effects) == ["guest3"]
    assert [a.details for a in audits(effects, "meeting.join_refused")] == [{"reason": "too_many"}]
    assert meeting.room.lobby_count == 3
    assert meeting.room.participant_for("guest3") is None


def test_a_place_in_the_lobby_frees_when_a_guest_is_let_in_and_hosts_never_wait() -> None:
    meeting = _capped(1)
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    assert only_error(meeting.join(GUARDIAN))[0] == "too_many"
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    assert to(meeting.join(GUARDIAN, conn="maria-2"), "maria-2", "joined")[0]["state"] == "lobby"
    assert to(meeting.join(COLLEAGUE), COLLEAGUE, "joined")[0]["state"] == "admitted"


def test_a_guest_already_waiting_who_connects_again_keeps_their_place() -> None:
    meeting = _capped(1)
    meeting.join(PATIENT)
    effects = meeting.join(PATIENT, conn="david-2")
    assert to(effects, "david-2", "joined")[0]["state"] == "lobby"
    assert meeting.room.lobby_count == 1


def test_everyone_on_the_general_link_counts_against_the_lobby() -> None:
    meeting = _capped(2)
    shared = LinkHolder(50, shared=True)
    for n in range(2):
        meeting.join(Person(f"g{n}", shared, f"Gäst {n}"))
    assert only_error(meeting.join(Person("g2", shared, "Gäst 2")))[0] == "too_many"


def test_where_guests_enter_directly_the_bound_does_not_apply() -> None:
    meeting = _capped(1, dataclasses.replace(policy_of("vardmote_patient"), guests_wait_in_lobby=False))
    for n in range(3):
        assert to(meeting.join(guest(n)), guest(n), "joined")[0]["state"] == "admitted"
    assert meeting.room.lobby_count == 0


@pytest.mark.parametrize("message", [{"type": "end"}, {"type": "lock"}, {"type": "mute_all_guests"}])
def test_a_refused_host_command_is_answered_but_not_audited_by_the_room(message: dict[str, Any]) -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, GUARDIAN)
    effects = meeting.send(GUARDIAN, message)
    assert only_error(effects) == ("not_allowed", texts.ONLY_HOSTS)
    assert audits(effects) == []
    sent = error_frame(ErrorCode.NOT_ALLOWED, texts.ONLY_HOSTS, message["type"])
    assert host_commands.refused_command(sent) == message["type"]


def test_only_the_refusal_of_a_host_command_counts_as_one() -> None:
    refused = host_commands.refused_command
    assert refused(error_frame(ErrorCode.NOT_ALLOWED, texts.NOT_ONESELF, "mute")) is None
    assert refused(error_frame(ErrorCode.NOT_ADMITTED, texts.ONLY_HOSTS, "end")) is None
    assert refused({"type": "chat", "message": texts.ONLY_HOSTS}) is None
