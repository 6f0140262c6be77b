"""Booking changes: a live room follows its booking at once (rooms/booking_changes.py).

A revoked link takes its holder out, a cancelled or unprotected meeting ends
for everyone, and a new type's rules hold at once: guests go and come back
through the new type's lobby, the hosts stay.
"""

from __future__ import annotations

from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    PATIENT,
    ROOM_DEVICE,
    Meeting,
    Person,
    audits,
    closed,
    of,
    only_error,
    policy_of,
    to,
)

from vardmote.rooms import booking_changes, texts
from vardmote.rooms.effects import Audit, DestroyJanusRoom, JanusDetach
from vardmote.rooms.participant import LinkHolder

LINK_GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)
TYPE_CHANGED = "Vårdpersonalen har ändrat mötet. Anslut igen, så väntar du i lobbyn tills du blir insläppt."


def test_a_revoked_link_takes_its_holder_out_of_the_meeting_and_the_host_sees_them_go() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    pid = meeting.pid(PATIENT)
    effects = booking_changes.link_gone(meeting.room, 11, meeting.now)
    assert to(effects, PATIENT) == [{"type": "link_gone", "message": LINK_GONE}]
    assert closed(effects) == ["david"]
    assert of(effects, JanusDetach) == [JanusDetach(pid)]
    assert audits(effects) == [Audit("meeting.link_gone", "system:booking", {"participant": "guest:11"})]
    gone = {"type": "participant", "change": "remove", "participant": {"id": pid}}
    assert to(effects, CLINICIAN, "participant") == [gone]
    assert to(effects, GUARDIAN, "participant") == [gone]
    assert meeting.state(GUARDIAN) == "admitted"


def test_a_revoked_link_takes_its_holder_out_of_the_lobby_before_anyone_lets_them_in() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN)
    meeting.join(PATIENT)
    effects = booking_changes.link_gone(meeting.room, 11, meeting.now)
    assert to(effects, PATIENT) == [{"type": "link_gone", "message": LINK_GONE}]
    assert of(effects, JanusDetach) == []
    assert only_error(meeting.send(CLINICIAN, {"type": "admit", "participant": "p2"}))[0] == "not_found"


def test_a_revoked_link_nobody_used_changes_nothing() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    assert booking_changes.link_gone(meeting.room, 99, meeting.now) == []
    assert meeting.state(PATIENT) == "admitted"


def test_everyone_who_came_by_a_revoked_general_link_goes() -> None:
    meeting = Meeting()
    mother = Person("mor", LinkHolder(20, shared=True), "Mor")
    father = Person("far", LinkHolder(20, shared=True), "Far")
    meeting.admitted(CLINICIAN, mother, father, GUARDIAN)
    effects = booking_changes.link_gone(meeting.room, 20, meeting.now)
    assert sorted(closed(effects)) == ["far", "mor"]
    assert meeting.state(GUARDIAN) == "admitted"


def test_a_cancelled_meeting_ends_for_everyone_and_its_janus_room_goes() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.join(GUARDIAN)
    effects = booking_changes.meeting_over(meeting.room, "cancelled", "Mötet är avbokat.")
    ended = {"type": "ended", "reason": "cancelled", "message": "Mötet är avbokat."}
    for who in (CLINICIAN, PATIENT, GUARDIAN):
        assert to(effects, who) == [ended]
    assert sorted(closed(effects)) == ["annika", "david", "maria"]
    assert effects[-1] == DestroyJanusRoom()
    assert audits(effects) == [
        Audit("meeting.ended", "system:booking", {"reason": "cancelled", "participants": 2})
    ]
    assert meeting.room.is_empty
    assert only_error(meeting.join(PATIENT))[0] == "meeting_ended"


def test_a_new_type_sends_every_guest_and_device_away_and_keeps_the_hosts() -> None:
    meeting = Meeting("vardrum")
    meeting.admitted(CLINICIAN, COLLEAGUE, ROOM_DEVICE, PATIENT)
    effects = booking_changes.type_changed(meeting.room, policy_of("vardmote_patient"), meeting.now)
    gone = {"type": "ended", "reason": "type_changed", "message": TYPE_CHANGED}
    assert to(effects, PATIENT) == [gone]
    assert to(effects, ROOM_DEVICE) == [gone]
    assert sorted(closed(effects)) == ["david", "vardrum3"]
    assert meeting.state(CLINICIAN) == "admitted"
    assert meeting.state(COLLEAGUE) == "admitted"
    assert [a.action for a in audits(effects)] == ["meeting.type_changed", "meeting.type_changed"]
    assert meeting.room.policy == policy_of("vardmote_patient")


def test_after_a_change_to_an_anonymous_type_a_returning_guest_sees_only_the_hosts() -> None:
    meeting = Meeting("vardmote_patient")
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    booking_changes.type_changed(meeting.room, policy_of("informationsmote_patient"), meeting.now)
    meeting.join(PATIENT)
    meeting.join(GUARDIAN)
    meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    admitted = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(GUARDIAN)})
    [seen] = to(admitted, GUARDIAN, "admitted")
    assert [p["name"] for p in seen["participants"]] == ["Annika Berg", "Maria"]
    assert "David" not in str(to(admitted, GUARDIAN))


def test_a_colleague_whose_invitation_to_host_is_removed_leaves_and_the_organiser_stays() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT)
    pid = meeting.pid(COLLEAGUE)
    effects = booking_changes.hosting_withdrawn(meeting.room, "bertil", meeting.now)
    message = "Du är inte längre inbjuden att leda det här mötet."
    assert to(effects, COLLEAGUE) == [{"type": "removed", "message": message}]
    assert closed(effects) == ["bertil"]
    assert audits(effects) == [
        Audit("meeting.hosting_withdrawn", "system:booking", {"participant": "user:bertil"})
    ]
    assert to(effects, PATIENT, "participant") == [
        {"type": "participant", "change": "remove", "participant": {"id": pid}}
    ]
    assert meeting.state(CLINICIAN) == "admitted"
    assert booking_changes.hosting_withdrawn(meeting.room, "annika-finns-inte", meeting.now) == []


def test_an_organiser_whose_account_is_closed_leaves_told_why_and_the_others_stay() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT)
    effects = booking_changes.hosting_withdrawn(meeting.room, "annika", meeting.now, texts.ACCOUNT_CLOSED)
    message = (
        "Ditt konto är inaktiverat, så du kan inte vara kvar i mötet. "
        "Kontakta din administratör om det är fel."
    )
    assert to(effects, CLINICIAN) == [{"type": "removed", "message": message}]
    assert closed(effects) == ["annika"]
    assert meeting.state(COLLEAGUE) == meeting.state(PATIENT) == "admitted"


def test_when_the_links_time_is_over_everyone_who_came_by_a_link_goes_once_and_the_hosts_stay() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.join(GUARDIAN)
    meeting.room.links_expire_at = 10.0
    assert meeting.room.next_deadline() == 10.0
    assert meeting.room.tick(9.9) == []
    effects = meeting.room.tick(10.0)
    assert to(effects, PATIENT) == [{"type": "link_gone", "message": LINK_GONE}]
    assert to(effects, GUARDIAN) == [{"type": "link_gone", "message": LINK_GONE}]
    assert sorted(closed(effects)) == ["david", "maria"]
    assert meeting.state(CLINICIAN) == "admitted"
    assert meeting.room.next_deadline() is None
    assert meeting.room.tick(20.0) == []
