"""Guard: no personal data in a calendar invitation.

A calendar invitation travels by e-mail and sits in other organisations'
calendars, where it is read, forwarded and synchronised to phones; patient
details do not belong there ("Inga personuppgifter får förekomma i
mötesinbjudan"). Before an invitation is sent, its subject, location and body
are searched for:

- every personnummer and samordningsnummer, in every form `parse` accepts, that
  passes the checksum and holds a real date, wherever it stands in the text
  (also "pnr:19121212-1212,"), but not digits inside a longer run of digits nor
  a meeting id (a UUID);
- the names, phone numbers, e-mail addresses and postal addresses of the
  patients known to the meeting (`KnownPerson`).

Trade-offs: names are matched case-insensitively as whole words, so a patient
called "Per" also stops "en gång per vecka"; the clinician rewrites the
sentence, which is cheaper than a name that slips through. A phone number
written as ten plain digits that holds a real date passes the checksum one time
in ten, and is then reported as a personnummer. Text in decomposed Unicode (a + ring for å) is not
normalised, so offsets keep pointing into the text as given.

Offsets are Python string indices (code points), end exclusive.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from vardmote.errors import FieldError, InvalidInput
from vardmote.patients import personnummer

Kind = Literal["personnummer", "samordningsnummer", "namn", "telefonnummer", "e-post", "adress"]
"""What a finding is, in the Swedish words a form can show."""

MESSAGE = "Inga personuppgifter får förekomma i mötesinbjudan"

FIELD_LABELS = {"subject": "Ämne", "location": "Plats", "body": "Meddelande"}
"""The Swedish names of an invitation's fields, as the form shows them."""

MIN_PHONE_DIGITS = 5
"""Known phone numbers with fewer digits after the +46/0 prefix are not searched for: they match too much."""

_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(?![0-9A-Za-z])", re.IGNORECASE
)
_DASH = re.escape(personnummer.DASHES)
_NAME_GAP = rf"[\s{_DASH}]+"
_GENITIVE = r"(?:s|:s|'s|')?"
"""A name may be in the genitive ("Olles mamma"), which is still the name."""
_PHONE_GAP = rf"[\s{_DASH}./()]{{0,2}}"
_PHONE_PREFIX = rf"(?:(?:\+|00)\s?46{_PHONE_GAP}(?:\(0\){_PHONE_GAP})?|0)?"


@dataclass(frozen=True)
class KnownPerson:
    """KnownPerson is what is known about a patient of the meeting, to be kept out of invitations."""

    names: Sequence[str] = ()
    """Names as they may be written: "Olle Svensson", "Svensson", "Anna-Karin".

    Each is matched as whole words, in any case, also in the genitive ("Olles"), with any
    spaces or dashes between its parts. List a surname alone to catch it alone.
    """

    phone_numbers: Sequence[str] = ()
    """Phone numbers in any format; matched ignoring spaces, dashes and a +46, 0046 or 0 prefix."""

    email_addresses: Sequence[str] = ()
    """E-mail addresses; matched case-insensitively."""

    addresses: Sequence[str] = ()
    """Postal addresses or street lines ("Storgatan 1, 123 45 Stockholm", "Storgatan 1")."""


@dataclass(frozen=True)
class Finding:
    """Finding is one piece of personal data in a text: what kind, the text itself and where it is."""

    kind: Kind
    text: str
    """The offending text exactly as written."""
    start: int
    """Where it starts in the searched text."""
    end: int
    """Where it ends (exclusive)."""


class PersonalDataInInvitation(InvalidInput):
    """PersonalDataInInvitation refuses an invitation; .fields say per field which text to remove.

    The field messages quote the personal data, for the person who wrote it: do not log them.
    """

    def __init__(self, findings: dict[str, list[Finding]]) -> None:
        fields = [
            FieldError(field, _removal(FIELD_LABELS.get(field, field), found))
            for field, found in findings.items()
        ]
        super().__init__(fields, MESSAGE)
        self.findings = findings
        """The findings per field, so a form can mark the text."""


def _removal(label: str, found: list[Finding]) -> str:
    quoted = [f'"{t}"' for t in dict.fromkeys(f.text for f in found)]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " och " + quoted[-1]
    return f"Ta bort {listed} ur {label}."


def _name_pattern(name: str) -> str | None:
    parts = [re.escape(p) for p in re.split(_NAME_GAP, name.strip()) if p]
    if not parts:
        return None
    return r"(?<!\w)" + _NAME_GAP.join(parts) + _GENITIVE + r"(?!\w)"


def _phone_pattern(phone: str) -> str | None:
    digits = re.sub(r"[^0-9+]", "", phone)
    for prefix in ("+46", "0046"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    digits = digits.replace("+", "").lstrip("0")  # "+46 (0)70…" and "070…" alike
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return r"(?<![0-9])" + _PHONE_PREFIX + _PHONE_GAP.join(digits) + r"(?![0-9])"


def _email_pattern(email: str) -> str | None:
    email = email.strip()
    if "@" not in email:
        return None
    return r"(?<![\w.+-])" + re.escape(email) + r"(?![\w-]|\.\w)"


def _address_pattern(address: str) -> str | None:
    tokens = re.findall(r"\w+|[^\w\s]", address)
    if not tokens:
        return None
    parts = [re.escape(t) if re.match(r"\w", t) else f"(?:{re.escape(t)})?" for t in tokens]
    return r"(?<!\w)" + r"\s*".join(parts) + r"(?!\w)"


def _known_patterns(known: Iterable[KnownPerson]) -> list[tuple[Kind, re.Pattern[str]]]:
    patterns: list[tuple[Kind, re.Pattern[str]]] = []
    for person in known:
        sources: list[tuple[Kind, str | None]] = [
            *(("namn", _name_pattern(n)) for n in person.names),
            *(("telefonnummer", _phone_pattern(p)) for p in person.phone_numbers),
            *(("e-post", _email_pattern(e)) for e in person.email_addresses),
            *(("adress", _address_pattern(a)) for a in person.addresses),
        ]
        patterns.extend((kind, re.compile(p, re.IGNORECASE)) for kind, p in sources if p)
    return patterns


def find_personal_data(text: str, *, known: Sequence[KnownPerson] = (), today: dt.date) -> list[Finding]:
    """find_personal_data lists the personal data in text, in order of where it starts.

    today is the reference date for the century of short-form numbers. A finding that lies
    inside another (a street line inside a whole address) is left out.
    """
    meeting_ids = [m.span() for m in _UUID.finditer(text)]
    found: list[Finding] = []
    for start, end, number in personnummer.search(text, today):
        if any(s < end and start < e for s, e in meeting_ids):
            continue
        kind: Kind = "samordningsnummer" if number.is_coordination else "personnummer"
        found.append(Finding(kind, text[start:end], start, end))
    for kind, pattern in _known_patterns(known):
        found.extend(Finding(kind, m.group(), m.start(), m.end()) for m in pattern.finditer(text))
    found.sort(key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for f in found:
        if not any(k.start <= f.start and f.end <= k.end for k in kept):
            kept.append(f)
    return kept


def check_invitation(
    subject: str, location: str, body: str, *, known: Sequence[KnownPerson] = (), today: dt.date
) -> None:
    """check_invitation refuses an invitation with personal data in its subject, location or body.

    Raises `PersonalDataInInvitation` (an `InvalidInput`) naming, per field, the text to remove.
    """
    fields = {"subject": subject, "location": location, "body": body}
    findings = {name: find_personal_data(value, known=known, today=today) for name, value in fields.items()}
    offending = {name: found for name, found in findings.items() if found}
    if offending:
        raise PersonalDataInInvitation(offending)
