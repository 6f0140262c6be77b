"""Dropped connections, resuming, take-over, leaving and the host-left countdown."""

from __future__ import annotations

from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    HOST_LEFT_SECONDS,
    PATIENT,
    RECONNECT_SECONDS,
    Meeting,
    Person,
    audits,
    closed,
    errors,
    of,
    only_error,
    to,
)

from vardmote.rooms.effects import Audit, DestroyJanusRoom, Effect, JanusDetach, SetSubscriptions
from vardmote.rooms.participant import LinkHolder

COUNTDOWN = {
    "type": "host_left",
    "seconds": 60,
    "message": (
        "Vårdpersonalen har lämnat mötet. Mötet avslutas om 60 sekunder"
        " om ingen från vårdpersonalen kommer tillbaka."
    ),
}


def resume_token(effects: list[Effect], who: Person) -> str:
    """resume_token is the token the joined message gave who."""
    return str(to(effects, who, "joined")[0]["resume"])


def test_a_dropped_guest_resumes_within_the_window_still_admitted() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    pid = meeting.pid(PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": pid})
    effects = meeting.room.drop(PATIENT.conn, meeting.now)
    assert of(effects, JanusDetach) == [JanusDetach(pid)]
    assert to(effects, CLINICIAN, "participant")[0]["participant"]["connected"] is False
    assert meeting.later(RECONNECT_SECONDS - 1) == []
    effects = meeting.join(PATIENT, conn="david-2", resume=token)
    joined = to(effects, "david-2", "joined")[0]
    assert (joined["participant"], joined["state"], joined["resumed"]) == (pid, "admitted", True)
    assert joined["resume"] != token
    assert to(effects, "david-2", "lobby") == []
    assert to(effects, CLINICIAN, "participant")[0]["participant"]["connected"] is True
    assert audits(effects) == [
        Audit("meeting.resumed", "guest:11", {"participant": pid, "state": "admitted"})
    ]


def test_a_resumed_guest_gets_the_streams_again() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    meeting.room.stream_started(meeting.pid(CLINICIAN), "camera", meeting.now)
    meeting.room.drop(PATIENT.conn, meeting.now)
    effects = meeting.join(PATIENT, conn="david-2", resume=token)
    assert len(of(effects, SetSubscriptions)) == 1
    assert to(effects, "david-2", "streams")[0]["streams"] == [{"participant": "p1", "kind": "camera"}]


def test_a_guest_dropped_in_the_lobby_comes_back_to_the_lobby_in_their_place() -> None:
    meeting = Meeting()
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.join(GUARDIAN)
    meeting.room.drop(PATIENT.conn, meeting.now)
    effects = meeting.join(PATIENT, conn="david-2", resume=token)
    assert to(effects, "david-2", "joined")[0]["state"] == "lobby"
    assert list(meeting.room.participants) == ["p1", "p2"]


def test_after_the_window_a_dropped_guest_is_gone_and_starts_again_in_the_lobby() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    meeting.room.drop(PATIENT.conn, meeting.now)
    assert meeting.room.next_deadline() == RECONNECT_SECONDS
    effects = meeting.later(RECONNECT_SECONDS)
    assert to(effects, CLINICIAN, "participant") == [
        {"type": "participant", "change": "remove", "participant": {"id": "p2"}}
    ]
    assert audits(effects) == [
        Audit("meeting.left", "guest:11", {"participant": "p2", "reason": "connection_lost"})
    ]
    assert meeting.room.admitted_count == 1
    joined = to(meeting.join(PATIENT, conn="david-2", resume=token), "david-2", "joined")[0]
    assert (joined["state"], joined["resumed"]) == ("lobby", False)


def test_a_wrong_resume_token_is_an_ordinary_join() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.room.drop(PATIENT.conn, meeting.now)
    joined = to(meeting.join(PATIENT, conn="david-2", resume="guess"), "david-2", "joined")[0]
    assert (joined["state"], joined["resumed"]) == ("lobby", False)


def test_a_resume_token_works_only_for_its_own_link() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    joined = to(meeting.join(GUARDIAN, resume=token), GUARDIAN, "joined")[0]
    assert (joined["state"], joined["resumed"]) == ("lobby", False)


def test_a_second_connection_with_the_same_link_takes_over_and_the_old_one_is_told() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    old = meeting.pid(PATIENT)
    effects = meeting.join(PATIENT, conn="david-phone")
    assert to(effects, PATIENT) == [
        {
            "type": "taken_over",
            "message": "Du har anslutit till mötet i ett annat fönster eller på en annan enhet.",
        }
    ]
    assert closed(effects) == ["david"]
    assert JanusDetach(old) in effects
    assert audits(effects, "meeting.taken_over") == [
        Audit("meeting.taken_over", "guest:11", {"participant": old})
    ]
    # The new device does not inherit the admission: it waits in the lobby.
    assert to(effects, "david-phone", "joined")[0]["state"] == "lobby"
    assert [a["change"] for a in to(effects, CLINICIAN, "participant")] == ["remove", "add"]
    assert only_error(meeting.send(PATIENT, {"type": "raise_hand"}))[0] == "not_joined"
    assert meeting.room.drop(PATIENT.conn, meeting.now) == []


def test_resuming_on_a_new_connection_while_the_old_one_is_open_takes_over_the_place() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    effects = meeting.join(PATIENT, conn="david-2", resume=token)
    assert to(effects, PATIENT, "taken_over")
    assert closed(effects) == ["david"]
    assert to(effects, "david-2", "joined")[0]["state"] == "admitted"


def test_a_staff_member_in_a_second_tab_takes_over_as_host() -> None:
    meeting = Meeting("digitalt_vardmote")
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.join(CLINICIAN, conn="annika-tab-2")
    assert errors(effects) == []  # the limit of 2 counts the place being taken over as free
    assert to(effects, "annika-tab-2", "joined")[0]["state"] == "admitted"
    assert to(effects, PATIENT, "host_left") == []


def test_leaving_detaches_from_janus_and_tells_the_others() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.send(PATIENT, {"type": "leave"})
    assert of(effects, JanusDetach) == [JanusDetach("p2")]
    assert closed(effects) == ["david"]
    assert audits(effects) == [Audit("meeting.left", "guest:11", {"participant": "p2", "reason": "left"})]
    assert [a["change"] for a in to(effects, CLINICIAN, "participant")] == ["remove"]


def test_a_guest_may_leave_the_lobby() -> None:
    meeting = Meeting()
    meeting.join(PATIENT)
    effects = meeting.send(PATIENT, {"type": "leave"})
    assert closed(effects) == ["david"]
    assert of(effects, JanusDetach) == []
    assert effects[-1] == DestroyJanusRoom()


def test_the_last_host_leaving_starts_the_countdown() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    effects = meeting.send(CLINICIAN, {"type": "leave"})
    assert to(effects, PATIENT, "host_left") == [COUNTDOWN]
    assert to(effects, GUARDIAN, "host_left") == [COUNTDOWN]
    assert audits(effects, "meeting.host_left") == [Audit("meeting.host_left", "system", {"guests": 2})]
    assert meeting.room.next_deadline() == HOST_LEFT_SECONDS


def test_guests_are_removed_when_the_countdown_ends_and_the_lobby_keeps_waiting() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    meeting.send(CLINICIAN, {"type": "leave"})
    meeting.join(Person("olle", LinkHolder(77), "Olle"))
    assert meeting.later(HOST_LEFT_SECONDS - 1) == []
    effects = meeting.later(1)
    ended = {
        "type": "ended",
        "reason": "host_left",
        "message": "Vårdpersonalen har lämnat mötet, så mötet är avslutat.",
    }
    assert to(effects, PATIENT) == [ended]
    assert to(effects, GUARDIAN) == [ended]
    assert sorted(closed(effects)) == ["david", "maria"]
    assert audits(effects) == [Audit("meeting.host_left_timeout", "system", {"removed": 2})]
    assert [p.name for p in meeting.room.participants.values()] == ["Olle"]
    assert meeting.room.next_deadline() is None


def test_a_host_returning_in_time_stops_the_countdown() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "leave"})
    meeting.now += 30
    effects = meeting.join(COLLEAGUE)
    assert to(effects, PATIENT, "host_returned") == [{"type": "host_returned"}]
    assert meeting.later(HOST_LEFT_SECONDS) == []
    assert meeting.state(PATIENT) == "admitted"


def test_a_host_who_only_dropped_keeps_the_meeting_going_for_the_reconnect_window() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.room.drop(CLINICIAN.conn, meeting.now)
    assert to(effects, PATIENT, "host_left") == []
    effects = meeting.later(RECONNECT_SECONDS)
    assert to(effects, PATIENT, "host_left") == [COUNTDOWN]
    effects = meeting.later(HOST_LEFT_SECONDS)
    assert closed(effects) == ["david"]


def test_a_guest_who_resumes_during_the_countdown_is_told_the_seconds_left() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(PATIENT), PATIENT)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    meeting.send(CLINICIAN, {"type": "leave"})
    meeting.room.drop(PATIENT.conn, meeting.now)
    meeting.now += 20.5
    effects = meeting.join(PATIENT, conn="david-2", resume=token)
    assert to(effects, "david-2", "host_left")[0]["seconds"] == 40


def test_the_lobby_learns_when_the_last_host_leaves() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "leave"})
    assert to(effects, PATIENT) == [{"type": "lobby", "hosts_present": False}]
    assert audits(effects, "meeting.host_left") == []  # nobody admitted: no countdown


def test_the_janus_room_goes_when_the_room_empties() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    assert DestroyJanusRoom() not in meeting.send(PATIENT, {"type": "leave"})
    assert meeting.send(CLINICIAN, {"type": "leave"})[-1] == DestroyJanusRoom()
    assert meeting.room.is_empty


# ---- the general link is shared -------------------------------------------------------------------

SHARED_PATIENT = Person("david", LinkHolder(20, shared=True), "David")
SHARED_RELATIVE = Person("maria", LinkHolder(20, shared=True), "Maria")


def test_two_people_on_the_general_link_are_two_participants_and_neither_takes_over() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, SHARED_PATIENT)
    effects = meeting.join(SHARED_RELATIVE)
    assert not to(effects, SHARED_PATIENT, "taken_over")
    assert closed(effects) == []
    assert meeting.state(SHARED_PATIENT) == "admitted"
    assert meeting.state(SHARED_RELATIVE) == "lobby"
    assert meeting.pid(SHARED_PATIENT) != meeting.pid(SHARED_RELATIVE)


def test_on_the_general_link_the_resume_token_finds_the_right_person() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    token = resume_token(meeting.join(SHARED_PATIENT), SHARED_PATIENT)
    meeting.join(SHARED_RELATIVE)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(SHARED_PATIENT)})
    patient = meeting.pid(SHARED_PATIENT)
    effects = meeting.join(SHARED_PATIENT, conn="david-2", resume=token)
    joined = to(effects, "david-2", "joined")[0]
    assert (joined["participant"], joined["state"], joined["resumed"]) == (patient, "admitted", True)
    assert meeting.state(SHARED_RELATIVE) == "lobby"


def test_removing_someone_from_the_general_link_does_not_bar_the_others() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, SHARED_PATIENT)
    meeting.send(CLINICIAN, {"type": "remove", "participant": meeting.pid(SHARED_PATIENT)})
    joined = to(meeting.join(SHARED_RELATIVE), SHARED_RELATIVE, "joined")
    assert joined
    assert joined[0]["state"] == "lobby"
