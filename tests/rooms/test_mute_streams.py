"""A host mute covers every audio stream: the rule in the room and the mids the live edge mutes.

What Janus then does with them (no sound from the camera's microphone nor from
a shared tab's sound) is measured in tests/media/test_mute_screen_audio.py.
"""

from __future__ import annotations

from room_helpers import CLINICIAN, GUARDIAN, PATIENT, Meeting, of

from vardmote.rooms.effects import JanusMute
from vardmote.rooms.live import _saved_audio_mids, audio_mids

CAMERA_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n"
)
SCREEN_WITH_SOUND = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE v s\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=sendonly\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:s\r\na=sendonly\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:t\r\na=sendonly\r\n"
)
SCREEN_ONLY = "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"


def test_every_audio_mline_of_an_offer_is_found_wherever_it_stands() -> None:
    assert audio_mids(CAMERA_OFFER) == ["0"]
    assert audio_mids(SCREEN_WITH_SOUND) == ["s", "t"]
    assert audio_mids(SCREEN_ONLY) == []


def test_a_host_mute_holds_on_a_screen_share_started_after_it() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    pid = meeting.pid(PATIENT)
    meeting.send(PATIENT, {"type": "share_start"})
    meeting.send(CLINICIAN, {"type": "mute", "participant": pid})
    effects = meeting.room.stream_started(pid, "screen", meeting.now)
    assert of(effects, JanusMute) == [JanusMute(pid, muted=True)]


def test_a_share_of_someone_not_muted_is_left_as_it_is() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    meeting.send(CLINICIAN, {"type": "mute", "participant": meeting.pid(GUARDIAN)})
    meeting.send(PATIENT, {"type": "share_start"})
    effects = meeting.room.stream_started(meeting.pid(PATIENT), "screen", meeting.now)
    assert of(effects, JanusMute) == []


def test_the_saved_mids_of_a_handed_over_meeting_are_read_in_both_forms() -> None:
    assert _saved_audio_mids({"audio_mids": {"publisher": ["0"], "screen": ["1", "2"]}}) == {
        "publisher": ["0"],
        "screen": ["1", "2"],
    }
    assert _saved_audio_mids({"audio_mid": "0"}) == {"publisher": ["0"]}  # an earlier version's
    assert _saved_audio_mids({}) == {}
