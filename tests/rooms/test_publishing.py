"""Who may publish: the floor of an anonymous meeting and a share started first."""

from __future__ import annotations

import dataclasses

import pytest
from room_helpers import policy_of

from vardmote.rooms.effects import StreamKind
from vardmote.rooms.participant import LinkHolder, Participant, Staff, State
from vardmote.rooms.policy import Role, RoomPolicy
from vardmote.rooms.publishing import may_publish, needs_floor, publish_refusal

OPEN = policy_of("vardmote_patient")
ANONYMOUS = policy_of("informationsmote_patient")
NEEDS_FLOOR = "I det här mötet sänds ditt ljud och din bild bara när en värd ger dig ordet."
SHARE_FIRST = "Starta skärmdelningen först."


def _guest(*, floor: bool = False, may_share: bool = False) -> Participant:
    return Participant(
        id="p2",
        identity=LinkHolder(11),
        role=Role.GUEST,
        name="David",
        state=State.ADMITTED,
        resume_token="r",
        conn="david",
        floor=floor,
        may_share=may_share,
    )


HOST = dataclasses.replace(_guest(), id="p1", identity=Staff("annika", "Annika Berg"), role=Role.HOST)


@pytest.mark.parametrize(
    ("policy", "who", "pc", "refusal"),
    [
        pytest.param(OPEN, _guest(), "publisher", None, id="a-guest-publishes-a-camera"),
        pytest.param(OPEN, _guest(), "screen", SHARE_FIRST, id="a-screen-before-share-start"),
        pytest.param(OPEN, _guest(may_share=True), "screen", None, id="a-screen-after-share-start"),
        pytest.param(OPEN, _guest(), "subscriber", None, id="the-subscriber-reply-is-not-publishing"),
        pytest.param(ANONYMOUS, _guest(), "publisher", NEEDS_FLOOR, id="anonymous-guest-without-the-floor"),
        pytest.param(ANONYMOUS, _guest(), "subscriber", None, id="anonymous-guest-still-receives"),
        pytest.param(ANONYMOUS, _guest(floor=True), "publisher", None, id="anonymous-guest-with-the-floor"),
        pytest.param(ANONYMOUS, HOST, "publisher", None, id="anonymous-host-always-publishes"),
    ],
)
def test_it_refuses_negotiation_only_where_the_rules_forbid_publishing(
    policy: RoomPolicy, who: Participant, pc: str, refusal: str | None
) -> None:
    assert publish_refusal(policy, who, pc) == refusal


@pytest.mark.parametrize(
    ("policy", "who", "kind", "expected"),
    [
        pytest.param(OPEN, _guest(), "camera", True, id="a-camera-in-an-open-meeting"),
        pytest.param(OPEN, _guest(), "screen", False, id="a-screen-whose-share-was-stopped"),
        pytest.param(OPEN, _guest(may_share=True), "screen", True, id="a-screen-being-shared"),
        pytest.param(ANONYMOUS, _guest(), "camera", False, id="the-floor-was-taken"),
        pytest.param(ANONYMOUS, _guest(floor=True), "camera", True, id="the-floor-was-given"),
    ],
)
def test_it_keeps_a_stream_janus_reports_up_only_if_it_may_be_published(
    policy: RoomPolicy, who: Participant, kind: StreamKind, expected: bool
) -> None:
    assert may_publish(policy, who, kind) is expected


def test_a_host_never_needs_the_floor() -> None:
    assert not needs_floor(ANONYMOUS, HOST)
    assert needs_floor(ANONYMOUS, _guest())
    assert not needs_floor(OPEN, _guest())
