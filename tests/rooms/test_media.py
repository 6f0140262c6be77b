"""Offers, answers, candidates, streams and screen sharing, as far as the rules see them."""

from __future__ import annotations

from typing import Any

import pytest
from room_helpers import CLINICIAN, GUARDIAN, PATIENT, Meeting, audits, of, only_error, to

from vardmote.rooms.effects import (
    Audit,
    JanusAnswer,
    JanusCandidate,
    JanusOffer,
    JanusUnpublish,
    SetSubscriptions,
    StreamRef,
)

SDP = "v=0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


def test_an_admitted_participant_publishes_and_receives_through_janus() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    pid = meeting.pid(PATIENT)
    assert meeting.send(PATIENT, {"type": "offer", "pc": "publisher", "sdp": SDP}) == [
        JanusOffer(pid, "publisher", SDP, full_resolution=False)
    ]
    assert meeting.send(PATIENT, {"type": "answer", "pc": "subscriber", "sdp": SDP}) == [
        JanusAnswer(pid, SDP)
    ]
    message = {"type": "candidate", "pc": "subscriber", "candidate": CANDIDATE}
    assert meeting.send(PATIENT, message) == [JanusCandidate(pid, "subscriber", CANDIDATE)]


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        pytest.param(
            {"type": "offer", "pc": "publisher", "sdp": SDP},
            "not_admitted",
            "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
            id="offer-in-lobby",
        ),
        pytest.param(
            {"type": "candidate", "pc": "publisher", "candidate": None},
            "not_admitted",
            "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
            id="candidate-in-lobby",
        ),
        pytest.param(
            {"type": "chat", "text": "Hallå?"},
            "not_admitted",
            "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
            id="chat-in-lobby",
        ),
        pytest.param(
            {"type": "raise_hand"},
            "not_admitted",
            "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
            id="hand-in-lobby",
        ),
        pytest.param(
            {"type": "share_start"},
            "not_admitted",
            "Du väntar i lobbyn. En värd släpper in dig när mötet börjar.",
            id="share-in-lobby",
        ),
    ],
)
def test_nothing_but_leaving_is_allowed_in_the_lobby(message: dict[str, Any], code: str, text: str) -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(PATIENT, message)
    assert only_error(effects) == (code, text)
    assert len(effects) == 1


@pytest.mark.parametrize(
    ("message", "text"),
    [
        pytest.param(
            {"type": "offer", "pc": "subscriber", "sdp": SDP},
            "Den anslutningen kan inte ta emot det meddelandet.",
            id="offer-on-subscriber",
        ),
        pytest.param(
            {"type": "answer", "pc": "publisher", "sdp": SDP},
            "Den anslutningen kan inte ta emot det meddelandet.",
            id="answer-on-publisher",
        ),
        pytest.param(
            {"type": "offer", "pc": "screen", "sdp": SDP},
            "Starta skärmdelningen först.",
            id="screen-without-share",
        ),
        pytest.param(
            {"type": "candidate", "pc": "screen", "candidate": None},
            "Starta skärmdelningen först.",
            id="screen-candidate-without-share",
        ),
    ],
)
def test_signalling_in_the_wrong_direction_or_state_is_refused(message: dict[str, Any], text: str) -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    assert only_error(meeting.send(PATIENT, message)) == ("not_allowed", text)


def test_a_new_stream_reaches_everyone_who_sees_its_publisher() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    pid = meeting.pid(PATIENT)
    effects = meeting.room.stream_started(pid, "camera", meeting.now)
    stream = StreamRef(pid, "camera")
    assert of(effects, SetSubscriptions) == [
        SetSubscriptions(meeting.pid(CLINICIAN), frozenset({stream})),
        SetSubscriptions(meeting.pid(GUARDIAN), frozenset({stream})),
    ]
    assert to(effects, GUARDIAN, "streams") == [
        {"type": "streams", "streams": [{"participant": pid, "kind": "camera"}]}
    ]
    assert to(effects, PATIENT, "streams") == []


def test_a_participant_who_leaves_takes_their_streams_along() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.room.stream_started(meeting.pid(PATIENT), "camera", meeting.now)
    effects = meeting.send(PATIENT, {"type": "leave"})
    assert of(effects, SetSubscriptions) == [SetSubscriptions(meeting.pid(CLINICIAN), frozenset())]


def test_screen_sharing_is_its_own_publisher_and_is_audited() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    pid = meeting.pid(PATIENT)
    effects = meeting.send(PATIENT, {"type": "share_start"})
    assert to(effects, PATIENT) == [{"type": "share_started", "full_resolution": False}]
    assert audits(effects) == [Audit("meeting.share_started", "guest:11", {"participant": pid})]
    assert meeting.send(PATIENT, {"type": "offer", "pc": "screen", "sdp": SDP}) == [
        JanusOffer(pid, "screen", SDP)
    ]
    effects = meeting.room.stream_started(pid, "screen", meeting.now)
    assert to(effects, CLINICIAN, "participant")[0]["participant"]["sharing"] is True
    effects = meeting.send(PATIENT, {"type": "share_stop"})
    assert of(effects, JanusUnpublish) == [JanusUnpublish(pid, "screen")]
    assert audits(effects) == [Audit("meeting.share_stopped", "guest:11", {"participant": pid})]
    assert to(effects, CLINICIAN, "streams") == [{"type": "streams", "streams": []}]


def test_mdk_shares_at_full_resolution() -> None:
    meeting = Meeting("mdk")
    meeting.admitted(CLINICIAN, PATIENT)
    assert to(meeting.send(PATIENT, {"type": "share_start"}), PATIENT)[0]["full_resolution"] is True
    effects = meeting.send(PATIENT, {"type": "offer", "pc": "screen", "sdp": SDP})
    assert effects == [JanusOffer(meeting.pid(PATIENT), "screen", SDP, full_resolution=True)]
    camera = meeting.send(PATIENT, {"type": "offer", "pc": "publisher", "sdp": SDP})
    assert camera == [JanusOffer(meeting.pid(PATIENT), "publisher", SDP, full_resolution=False)]


def test_a_share_that_was_stopped_while_negotiating_is_unpublished() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, {"type": "share_start"})
    meeting.send(PATIENT, {"type": "share_stop"})
    pid = meeting.pid(PATIENT)
    assert meeting.room.stream_started(pid, "screen", meeting.now) == [JanusUnpublish(pid, "screen")]


def test_camera_and_microphone_state_is_shown_to_those_who_see_the_participant() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    effects = meeting.send(PATIENT, {"type": "media_state", "camera": True, "microphone": False})
    for who in (CLINICIAN, GUARDIAN, PATIENT):
        entry = to(effects, who, "participant")[0]["participant"]
        assert (entry["camera"], entry["microphone"]) == (True, False)
