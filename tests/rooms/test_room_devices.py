"""Registered room devices (Vårdrum): who lets them in, as what, and under which name."""

from __future__ import annotations

import pytest
from room_helpers import (
    CLINICIAN,
    PATIENT,
    ROOM_DEVICE,
    Meeting,
    Person,
    audits,
    closed,
    errors,
    only_error,
    to,
)

from vardmote.rooms.effects import Audit
from vardmote.rooms.participant import Device, LinkHolder

NO_DEVICES = "Rumsenheter kan bara ansluta till möten av typen Vårdrum."


def test_a_room_device_waits_in_the_lobby_of_a_vardrum_as_a_room_device_under_its_registered_name() -> None:
    meeting = Meeting("vardrum")
    meeting.join(CLINICIAN)
    effects = meeting.join(Person(ROOM_DEVICE.conn, ROOM_DEVICE.identity, "Något annat namn"))
    joined = to(effects, ROOM_DEVICE, "joined")[0]
    assert (joined["role"], joined["state"]) == ("room_device", "lobby")
    assert joined["participants"][0]["name"] == "Vårdrum 3, Allergimottagning"
    assert to(effects, ROOM_DEVICE, "lobby") == [{"type": "lobby", "hosts_present": True}]
    assert audits(effects) == [Audit("meeting.joined", "device:7", {"participant": "p2", "state": "lobby"})]
    assert to(effects, CLINICIAN, "participant")[0]["participant"]["role"] == "room_device"


def test_a_host_lets_the_room_device_in_and_the_audit_names_it_by_its_device_id() -> None:
    meeting = Meeting("vardrum")
    meeting.join(CLINICIAN)
    meeting.join(ROOM_DEVICE)
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(ROOM_DEVICE)})
    assert not errors(effects)
    assert meeting.state(ROOM_DEVICE) == "admitted"
    assert to(effects, ROOM_DEVICE, "admitted")
    assert audits(effects) == [Audit("meeting.admitted", "user:annika", {"participant": "device:7"})]


def test_a_second_connection_of_the_same_device_takes_over_and_waits_in_the_lobby_again() -> None:
    meeting = Meeting("vardrum")
    meeting.admitted(CLINICIAN, ROOM_DEVICE)
    old = meeting.pid(ROOM_DEVICE)
    effects = meeting.join(ROOM_DEVICE, conn="vardrum3-restarted")
    assert to(effects, ROOM_DEVICE, "taken_over")
    assert closed(effects) == ["vardrum3"]
    assert audits(effects, "meeting.taken_over") == [
        Audit("meeting.taken_over", "device:7", {"participant": old})
    ]
    assert meeting.state(Person("vardrum3-restarted", ROOM_DEVICE.identity)) == "lobby"


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(Person("vardrum4", Device(8, "Vårdrum 4")), id="another-device"),
        pytest.param(Person("david", LinkHolder(7), "David"), id="a-link-with-the-same-number"),
    ],
)
def test_another_device_or_a_link_does_not_take_the_room_device_s_place(other: Person) -> None:
    meeting = Meeting("vardrum")
    meeting.admitted(CLINICIAN, ROOM_DEVICE)
    effects = meeting.join(other)
    assert not to(effects, ROOM_DEVICE, "taken_over")
    assert closed(effects) == []
    assert meeting.state(ROOM_DEVICE) == "admitted"


def test_a_patient_at_home_and_the_room_device_are_in_one_vardrum_meeting_side_by_side() -> None:
    meeting = Meeting("vardrum")
    meeting.admitted(CLINICIAN, ROOM_DEVICE, PATIENT)
    roles = {p.name: str(p.role) for p in meeting.room.participants.values()}
    assert roles == {
        "Annika Berg": "host",
        "Vårdrum 3, Allergimottagning": "room_device",
        "David": "guest",
    }


@pytest.mark.parametrize(
    "key", ["vardmote_patient", "digitalt_vardmote", "informationsmote_patient", "internt", "mdk"]
)
def test_a_room_device_is_refused_in_every_other_meeting_type(key: str) -> None:
    meeting = Meeting(key)
    meeting.join(CLINICIAN)
    effects = meeting.join(ROOM_DEVICE)
    assert only_error(effects) == ("not_allowed", NO_DEVICES)
    assert closed(effects) == ["vardrum3"]
    assert audits(effects) == [Audit("meeting.join_refused", "device:7", {"reason": "not_allowed"})]
    assert meeting.room.participant_for("vardrum3") is None


def test_a_removed_room_device_cannot_come_back_to_the_meeting() -> None:
    meeting = Meeting("vardrum")
    meeting.admitted(CLINICIAN, ROOM_DEVICE)
    assert not errors(meeting.send(CLINICIAN, {"type": "remove", "participant": meeting.pid(ROOM_DEVICE)}))
    effects = meeting.join(ROOM_DEVICE, conn="vardrum3-again")
    assert only_error(effects)[0] == "removed"
