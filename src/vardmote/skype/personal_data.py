"""Personal data in a Skype invitation: what kind, in which field, never the text itself in a listing.

Uses :func:`vardmote.invitations.guard.find_personal_data` for personnummer and
samordningsnummer. The guard finds names, phone numbers and addresses only of
patients it is told about; a calendar export names no patients, so phone
numbers are searched for here by shape: Swedish numbers (``070-123 45 67``,
``+46 21 17 30 00``, ``08-123 456 78``).

Trade-offs: a Skype invitation carries its own dial-in numbers ("Anslut via
telefon … Konferens-ID: …"), so numbers in that block are not flagged; a
patient's number written inside it would be missed. Numbers inside web
addresses are not flagged. Names cannot be found without knowing them, so a
title is shown as is unless a number was found: the administrator reads it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from vardmote.invitations.guard import FIELD_LABELS, Kind, find_personal_data

FIELDS = {"SUMMARY": "subject", "LOCATION": "location", "DESCRIPTION": "body"}
"""The event properties searched, and the invitation field each is (for guard.FIELD_LABELS)."""

_PHONE = re.compile(
    r"(?<![\w+\-./])(?:(?:\+|00)\s?46[ -]?(?:\(0\)[ -]?)?|0)[1-9](?:[ \-/]?[0-9]){5,8}(?![\w\-])"
)
_URL = re.compile(r"<[^>\s]*>|\b(?:https?|sip|mailto|tel|conf):[^\s<>]*", re.IGNORECASE)
_DIAL_IN_START = re.compile(
    r"anslut via telefon|delta via telefon|ring in|join by phone|join by (?:tele)?phone", re.IGNORECASE
)
_DIAL_IN_END = re.compile(r"(?:konferens-?id|conference id)[^\n]*", re.IGNORECASE)
_DIAL_IN_LINES = 6
"""Without a "Konferens-ID" line, this many lines after "Anslut via telefon" are the dial-in block."""


@dataclass(frozen=True)
class Flag:
    """Flag is one piece of personal data found: its kind, the field and where (never the text)."""

    field: str
    """The event property: SUMMARY, LOCATION or DESCRIPTION."""
    kind: Kind
    start: int
    end: int

    @property
    def label(self) -> str:
        """label is the field's Swedish name, as the invitation form shows it ("Ämne")."""
        return FIELD_LABELS[FIELDS[self.field]]


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _dial_in_blocks(text: str) -> list[tuple[int, int]]:
    blocks: list[tuple[int, int]] = []
    for heading in _DIAL_IN_START.finditer(text):
        rest = text[heading.start() :]
        lines_end = heading.start() + sum(len(line) for line in rest.splitlines(True)[: _DIAL_IN_LINES + 1])
        end = _DIAL_IN_END.search(text, heading.end(), lines_end + 400)
        blocks.append((heading.start(), end.end() if end else lines_end))
    return blocks


def phone_numbers(text: str) -> list[tuple[int, int]]:
    """phone_numbers lists (start, end) of Swedish phone numbers in text, outside addresses and dial-in."""
    searched = _blank(text, [m.span() for m in _URL.finditer(text)] + _dial_in_blocks(text))
    return [m.span() for m in _PHONE.finditer(searched)]


def find_flags(field: str, text: str, today: dt.date) -> list[Flag]:
    """find_flags lists the personal data in one property's text, in order of where it starts."""
    found = [Flag(field, f.kind, f.start, f.end) for f in find_personal_data(text, today=today)]
    for start, end in phone_numbers(text):
        if not any(f.start < end and start < f.end for f in found):
            found.append(Flag(field, "telefonnummer", start, end))
    return sorted(found, key=lambda f: f.start)


def describe(flags: list[Flag]) -> str:
    """describe says what was found where, never the text: "personnummer (Meddelande)"."""
    seen = dict.fromkeys((f.kind, f.label) for f in flags)
    return ", ".join(f"{kind} ({label})" for kind, label in seen)


def mask(text: str, flags: list[Flag]) -> str:
    """mask replaces each flagged part of text with its kind in brackets: "Återbesök [personnummer]"."""
    out, at = [], 0
    for f in sorted(flags, key=lambda f: f.start):
        if f.start < at:
            continue
        out += [text[at : f.start], f"[{f.kind}]"]
        at = f.end
    out.append(text[at:])
    return "".join(out)
