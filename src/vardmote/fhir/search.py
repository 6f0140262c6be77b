"""Search: the search parameters of ``GET /fhir/r4/Appointment``, read and checked. Pure, no I/O.

=========================  ==========================================================================
parameter                  value
=========================  ==========================================================================
``patient:identifier``     ``<system>|<number>``: personnummer or samordningsnummer system; commas: any of
``practitioner:identifier`` ``urn:oid:1.2.752.29.4.19|<HSA-id>``; commas: any of
``date``                   the start, ``[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]``, prefixes eq (the
                           default), ne, gt, ge, lt, le; repeat for a range (``date=ge…&date=lt…``)
``status``                 ``booked``, ``cancelled``; commas: any of
``_count``                 page size, 1–100 (default 50)
``_offset``                where the page starts (the ``next`` link sets it)
``_format``                ``json``, ``application/json`` or ``application/fhir+json`` only
=========================  ==========================================================================

The ``:identifier`` modifier is R4's way of searching a reference by the identifier of what it
points at: Vårdmöte keeps no Patient or Practitioner resources, so the chained forms
(``patient.identifier=…``) and plain references (``patient=Patient/1``) are refused, as is any
parameter not listed here (400): a search a journal system believes filtered must never come
back unfiltered. A date or time without a zone is read in the service's time zone; a date
stands for its whole day (or month, or year), a time for its whole minute or second.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from vardmote.fhir import identifiers
from vardmote.fhir.appointments import STATUSES
from vardmote.fhir.identifiers import Identifier
from vardmote.fhir.outcome import FhirError, IssueType
from vardmote.lib.timeutil import local_to_utc
from vardmote.patients.personnummer import Personnummer

DEFAULT_COUNT = 50
MAX_COUNT = 100
MAX_OFFSET = 100_000
MAX_VALUES = 20
"""The most comma-separated values of one parameter, and the most date parameters."""
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
PARAMETERS = (
    "patient:identifier",
    "practitioner:identifier",
    "date",
    "status",
    "_count",
    "_offset",
    "_format",
)

_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|ge|lt|le|sa|eb|ap)?"
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$"
)


@dataclass(frozen=True)
class DateBound:
    """DateBound is one ``date`` parameter: its prefix and the range [low, high) its value stands for."""

    prefix: str
    low: dt.datetime
    high: dt.datetime


@dataclass(frozen=True)
class Query:
    """Query is a checked search: None where a parameter was not given."""

    patients: list[Personnummer] | None = None
    practitioners: list[str] | None = None
    statuses: list[str] | None = None
    dates: list[DateBound] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0


def parse(parameters: list[tuple[str, str]], tz: ZoneInfo, today: dt.date) -> Query:
    """parse checks the query's parameters (name, value) and returns the search they ask for."""
    given: dict[str, list[str]] = {}
    for name, value in parameters:
        if name not in PARAMETERS:
            raise FhirError(
                400,
                IssueType.NOT_SUPPORTED,
                f"Sökparametern {name[:60]!r} stöds inte. Använd {', '.join(PARAMETERS)}.",
                f"The search parameter {name[:60]!r} is not supported. Use {', '.join(PARAMETERS)}.",
                name[:60],
            )
        given.setdefault(name, []).append(value)
    for name, values in given.items():
        if name != "date" and len(values) > 1:
            raise FhirError(
                400,
                IssueType.INVALID,
                f"Ange {name} en gång (flera värden skiljs med komma).",
                f"Give {name} once (several values are separated by commas).",
                name,
            )
    if len(given.get("date", [])) > MAX_VALUES:
        raise FhirError(
            400, IssueType.INVALID, "För många date-parametrar.", "Too many date parameters.", "date"
        )
    fmt = given.get("_format", ["json"])[0]
    if fmt not in JSON_FORMATS:
        raise FhirError(
            406,
            IssueType.NOT_SUPPORTED,
            "Vårdmöte svarar bara med JSON (application/fhir+json).",
            "Vårdmöte answers only in JSON (application/fhir+json).",
            "_format",
        )
    return Query(
        patients=_patients(given["patient:identifier"][0], today) if "patient:identifier" in given else None,
        practitioners=(
            _practitioners(given["practitioner:identifier"][0])
            if "practitioner:identifier" in given
            else None
        ),
        statuses=_statuses(given["status"][0]) if "status" in given else None,
        dates=[_date(value, tz) for value in given.get("date", [])],
        count=_number(given.get("_count", [str(DEFAULT_COUNT)])[0], "_count", 1, MAX_COUNT),
        offset=_number(given.get("_offset", ["0"])[0], "_offset", 0, MAX_OFFSET),
    )


def _values(raw: str, name: str) -> list[str]:
    values = raw.split(",")
    if len(values) > MAX_VALUES or any(not v for v in values):
        raise FhirError(
            400,
            IssueType.INVALID,
            f"{name} ska ha 1–{MAX_VALUES} värden åtskilda med komma.",
            f"{name} must have 1–{MAX_VALUES} values separated by commas.",
            name,
        )
    return values


def _token(value: str, name: str) -> Identifier:
    system, bar, code = value.partition("|")
    if not bar or not system or not code:
        raise FhirError(
            400,
            IssueType.INVALID,
            f"{name} ska skrivas system|värde.",
            f"{name} must be written system|value.",
            name,
        )
    return Identifier(system, code)


def _patients(raw: str, today: dt.date) -> list[Personnummer]:
    name = "patient:identifier"
    return [identifiers.patient_number(_token(v, name), today, name) for v in _values(raw, name)]


def _practitioners(raw: str) -> list[str]:
    name = "practitioner:identifier"
    return [identifiers.hsa_id(_token(v, name), name) for v in _values(raw, name)]


def _statuses(raw: str) -> list[str]:
    values = _values(raw, "status")
    for value in values:
        if value not in STATUSES:
            raise FhirError(
                400,
                IssueType.VALUE,
                f"status kan vara {' eller '.join(STATUSES)}.",
                f"status can be {' or '.join(STATUSES)}.",
                "status",
            )
    return values


def _number(raw: str, name: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise FhirError(
            400,
            IssueType.VALUE,
            f"{name} ska vara ett heltal från {low} till {high}.",
            f"{name} must be a whole number from {low} to {high}.",
            name,
        )
    return int(raw)


def _date(raw: str, tz: ZoneInfo) -> DateBound:
    found = _DATE.match(raw)
    bad = FhirError(
        400,
        IssueType.VALUE,
        "date ska skrivas [prefix]ÅÅÅÅ[-MM[-DD[Thh:mm[:ss][zon]]]], med prefixen eq, ne, gt, ge, lt "
        "eller le.",
        "date must be written [prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]], with the prefixes eq, ne, gt, "
        "ge, lt or le.",
        "date",
    )
    if found is None:
        raise bad
    prefix = found["prefix"] or "eq"
    if prefix in {"sa", "eb", "ap"}:
        raise FhirError(
            400,
            IssueType.NOT_SUPPORTED,
            f"Prefixet {prefix} stöds inte för date; använd eq, ne, gt, ge, lt eller le.",
            f"The prefix {prefix} is not supported for date; use eq, ne, gt, ge, lt or le.",
            "date",
        )
    year = int(found["year"])
    month = int(found["month"] or 1)
    day = int(found["day"] or 1)
    try:
        if found["hour"] is None:
            low_day = dt.date(year, month, day)
            if found["day"]:
                high_day = low_day + dt.timedelta(days=1)
            elif found["month"]:
                high_day = dt.date(year + month // 12, month % 12 + 1, 1)
            else:
                high_day = dt.date(year + 1, 1, 1)
            low = local_to_utc(dt.datetime.combine(low_day, dt.time()), tz)
            high = local_to_utc(dt.datetime.combine(high_day, dt.time()), tz)
            return DateBound(prefix, low, high)
        second = found["second"]
        moment = dt.datetime.combine(
            dt.date(year, month, day), dt.time(int(found["hour"]), int(found["minute"]), int(second or 0))
        )
        step = dt.timedelta(seconds=1) if second is not None else dt.timedelta(minutes=1)
        zone = found["zone"]
        if zone is None:
            low = local_to_utc(moment, tz)
        else:
            offset = dt.timedelta(0) if zone == "Z" else _offset(zone)
            if offset is None:
                raise bad
            low = moment.replace(tzinfo=dt.timezone(offset)).astimezone(dt.UTC)
        return DateBound(prefix, low, low + step)
    except (ValueError, OverflowError):  # no such day, or beyond the years 1-9999 in UTC
        raise bad from None


def _offset(zone: str) -> dt.timedelta | None:
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 14 or minutes > 59:
        return None
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return -delta if zone[0] == "-" else delta
