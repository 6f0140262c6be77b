"""Recognising a Skype meeting from what Outlook writes, and never taking a Teams meeting for one."""

from __future__ import annotations

import pytest
from skype_calendars import TEAMS_PROPERTIES, skype_body

from vardmote.skype.recognition import Verdict, classify, provider_of

INFORMATION = "X-MICROSOFT-ONLINEMEETINGINFORMATION"
SIP = "conf:sip:anna@region.se;gruu;opaque=app:conf:focus:id:"
TEAMS_URL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_MmQ0%40thread.v2/0?context=%7b%7d"


def _properties(extra: str) -> dict[str, str]:
    """_properties reads 'NAME:value' lines, as calendar_export hands them over (unescaped)."""
    return dict(line.split(":", 1) for line in extra.split("\n"))


@pytest.mark.parametrize(
    ("properties", "verdict"),
    [
        pytest.param(
            {INFORMATION: '{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":1}'},
            Verdict(True, "Outlook: Skype för företag"),
            id="provider-skype-for-business",
        ),
        pytest.param(
            {"X-MICROSOFT-ONLINEMEETINGINFORMATION": '{"OnlineMeetingProvider":2}'},
            Verdict(True, "Outlook: Skype"),
            id="provider-skype",
        ),
        pytest.param(
            {"X-MICROSOFT-ONLINEMEETINGINFORMATION": '{"OnlineMeetingProvider":3}', "LOCATION": "Skype-möte"},
            Verdict(False, "Teams"),
            id="provider-teams-wins-over-text",
        ),
        pytest.param(_properties(TEAMS_PROPERTIES), Verdict(False, "Teams"), id="outlook-teams-meeting"),
        pytest.param(
            {"X-MICROSOFT-SKYPETEAMSMEETINGURL": TEAMS_URL, "DESCRIPTION": "Skype for Business"},
            Verdict(False, "Teams"),
            id="teams-url-in-the-skype-named-property",
        ),
        pytest.param(
            {"X-MICROSOFT-SKYPETEAMSMEETINGURL": "https://meet.lync.com/region/anna/K4BJ3XQZ"},
            Verdict(True, "Skype-länk (meet.lync.com)"),
            id="lync-url-in-the-meeting-url-property",
        ),
        pytest.param(
            {"X-MICROSOFT-ONLINEMEETINGCONFLINK": SIP + "K4BJ3XQZ"},
            Verdict(True, "Skype-länk (sip-konferens)"),
            id="sip-conference",
        ),
        pytest.param(
            {"X-MICROSOFT-ONLINEMEETINGCONFLINK": SIP + "teams:2:0!19"},
            Verdict(False, "Teams"),
            id="teams-sip-conference",
        ),
        pytest.param(
            {"DESCRIPTION": skype_body()}, Verdict(True, "Skype-länk (meet.lync.com)"), id="swedish-body"
        ),
        pytest.param(
            {"DESCRIPTION": "Join Skype Meeting<https://meet.region.se/anna.andersson/9QX2LM4T>"},
            Verdict(True, "Skype-länk (meet-adress)"),
            id="meet-address-of-the-organisation",
        ),
        pytest.param(
            {"DESCRIPTION": "https://meet.region.se/region.se/meet/anna/9QX2LM4T"},
            Verdict(True, "Skype-länk (meet-adress)"),
            id="meet-address-with-domain-path",
        ),
        pytest.param(
            {"LOCATION": "https://lyncweb.region.se/meet/anna.andersson/1234ABCD"},
            Verdict(True, "Skype-länk (meet-adress)"),
            id="lync-web-pool",
        ),
        pytest.param(
            {"DESCRIPTION": "https://join.skype.com/aBcD1234eFgH"},
            Verdict(True, "Skype-länk (join.skype.com)"),
            id="skype-consumer",
        ),
        pytest.param(
            {"SUMMARY": "Delta i Skype-mötet"}, Verdict(True, "Skype nämns i inbjudan"), id="swedish-text"
        ),
        pytest.param(
            {"DESCRIPTION": "[!OC([1053])!]"}, Verdict(True, "Skype nämns i inbjudan"), id="oc-marker"
        ),
        pytest.param(
            {"DESCRIPTION": "Anslut till Skype-möte " + TEAMS_URL},
            Verdict(False, "Teams"),
            id="teams-link-wins-over-skype-text",
        ),
        pytest.param(
            {"DESCRIPTION": "https://meet.google.com/abc-defg-hij/xyz12345"}, Verdict(None), id="google-meet"
        ),
        pytest.param({"DESCRIPTION": "https://meet.jit.si/VardRum/ABCDEF12"}, Verdict(None), id="jitsi"),
        pytest.param({"SUMMARY": "Lunch", "LOCATION": "Matsalen"}, Verdict(None), id="ordinary-entry"),
        pytest.param({"SUMMARY": "Skypeintervju om flytten"}, Verdict(None), id="skype-as-a-word"),
    ],
)
def test_an_event_is_judged_by_what_outlook_wrote(properties: dict[str, str], verdict: Verdict) -> None:
    assert classify(properties) == verdict


@pytest.mark.parametrize(
    ("information", "provider"),
    [
        pytest.param('{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":1}', 1, id="escaped-comma"),
        pytest.param('{"OnlineMeetingProvider":3}', 3, id="plain"),
        pytest.param('{"OnlineMeetingProvider":3', 3, id="cut-json"),
        pytest.param('{"OnlineMeetingProvider":true}', None, id="not-a-number"),
        pytest.param("", None, id="empty"),
    ],
)
def test_the_provider_number_is_read_from_outlooks_json(information: str, provider: int | None) -> None:
    assert provider_of(information) == provider
