"""Host commands: mutes, hands, removal, settings and "Avsluta mötet"; refused from guests."""

from __future__ import annotations

from typing import Any

import pytest
from room_helpers import (
    CHILD,
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    INTERPRETER,
    PATIENT,
    Meeting,
    audits,
    closed,
    errors,
    of,
    only_error,
    to,
)

from vardmote.rooms.effects import Audit, DestroyJanusRoom, JanusDetach, JanusMute

HOST_COMMANDS: list[Any] = [
    pytest.param({"type": "admit", "participant": "p1"}, id="admit"),
    pytest.param({"type": "deny", "participant": "p1"}, id="deny"),
    pytest.param({"type": "remove", "participant": "p1"}, id="remove"),
    pytest.param({"type": "mute", "participant": "p1"}, id="mute"),
    pytest.param({"type": "mute_all_guests"}, id="mute_all_guests"),
    pytest.param({"type": "lower_hand", "participant": "p1"}, id="lower_hand-of-another"),
    pytest.param({"type": "lock"}, id="lock"),
    pytest.param({"type": "unlock"}, id="unlock"),
    pytest.param({"type": "guests_may_unmute", "allowed": False}, id="guests_may_unmute"),
    pytest.param({"type": "give_floor", "participant": "p1"}, id="give_floor"),
    pytest.param({"type": "take_floor", "participant": "p1"}, id="take_floor"),
    pytest.param({"type": "end"}, id="end"),
]


@pytest.mark.parametrize("message", HOST_COMMANDS)
@pytest.mark.parametrize("sender", ["admitted", "lobby"])
def test_every_host_command_from_a_guest_is_refused(message: dict[str, Any], sender: str) -> None:
    meeting = Meeting("informationsmote_patient")
    meeting.admitted(CLINICIAN, GUARDIAN)
    meeting.join(PATIENT)
    who = GUARDIAN if sender == "admitted" else PATIENT
    before = {pid: p.entry() for pid, p in meeting.room.participants.items()}
    effects = meeting.send(who, message)
    assert only_error(effects) == ("not_allowed", "Bara en värd kan göra det.")
    assert errors(effects)[0].request == message["type"]
    # Not audited one by one: the connection audits its refusals once, with a count, as it closes
    # (vardmote.web.signalling; tests/media/test_bounds_signalling.py).
    assert audits(effects) == []
    assert {pid: p.entry() for pid, p in meeting.room.participants.items()} == before
    assert not meeting.room.locked
    assert not meeting.room.ended


def test_a_host_mutes_one_participant_in_janus() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    meeting.send(PATIENT, {"type": "media_state", "camera": True, "microphone": True})
    effects = meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(PATIENT)})
    assert of(effects, JanusMute) == [JanusMute(meeting.pid(PATIENT), muted=True)]
    assert to(effects, PATIENT, "muted") == [{"type": "muted", "by": "p1", "may_unmute": True}]
    seen = to(effects, GUARDIAN, "participant")[0]["participant"]
    assert (seen["microphone"], seen["host_muted"]) == (False, True)
    assert audits(effects) == [Audit("meeting.muted", "user:annika", {"participant": "guest:11"})]


def test_tysta_alla_gaster_mutes_every_guest_in_janus_but_no_host() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT, GUARDIAN, INTERPRETER)
    meeting.join(CHILD)  # in the lobby: not muted
    effects = meeting.send(CLINICIAN, {"type": "mute_all_guests"})
    muted = {e.participant_id for e in of(effects, JanusMute)}
    assert muted == {meeting.pid(p) for p in (PATIENT, GUARDIAN, INTERPRETER)}
    assert audits(effects) == [Audit("meeting.muted_all_guests", "user:annika", {"count": 3})]


def test_a_guest_cannot_unmute_when_guests_may_not_unmute() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "guests_may_unmute", "allowed": False})
    assert audits(effects) == [Audit("meeting.guests_may_unmute", "user:annika", {"allowed": False})]
    assert to(effects, PATIENT) == [{"type": "settings", "locked": False, "guests_may_unmute": False}]
    meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(PATIENT)})
    effects = meeting.send(PATIENT, {"type": "media_state", "camera": True, "microphone": True})
    assert only_error(effects) == (
        "not_allowed",
        "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv.",
    )
    assert of(effects, JanusMute) == []
    assert meeting.room.participants[meeting.pid(PATIENT)].host_muted


def test_a_guest_may_unmute_after_a_host_mute_when_guests_may_unmute() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(PATIENT)})
    effects = meeting.send(PATIENT, {"type": "media_state", "camera": True, "microphone": True})
    assert of(effects, JanusMute) == [JanusMute(meeting.pid(PATIENT), muted=False)]
    entry = to(effects, CLINICIAN, "participant")[0]["participant"]
    assert (entry["microphone"], entry["host_muted"]) == (True, False)


def test_a_guest_may_turn_the_camera_while_muted_but_not_the_microphone() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "guests_may_unmute", "allowed": False})
    meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(PATIENT)})
    effects = meeting.send(PATIENT, {"type": "media_state", "camera": False, "microphone": False})
    assert errors(effects) == []


def test_a_muted_host_may_always_unmute() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE)
    meeting.send(CLINICIAN, {"type": "guests_may_unmute", "allowed": False})
    effects = meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(COLLEAGUE)})
    assert to(effects, COLLEAGUE, "muted")[0]["may_unmute"] is True
    effects = meeting.send(COLLEAGUE, {"type": "media_state", "camera": True, "microphone": True})
    assert of(effects, JanusMute) == [JanusMute(meeting.pid(COLLEAGUE), muted=False)]


def test_a_host_mute_holds_on_a_camera_published_after_it() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(PATIENT)})
    effects = meeting.room.stream_started(meeting.pid(PATIENT), "camera", meeting.now)
    assert JanusMute(meeting.pid(PATIENT), muted=True) in effects


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        pytest.param(
            {"type": "mute", "participant": "p1"},
            "not_allowed",
            "Det går inte att göra med dig själv.",
            id="mute-self",
        ),
        pytest.param(
            {"type": "remove", "participant": "p1"},
            "not_allowed",
            "Det går inte att göra med dig själv.",
            id="remove-self",
        ),
        pytest.param(
            {"type": "mute", "participant": "p2"},
            "not_found",
            "Deltagaren är inte med i mötet.",
            id="mute-lobby",
        ),
        pytest.param(
            {"type": "mute", "participant": "p9"},
            "not_found",
            "Deltagaren är inte med i mötet.",
            id="mute-unknown",
        ),
        pytest.param(
            {"type": "remove", "participant": "p9"},
            "not_found",
            "Deltagaren är inte med i mötet.",
            id="remove-unknown",
        ),
        pytest.param(
            {"type": "lower_hand", "participant": "p9"},
            "not_found",
            "Deltagaren är inte med i mötet.",
            id="hand-unknown",
        ),
    ],
)
def test_host_commands_on_the_wrong_participant_are_refused(
    message: dict[str, Any], code: str, text: str
) -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    assert only_error(meeting.send(CLINICIAN, message)) == (code, text)


def test_raised_hands_form_a_queue_in_the_order_they_went_up() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN, INTERPRETER)
    for who in (GUARDIAN, INTERPRETER, PATIENT):
        meeting.now += 1
        meeting.send(who, {"type": "raise_hand"})
    meeting.now += 1
    effects = meeting.send(GUARDIAN, {"type": "raise_hand"})  # raising again keeps the place
    assert effects == []
    queue = [meeting.pid(p) for p in (GUARDIAN, INTERPRETER, PATIENT)]
    assert [p.id for p in meeting.room.hands_queue()] == queue
    effects = meeting.send(INTERPRETER, {"type": "lower_hand"})
    assert to(effects, CLINICIAN) == [{"type": "hands", "queue": [queue[0], queue[2]]}]
    assert to(effects, PATIENT) == [{"type": "hands", "queue": [queue[0], queue[2]]}]


def test_hands_raised_at_the_same_moment_keep_their_order() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    meeting.send(GUARDIAN, {"type": "raise_hand"})
    meeting.send(PATIENT, {"type": "raise_hand"})
    assert [p.id for p in meeting.room.hands_queue()] == [meeting.pid(GUARDIAN), meeting.pid(PATIENT)]


def test_a_host_can_lower_anyones_hand() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, {"type": "raise_hand"})
    effects = meeting.send(CLINICIAN, {"type": "lower_hand", "participant": meeting.pid(PATIENT)})
    assert to(effects, PATIENT) == [{"type": "hands", "queue": []}]
    assert meeting.room.hands_queue() == []


def test_a_newcomer_gets_the_hands_queue_with_the_meeting() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, {"type": "raise_hand"})
    effects = meeting.join(COLLEAGUE)
    assert to(effects, COLLEAGUE, "joined")[0]["hands"] == [meeting.pid(PATIENT)]
    assert to(effects, COLLEAGUE, "hands") == []


def test_removing_kicks_from_janus_closes_the_connection_and_bars_the_link() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    pid = meeting.pid(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "remove", "participant": pid})
    expected = "Vårdpersonalen har tagit bort dig från mötet."
    assert to(effects, PATIENT) == [{"type": "removed", "message": expected}]
    assert of(effects, JanusDetach) == [JanusDetach(pid)]
    assert closed(effects) == ["david"]
    assert audits(effects) == [Audit("meeting.removed", "user:annika", {"participant": "guest:11"})]
    assert to(effects, GUARDIAN, "participant") == [
        {"type": "participant", "change": "remove", "participant": {"id": pid}}
    ]
    again = meeting.join(PATIENT)
    assert only_error(again) == (
        "removed",
        "Du har tagits bort från mötet och kan inte ansluta igen med den här länken.",
    )
    assert closed(again) == ["david"]
    assert audits(again) == [Audit("meeting.join_refused", "guest:11", {"reason": "removed"})]


def test_removing_from_the_lobby_bars_the_link_too() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(CLINICIAN, {"type": "remove", "participant": meeting.pid(PATIENT)})
    assert of(effects, JanusDetach) == []
    assert only_error(meeting.join(PATIENT))[0] == "removed"


def test_avsluta_motet_ends_it_for_everyone_at_once() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT)
    meeting.join(GUARDIAN)
    effects = meeting.send(CLINICIAN, {"type": "end"})
    ended = {"type": "ended", "reason": "ended_by_host", "message": "Mötet är avslutat."}
    for who in (CLINICIAN, COLLEAGUE, PATIENT, GUARDIAN):
        assert to(effects, who) == [ended]
    assert sorted(closed(effects)) == ["annika", "bertil", "david", "maria"]
    assert len(of(effects, JanusDetach)) == 3
    assert effects[-1] == DestroyJanusRoom()
    assert audits(effects) == [Audit("meeting.ended", "user:annika", {"participants": 3})]
    assert meeting.room.is_empty
    assert meeting.room.ended


def test_after_the_end_guests_are_told_the_meeting_is_over_until_a_host_starts_it_again() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "end"})
    assert only_error(meeting.join(PATIENT)) == ("meeting_ended", "Mötet är avslutat.")
    assert errors(meeting.join(CLINICIAN)) == []
    assert not meeting.room.ended
    assert errors(meeting.join(PATIENT)) == []
    assert meeting.state(PATIENT) == "lobby"


def test_nothing_from_a_closed_connection_reaches_the_room() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "end"})
    assert only_error(meeting.send(PATIENT, {"type": "raise_hand"}))[0] == "not_joined"
    assert meeting.room.drop(PATIENT.conn, meeting.now) == []
