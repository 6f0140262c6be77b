"""Recognition: is a calendar event a Skype meeting? Pure rules, no I/O.

Outlook marks an online meeting in three ways, from the most to the least reliable:

1. ``X-MICROSOFT-ONLINEMEETINGINFORMATION``, JSON with ``OnlineMeetingProvider``:
   1 is Skype for Business, 2 Skype (consumer), 3 Teams, 4 Teams (free). The
   numbers are Microsoft Graph's ``onlineMeetingProviderType``.
2. The join address: ``X-MICROSOFT-SKYPETEAMSMEETINGURL`` (despite its name, Teams
   writes it too) and ``X-MICROSOFT-ONLINEMEETINGCONFLINK``, a SIP conference URI
   (``conf:sip:…;gruu;opaque=app:conf:focus:id:…``; a Teams meeting has
   ``…focus:id:teams:…`` there).
3. The invitation's text: "Anslut till Skype-möte" with a join link such as
   ``https://meet.lync.com/…`` or ``https://meet.<the organisation's domain>/<user>/<id>``,
   and the ``[!OC([1053])!]`` marker the Skype add-in writes at the end of the body.

An event is a Skype meeting when the first of these that says anything says
Skype. Trade-off: text alone ("Skype-möte" in the subject) counts, so a plain
calendar entry that mentions Skype is listed too — a meeting left in Skype after
the cut-off is the costlier mistake; the administrator does not select what is not
a meeting. Any sign of Teams (the provider number, a teams.microsoft.com or
teams.live.com address) wins over text, since Teams meetings carry the word
"Skype" in their property names and sometimes in their location.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

SKYPE_PROVIDERS = {1: "Skype för företag", 2: "Skype"}
"""Outlook's OnlineMeetingProvider numbers that are Skype, with how they are shown."""

TEAMS_PROVIDERS = {3, 4}
"""Outlook's OnlineMeetingProvider numbers that are Teams."""

TEXT_PROPERTIES = (
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "X-ALT-DESC",
    "URL",
    "X-MICROSOFT-LOCATIONDISPLAYNAME",
)
"""The properties whose text is searched for join links and Skype wording."""

_TEAMS_URL = re.compile(r"https?://(?:[\w-]+\.)*teams\.(?:microsoft|live)\.com/", re.IGNORECASE)
_SKYPE_URLS: list[tuple[str, re.Pattern[str]]] = [
    ("meet.lync.com", re.compile(r"https?://(?:[\w-]+\.)*lync\.com/", re.IGNORECASE)),
    ("join.skype.com", re.compile(r"https?://join\.skype\.com/", re.IGNORECASE)),
    # https://meet.region.se/anna.andersson/AB12CD34 and https://meet.region.se/region.se/meet/anna/AB12CD34
    (
        "meet-adress",
        re.compile(
            r"https?://meet\.[\w.-]+\.[a-z]{2,}/(?:[\w.-]+/meet/)?[\w.%-]+/[A-Z0-9]{5,16}(?![\w/-])",
            re.IGNORECASE,
        ),
    ),
    # Lync's own web pools: https://lyncweb.region.se/meet/anna/AB12CD34
    ("meet-adress", re.compile(r"https?://[\w.-]+/meet/[\w.%-]+/[A-Z0-9]{5,16}(?![\w/-])", re.IGNORECASE)),
    ("sip-konferens", re.compile(r"opaque=app:conf:focus:id:(?!teams:)", re.IGNORECASE)),
]
_NOT_SKYPE_HOSTS = re.compile(r"https?://meet\.(?:google\.com|jit\.si)/", re.IGNORECASE)
_SKYPE_TEXT = re.compile(
    r"\[!OC\(\[\d+\]\)!\]"  # the Skype add-in's marker in the body
    r"|anslut till skype[\s-]?möte|delta i skype[\s-]?möte"
    r"|join skype meeting|join lync meeting"
    r"|skype for business|skype för företag"
    r"|skype[\s-]?möte|skype[\s-]?meeting|lync[\s-]?möte",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """Verdict is what an event's own properties say about it: Skype, Teams or nothing."""

    is_skype: bool | None
    """True for Skype, False for Teams, None when the event says nothing either way."""
    reason: str = ""
    """Why, in Swedish, for the listing: e.g. "Skype-länk (meet.lync.com)"."""


NOTHING = Verdict(None)


def provider_of(information: str) -> int | None:
    """provider_of reads OnlineMeetingProvider from X-MICROSOFT-ONLINEMEETINGINFORMATION (JSON)."""
    text = information.replace("\\,", ",").replace("\\;", ";")
    try:
        value = json.loads(text)
    except ValueError:
        found = re.search(r'"OnlineMeetingProvider"\s*:\s*(\d+)', text)
        return int(found.group(1)) if found else None
    provider = value.get("OnlineMeetingProvider") if isinstance(value, dict) else None
    return provider if isinstance(provider, int) and not isinstance(provider, bool) else None


def skype_link(text: str) -> str | None:
    """skype_link names the kind of Skype join address in text ("meet.lync.com", …), or None."""
    cleaned = _NOT_SKYPE_HOSTS.sub(" ", text)
    for name, pattern in _SKYPE_URLS:
        if pattern.search(cleaned):
            return name
    return None


def has_teams_link(text: str) -> bool:
    """has_teams_link tells whether text holds a Teams join address."""
    return _TEAMS_URL.search(text) is not None


def has_skype_text(text: str) -> bool:
    """has_skype_text tells whether text says Skype meeting the way an invitation does."""
    return _SKYPE_TEXT.search(text) is not None


def classify(properties: Mapping[str, str]) -> Verdict:
    """classify judges an event by its properties (upper-case names, unfolded, unescaped text).

    Besides TEXT_PROPERTIES, the Microsoft properties described in the module are read.
    """
    provider = provider_of(properties.get("X-MICROSOFT-ONLINEMEETINGINFORMATION", ""))
    if provider in SKYPE_PROVIDERS:
        return Verdict(True, f"Outlook: {SKYPE_PROVIDERS[provider]}")
    if provider in TEAMS_PROVIDERS:
        return Verdict(False, "Teams")
    for name in ("X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-MICROSOFT-ONLINEMEETINGCONFLINK"):
        value = properties.get(name, "")
        if not value.strip():
            continue
        if has_teams_link(value) or re.search(r"focus:id:teams:", value, re.IGNORECASE):
            return Verdict(False, "Teams")
        link = skype_link(value)
        if link is not None:
            return Verdict(True, f"Skype-länk ({link})")
        if name == "X-MICROSOFT-ONLINEMEETINGCONFLINK":
            return Verdict(True, "Outlook: Skype-konferens (SIP)")
    text = "\n".join(properties.get(name, "") for name in TEXT_PROPERTIES)
    link = skype_link(text)
    if link is not None:
        return Verdict(True, f"Skype-länk ({link})")
    if has_teams_link(text):
        return Verdict(False, "Teams")
    if has_skype_text(text):
        return Verdict(True, "Skype nämns i inbjudan")
    return NOTHING
