"""Joining, the lobby, admission and the participant limit."""

from __future__ import annotations

import pytest
from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    INTERPRETER,
    PATIENT,
    Meeting,
    Person,
    audits,
    closed,
    errors,
    guest,
    only_error,
    policy_of,
    to,
)

from vardmote.rooms.effects import Audit, CloseConnection, JanusDetach, Send
from vardmote.rooms.participant import LinkHolder
from vardmote.rooms.policy import RoomPolicy


def test_a_guest_waits_in_the_lobby_and_is_told_whether_a_host_is_there() -> None:
    meeting = Meeting()
    effects = meeting.join(PATIENT)
    joined = to(effects, PATIENT, "joined")[0]
    assert joined["state"] == "lobby"
    assert joined["role"] == "guest"
    assert joined["participants"] == [meeting.room.participants["p1"].entry()]
    assert joined["policy"] == {
        "participant_limit": 15,
        "lobby": True,
        "anonymous": False,
        "content_sharing": "standard",
    }
    assert to(effects, PATIENT, "lobby") == [{"type": "lobby", "hosts_present": False}]
    assert audits(effects) == [Audit("meeting.joined", "guest:11", {"participant": "p1", "state": "lobby"})]


def test_a_host_enters_directly_and_sees_the_lobby() -> None:
    meeting = Meeting()
    meeting.join(PATIENT)
    effects = meeting.join(CLINICIAN)
    joined = to(effects, CLINICIAN, "joined")[0]
    assert (joined["state"], joined["role"]) == ("admitted", "host")
    assert [(p["name"], p["state"]) for p in joined["participants"]] == [
        ("David", "lobby"),
        ("Annika Berg", "admitted"),
    ]
    assert to(effects, PATIENT) == [{"type": "lobby", "hosts_present": True}]
    assert audits(effects)[0].actor == "user:annika"


def test_several_hosts_enter_directly_and_see_each_other() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    effects = meeting.join(COLLEAGUE)
    assert meeting.state(COLLEAGUE) == "admitted"
    added = to(effects, CLINICIAN, "participant")
    assert [(a["change"], a["participant"]["name"]) for a in added] == [("add", "Bertil Ek")]


def test_the_hosts_see_a_guest_arrive_in_the_lobby_and_no_guest_does() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, GUARDIAN)
    effects = meeting.join(PATIENT)
    assert [a["change"] for a in to(effects, CLINICIAN, "participant")] == ["add"]
    assert to(effects, GUARDIAN) == []


def test_tillat_admits_the_guest_who_then_sees_the_meeting() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, GUARDIAN)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    admitted = to(effects, PATIENT, "admitted")[0]
    assert [p["name"] for p in admitted["participants"]] == ["Annika Berg", "Maria", "David"]
    assert [(a["change"], a["participant"]["id"]) for a in to(effects, GUARDIAN, "participant")] == [
        ("add", "p3")
    ]
    assert [a["change"] for a in to(effects, CLINICIAN, "participant")] == ["update"]
    assert audits(effects) == [Audit("meeting.admitted", "user:annika", {"participant": "guest:11"})]
    assert meeting.state(PATIENT) == "admitted"


def test_neka_turns_the_guest_away_plainly() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "deny", "participant": meeting.pid(PATIENT)})
    expected = "Vårdpersonalen har inte släppt in dig i mötet."
    assert to(effects, PATIENT) == [{"type": "denied", "message": expected}]
    assert closed(effects) == ["david"]
    assert audits(effects) == [Audit("meeting.denied", "user:annika", {"participant": "guest:11"})]
    assert [a["change"] for a in to(effects, CLINICIAN, "participant")] == ["remove"]
    assert not any(isinstance(e, JanusDetach) for e in effects)
    assert errors(meeting.join(PATIENT)) == []  # a denied link may knock again


@pytest.mark.parametrize("command", ["admit", "deny"])
def test_admit_and_deny_need_someone_in_the_lobby(command: str) -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    for target in [meeting.pid(PATIENT), "p99"]:
        effects = meeting.send(CLINICIAN, {"type": command, "participant": target})
        assert only_error(effects) == ("not_found", "Deltagaren väntar inte i lobbyn.")


def test_an_internal_meeting_lets_no_link_in() -> None:
    meeting = Meeting("internt")
    meeting.join(CLINICIAN)
    effects = meeting.join(PATIENT)
    assert only_error(effects) == ("not_allowed", "Det här mötet är bara för inloggad personal.")
    assert closed(effects) == ["david"]
    assert audits(effects) == [Audit("meeting.join_refused", "guest:11", {"reason": "not_allowed"})]
    assert meeting.room.admitted_count == 1


def test_an_internal_meeting_has_no_lobby_for_staff() -> None:
    meeting = Meeting("internt")
    meeting.join(COLLEAGUE)
    assert meeting.state(COLLEAGUE) == "admitted"


def test_a_guest_link_of_a_vardrum_is_a_guest_from_home_not_the_room_device() -> None:
    meeting = Meeting("vardrum")
    effects = meeting.join(PATIENT)
    assert to(effects, PATIENT, "joined")[0]["role"] == "guest"
    assert audits(effects)[0].actor == "guest:11"
    assert meeting.state(PATIENT) == "lobby"


def full_meeting(policy: RoomPolicy | str, admitted: int) -> Meeting:
    """full_meeting is a meeting with the clinician and admitted - 1 guests in it."""
    meeting = Meeting(policy)
    meeting.admitted(CLINICIAN, *[guest(n) for n in range(admitted - 1)])
    assert meeting.room.admitted_count == admitted
    return meeting


@pytest.mark.parametrize(
    ("policy", "limit"),
    [
        pytest.param("vardmote_patient", 15, id="vardmote_patient-15"),
        pytest.param("digitalt_vardmote", 2, id="digitalt_vardmote-2"),
        pytest.param("mdk", 15, id="mdk-15"),
        pytest.param(
            RoomPolicy(3, True, policy_of("vardmote_patient").link_role, True, False, False),
            3,
            id="configured-3",
        ),
    ],
)
def test_tillat_is_refused_with_the_reason_at_the_limit(policy: RoomPolicy | str, limit: int) -> None:
    meeting = full_meeting(policy, limit)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    assert only_error(effects) == ("meeting_full", f"Mötet är fullt: högst {limit} deltagare får vara med.")
    assert audits(effects) == [
        Audit(
            "meeting.admit_refused",
            "user:annika",
            {"participant": "guest:11", "reason": "meeting_full", "limit": limit},
        )
    ]
    assert meeting.state(PATIENT) == "lobby"


def test_the_lobby_is_not_limited_by_the_participant_limit() -> None:
    meeting = full_meeting("digitalt_vardmote", 2)
    for n in range(10, 30):
        assert errors(meeting.join(guest(n))) == []
    assert sum(p.state == "lobby" for p in meeting.room.participants.values()) == 20


def test_a_place_freed_by_someone_leaving_can_be_given_again() -> None:
    meeting = full_meeting("digitalt_vardmote", 2)
    meeting.join(PATIENT)
    meeting.send(guest(0), {"type": "leave"})
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    assert errors(effects) == []


def test_a_dropped_participant_keeps_counting_against_the_limit() -> None:
    meeting = full_meeting("digitalt_vardmote", 2)
    meeting.room.drop(guest(0).conn, meeting.now)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    assert only_error(effects)[0] == "meeting_full"


def test_hosts_count_too_and_a_host_is_refused_at_the_limit() -> None:
    meeting = full_meeting("digitalt_vardmote", 2)
    effects = meeting.join(COLLEAGUE)
    assert only_error(effects) == ("meeting_full", "Mötet är fullt: högst 2 deltagare får vara med.")
    assert closed(effects) == ["bertil"]


def test_without_a_lobby_a_link_enters_directly_but_not_beyond_the_limit() -> None:
    policy = RoomPolicy(2, False, policy_of("vardmote_patient").link_role, False, False, False)
    meeting = Meeting(policy)
    meeting.join(CLINICIAN)
    assert to(meeting.join(PATIENT), PATIENT, "joined")[0]["state"] == "admitted"
    assert only_error(meeting.join(GUARDIAN)) == (
        "meeting_full",
        "Mötet är fullt: högst 2 deltagare får vara med.",
    )


def test_a_locked_meeting_refuses_new_guests_a_place_in_the_lobby_but_not_staff() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, GUARDIAN)
    effects = meeting.send(CLINICIAN, {"type": "lock"})
    assert audits(effects) == [Audit("meeting.locked", "user:annika", {})]
    assert to(effects, GUARDIAN) == [{"type": "settings", "locked": True, "guests_may_unmute": True}]
    refused = meeting.join(PATIENT)
    assert only_error(refused) == ("locked", "Mötet är låst. Det går inte att ansluta just nu.")
    assert closed(refused) == ["david"]
    assert audits(refused) == [Audit("meeting.join_refused", "guest:11", {"reason": "locked"})]
    assert errors(meeting.join(COLLEAGUE)) == []
    meeting.send(CLINICIAN, {"type": "unlock"})
    assert errors(meeting.join(PATIENT)) == []


def test_locking_twice_changes_nothing_and_audits_once() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.send(CLINICIAN, {"type": "lock"})
    effects = meeting.send(CLINICIAN, {"type": "lock"})
    assert audits(effects) == []
    assert to(effects, CLINICIAN) == [{"type": "settings", "locked": True, "guests_may_unmute": True}]


def test_a_guest_without_a_name_is_refused() -> None:
    meeting = Meeting()
    effects = meeting.room.join("x", INTERPRETER.identity, None, 0.0)
    assert only_error(effects) == ("bad_message", "Skriv ditt namn med högst 60 tecken.")
    assert effects[-1] == CloseConnection("x", "refused")


def test_a_second_join_on_one_connection_is_refused() -> None:
    meeting = Meeting()
    meeting.join(PATIENT)
    assert only_error(meeting.join(GUARDIAN, conn=PATIENT.conn)) == (
        "already_joined",
        "Du är redan ansluten till mötet.",
    )
    assert (
        only_error(meeting.send(PATIENT, {"type": "join", "link": "x", "name": "D"}))[0] == "already_joined"
    )


def test_messages_before_joining_are_refused() -> None:
    meeting = Meeting()
    effects = meeting.send("stranger", {"type": "chat", "text": "hej"})
    assert only_error(effects) == ("not_joined", "Anslut till mötet först.")


def test_sends_only_go_to_connections() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.send(PATIENT, {"type": "media_state", "camera": True, "microphone": True})
    assert all(isinstance(e, Send) and all(isinstance(c, str) for c in e.to) for e in effects)


def test_hosts_see_what_a_lobby_arrival_was_invited_as_and_other_guests_do_not() -> None:
    invited = Person("farmor", LinkHolder(21, invited_as="Närstående 2"), "Karin")
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.join(invited)
    (to_host,) = to(effects, CLINICIAN, "participant")
    assert to_host["participant"]["invited_as"] == "Närstående 2"
    assert to_host["participant"]["state"] == "lobby"
    joined = to(effects, invited, "joined")[0]
    assert all("invited_as" not in p for p in joined["participants"])
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(invited)})
    effects = meeting.send(invited, {"type": "media_state", "camera": True, "microphone": True})
    (to_patient,) = to(effects, PATIENT, "participant")
    assert "invited_as" not in to_patient["participant"]
    assert to(effects, CLINICIAN, "participant")[0]["participant"]["invited_as"] == "Närstående 2"
    snapshot = to(meeting.join(COLLEAGUE), COLLEAGUE, "joined")[0]
    assert {p["name"]: p.get("invited_as") for p in snapshot["participants"]}["Karin"] == "Närstående 2"
