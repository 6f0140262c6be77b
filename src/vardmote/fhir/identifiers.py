"""Identifiers: the Swedish identifier systems an Appointment names its people by. Pure, no I/O.

==================================  =================  =====================================
system                              what               value
==================================  =================  =====================================
``urn:oid:1.2.752.129.2.1.3.1``     personnummer       twelve digits, ``191212121212``
``urn:oid:1.2.752.129.2.1.3.3``     samordningsnummer  twelve digits, the day plus 60
``urn:oid:1.2.752.29.4.19``         HSA-id             ``SE`` + ten digits + ``-`` + letters/digits (≤ 31)
==================================  =================  =====================================

A patient is named by the first two, a clinician by the third. Numbers are read by
:mod:`vardmote.patients.personnummer` (checksum, date, the samordningsnummer's day plus 60) and
must be written in the long form, with or without the dash: a journal system knows the
century, and the short form's guess at it (by age) is not one a machine-to-machine call should
rely on. The system must fit the number: a samordningsnummer under the personnummer system, or
the other way round, is refused, since the journal system then holds a wrong system for it.

Errors are :class:`~vardmote.fhir.outcome.FhirError` with Swedish and English text that never
repeat the number (it is personal data, and errors reach logs).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from vardmote.accounts.hsa_id import normal_hsa_id
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.patients.personnummer import InvalidPersonnummer, Personnummer, parse

PERSONNUMMER = "urn:oid:1.2.752.129.2.1.3.1"
"""The identifier system of Swedish personal identity numbers (Skatteverket)."""
SAMORDNINGSNUMMER = "urn:oid:1.2.752.129.2.1.3.3"
"""The identifier system of Swedish coordination numbers (Skatteverket)."""
HSA_ID = "urn:oid:1.2.752.29.4.19"
"""The identifier system of HSA-ids, the Swedish healthcare directory's ids of staff (Inera)."""

PATIENT_SYSTEMS = (PERSONNUMMER, SAMORDNINGSNUMMER)
"""The systems a patient may be named by."""

_LONG_FORM = re.compile(r"^[0-9]{8}-?[0-9]{4}$")


@dataclass(frozen=True)
class Identifier:
    """Identifier is a FHIR Identifier's system and value, as the request gave them."""

    system: str
    value: str


def patient_number(identifier: Identifier, today: dt.date, where: str) -> Personnummer:
    """patient_number reads a patient's personnummer or samordningsnummer from identifier.

    where is the FHIRPath of the identifier, for the OperationOutcome's expression. An unknown
    system, a number that is not valid, or a number under the other one's system is refused."""
    if identifier.system not in PATIENT_SYSTEMS:
        raise FhirError(
            422,
            IssueType.CODE_INVALID,
            "Okänt identifierarsystem för patienten. Använd personnummer "
            f"({PERSONNUMMER}) eller samordningsnummer ({SAMORDNINGSNUMMER}).",
            "Unknown identifier system for the patient. Use personnummer "
            f"({PERSONNUMMER}) or samordningsnummer ({SAMORDNINGSNUMMER}).",
            f"{where}.system",
        )
    coordination = identifier.system == SAMORDNINGSNUMMER
    what_sv, what_en = (
        ("Samordningsnumret", "samordningsnummer") if coordination else ("Personnumret", "personnummer")
    )
    value = identifier.value.strip()
    if not _LONG_FORM.match(value):
        raise FhirError(
            422,
            IssueType.VALUE,
            f"{what_sv} ska skrivas med tolv siffror, ÅÅÅÅMMDDNNNN.",
            f"The {what_en} must be written with twelve digits, YYYYMMDDNNNN.",
            f"{where}.value",
        )
    try:
        number = parse(value, today)
    except InvalidPersonnummer as e:
        raise FhirError(
            422, IssueType.VALUE, e.message, f"The {what_en} is not valid.", f"{where}.value"
        ) from None
    if number.is_coordination != coordination:
        raise FhirError(
            422,
            IssueType.VALUE,
            f"Numret är ett samordningsnummer: använd systemet {SAMORDNINGSNUMMER}."
            if number.is_coordination
            else f"Numret är ett personnummer: använd systemet {PERSONNUMMER}.",
            f"The number is a samordningsnummer: use the system {SAMORDNINGSNUMMER}."
            if number.is_coordination
            else f"The number is a personnummer: use the system {PERSONNUMMER}.",
            f"{where}.system",
        )
    return number


def system_of(number: Personnummer) -> str:
    """system_of is the identifier system a patient's number belongs to."""
    return SAMORDNINGSNUMMER if number.is_coordination else PERSONNUMMER


def hsa_id(identifier: Identifier, where: str) -> str:
    """hsa_id reads a clinician's HSA-id from identifier, upper-cased (``SE2321000016-ABCD``)."""
    if identifier.system != HSA_ID:
        raise FhirError(
            422,
            IssueType.CODE_INVALID,
            f"Okänt identifierarsystem för vårdpersonalen. Använd HSA-id ({HSA_ID}).",
            f"Unknown identifier system for the practitioner. Use the HSA-id ({HSA_ID}).",
            f"{where}.system",
        )
    value = normal_hsa_id(identifier.value)
    if value is None:
        raise FhirError(
            422,
            IssueType.VALUE,
            "HSA-id:t är inte giltigt: det ska vara SE, organisationsnumret "
            "(10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller "
            "siffror, högst 31 tecken (t.ex. SE2321000016-A1B2).",
            "The HSA-id is not valid: it must be SE, the organisation number "
            "(10 digits, or 12 starting with 16), "
            "a hyphen and letters or digits, at "
            "most 31 characters (e.g. SE2321000016-A1B2).",
            f"{where}.value",
        )
    return value
