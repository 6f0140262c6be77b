"""HSA-ids: how the Swedish healthcare directory (Katalogtjänst HSA, Inera) names staff.

An HSA-id is ``SE``, the directory owner's organisation number (ten digits, or twelve with the
``16`` prefix some owners use, as Inera's own ``SE165565594230-1000``), a hyphen and at least
one letter or digit (A–Z, a–z, 0–9; no å, ä, ö or @), at most 31 characters in all (Inera's
rule), e.g. ``SE2321000016-1003``. Vårdmöte keeps it upper-cased, so that the
identity provider's ``employeeHsaId`` and a journal system's Appointment find the same
account however either writes the letters.
"""

from __future__ import annotations

import re

MAX_LENGTH = 31
"""Longest HSA-id, in characters (Inera: "HSA-id ska inte överskrida 31 tecken totalt")."""

_HSA_ID = re.compile(r"SE(?:16)?[0-9]{10}-[A-Z0-9]+")


def normal_hsa_id(value: object) -> str | None:
    """normal_hsa_id is value as a valid HSA-id, upper-cased and without surrounding spaces, or
    None when value is not one (not a string, wrong shape, too long)."""
    if not isinstance(value, str) or not value.isascii():
        return None  # ASCII first: upper() would make "ı" an "I"
    candidate = value.strip().upper()
    if len(candidate) > MAX_LENGTH or not _HSA_ID.fullmatch(candidate):
        return None
    return candidate
