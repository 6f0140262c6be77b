"""Informationsmöte patient: anonymous participation, the floor, chat to hosts only."""

from __future__ import annotations

from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    INTERPRETER,
    PATIENT,
    Meeting,
    Person,
    audits,
    of,
    only_error,
    to,
)

from vardmote.rooms.effects import Audit, JanusOffer, JanusUnpublish, SetSubscriptions, StreamRef
from vardmote.rooms.participant import LinkHolder
from vardmote.rooms.visibility import visible_participants

SDP = "v=0\r\n"


def lecture() -> Meeting:
    """lecture is an information meeting with two hosts and three admitted attendees."""
    meeting = Meeting("informationsmote_patient")
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT, GUARDIAN, INTERPRETER)
    return meeting


def names_seen_by(meeting: Meeting, who: Person) -> list[str]:
    viewer = meeting.room.participants[meeting.pid(who)]
    return [
        p.name for p in visible_participants(meeting.room.policy, meeting.room.participants.values(), viewer)
    ]


def test_attendees_see_only_the_hosts_and_themselves() -> None:
    meeting = lecture()
    assert names_seen_by(meeting, PATIENT) == ["Annika Berg", "Bertil Ek", "David"]
    assert names_seen_by(meeting, GUARDIAN) == ["Annika Berg", "Bertil Ek", "Maria"]


def test_hosts_see_every_attendee() -> None:
    meeting = lecture()
    assert names_seen_by(meeting, CLINICIAN) == ["Annika Berg", "Bertil Ek", "David", "Maria", "Sara, tolk"]


def test_an_attendee_is_admitted_to_a_list_of_hosts_and_no_other_attendee_hears_of_it() -> None:
    meeting = lecture()
    effects = meeting.join(Person("olle", LinkHolder(99), "Olle"))
    effects += meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid("olle")})
    admitted = to(effects, "olle", "admitted")[0]
    assert [p["name"] for p in admitted["participants"]] == ["Annika Berg", "Bertil Ek", "Olle"]
    for attendee in (PATIENT, GUARDIAN, INTERPRETER):
        assert to(effects, attendee) == []
    assert [a["change"] for a in to(effects, COLLEAGUE, "participant")] == ["add", "update"]


def test_an_attendee_publishes_nothing_without_the_floor() -> None:
    meeting = lecture()
    text = "I det här mötet sänds ditt ljud och din bild bara när en värd ger dig ordet."
    for message in (
        {"type": "offer", "pc": "publisher", "sdp": SDP},
        {"type": "candidate", "pc": "publisher", "candidate": None},
        {"type": "share_start"},
    ):
        assert only_error(meeting.send(PATIENT, message)) == ("not_allowed", text)
    assert meeting.room.stream_started(meeting.pid(PATIENT), "camera", 0.0) == [
        JanusUnpublish(meeting.pid(PATIENT), "camera")
    ]


def test_an_attendee_may_still_receive_the_hosts() -> None:
    meeting = lecture()
    effects = meeting.send(PATIENT, {"type": "answer", "pc": "subscriber", "sdp": SDP})
    assert [type(e).__name__ for e in effects] == ["JanusAnswer"]


def test_the_floor_lets_an_attendee_publish_to_the_hosts_only() -> None:
    meeting = lecture()
    pid = meeting.pid(PATIENT)
    meeting.send(PATIENT, {"type": "raise_hand"})
    effects = meeting.send(CLINICIAN, {"type": "give_floor", "participant": pid})
    assert to(effects, PATIENT, "floor") == [{"type": "floor", "granted": True}]
    assert audits(effects) == [Audit("meeting.floor_given", "user:annika", {"participant": "guest:11"})]
    assert meeting.room.hands_queue() == []
    effects = meeting.send(PATIENT, {"type": "offer", "pc": "publisher", "sdp": SDP})
    assert effects == [JanusOffer(pid, "publisher", SDP)]
    effects = meeting.room.stream_started(pid, "camera", meeting.now)
    receivers = {
        e.participant_id for e in of(effects, SetSubscriptions) if StreamRef(pid, "camera") in e.streams
    }
    assert receivers == {meeting.pid(CLINICIAN), meeting.pid(COLLEAGUE)}
    assert to(effects, GUARDIAN) == []


def test_taking_the_floor_stops_the_attendees_streams() -> None:
    meeting = lecture()
    pid = meeting.pid(PATIENT)
    meeting.send(CLINICIAN, {"type": "give_floor", "participant": pid})
    meeting.send(PATIENT, {"type": "share_start"})
    meeting.room.stream_started(pid, "camera", meeting.now)
    meeting.room.stream_started(pid, "screen", meeting.now)
    effects = meeting.send(COLLEAGUE, {"type": "take_floor", "participant": pid})
    assert of(effects, JanusUnpublish) == [JanusUnpublish(pid, "camera"), JanusUnpublish(pid, "screen")]
    assert to(effects, PATIENT, "floor") == [{"type": "floor", "granted": False}]
    assert to(effects, CLINICIAN, "streams") == [{"type": "streams", "streams": []}]
    assert audits(effects) == [Audit("meeting.floor_taken", "user:bertil", {"participant": "guest:11"})]
    assert (
        only_error(meeting.send(PATIENT, {"type": "offer", "pc": "publisher", "sdp": SDP}))[0]
        == "not_allowed"
    )


def test_attendee_chat_goes_to_the_hosts_only() -> None:
    meeting = lecture()
    effects = meeting.send(PATIENT, {"type": "chat", "text": "Hur ofta ska jag ta medicinen?"})
    chat = {
        "type": "chat",
        "from": meeting.pid(PATIENT),
        "name": "David",
        "role": "guest",
        "text": "Hur ofta ska jag ta medicinen?",
        "to_hosts": True,
    }
    for who in (CLINICIAN, COLLEAGUE, PATIENT):
        assert to(effects, who) == [chat]
    assert to(effects, GUARDIAN) == []
    assert to(effects, INTERPRETER) == []


def test_host_chat_goes_to_everyone() -> None:
    meeting = lecture()
    effects = meeting.send(CLINICIAN, {"type": "chat", "text": "Välkomna!"})
    for who in (CLINICIAN, COLLEAGUE, PATIENT, GUARDIAN, INTERPRETER):
        assert to(effects, who, "chat")[0]["to_hosts"] is False


def test_attendees_see_only_the_hosts_hands() -> None:
    meeting = lecture()
    meeting.send(GUARDIAN, {"type": "raise_hand"})
    effects = meeting.send(PATIENT, {"type": "raise_hand"})
    assert to(effects, PATIENT) == [{"type": "hands", "queue": [meeting.pid(PATIENT)]}]
    assert to(effects, GUARDIAN) == []
    assert to(effects, CLINICIAN) == [
        {"type": "hands", "queue": [meeting.pid(GUARDIAN), meeting.pid(PATIENT)]}
    ]


def test_the_floor_is_only_for_attendees_of_anonymous_meetings() -> None:
    meeting = lecture()
    refused = meeting.send(CLINICIAN, {"type": "give_floor", "participant": meeting.pid(COLLEAGUE)})
    assert only_error(refused) == ("not_allowed", "Värdar har alltid ordet.")
    ordinary = Meeting()
    ordinary.admitted(CLINICIAN, PATIENT)
    refused = ordinary.send(CLINICIAN, {"type": "give_floor", "participant": ordinary.pid(PATIENT)})
    assert only_error(refused) == ("not_allowed", "Ordet ges bara i möten med anonymt deltagande.")
