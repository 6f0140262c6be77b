"""Scopes: what a journal system may do, in the SMART on FHIR scope grammar. Pure, no I/O.

A scope is ``system/<Resource>.<permissions>``:

- SMART v2: ``system/Appointment.cruds``, or any of its letters in that order (``rs``,
  ``cud``): c create, r read, u update, d delete, s search;
- SMART v1, as aliases: ``.read`` is ``rs``, ``.write`` is ``cud``, ``.*`` is ``cruds``.

Only ``system/`` scopes (a system acting for itself, SMART Backend Services) and only the
resources Vårdmöte serves (:data:`RESOURCES`: Appointment) are accepted; v2 scopes with
query parameters (``?category=…``) are not. A scope is refused when a client is added, so a
registered client never holds one that means nothing here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

RESOURCES = ("Appointment",)
"""The FHIR resources Vårdmöte serves."""

ACTIONS = "cruds"
"""The SMART v2 permissions, in their order: create, read, update, delete, search."""

V1_ALIASES = {"read": "rs", "write": "cud", "*": "cruds"}
"""The SMART v1 permissions and the v2 letters each stands for."""

MAX_SCOPES = 20
MAX_SCOPE_LENGTH = 100
MAX_SCOPES_TEXT = 500
"""The most a client's scopes may take together (the column's width)."""

EXAMPLE = "system/Appointment.cruds"

GRAMMAR_HELP = (
    "Skriv behörigheter som system/Appointment.cruds: c skapa, r läsa, u ändra, d avboka/ta bort, "
    "s söka, i den ordningen (t.ex. system/Appointment.rs), eller system/Appointment.read, .write "
    "eller .*. Flera åtskiljs med mellanslag."
)

_V2 = re.compile(r"c?r?u?d?s?")
_SHAPE = re.compile(r"([A-Za-z]+)/([A-Za-z*]+)\.([A-Za-z*]+)")


class ScopeError(ValueError):
    """ScopeError says in Swedish why a scope text is not one Vårdmöte accepts."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Scope:
    """Scope is one parsed scope: its text as written, its resource and its permissions."""

    text: str
    resource: str
    actions: frozenset[str]

    def allows(self, resource: str, action: str) -> bool:
        """allows tells whether this scope lets its holder do action ("c", "r", "u", "d",
        "s") on resource."""
        return self.resource == resource and action in self.actions


def parse_scope(text: str) -> Scope:
    """parse_scope reads one scope, or raises ScopeError with what is wrong."""
    shown = text if len(text) <= MAX_SCOPE_LENGTH else text[:MAX_SCOPE_LENGTH] + "…"
    found = _SHAPE.fullmatch(text) if len(text) <= MAX_SCOPE_LENGTH else None
    if found is None:
        raise ScopeError(f"Behörigheten {shown!r} går inte att tolka. {GRAMMAR_HELP}")
    context, resource, permissions = found.groups()
    if context != "system":
        raise ScopeError(
            f"Behörigheten {shown!r} gäller inte ett system: ett journalsystem får bara "
            f"behörigheter som börjar med system/. {GRAMMAR_HELP}"
        )
    if resource not in RESOURCES:
        raise ScopeError(
            f"Resursen {resource!r} finns inte i Vårdmötes API; det som finns är "
            f"{', '.join(RESOURCES)}. {GRAMMAR_HELP}"
        )
    letters = V1_ALIASES.get(permissions, permissions)
    if not letters or _V2.fullmatch(letters) is None:
        raise ScopeError(f"Behörigheten {shown!r} går inte att tolka. {GRAMMAR_HELP}")
    return Scope(text, resource, frozenset(letters))


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """parse_scopes reads space-separated scopes (at least one; a repeated one counts once),
    or raises ScopeError for the first that is wrong."""
    words = list(dict.fromkeys(text.split()))
    if not words:
        raise ScopeError(f"Ange minst en behörighet. {GRAMMAR_HELP}")
    if len(words) > MAX_SCOPES or len(" ".join(words)) > MAX_SCOPES_TEXT:
        raise ScopeError(f"Ange högst {MAX_SCOPES} behörigheter, högst {MAX_SCOPES_TEXT} tecken tillsammans.")
    return tuple(parse_scope(word) for word in words)


def scope_text(scopes: Iterable[Scope]) -> str:
    """scope_text writes scopes as the space-separated text that is stored and answered."""
    return " ".join(scope.text for scope in scopes)


def within(requested: Iterable[Scope], granted: Iterable[Scope]) -> bool:
    """within tells whether every permission of requested is one that granted gives:
    ``system/Appointment.rs`` is within ``system/Appointment.cruds``, and so is ``.read``."""
    allowed = {(scope.resource, action) for scope in granted for action in scope.actions}
    return all((scope.resource, action) in allowed for scope in requested for action in scope.actions)


def allows(scopes: Iterable[Scope], resource: str, action: str) -> bool:
    """allows tells whether any of scopes lets its holder do action on resource."""
    return any(scope.allows(resource, action) for scope in scopes)
