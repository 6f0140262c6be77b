"""Guard: personal data in an invitation is found and pointed at; dates, times and ids are not."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vardmote.errors import FieldError, InvalidInput
from vardmote.invitations.guard import (
    Finding,
    Kind,
    KnownPerson,
    PersonalDataInInvitation,
    check_invitation,
    find_personal_data,
)
from vardmote.patients.personnummer import InvalidPersonnummer, check_digit, parse

TODAY = dt.date(2024, 5, 15)

# The patient is Olle Svensson, nine years old; his guardian is Karin Svensson-Lind.
OLLE = KnownPerson(
    names=("Olle Svensson", "Olle", "Svensson"),
    phone_numbers=("070-123 45 67",),
    email_addresses=("olle.svensson@example.se",),
    addresses=("Storgatan 12, 123 45 Småstad",),
)
KARIN = KnownPerson(names=("Karin Svensson-Lind",), phone_numbers=("+46 8 765 43 21",))

SEED_BODY = (
    "Hej!\n\nDu är inbjuden till ett Skyddat digitalt vårdmöte.\n\nDatum: 2024-05-15\nTid: klockan 08:40\n"
    "Anslutningslänk: » Anslut till videomötet "
    "https://vardmote.example/moten/3f2b8c1e-9d4a-4b7e-8f00-1c2d3e4f5a6b/starta\n"
    "Så ansluter du: ha kamera och mikrofon påslagna. Mötes-id 4711, rum 12, 15 deltagare."
)


def _texts(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("pnr:19121212-1212,", [("personnummer", "19121212-1212")], id="after-a-colon"),
        pytest.param("(121212-1212)", [("personnummer", "121212-1212")], id="in-parentheses"),
        pytest.param("PNR191212121212X", [("personnummer", "191212121212")], id="between-letters"),
        pytest.param("född 19121212 1212.", [("personnummer", "19121212 1212")], id="with-a-space"),
        pytest.param("nr 121212+1212!", [("personnummer", "121212+1212")], id="plus"),
        pytest.param("1212121212", [("personnummer", "1212121212")], id="ten-digits"),
        pytest.param("samnr 19121272-1219", [("samordningsnummer", "19121272-1219")], id="samordningsnummer"),
        pytest.param("121212–1212", [("personnummer", "121212–1212")], id="en-dash"),
        pytest.param(
            "a 19121212-1212 b 121212-1212",
            [("personnummer", "19121212-1212"), ("personnummer", "121212-1212")],
            id="two",
        ),
    ],
)
def test_it_finds_numbers_in_running_text(text: str, expected: list[tuple[str, str]]) -> None:
    assert _texts(find_personal_data(text, today=TODAY)) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Datum: 2024-05-15", id="iso-date"),
        pytest.param("Tid: klockan 08:40–09:10", id="times"),
        pytest.param("2024-05-15T08:40:00", id="iso-date-time"),
        pytest.param("ring 070-123 45 67", id="mobile-number"),
        pytest.param("19121212-1213", id="bad-checksum"),
        pytest.param("121212-1213", id="short-bad-checksum"),
        pytest.param("119121212-1212", id="digit-before"),
        pytest.param("19121212-12123", id="digit-after"),
        pytest.param("1191212121212", id="thirteen-digits"),
        pytest.param("19121240-1234", id="day-40"),
        pytest.param("20301212-1236", id="born-in-the-future"),
        pytest.param("19121212-1212-4abc-8def-121212121212", id="meeting-id"),
        pytest.param(SEED_BODY, id="the-seed-message"),
    ],
)
def test_it_does_not_find_what_is_not_personal_data(text: str) -> None:
    assert find_personal_data(text, today=TODAY) == []


def test_a_finding_says_where_the_text_is() -> None:
    text = "Angående pnr:19121212-1212, se bifogat."
    [finding] = find_personal_data(text, today=TODAY)
    assert finding == Finding("personnummer", "19121212-1212", 13, 26)
    assert text[finding.start : finding.end] == finding.text


def test_it_finds_what_is_known_about_the_patients() -> None:
    text = (
        "Möte om olle svensson (Olles mamma KARIN SVENSSON LIND), tel +46 (0)70-123 45 67 "
        "eller 08-765 43 21, OLLE.SVENSSON@example.se, STORGATAN 12 12345 småstad."
    )
    assert _texts(find_personal_data(text, known=[OLLE, KARIN], today=TODAY)) == [
        ("namn", "olle svensson"),
        ("namn", "Olles"),
        ("namn", "KARIN SVENSSON LIND"),
        ("telefonnummer", "+46 (0)70-123 45 67"),
        ("telefonnummer", "08-765 43 21"),
        ("e-post", "OLLE.SVENSSON@example.se"),
        ("adress", "STORGATAN 12 12345 småstad"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Ollesson och Bolle", id="inside-longer-names"),
        pytest.param("Svenssonska", id="name-with-more-letters"),
        pytest.param("0701234567890", id="phone-inside-a-longer-number"),
        pytest.param("Storgatan 120, 123 45 Småstad", id="another-house"),
        pytest.param("070-123 45 6", id="phone-too-short"),
    ],
)
def test_it_does_not_find_what_only_looks_like_the_patient(text: str) -> None:
    assert find_personal_data(text, known=[OLLE], today=TODAY) == []


def test_a_known_e_mail_address_is_found_only_whole() -> None:
    known = [KnownPerson(email_addresses=("olle.svensson@example.se",))]
    text = "olle.svensson@example.se.org, golle.svensson@example.se, olle.svensson@example.se."
    assert find_personal_data(text, known=known, today=TODAY) == [
        Finding("e-post", "olle.svensson@example.se", 57, 81)
    ]


def test_known_data_that_would_match_too_much_is_not_searched_for() -> None:
    odd = KnownPerson(
        names=("", " - "), phone_numbers=("112", ""), email_addresses=("okänd",), addresses=(" ",)
    )
    assert find_personal_data("112 - okänd", known=[odd], today=TODAY) == []


def test_an_invitation_without_personal_data_passes() -> None:
    check_invitation("Skyddat digitalt vårdmöte", "Video", SEED_BODY, known=[OLLE, KARIN], today=TODAY)


def test_an_invitation_with_a_personnummer_in_the_body_is_refused_and_points_at_it() -> None:
    with pytest.raises(PersonalDataInInvitation) as e:
        check_invitation(
            "Skyddat digitalt vårdmöte", "Video", "Gäller 19121212-1212.", known=[OLLE], today=TODAY
        )
    assert isinstance(e.value, InvalidInput)
    assert e.value.status == 422
    assert e.value.message == "Inga personuppgifter får förekomma i mötesinbjudan"
    assert e.value.fields == [FieldError("body", 'Ta bort "19121212-1212" ur Meddelande.')]
    assert e.value.findings == {"body": [Finding("personnummer", "19121212-1212", 7, 20)]}


def test_every_offending_field_is_named_and_each_text_is_listed_once() -> None:
    with pytest.raises(PersonalDataInInvitation) as e:
        check_invitation(
            "Olle Svensson, uppföljning",
            "Storgatan 12, 123 45 Småstad",
            "19121212-1212, Olle, 19121212-1212, 070 123 45 67",
            known=[OLLE],
            today=TODAY,
        )
    assert e.value.fields == [
        FieldError("subject", 'Ta bort "Olle Svensson" ur Ämne.'),
        FieldError("location", 'Ta bort "Storgatan 12, 123 45 Småstad" ur Plats.'),
        FieldError("body", 'Ta bort "19121212-1212", "Olle" och "070 123 45 67" ur Meddelande.'),
    ]


# Property tests.

AROUND = "abcgpnrxyzPNRXåäöÅÄÖé :;,.()/!?\n\t0123456789"
"""Text around a number: letters, punctuation and digits, but no "-", so it can never make a meeting id."""
NOT_DIGITS = "abgpnrxyzÅÄÖåäö :;,.()/!?\n"
"""Text without digits, for what must not be found at all."""


def _ends_without_digit(text: str) -> str:
    return text + " " if text[-1:].isdigit() else text


def _starts_without_digit(text: str) -> str:
    return " " + text if text[:1].isdigit() else text


before = st.text(AROUND, max_size=20).map(_ends_without_digit)
after = st.text(AROUND, max_size=20).map(_starts_without_digit)
words = st.text(NOT_DIGITS, max_size=20)


def _after_years(born: dt.date, years: int) -> tuple[int, int, int]:
    return (born.year + years, born.month, born.day)


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, Kind, dt.date]:
    """written_numbers is (how a valid number is written, its kind, the reference date) in every form."""
    today = draw(st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31)))
    t = (today.year, today.month, today.day)
    long = draw(st.booleans())
    if long:
        sep = draw(st.sampled_from(["-", " ", "", "–", "\u00a0"]))
        born = draw(st.dates(dt.date(today.year - 150, 1, 1), today))
    else:
        sep = draw(st.sampled_from(["-", " ", "", "+", "–"]))
        if sep == "+":
            born = draw(
                st.dates(dt.date(today.year - 199, 1, 1), today).filter(
                    lambda b: _after_years(b, 100) <= t < _after_years(b, 200)
                )
            )
        else:
            born = draw(
                st.dates(dt.date(today.year - 100, 1, 1), today).filter(lambda b: _after_years(b, 100) > t)
            )
    coordination = draw(st.booleans())
    nine = f"{born:%y%m}{born.day + (60 if coordination else 0):02d}{draw(st.integers(0, 999)):03d}"
    ten = nine + str(check_digit(nine))
    century = f"{born.year // 100:02d}" if long else ""
    kind: Kind = "samordningsnummer" if coordination else "personnummer"
    return century + ten[:6] + sep + ten[6:], kind, today


@given(before, written_numbers(), after)
def test_every_valid_number_in_every_form_is_found_where_it_stands(
    prefix: str, case: tuple[str, Kind, dt.date], suffix: str
) -> None:
    number, kind, today = case
    found = find_personal_data(prefix + number + suffix, today=today)
    assert Finding(kind, number, len(prefix), len(prefix) + len(number)) in found


@given(written_numbers(), st.integers(1, 9), words, words)
def test_a_number_with_a_wrong_check_digit_is_not_found(
    case: tuple[str, Kind, dt.date], off: int, prefix: str, suffix: str
) -> None:
    number, _, today = case
    wrong = number[:-1] + str((int(number[-1]) + off) % 10)
    assert find_personal_data(prefix + wrong + suffix, today=today) == []


@given(written_numbers(), st.text("0123456789", min_size=1, max_size=3), st.booleans())
def test_a_valid_number_inside_a_longer_run_of_digits_is_not_found(
    case: tuple[str, Kind, dt.date], extra: str, in_front: bool
) -> None:
    number, _, today = case
    text = extra + number if in_front else number + extra
    assert not any(f.text == number for f in find_personal_data(text, today=today))


@given(st.datetimes(dt.datetime(1800, 1, 1), dt.datetime(2200, 12, 31)), words, words)  # noqa: DTZ001 (only written out)
def test_dates_and_times_are_not_found(moment: dt.datetime, prefix: str, suffix: str) -> None:
    for written in (
        f"{moment:%Y-%m-%d}",
        f"{moment:%Y%m%d}",
        f"{moment:%y%m%d}",
        f"{moment:%d/%m/%Y}",
        f"{moment:%d.%m.%Y}",
        f"{moment:%H:%M}",
        f"{moment:%H.%M}",
        f"klockan {moment:%H:%M}–{moment:%H:%M}",
        f"{moment:%Y-%m-%d %H:%M}",
        f"{moment:%Y-%m-%dT%H:%M:%S}",
        f"Datum: {moment:%Y-%m-%d}\nTid: klockan {moment:%H:%M}",
    ):
        assert find_personal_data(prefix + written + suffix, today=TODAY) == [], written


@given(st.integers(0, 10**20), words, words)
def test_an_ordinary_number_is_found_only_if_it_is_ten_or_twelve_digits_and_valid(
    n: int, prefix: str, suffix: str
) -> None:
    found = find_personal_data(f"{prefix}{n}{suffix}", today=TODAY)
    try:
        number = parse(str(n), TODAY)
    except InvalidPersonnummer:
        assert found == []
    else:
        assert len(str(n)) in (10, 12)
        assert _texts(found) == [("samordningsnummer" if number.is_coordination else "personnummer", str(n))]


@given(
    st.sampled_from(
        ["0{a}-{b}", "0{a}-{b1} {b2} {b3}", "0{a} {b1} {b2} {b3}", "+46 {a} {b1} {b2} {b3}", "+46{a}{b}"]
    ),
    st.text("0123456789", min_size=2, max_size=2),
    st.text("0123456789", min_size=7, max_size=7),
    words,
    words,
)
def test_phone_numbers_are_not_taken_for_personnummer(
    layout: str, a: str, b: str, prefix: str, suffix: str
) -> None:
    phone = layout.format(a=a, b=b, b1=b[:3], b2=b[3:5], b3=b[5:])
    assert find_personal_data(prefix + phone + suffix, today=TODAY) == []


@given(st.uuids(), written_numbers())
def test_meeting_ids_are_not_found_even_when_they_hold_a_valid_number(
    meeting_id: uuid.UUID, case: tuple[str, Kind, dt.date]
) -> None:
    number, _, today = case
    assert find_personal_data(f"https://vardmote.example/moten/{meeting_id}/starta", today=today) == []
    digits = number.replace("-", "").replace(" ", "")
    if len(digits) == 12 and digits.isdigit():
        crafted = f"{digits[:8]}-{digits[8:]}-{str(meeting_id)[14:]}"
        assert find_personal_data(f"/moten/{crafted}", today=today) == []


# Known people: names, phone numbers and addresses in their variants.

letters = "abcdefghijklmnopqrstuvwxyzåäöé"
name_parts = st.text(letters, min_size=2, max_size=10).map(str.capitalize)
names = st.lists(name_parts, min_size=1, max_size=3).flatmap(
    lambda parts: st.tuples(*(st.sampled_from(["-", " "]) for _ in parts[1:])).map(
        lambda seps: parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=True))
    )
)
punctuation = st.text(" :;,.()/!?\n", max_size=10)


@given(names, st.sampled_from([str.upper, str.lower, str.title, str.swapcase, str]), punctuation, punctuation)
def test_a_known_name_is_found_in_any_case_as_a_whole_word(
    name: str, case: Callable[[str], str], prefix: str, suffix: str
) -> None:
    written = case(name)
    found = find_personal_data(prefix + written + suffix, known=[KnownPerson(names=(name,))], today=TODAY)
    assert Finding("namn", written, len(prefix), len(prefix) + len(written)) in found


@given(names, st.sampled_from(["–", " ", "  ", "\n"]))
def test_the_parts_of_a_known_name_may_be_joined_by_any_dash_or_space(name: str, joint: str) -> None:
    written = name.replace("-", joint).replace(" ", joint)
    found = find_personal_data(f"({written})", known=[KnownPerson(names=(name,))], today=TODAY)
    assert found == [Finding("namn", written, 1, 1 + len(written))]


@given(name_parts, st.text(letters, min_size=1, max_size=3).filter(lambda s: s != "s"))
def test_a_known_name_inside_a_longer_word_is_not_found(name: str, more: str) -> None:
    found = find_personal_data(f"x{name} {name}{more}", known=[KnownPerson(names=(name,))], today=TODAY)
    assert found == []


def test_a_hyphenated_name_inside_a_longer_name_is_not_found() -> None:
    known = [KnownPerson(names=("Anna-Karin",))]
    assert find_personal_data("Anna-Karinsson, Lisanna-Karin", known=known, today=TODAY) == []


phone_gaps = st.sampled_from(["", "", " ", "-"])


@st.composite
def phone_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """phone_numbers is the same Swedish number written two ways."""
    national = draw(st.text("123456789", min_size=1, max_size=1)) + draw(
        st.text("0123456789", min_size=6, max_size=8)
    )

    def write() -> str:
        prefix = draw(st.sampled_from(["0", "+46", "+46 ", "0046 ", "+46 (0)", ""]))
        return prefix + national[0] + "".join(draw(phone_gaps) + d for d in national[1:])

    return write(), write()


@given(phone_numbers(), words.map(lambda s: s.replace("+", "")), words)
def test_a_known_phone_number_is_found_however_it_is_written(
    phones: tuple[str, str], prefix: str, suffix: str
) -> None:
    known, written = phones
    found = find_personal_data(
        prefix + written + suffix, known=[KnownPerson(phone_numbers=(known,))], today=TODAY
    )
    start, end = len(prefix), len(prefix) + len(written)
    # Ten plain digits may also be a valid personnummer; then that is what is reported for the same text.
    assert any((f.start, f.end, f.text) == (start, end, written) for f in found), found


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str]:
    """addresses is a known address and the same address written with other spacing, case and commas."""
    street = draw(name_parts) + draw(st.sampled_from(["gatan", "vägen", "gränd", " torg"]))
    house = str(draw(st.integers(1, 200))) + draw(st.sampled_from(["", "A", " B"]))
    postcode = draw(st.integers(10000, 99999))
    city = draw(name_parts)
    known = f"{street} {house}, {str(postcode)[:3]} {str(postcode)[3:]} {city}"
    gap = st.sampled_from([" ", "  ", "\n", "\t "])
    written = (
        f"{street}{draw(gap)}{house}{draw(st.sampled_from([',', '']))}{draw(gap)}"
        f"{str(postcode)[:3]}{draw(st.sampled_from(['', ' ']))}{str(postcode)[3:]}{draw(gap)}{city}"
    )
    cases: list[Callable[[str], str]] = [str.upper, str.lower, str]
    case = draw(st.sampled_from(cases))
    return known, case(written)


@given(addresses(), punctuation, punctuation)
def test_a_known_address_is_found_with_any_spacing_and_case(
    address: tuple[str, str], prefix: str, suffix: str
) -> None:
    known, written = address
    found = find_personal_data(
        prefix + written + suffix, known=[KnownPerson(addresses=(known,))], today=TODAY
    )
    assert Finding("adress", written, len(prefix), len(prefix) + len(written)) in found
