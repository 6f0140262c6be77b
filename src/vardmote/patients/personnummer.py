"""Personnummer: Swedish personal identity and coordination numbers.

A personnummer is a birth date, a three-digit birth number and a check digit
(the Luhn algorithm over the ten-digit form). A samordningsnummer is the same
with 60 added to the day. People write them in several forms, all accepted:

====================  ==========================================
``YYYYMMDD-NNNC``     the long form, also with a space or no separator
``YYMMDD-NNNC``       the short form: under 100 years old on the reference date
``YYMMDD+NNNC``       the short form for someone 100 or older
``YYMMDDNNNC``        the short form without separator (as ``-``)
====================  ==========================================

The short form leaves the century out; it is taken from the separator and the
reference date ``today``: with ``-``, a space or nothing, the latest birth date
not after ``today``; with ``+``, a hundred years before that. Dash-like
characters that word processors put in (en dash, non-breaking hyphen, minus
sign) and a non-breaking space count as the dash and the space.

Trade-off: the number is personal data, so an error message never repeats it,
and ``repr`` of a `Personnummer` is masked; ``str`` gives the whole number for
the places that must show it to its owner.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

DASHES = "-\u2010\u2011\u2013\u2212"
"""Characters read as the dash: hyphen-minus, hyphen, non-breaking hyphen, en dash, minus sign."""

SPACES = " \u00a0"
"""Characters read as a space separator: space and non-breaking space."""

_SEPARATOR = rf"[{re.escape(DASHES + SPACES)}+]"
_BODY = rf"(?P<century>[0-9]{{2}})?(?P<date>[0-9]{{6}})(?P<sep>{_SEPARATOR}?)(?P<serial>[0-9]{{4}})"
_WHOLE = re.compile(_BODY)
_IN_TEXT = re.compile(rf"(?<![0-9]){_BODY}(?![0-9])")


class InvalidPersonnummer(ValueError):
    """InvalidPersonnummer says in Swedish why a number is not a valid personnummer.

    The message never repeats the number (it is personal data and errors end up in logs).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _what(coordination: bool) -> str:
    return "Samordningsnumret" if coordination else "Personnumret"


def check_digit(nine_digits: str) -> int:
    """check_digit is the Luhn check digit of the first nine digits of the ten-digit form."""
    total = 0
    for i, c in enumerate(nine_digits):
        product = int(c) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


@dataclass(frozen=True, repr=False)
class Personnummer:
    """Personnummer is a valid personnummer or samordningsnummer in its twelve-digit form.

    Made directly from twelve digits (``Personnummer("191212121212")``) or with `parse`
    from what a person typed. The checksum and the birth date are checked when it is made.
    """

    digits: str
    """The twelve digits ``YYYYMMDDNNNC``, with the day plus 60 for a samordningsnummer."""

    def __post_init__(self) -> None:
        if len(self.digits) != 12 or not self.digits.isascii() or not self.digits.isdigit():
            raise InvalidPersonnummer("Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.")
        coordination = self.is_coordination
        if check_digit(self.digits[2:11]) != int(self.digits[11]):
            raise InvalidPersonnummer(f"{_what(coordination)} är inte giltigt: kontrollsiffran stämmer inte.")
        try:
            _birth_date(self.digits)
        except ValueError:
            raise InvalidPersonnummer(f"{_what(coordination)} är inte giltigt: datumet finns inte.") from None

    @property
    def is_coordination(self) -> bool:
        """is_coordination tells whether this is a samordningsnummer (day plus 60)."""
        return int(self.digits[6:8]) > 60

    @property
    def birth_date(self) -> dt.date:
        """birth_date is the date in the number (the day less 60 for a samordningsnummer)."""
        return _birth_date(self.digits)

    def age_on(self, day: dt.date) -> int:
        """age_on is the age in whole years on day.

        Someone born on 29 February turns a year older on 1 March in other years.
        """
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def masked(self) -> str:
        """masked is the long form with the last four digits hidden ("19121212-****"), for audit and logs."""
        return f"{self.digits[:8]}-****"

    def __str__(self) -> str:
        return f"{self.digits[:8]}-{self.digits[8:]}"

    def __repr__(self) -> str:
        return f"Personnummer({self.masked()!r})"


def _birth_date(digits: str) -> dt.date:
    """_birth_date is the date in twelve digits; raises ValueError if there is no such date."""
    day = int(digits[6:8])
    if day > 60:
        day -= 60
    return dt.date(int(digits[0:4]), int(digits[4:6]), day)


def _century(yymmdd: str, sep: str, today: dt.date) -> str:
    """_century is the century of a short-form number written with sep, as of today."""
    yy, mm, dd = int(yymmdd[0:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    if dd > 60:
        dd -= 60
    year = today.year - (today.year - yy) % 100
    if (year, mm, dd) > (today.year, today.month, today.day):
        year -= 100
    if sep == "+":
        year -= 100
    return f"{year // 100:02d}"


def _from_match(m: re.Match[str], today: dt.date) -> Personnummer:
    century, yymmdd, sep, serial = m["century"], m["date"], m["sep"], m["serial"]
    if century is not None and sep == "+":
        raise InvalidPersonnummer("Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.")
    if century is None:
        century = _century(yymmdd, sep, today)
    number = Personnummer(century + yymmdd + serial)
    if number.birth_date > today:
        what = _what(number.is_coordination)
        raise InvalidPersonnummer(f"{what} är inte giltigt: datumet ligger i framtiden.")
    return number


def parse(text: str, today: dt.date) -> Personnummer:
    """parse reads a personnummer or samordningsnummer in any of the forms above.

    today is the reference date for the century of the short forms; a birth date after
    it is refused. Raises `InvalidPersonnummer` with a Swedish message for people.
    """
    m = _WHOLE.fullmatch(text.strip())
    if m is None:
        raise InvalidPersonnummer("Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.")
    return _from_match(m, today)


def search(text: str, today: dt.date) -> Iterator[tuple[int, int, Personnummer]]:
    """search yields (start, end, number) for every number in running text that `parse` would accept.

    A number may stand next to letters or punctuation ("pnr:19121212-1212,") but not next to
    another digit: digits inside a longer run of digits are not a personnummer.
    """
    for m in _IN_TEXT.finditer(text):
        try:
            number = _from_match(m, today)
        except InvalidPersonnummer:
            continue
        yield m.start(), m.end(), number
