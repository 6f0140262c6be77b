"""Relay credentials, ICE restarts and connection reports, as far as the rules see them (rooms.network).

The room never makes credentials itself: it says whom an ``ice_servers`` is for
(``SendWithIceServers``) and the glue adds them; here that is only ever an
admitted participant. Everyone who sees someone sees them "Återansluter…";
only hosts see how their media goes (direct or through the relay) and a poor
connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from room_helpers import (
    CLINICIAN,
    COLLEAGUE,
    GUARDIAN,
    INTERPRETER,
    PATIENT,
    Meeting,
    Person,
    of,
    only_error,
    policy_of,
    to,
)

from vardmote.media.janus import JanusError
from vardmote.media.placement import JanusNode, SingleNode
from vardmote.media.plane import MediaPlane
from vardmote.rooms import snapshot
from vardmote.rooms.effects import Effect, JanusRestartIce, Send, SendWithIceServers
from vardmote.rooms.errors import ProtocolError
from vardmote.rooms.live import LiveMeeting, _Media
from vardmote.rooms.messages import decode
from vardmote.settings import Secret

NOT_ADMITTED = "Du väntar i lobbyn. En värd släpper in dig när mötet börjar."
RECONNECTING = {"type": "connection", "state": "reconnecting", "path": "relay", "quality": "poor"}
CONNECTED = {"type": "connection", "state": "connected", "path": "direct", "quality": "good"}


def relay_sends(effects: list[Effect], who: Person) -> list[SendWithIceServers]:
    """relay_sends is every message to who that the glue sends with relay credentials."""
    return [e for e in of(effects, SendWithIceServers) if e.to == who.conn]


def entries_to(effects: list[Effect], who: Person) -> list[dict[str, Any]]:
    """entries_to is every participant entry who was sent (add or update)."""
    return [m["participant"] for m in to(effects, who, "participant") if "name" in m["participant"]]


# ---- ice_servers -----------------------------------------------------------------------------


def test_a_guest_in_the_lobby_is_given_no_relay_credentials_on_joining() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    effects = meeting.join(PATIENT)
    assert relay_sends(effects, PATIENT) == []
    (joined,) = [
        e.message for e in of(effects, Send) if PATIENT.conn in e.to and e.message["type"] == "joined"
    ]
    assert joined["state"] == "lobby"
    assert "ice_servers" not in joined


def test_a_guest_in_the_lobby_asking_for_relay_credentials_is_refused() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(PATIENT, {"type": "ice_servers"})
    assert only_error(effects) == ("not_admitted", NOT_ADMITTED)
    assert relay_sends(effects, PATIENT) == []


def test_admission_is_sent_with_relay_credentials_for_the_admitted_guest_only() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN)
    meeting.join(PATIENT)
    meeting.join(GUARDIAN)
    effects = meeting.send(CLINICIAN, {"type": "admit", "participant": meeting.pid(PATIENT)})
    (admitted,) = relay_sends(effects, PATIENT)
    assert admitted.participant_id == meeting.pid(PATIENT)
    assert admitted.message["type"] == "admitted"
    assert relay_sends(effects, GUARDIAN) == []
    assert relay_sends(effects, CLINICIAN) == []


def test_a_host_joins_with_relay_credentials_and_an_admitted_guest_gets_fresh_ones_on_asking() -> None:
    meeting = Meeting()
    (joined,) = relay_sends(meeting.join(CLINICIAN), CLINICIAN)
    assert joined.message["type"] == "joined"
    assert joined.message["state"] == "admitted"
    meeting.admitted(PATIENT)
    assert meeting.send(PATIENT, {"type": "ice_servers"}) == [
        SendWithIceServers(PATIENT.conn, meeting.pid(PATIENT), {"type": "ice_servers"})
    ]


def test_an_admitted_guest_who_resumes_gets_relay_credentials_and_one_from_the_lobby_none() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.join(GUARDIAN)
    tokens = {who: meeting.room.participants[meeting.pid(who)].resume_token for who in (PATIENT, GUARDIAN)}
    meeting.room.drop(PATIENT.conn, meeting.now)
    meeting.room.drop(GUARDIAN.conn, meeting.now)
    back = meeting.join(PATIENT, conn="david-2", resume=tokens[PATIENT])
    assert [e.message["type"] for e in of(back, SendWithIceServers) if e.to == "david-2"] == ["joined"]
    waiting = meeting.join(GUARDIAN, conn="maria-2", resume=tokens[GUARDIAN])
    assert [e for e in of(waiting, SendWithIceServers) if e.to == "maria-2"] == []


# ---- ice_restart -----------------------------------------------------------------------------


def test_an_ice_restart_of_the_subscriber_asks_janus_for_a_new_offer() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.send(PATIENT, {"type": "ice_restart", "pc": "subscriber"})
    assert effects == [JanusRestartIce(meeting.pid(PATIENT))]


@pytest.mark.parametrize("pc", ["publisher", "screen"])
def test_a_publisher_restarts_ice_with_an_offer_of_its_own_not_with_ice_restart(pc: str) -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    effects = meeting.send(PATIENT, {"type": "ice_restart", "pc": pc})
    assert only_error(effects) == (
        "not_allowed",
        "Den anslutningen startas om med ett nytt erbjudande (offer) från webbläsaren.",
    )
    assert of(effects, JanusRestartIce) == []


def test_an_ice_restart_from_the_lobby_is_refused() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    effects = meeting.send(PATIENT, {"type": "ice_restart", "pc": "subscriber"})
    assert only_error(effects) == ("not_admitted", NOT_ADMITTED)


# ---- connection reports ------------------------------------------------------------------------


def test_everyone_who_sees_a_guest_sees_them_reconnecting_and_only_hosts_see_how_their_media_goes() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, COLLEAGUE, PATIENT, GUARDIAN)
    effects = meeting.send(PATIENT, RECONNECTING)
    pid = meeting.pid(PATIENT)
    for host in (CLINICIAN, COLLEAGUE):
        (entry,) = entries_to(effects, host)
        assert entry["id"] == pid
        assert (entry["reconnecting"], entry["media_path"], entry["poor_connection"]) == (True, "relay", True)
    for guest in (PATIENT, GUARDIAN):
        (entry,) = entries_to(effects, guest)
        assert entry["reconnecting"] is True
        assert "media_path" not in entry
        assert "poor_connection" not in entry

    effects = meeting.send(PATIENT, CONNECTED)
    (entry,) = entries_to(effects, CLINICIAN)
    assert (entry["reconnecting"], entry["media_path"], entry["poor_connection"]) == (False, "direct", False)
    (entry,) = entries_to(effects, GUARDIAN)
    assert entry["reconnecting"] is False


def test_a_report_that_changes_nothing_tells_nobody() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    assert meeting.send(PATIENT, CONNECTED) != []
    assert meeting.send(PATIENT, CONNECTED) == []


def test_hosts_see_the_path_in_the_participant_list_they_are_given_on_joining() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, RECONNECTING)
    (joined,) = [e.message for e in relay_sends(meeting.join(COLLEAGUE), COLLEAGUE)]
    (entry,) = [p for p in joined["participants"] if p["id"] == meeting.pid(PATIENT)]
    assert (entry["reconnecting"], entry["media_path"], entry["poor_connection"]) == (True, "relay", True)
    waiting = meeting.join(INTERPRETER)  # waits in the lobby: no list of others, no credentials
    assert relay_sends(waiting, INTERPRETER) == []


def test_a_report_from_the_lobby_is_refused() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    assert only_error(meeting.send(PATIENT, RECONNECTING)) == ("not_admitted", NOT_ADMITTED)


def test_a_dropped_connection_forgets_the_report_of_its_peer_connections() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, RECONNECTING)
    effects = meeting.room.drop(PATIENT.conn, meeting.now)
    (entry,) = entries_to(effects, CLINICIAN)
    assert (entry["connected"], entry["reconnecting"], entry["media_path"]) == (False, False, None)


@pytest.mark.parametrize(
    ("message", "text"),
    [
        pytest.param(
            {"state": "offline", "path": None, "quality": "good"},
            "Fältet 'state' ska vara ”connected” eller ”reconnecting”.",
            id="unknown-state",
        ),
        pytest.param(
            {"path": None, "quality": "good"},
            "Fältet 'state' ska vara ”connected” eller ”reconnecting”.",
            id="no-state",
        ),
        pytest.param(
            {"state": "connected", "path": "turn", "quality": "good"},
            "Fältet 'path' ska vara ”direct”, ”relay” eller null.",
            id="unknown-path",
        ),
        pytest.param(
            {"state": "connected", "quality": "good"},
            "Fältet 'path' ska vara ”direct”, ”relay” eller null.",
            id="no-path",
        ),
        pytest.param(
            {"state": "connected", "path": ["relay"], "quality": "good"},
            "Fältet 'path' ska vara ”direct”, ”relay” eller null.",
            id="path-list",
        ),
        pytest.param(
            {"state": "connected", "path": "direct", "quality": 0.9},
            "Fältet 'quality' ska vara ”good” eller ”poor”.",
            id="quality-number",
        ),
        pytest.param(
            {"state": True, "path": "direct", "quality": "good"},
            "Fältet 'state' ska vara ”connected” eller ”reconnecting”.",
            id="state-boolean",
        ),
    ],
)
def test_a_bad_connection_report_is_refused_with_a_sentence_that_says_why(
    message: dict[str, Any], text: str
) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode(json.dumps({"type": "connection", **message}))
    assert (refused.value.code, refused.value.message_sv, refused.value.request) == (
        "bad_message",
        text,
        "connection",
    )


@pytest.mark.parametrize("pc", ["camera", None, {"pc": "subscriber"}])
def test_an_ice_restart_without_a_known_pc_is_refused(pc: Any) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode(json.dumps({"type": "ice_restart", "pc": pc}))
    assert (refused.value.code, refused.value.message_sv) == (
        "bad_message",
        "Fältet 'pc' saknas eller är fel.",
    )


# ---- Janus's view ----------------------------------------------------------------------------


def test_when_janus_receives_nothing_from_a_guest_everyone_sees_them_reconnecting_until_it_does() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT, GUARDIAN)
    pid = meeting.pid(PATIENT)
    effects = meeting.room.media_stalled(pid, True, meeting.now)
    for viewer in (CLINICIAN, GUARDIAN, PATIENT):
        (entry,) = entries_to(effects, viewer)
        assert entry["reconnecting"] is True
    assert meeting.room.media_stalled(pid, True, meeting.now) == []
    effects = meeting.room.media_stalled(pid, False, meeting.now)
    (entry,) = entries_to(effects, CLINICIAN)
    assert entry["reconnecting"] is False


def test_janus_stalls_reported_for_someone_gone_or_in_the_lobby_change_nothing() -> None:
    meeting = Meeting()
    meeting.join(CLINICIAN)
    meeting.join(PATIENT)
    assert meeting.room.media_stalled(meeting.pid(PATIENT), True, meeting.now) == []
    assert meeting.room.media_stalled("p99", True, meeting.now) == []


# ---- snapshots ---------------------------------------------------------------------------------


def test_a_snapshot_leaves_the_connection_report_out_and_the_browser_reports_again() -> None:
    meeting = Meeting()
    meeting.admitted(CLINICIAN, PATIENT)
    meeting.send(PATIENT, RECONNECTING)
    meeting.room.media_stalled(meeting.pid(PATIENT), True, meeting.now)
    saved = snapshot.dump(meeting.room, now=meeting.now, wall=1000.0)
    (entry,) = [p for p in saved["participants"] if p["id"] == meeting.pid(PATIENT)]
    assert not set(snapshot.NOT_SAVED) & set(entry)
    restored = snapshot.load(saved, now=meeting.now, wall=1000.0)
    p = restored.participants[meeting.pid(PATIENT)]
    assert (p.reconnecting, p.media_stalled, p.media_path, p.poor_connection) == (False, False, None, False)


# ---- the I/O edge: an ICE restart Janus refuses ----------------------------------------------


class Recorded:
    """Recorded is a browser's WebSocket as the meeting sees it: what it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: Mapping[str, Any]) -> None:
        self.sent.append(dict(message))

    async def close(self, reason: str) -> None:
        pass


class RefusingSubscriber:
    """RefusingSubscriber is a subscriber handle Janus answers every request on with an error
    (as it does for a subscriber it has let go of, or while it is overloaded)."""

    id = 1
    plugin = "janus.plugin.videoroom"
    closed = False

    async def message(self, body: Mapping[str, Any], jsep: Any = None) -> Any:
        raise JanusError(458, "refused by the test's Janus")

    async def detach(self) -> None:
        self.closed = True


async def test_an_ice_restart_janus_refuses_is_answered_restart_failed_not_media_unavailable() -> None:
    """media_unavailable makes the browser close its camera and screen peer connections and
    offer again; a refused subscriber restart must leave them alone and only end the restart."""
    node = JanusNode("ws://127.0.0.1:9", Secret("api"), Secret("admin"))
    live = LiveMeeting(
        "m-1",
        policy_of("vardmote_patient"),
        MediaPlane(SingleNode(node)),
        _no_audit,
        host_left_seconds=60,
        reconnect_seconds=60,
    )
    browser = Recorded()
    await live.join("c-1", browser, CLINICIAN.identity, None, None)
    pid = next(iter(live.room.participants))
    live._media[pid] = _Media(handles={"subscriber": RefusingSubscriber()}, streams=())  # type: ignore[dict-item]
    mark = len(browser.sent)

    await live.handle("c-1", decode(json.dumps({"type": "ice_restart", "pc": "subscriber"})))

    assert browser.sent[mark:] == [
        {
            "type": "error",
            "code": "restart_failed",
            "message": "Mottagningen kunde inte startas om just nu. Den startas om igen av sig själv.",
            "request": "ice_restart",
        }
    ]
    assert live._media[pid].handles["subscriber"].closed is False  # nothing torn down


async def _no_audit(meeting_id: str, actor: str, action: str, details: Mapping[str, Any]) -> None:
    pass
