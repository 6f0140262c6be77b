"""Personnummer: every common form, the checksum, the date, the century of the short forms."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vardmote.patients.personnummer import InvalidPersonnummer, Personnummer, check_digit, parse

TODAY = dt.date(2024, 5, 15)

# 19121212-1212 is the example number everyone uses; its check digit is 2 (Luhn over 121212121).
# The others below are made from it or computed with the Luhn rule, not real people's numbers.


def test_the_common_example_number_has_a_valid_check_digit() -> None:
    assert check_digit("121212121") == 2


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("19121212-1212", id="long-with-dash"),
        pytest.param("191212121212", id="long-without-separator"),
        pytest.param("19121212 1212", id="long-with-space"),
        pytest.param("121212+1212", id="short-with-plus"),
        pytest.param("  19121212-1212\n", id="surrounding-whitespace"),
        pytest.param("19121212–1212", id="en-dash"),
        pytest.param("19121212\u00a01212", id="non-breaking-space"),
    ],
)
def test_the_patient_born_in_1912_is_read_from_every_form(text: str) -> None:
    number = parse(text, TODAY)
    assert number.digits == "191212121212"
    assert number.birth_date == dt.date(1912, 12, 12)
    assert not number.is_coordination


@pytest.mark.parametrize(
    ("text", "today", "digits"),
    [
        pytest.param("121212-1212", TODAY, "201212121212", id="dash-means-under-100"),
        pytest.param("1212121212", TODAY, "201212121212", id="no-separator-as-dash"),
        pytest.param("121212 1212", TODAY, "201212121212", id="space-as-dash"),
        pytest.param("121212+1212", TODAY, "191212121212", id="plus-means-100-or-older"),
        pytest.param("240515-1230", TODAY, "202405151230", id="born-on-the-reference-date"),
        pytest.param("240516-1239", TODAY, "192405161239", id="a-day-later-is-a-century-earlier"),
        pytest.param("240516+1239", TODAY, "182405161239", id="plus-a-century-before-that"),
        pytest.param("000229-1235", TODAY, "200002291235", id="leap-day-of-2000"),
        pytest.param("121212-1212", dt.date(2012, 12, 11), "191212121212", id="reference-date-matters"),
    ],
)
def test_the_century_of_a_short_form_comes_from_the_separator_and_the_date(
    text: str, today: dt.date, digits: str
) -> None:
    assert parse(text, today).digits == digits


def test_a_samordningsnummer_has_sixty_added_to_the_day() -> None:
    number = parse("19121272-1219", TODAY)
    assert number.is_coordination
    assert number.birth_date == dt.date(1912, 12, 12)
    assert parse("121272+1219", TODAY) == number


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "19121212-1213", "Personnumret är inte giltigt: kontrollsiffran stämmer inte.", id="bad-checksum"
        ),
        pytest.param(
            "19121272-1218",
            "Samordningsnumret är inte giltigt: kontrollsiffran stämmer inte.",
            id="samordningsnummer-bad-checksum",
        ),
        pytest.param(
            "19130229-1230", "Personnumret är inte giltigt: datumet finns inte.", id="no-leap-day-1913"
        ),
        pytest.param("19121240-1234", "Personnumret är inte giltigt: datumet finns inte.", id="day-40"),
        pytest.param(
            "20301212-1236", "Personnumret är inte giltigt: datumet ligger i framtiden.", id="future"
        ),
        pytest.param("", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="empty"),
        pytest.param(
            "1912121-1212", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="short"
        ),
        pytest.param(
            "19121212-12121", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="five-last"
        ),
        pytest.param(
            "19121212--1212", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="two-dashes"
        ),
        pytest.param(
            "19121212+1212", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="long-with-plus"
        ),
        pytest.param(
            "pnr 19121212-1212", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="words"
        ),
        pytest.param(
            "١٩١٢١٢١٢-١٢١٢", "Personnumret är inte giltigt: skriv det som ÅÅÅÅMMDD-NNNN.", id="arabic-digits"
        ),
    ],
)
def test_it_refuses_what_is_not_a_valid_number_and_says_why(text: str, message: str) -> None:
    with pytest.raises(InvalidPersonnummer) as e:
        parse(text, TODAY)
    assert e.value.message == message
    assert str(e.value) == message
    assert isinstance(e.value, ValueError)


def test_a_personnummer_made_directly_is_checked_too() -> None:
    with pytest.raises(InvalidPersonnummer, match="kontrollsiffran"):
        Personnummer("191212121213")
    with pytest.raises(InvalidPersonnummer, match="ÅÅÅÅMMDD-NNNN"):
        Personnummer("19121212-1212")


@pytest.mark.parametrize(
    ("digits", "day", "age"),
    [
        pytest.param("191212121212", dt.date(2024, 12, 11), 111, id="day-before-birthday"),
        pytest.param("191212121212", dt.date(2024, 12, 12), 112, id="on-birthday"),
        pytest.param("200002291235", dt.date(2023, 2, 28), 22, id="leap-day-child-on-28-february"),
        pytest.param("200002291235", dt.date(2023, 3, 1), 23, id="leap-day-child-on-1-march"),
        pytest.param("200002291235", dt.date(2024, 2, 29), 24, id="leap-day-child-on-leap-day"),
    ],
)
def test_the_age_is_in_whole_years(digits: str, day: dt.date, age: int) -> None:
    assert Personnummer(digits).age_on(day) == age


def test_the_number_is_masked_in_repr_and_for_the_audit_log() -> None:
    number = parse("121212-1212", TODAY)
    assert number.masked() == "20121212-****"
    assert repr(number) == "Personnummer('20121212-****')"
    assert "1212'" not in repr(number)
    assert str(number) == "20121212-1212"


# Property tests: numbers made from a real date, a serial and the computed check digit.


def _years_after(born: dt.date, years: int) -> tuple[int, int, int]:
    return (born.year + years, born.month, born.day)


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, dt.date, Personnummer]:
    """written_numbers is (how it is written, the reference date, the number it means)."""
    today = draw(st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31)))
    t = (today.year, today.month, today.day)
    form = draw(st.sampled_from(["long-", "long ", "long", "short-", "short ", "short", "short+"]))
    born = draw(st.dates(dt.date(today.year - 199, 1, 1), today))
    if form.startswith("short"):
        if form == "short+":
            # 100 or older, but the two-digit year must not reach back 200 years.
            born = draw(
                st.dates(dt.date(today.year - 199, 1, 1), today).filter(
                    lambda b: _years_after(b, 100) <= t < _years_after(b, 200)
                )
            )
        else:
            born = draw(
                st.dates(dt.date(today.year - 100, 1, 1), today).filter(lambda b: _years_after(b, 100) > t)
            )
    coordination = draw(st.booleans())
    nine = f"{born:%y%m}{born.day + (60 if coordination else 0):02d}{draw(st.integers(0, 999)):03d}"
    ten = nine + str(check_digit(nine))
    sep = form.removeprefix("long").removeprefix("short")
    century = f"{born.year // 100:02d}" if form.startswith("long") else ""
    return century + ten[:6] + sep + ten[6:], today, Personnummer(f"{born.year // 100:02d}{ten}")


@given(written_numbers())
def test_every_valid_number_in_every_form_is_read_back(case: tuple[str, dt.date, Personnummer]) -> None:
    text, today, expected = case
    number = parse(text, today)
    assert number == expected
    assert number.birth_date <= today
    assert 0 <= number.age_on(today) < 200
    assert parse(str(number), today) == number


@given(written_numbers(), st.integers(1, 9))
def test_a_wrong_check_digit_is_refused_in_every_form(
    case: tuple[str, dt.date, Personnummer], off: int
) -> None:
    text, today, expected = case
    wrong = text[:-1] + str((int(text[-1]) + off) % 10)
    what = "Samordningsnumret" if expected.is_coordination else "Personnumret"
    with pytest.raises(InvalidPersonnummer) as e:
        parse(wrong, today)
    assert e.value.message == f"{what} är inte giltigt: kontrollsiffran stämmer inte."
