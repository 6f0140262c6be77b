"""Decoding frames: every message type, and bad input refused with a code and Swedish text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vardmote.rooms import messages as m
from vardmote.rooms.errors import ErrorCode, ProtocolError

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"


@pytest.mark.parametrize(
    ("message", "command"),
    [
        (
            {"type": "join", "link": "tok", "name": "  David \t Ek ", "resume": "r"},
            m.Join("tok", "David Ek", "r"),
        ),
        ({"type": "join"}, m.Join(None, None, None)),
        ({"type": "join", "device": "dev"}, m.Join(None, None, None, device="dev")),
        ({"type": "leave"}, m.Leave()),
        ({"type": "offer", "pc": "publisher", "sdp": SDP}, m.Offer("publisher", SDP)),
        ({"type": "answer", "pc": "subscriber", "sdp": SDP}, m.Answer("subscriber", SDP)),
        (
            {"type": "candidate", "pc": "screen", "candidate": {"candidate": "c", "sdpMid": "0"}},
            m.Candidate("screen", {"candidate": "c", "sdpMid": "0", "sdpMLineIndex": None}),
        ),
        ({"type": "candidate", "pc": "publisher", "candidate": None}, m.Candidate("publisher", None)),
        ({"type": "share_start"}, m.ShareStart()),
        ({"type": "share_stop"}, m.ShareStop()),
        ({"type": "media_state", "camera": True, "microphone": False}, m.MediaState(True, False)),
        ({"type": "raise_hand"}, m.RaiseHand()),
        ({"type": "lower_hand"}, m.LowerHand(None)),
        ({"type": "lower_hand", "participant": "p3"}, m.LowerHand("p3")),
        ({"type": "chat", "text": "Hej!\nHör ni mig?"}, m.Chat("Hej!\nHör ni mig?")),
        ({"type": "admit", "participant": "p2"}, m.Admit("p2")),
        ({"type": "deny", "participant": "p2"}, m.Deny("p2")),
        ({"type": "remove", "participant": "p2"}, m.Remove("p2")),
        ({"type": "mute", "participant": "p2"}, m.Mute("p2")),
        ({"type": "mute_all_guests"}, m.MuteAllGuests()),
        ({"type": "lock"}, m.Lock()),
        ({"type": "unlock"}, m.Unlock()),
        ({"type": "guests_may_unmute", "allowed": False}, m.SetGuestsMayUnmute(False)),
        ({"type": "give_floor", "participant": "p2"}, m.GiveFloor("p2")),
        ({"type": "take_floor", "participant": "p2"}, m.TakeFloor("p2")),
        ({"type": "end", "extra": "ignored"}, m.End()),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else "",
)
def test_each_message_becomes_its_command(message: dict[str, Any], command: m.Command) -> None:
    decoded = m.decode(json.dumps(message))
    assert decoded == command
    assert m.request_type(decoded) == message["type"]


def test_every_message_type_has_a_request_type() -> None:
    assert {m.request_type(m.decode(json.dumps(_minimal(t)))) for t in m.MESSAGE_TYPES} == m.MESSAGE_TYPES


def _minimal(kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"pc": "publisher", "sdp": SDP, "candidate": None, "participant": "p1"}
    fields |= {"camera": True, "microphone": True, "text": "x", "allowed": True}
    fields |= {"state": "connected", "path": None, "quality": "good"}
    return {"type": kind, **fields}


NAME = "Skriv ditt namn med högst 60 tecken."
INVISIBLE = (
    "Namnet innehåller tecken som inte syns, till exempel osynliga mellanrum eller tecken som "
    "vänder skrivriktningen. Skriv ditt namn med vanliga bokstäver."
)
FIELD = "Fältet {!r} saknas eller är fel."


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        pytest.param("nej", "bad_message", "Meddelandet kunde inte läsas.", id="not-json"),
        pytest.param("[1, 2]", "bad_message", "Meddelandet kunde inte läsas.", id="not-an-object"),
        pytest.param('{"kind": "join"}', "bad_message", "Meddelandet kunde inte läsas.", id="no-type"),
        pytest.param('{"type": 7}', "bad_message", "Meddelandet kunde inte läsas.", id="type-not-a-string"),
        pytest.param("[" * 5000 + "]" * 5000, "bad_message", "Meddelandet kunde inte läsas.", id="deep"),
        pytest.param('{"type": "kick"}', "unknown_type", "Okänd meddelandetyp.", id="unknown-type"),
        pytest.param('{"type": "join", "name": ""}', "bad_message", NAME, id="empty-name"),
        pytest.param('{"type": "join", "name": "   "}', "bad_message", NAME, id="blank-name"),
        pytest.param(json.dumps({"type": "join", "name": "x" * 61}), "bad_message", NAME, id="long-name"),
        pytest.param('{"type": "join", "name": "Da\\u0000vid"}', "bad_message", INVISIBLE, id="nul-in-name"),
        pytest.param('{"type": "join", "name": "\\ud800"}', "bad_message", INVISIBLE, id="lone-surrogate"),
        pytest.param('{"type": "join", "name": 5}', "bad_message", NAME, id="name-not-text"),
        pytest.param('{"type": "join", "link": 5}', "bad_message", FIELD.format("link"), id="link-not-text"),
        pytest.param(
            '{"type": "join", "device": 5}', "bad_message", FIELD.format("device"), id="device-not-text"
        ),
        pytest.param(
            '{"type": "join", "link": "tok", "device": "dev"}',
            "bad_message",
            "Anslut antingen med en länk eller som rumsenhet, inte båda.",
            id="link-and-device",
        ),
        pytest.param(
            '{"type": "offer", "pc": "camera", "sdp": "v=0"}', "bad_message", FIELD.format("pc"), id="pc"
        ),
        pytest.param(
            '{"type": "offer", "pc": {}, "sdp": "v=0"}', "bad_message", FIELD.format("pc"), id="pc-an-object"
        ),
        pytest.param(
            '{"type": "candidate", "pc": [], "candidate": null}',
            "bad_message",
            FIELD.format("pc"),
            id="pc-a-list",
        ),
        pytest.param('{"type": "offer", "pc": "publisher"}', "bad_message", FIELD.format("sdp"), id="no-sdp"),
        pytest.param(
            '{"type": "offer", "pc": "publisher", "sdp": "hello"}',
            "bad_message",
            FIELD.format("sdp"),
            id="not-sdp",
        ),
        pytest.param(
            json.dumps({"type": "offer", "pc": "publisher", "sdp": "v=0" + "a" * 60_000}),
            "bad_message",
            FIELD.format("sdp"),
            id="sdp-too-long",
        ),
        pytest.param(
            '{"type": "candidate", "pc": "publisher"}',
            "bad_message",
            FIELD.format("candidate"),
            id="no-candidate",
        ),
        pytest.param(
            '{"type": "candidate", "pc": "publisher", "candidate": {"candidate": "c"}}',
            "bad_message",
            FIELD.format("candidate"),
            id="candidate-without-mid-or-index",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "candidate",
                    "pc": "publisher",
                    "candidate": {"candidate": "c", "sdpMLineIndex": True},
                }
            ),
            "bad_message",
            FIELD.format("candidate"),
            id="index-not-a-number",
        ),
        pytest.param(
            '{"type": "media_state", "camera": 1, "microphone": true}',
            "bad_message",
            FIELD.format("camera"),
            id="camera-not-bool",
        ),
        pytest.param(
            '{"type": "chat", "text": ""}',
            "bad_message",
            "Ett chattmeddelande ska ha 1–2000 tecken.",
            id="empty-chat",
        ),
        pytest.param(
            '{"type": "chat", "text": " \\n "}',
            "bad_message",
            "Ett chattmeddelande ska ha 1–2000 tecken.",
            id="blank",
        ),
        pytest.param(
            json.dumps({"type": "chat", "text": "x" * 2001}),
            "bad_message",
            "Ett chattmeddelande ska ha 1–2000 tecken.",
            id="long-chat",
        ),
        pytest.param('{"type": "admit"}', "bad_message", FIELD.format("participant"), id="admit-nobody"),
        pytest.param(
            '{"type": "mute", "participant": ""}', "bad_message", FIELD.format("participant"), id="empty-id"
        ),
        pytest.param(
            '{"type": "guests_may_unmute", "allowed": "ja"}',
            "bad_message",
            FIELD.format("allowed"),
            id="allowed",
        ),
    ],
)
def test_it_refuses_bad_input_with_a_code_and_swedish_text(frame: str, code: str, message: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        m.decode(frame)
    assert (raised.value.code, raised.value.message_sv) == (code, message)


def test_the_refusal_names_the_request_it_refuses() -> None:
    with pytest.raises(ProtocolError) as raised:
        m.decode('{"type": "admit"}')
    assert raised.value.request == "admit"


def test_it_refuses_a_frame_over_64_kib_before_reading_it() -> None:
    frame = json.dumps({"type": "chat", "text": "å" * 33_000})
    with pytest.raises(ProtocolError) as raised:
        m.decode(frame)
    assert (raised.value.code, raised.value.message_sv) == (ErrorCode.TOO_LARGE, "Meddelandet är för stort.")


def test_it_refuses_binary_frames() -> None:
    with pytest.raises(ProtocolError) as raised:
        m.decode(b'{"type": "leave"}')
    assert (raised.value.code, raised.value.message_sv) == (
        "bad_message",
        "Skicka meddelanden som text (JSON).",
    )
