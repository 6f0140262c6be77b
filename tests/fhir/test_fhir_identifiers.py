"""The identifier systems: a patient by personnummer or samordningsnummer, a clinician by HSA-id."""

from __future__ import annotations

import datetime as dt

import pytest
from fhir_helpers import coordination_number

from vardmote.fhir.identifiers import (
    HSA_ID,
    PERSONNUMMER,
    SAMORDNINGSNUMMER,
    Identifier,
    hsa_id,
    patient_number,
    system_of,
)
from vardmote.fhir.outcome import FhirError
from vardmote.patients.personnummer import check_digit

TODAY = dt.date(2026, 12, 10)
WHERE = "Appointment.participant[0].actor.identifier"


def with_check(eleven: str) -> str:
    """with_check is eleven digits (YYYYMMDDNNN) and their check digit."""
    return eleven + str(check_digit(eleven[2:]))


def test_a_personnummer_is_read_in_the_long_form_with_or_without_the_dash() -> None:
    for value in ("191212121212", "19121212-1212", " 191212121212 "):
        number = patient_number(Identifier(PERSONNUMMER, value), TODAY, WHERE)
        assert number.digits == "191212121212"
        assert system_of(number) == PERSONNUMMER


def test_a_samordningsnummer_is_read_under_its_own_system() -> None:
    given = coordination_number(dt.date(1990, 3, 14))
    number = patient_number(Identifier(SAMORDNINGSNUMMER, given.digits), TODAY, WHERE)
    assert number.is_coordination
    assert number.birth_date == dt.date(1990, 3, 14)
    assert system_of(number) == SAMORDNINGSNUMMER


@pytest.mark.parametrize(
    ("system", "value", "code", "swedish", "path"),
    [
        pytest.param(
            "urn:oid:1.2.752.129.2.1.3.2",
            "191212121212",
            "code-invalid",
            "Okänt identifierarsystem för patienten. Använd personnummer (urn:oid:1.2.752.129.2.1.3.1) "
            "eller samordningsnummer (urn:oid:1.2.752.129.2.1.3.3).",
            f"{WHERE}.system",
            id="unknown-system",
        ),
        pytest.param(
            HSA_ID,
            "191212121212",
            "code-invalid",
            "Okänt identifierarsystem för patienten. Använd personnummer (urn:oid:1.2.752.129.2.1.3.1) "
            "eller samordningsnummer (urn:oid:1.2.752.129.2.1.3.3).",
            f"{WHERE}.system",
            id="hsa-system-for-a-patient",
        ),
        pytest.param(
            PERSONNUMMER,
            "121212-1212",
            "value",
            "Personnumret ska skrivas med tolv siffror, ÅÅÅÅMMDDNNNN.",
            f"{WHERE}.value",
            id="short-form",
        ),
        pytest.param(
            PERSONNUMMER,
            "19121212-121",
            "value",
            "Personnumret ska skrivas med tolv siffror, ÅÅÅÅMMDDNNNN.",
            f"{WHERE}.value",
            id="too-short",
        ),
        pytest.param(
            PERSONNUMMER,
            "191212121213",
            "value",
            "Personnumret är inte giltigt: kontrollsiffran stämmer inte.",
            f"{WHERE}.value",
            id="bad-checksum",
        ),
        pytest.param(
            PERSONNUMMER,
            with_check("20300101238"),
            "value",
            "Personnumret är inte giltigt: datumet ligger i framtiden.",
            f"{WHERE}.value",
            id="born-in-the-future",
        ),
        pytest.param(
            PERSONNUMMER,
            coordination_number(dt.date(1990, 3, 14)).digits,
            "value",
            "Numret är ett samordningsnummer: använd systemet urn:oid:1.2.752.129.2.1.3.3.",
            f"{WHERE}.system",
            id="samordningsnummer-as-personnummer",
        ),
        pytest.param(
            SAMORDNINGSNUMMER,
            "191212121212",
            "value",
            "Numret är ett personnummer: använd systemet urn:oid:1.2.752.129.2.1.3.1.",
            f"{WHERE}.system",
            id="personnummer-as-samordningsnummer",
        ),
    ],
)
def test_a_bad_patient_identifier_is_refused_without_repeating_it(
    system: str, value: str, code: str, swedish: str, path: str
) -> None:
    with pytest.raises(FhirError) as caught:
        patient_number(Identifier(system, value), TODAY, WHERE)
    error = caught.value
    assert (error.status, error.code.value, error.swedish, error.expression) == (422, code, swedish, path)
    assert value.strip() not in error.swedish + error.english


def test_a_date_that_does_not_exist_is_refused_as_such() -> None:
    value = with_check("19130230123")  # 30 February 1913, the check digit right
    with pytest.raises(FhirError) as caught:
        patient_number(Identifier(PERSONNUMMER, value), TODAY, WHERE)
    assert caught.value.swedish == "Personnumret är inte giltigt: datumet finns inte."


def test_an_hsa_id_is_read_upper_cased() -> None:
    assert hsa_id(Identifier(HSA_ID, " se2321000016-a1b2 "), WHERE) == "SE2321000016-A1B2"


@pytest.mark.parametrize(
    ("system", "value", "swedish"),
    [
        pytest.param(
            PERSONNUMMER,
            "SE2321000016-A1B2",
            "Okänt identifierarsystem för vårdpersonalen. Använd HSA-id (urn:oid:1.2.752.29.4.19).",
            id="personnummer-system",
        ),
        pytest.param(
            HSA_ID,
            "SE232100016-A1B2",
            "HSA-id:t är inte giltigt: det ska vara SE, organisationsnumret "
            "(10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller "
            "siffror, högst 31 tecken (t.ex. SE2321000016-A1B2).",
            id="nine-digits",
        ),
        pytest.param(
            HSA_ID,
            "SE2321000016-",
            "HSA-id:t är inte giltigt: det ska vara SE, organisationsnumret "
            "(10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller "
            "siffror, högst 31 tecken (t.ex. SE2321000016-A1B2).",
            id="nothing-after-the-dash",
        ),
        pytest.param(
            HSA_ID,
            "SE2321000016-" + "A" * 19,
            "HSA-id:t är inte giltigt: det ska vara SE, organisationsnumret "
            "(10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller "
            "siffror, högst 31 tecken (t.ex. SE2321000016-A1B2).",
            id="32-characters",
        ),
        pytest.param(
            HSA_ID,
            "SE2321000016-ÅÄÖ",
            "HSA-id:t är inte giltigt: det ska vara SE, organisationsnumret "
            "(10 siffror, eller 12 med 16 först), "
            "bindestreck och bokstäver eller "
            "siffror, högst 31 tecken (t.ex. SE2321000016-A1B2).",
            id="swedish-letters",
        ),
    ],
)
def test_a_bad_hsa_id_is_refused(system: str, value: str, swedish: str) -> None:
    with pytest.raises(FhirError) as caught:
        hsa_id(Identifier(system, value), WHERE)
    assert (caught.value.status, caught.value.swedish) == (422, swedish)
