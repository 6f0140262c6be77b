"""The participant limit: who counts, and one rule for entering on join and for "Tillåt"."""

from __future__ import annotations

import dataclasses

import pytest
from room_helpers import CLINICIAN, PATIENT, Meeting, errors, guest, only_error, policy_of

from vardmote.rooms.limits import counted, has_room_for
from vardmote.rooms.participant import LinkHolder, Participant, Staff, State
from vardmote.rooms.policy import Role, RoomPolicy


def _policy(limit: int | None) -> RoomPolicy:
    return dataclasses.replace(policy_of("vardmote_patient"), participant_limit=limit)


def _participant(n: int, state: State, *, connected: bool = True) -> Participant:
    return Participant(
        id=f"p{n}",
        identity=LinkHolder(n),
        role=Role.GUEST,
        name=f"Gäst {n}",
        state=state,
        resume_token=f"r{n}",
        conn=f"c{n}" if connected else None,
    )


@pytest.mark.parametrize(
    ("limit", "admitted", "freed", "expected"),
    [
        pytest.param(15, 0, 0, True, id="an-empty-meeting-has-room"),
        pytest.param(15, 14, 0, True, id="the-fifteenth-still-fits"),
        pytest.param(15, 15, 0, False, id="the-sixteenth-does-not-fit"),
        pytest.param(2, 2, 0, False, id="a-full-digitalt-vardmote"),
        pytest.param(15, 15, 1, True, id="taking-over-ones-own-admitted-place-frees-it"),
        pytest.param(1, 1, 0, False, id="a-limit-of-one-full"),
        pytest.param(None, 10_000, 0, True, id="no-limit-always-has-room"),
    ],
)
def test_it_tells_whether_one_more_fits_under_the_limit(
    limit: int | None, admitted: int, freed: int, expected: bool
) -> None:
    assert has_room_for(_policy(limit), admitted, freed=freed) is expected


def test_it_counts_the_admitted_and_the_dropped_but_not_the_lobby() -> None:
    people = [
        _participant(1, State.ADMITTED),
        _participant(2, State.ADMITTED, connected=False),
        _participant(3, State.LOBBY),
    ]
    assert counted(people) == 2


def test_it_counts_hosts_too() -> None:
    host = dataclasses.replace(
        _participant(1, State.ADMITTED), identity=Staff("annika", "Annika"), role=Role.HOST
    )
    assert counted([host, _participant(2, State.ADMITTED)]) == 2


def test_it_refuses_admission_when_the_meeting_is_full() -> None:
    meeting = Meeting("digitalt_vardmote")
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.join(guest(1))
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(guest(1))})
    assert only_error(effects) == ("meeting_full", "Mötet är fullt: högst 2 deltagare får vara med.")


def test_it_refuses_a_direct_entry_by_the_same_rule_as_admission() -> None:
    meeting = Meeting("internt")
    for n in range(50):
        meeting.join(dataclasses.replace(CLINICIAN, conn=f"c{n}", identity=Staff(f"u{n}", f"Personal {n}")))
    assert meeting.room.admitted_count == 50
    late = dataclasses.replace(CLINICIAN, conn="late", identity=Staff("sen", "Sen Personal"))
    assert only_error(meeting.join(late)) == (
        "meeting_full",
        "Mötet är fullt: högst 50 deltagare får vara med.",
    )


def test_it_lets_a_full_meeting_take_in_the_same_person_on_a_new_device() -> None:
    meeting = Meeting("digitalt_vardmote")
    meeting.admitted(CLINICIAN, PATIENT)
    assert not errors(meeting.join(CLINICIAN, conn="annika-phone"))
    assert meeting.room.admitted_count == 2
