"""Joining: the role an identity gets, whether it skips the lobby, its name, and why it is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from room_helpers import CLINICIAN, PATIENT, ROOM_DEVICE, Meeting, Person, policy_of

from vardmote.rooms.joining import display_name, enters_directly, join_refusal, role_of
from vardmote.rooms.participant import Device, Identity, LinkHolder, Staff
from vardmote.rooms.policy import Role

ANNIKA = Staff("annika", "Annika Berg")
LINK = LinkHolder(11)
VARDRUM = Device(7, "Vårdrum 3, Allergimottagning")


@pytest.mark.parametrize(
    ("meeting_type", "identity", "role"),
    [
        pytest.param("vardmote_patient", ANNIKA, Role.HOST, id="staff-host-a-patient-meeting"),
        pytest.param("internt", ANNIKA, Role.HOST, id="staff-host-an-internal-meeting"),
        pytest.param("vardmote_patient", LINK, Role.GUEST, id="a-link-makes-a-guest"),
        pytest.param("vardrum", LINK, Role.GUEST, id="a-link-to-a-vardrum-is-a-guest-at-home"),
        pytest.param("internt", LINK, None, id="no-link-gets-into-an-internal-meeting"),
        pytest.param("vardrum", VARDRUM, Role.ROOM_DEVICE, id="a-room-device-joins-a-vardrum"),
        pytest.param("vardmote_patient", VARDRUM, None, id="a-room-device-joins-nothing-else"),
    ],
)
def test_it_gives_each_identity_the_role_the_meeting_type_allows(
    meeting_type: str, identity: Identity, role: Role | None
) -> None:
    assert role_of(policy_of(meeting_type), identity) is role


@pytest.mark.parametrize(
    ("meeting_type", "role", "expected"),
    [
        pytest.param("vardmote_patient", Role.HOST, True, id="a-host-never-waits"),
        pytest.param("vardmote_patient", Role.GUEST, False, id="a-guest-waits-in-the-lobby"),
        pytest.param("vardrum", Role.ROOM_DEVICE, False, id="a-room-device-waits-as-a-guest"),
        pytest.param("internt", Role.GUEST, True, id="no-lobby-no-waiting"),
    ],
)
def test_it_lets_hosts_and_lobbyless_meetings_in_directly(
    meeting_type: str, role: Role, expected: bool
) -> None:
    assert enters_directly(policy_of(meeting_type), role) is expected


@pytest.mark.parametrize(
    ("identity", "chosen", "shown"),
    [
        pytest.param(ANNIKA, "Kalle", "Annika Berg", id="staff-as-registered"),
        pytest.param(VARDRUM, None, "Vårdrum 3, Allergimottagning", id="a-room-device-as-registered"),
        pytest.param(LINK, "David", "David", id="a-guest-as-chosen"),
        pytest.param(LINK, None, None, id="a-guest-who-chose-nothing"),
    ],
)
def test_it_shows_staff_and_devices_as_registered_and_guests_as_they_chose(
    identity: Identity, chosen: str | None, shown: str | None
) -> None:
    assert display_name(identity, chosen) == shown


def _ended(meeting: Meeting) -> None:
    meeting.join(CLINICIAN)
    meeting.send(CLINICIAN, {"type": "end"})


def _barred(meeting: Meeting) -> None:
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(CLINICIAN, {"type": "remove", "participant": meeting.pid(PATIENT)})


def _locked(meeting: Meeting) -> None:
    meeting.join(CLINICIAN)
    meeting.send(CLINICIAN, {"type": "lock"})


def _nothing(meeting: Meeting) -> None:
    return None


@pytest.mark.parametrize(
    ("meeting_type", "before", "who", "refusal"),
    [
        pytest.param("vardmote_patient", _nothing, PATIENT, None, id="a-guest-may-wait-in-the-lobby"),
        pytest.param(
            "internt",
            _nothing,
            PATIENT,
            ("not_allowed", "Det här mötet är bara för inloggad personal."),
            id="a-link-to-an-internal-meeting",
        ),
        pytest.param(
            "vardmote_patient",
            _nothing,
            ROOM_DEVICE,
            ("not_allowed", "Rumsenheter kan bara ansluta till möten av typen Vårdrum."),
            id="a-room-device-outside-a-vardrum",
        ),
        pytest.param(
            "vardmote_patient",
            _ended,
            PATIENT,
            ("meeting_ended", "Mötet är avslutat."),
            id="a-guest-after-the-end",
        ),
        pytest.param("vardmote_patient", _ended, CLINICIAN, None, id="a-host-after-the-end-opens-it-again"),
        pytest.param(
            "vardmote_patient",
            _barred,
            PATIENT,
            ("removed", "Du har tagits bort från mötet och kan inte ansluta igen med den här länken."),
            id="a-removed-link",
        ),
        pytest.param(
            "vardmote_patient",
            _locked,
            PATIENT,
            ("locked", "Mötet är låst. Det går inte att ansluta just nu."),
            id="a-guest-of-a-locked-meeting",
        ),
        pytest.param("vardmote_patient", _locked, CLINICIAN, None, id="a-host-of-a-locked-meeting"),
    ],
)
def test_it_refuses_a_join_for_the_reason_the_protocol_names(
    meeting_type: str, before: Callable[[Meeting], None], who: Person, refusal: tuple[str, str] | None
) -> None:
    meeting = Meeting(meeting_type)
    before(meeting)
    room = meeting.room
    role = role_of(room.policy, who.identity)
    found = join_refusal(room, who.identity, role, None)
    assert (None if found is None else (str(found[0]), found[1])) == refusal
