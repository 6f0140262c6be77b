"""The pure rules of the staff sign-in: an HSA-id's shape, the admin claim, and who the claims say
signed in (accounts/hsa_id.py and accounts/staff_oidc.py's staff_claims), with no provider."""

from __future__ import annotations

from typing import Any

import pytest

from vardmote.accounts.hsa_id import normal_hsa_id
from vardmote.accounts.staff_oidc import (
    NO_HSA_ID,
    NO_NAME,
    AdminRule,
    StaffClaims,
    StaffSignInFailed,
    staff_claims,
)

HSA = "SE2321000016-1003"
ANNIKA = {"employeeHsaId": HSA, "name": "Annika Läkare", "sub": "a1"}
ADMIN = "groups=vardmote-admin"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("SE2321000016-1003", "SE2321000016-1003", id="digits"),
        pytest.param("SE2321000016-A1b2", "SE2321000016-A1B2", id="letters-upper-cased"),
        pytest.param("se2321000016-abc", "SE2321000016-ABC", id="lower-case-prefix"),
        pytest.param("  SE2321000016-7 ", "SE2321000016-7", id="spaces-around"),
        pytest.param("SE2321000016-" + "9" * 18, "SE2321000016-" + "9" * 18, id="31-characters"),
        pytest.param("SE165565594230-1000", "SE165565594230-1000", id="twelve-digits-with-16"),
        pytest.param("SE165565594230-webcert1", "SE165565594230-WEBCERT1", id="inera-style"),
    ],
)
def test_a_valid_hsa_id_is_kept_upper_cased(given: str, expected: str) -> None:
    assert normal_hsa_id(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(None, id="missing"),
        pytest.param(2321000016, id="a-number"),
        pytest.param(["SE2321000016-1003"], id="a-list"),
        pytest.param("", id="empty"),
        pytest.param("SE2321000016", id="no-hyphen-and-suffix"),
        pytest.param("SE2321000016-", id="empty-suffix"),
        pytest.param("NO2321000016-1003", id="other-country"),
        pytest.param("SE232100001-1003", id="nine-digits"),
        pytest.param("SE23210000166-1003", id="eleven-digits"),
        pytest.param("SE175565594230-1000", id="twelve-digits-not-16"),
        pytest.param("SE16556559423-1000", id="eleven-digits-with-16"),
        pytest.param("SE2321000016-Åsa", id="a-swedish-letter"),
        pytest.param("SE2321000016-ı", id="dotless-i-that-upper-cases-to-I"),
        pytest.param("SE2321000016-a@b", id="an-at-sign"),
        pytest.param("SE2321000016-12 34", id="a-space-inside"),
        pytest.param("SE2321000016-10\n03", id="a-newline-inside"),
        pytest.param("SE2321000016-" + "9" * 19, id="32-characters"),
    ],
)
def test_anything_else_is_no_hsa_id(given: object) -> None:
    assert normal_hsa_id(given) is None


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param("", None, id="empty-nobody"),
        pytest.param("   ", None, id="blank-nobody"),
        pytest.param(ADMIN, AdminRule("groups", "vardmote-admin"), id="claim-equals-value"),
        pytest.param(" groups = vardmote-admin ", AdminRule("groups", "vardmote-admin"), id="spaces-trimmed"),
        pytest.param("vardmoteAdmin", AdminRule("vardmoteAdmin", None), id="bare-claim"),
        pytest.param("roles=", AdminRule("roles", ""), id="empty-value"),
    ],
)
def test_the_admin_claim_setting_is_read(setting: str, expected: AdminRule | None) -> None:
    assert AdminRule.parse(setting) == expected


@pytest.mark.parametrize(
    ("rule", "claims", "expected"),
    [
        pytest.param(
            "groups=vardmote-admin", {"groups": ["a", "vardmote-admin"]}, True, id="list-holding-it"
        ),
        pytest.param(ADMIN, {"groups": ["vardmote-personal"]}, False, id="list-without-it"),
        pytest.param(ADMIN, {"groups": "vardmote-admin"}, True, id="string-equal"),
        pytest.param(ADMIN, {"groups": "vardmote-admin-x"}, False, id="string-other"),
        pytest.param(ADMIN, {}, False, id="claim-missing"),
        pytest.param("vardmoteAdmin", {"vardmoteAdmin": True}, True, id="bare-true"),
        pytest.param("vardmoteAdmin", {"vardmoteAdmin": "true"}, True, id="bare-string-true"),
        pytest.param("vardmoteAdmin", {"vardmoteAdmin": False}, False, id="bare-false"),
        pytest.param("vardmoteAdmin", {"vardmoteAdmin": 1}, False, id="bare-one-is-not-true"),
        pytest.param("vardmoteAdmin", {"vardmoteAdmin": "yes"}, False, id="bare-yes-is-not-true"),
        pytest.param("vardmoteAdmin", {}, False, id="bare-missing"),
    ],
)
def test_the_admin_rule_holds_only_for_what_it_names(
    rule: str, claims: dict[str, Any], expected: bool
) -> None:
    parsed = AdminRule.parse(rule)
    assert parsed is not None
    assert parsed.holds(claims) is expected


def _read(claims: dict[str, Any], admin: str = "groups=vardmote-admin") -> StaffClaims:
    return staff_claims(claims, hsa_id_claim="employeeHsaId", name_claim="name", admin=AdminRule.parse(admin))


def test_the_claims_say_who_signed_in() -> None:
    assert _read(ANNIKA) == StaffClaims("SE2321000016-1003", "Annika Läkare", is_admin=False)


def test_the_admin_claim_makes_an_administrator() -> None:
    claims = {**ANNIKA, "groups": ["vardmote-personal", "vardmote-admin"]}
    assert _read(claims).is_admin is True


def test_without_an_admin_claim_setting_sign_in_does_not_decide_the_role() -> None:
    claims = {**ANNIKA, "groups": ["vardmote-admin"]}
    assert _read(claims, admin="").is_admin is None


def test_the_hsa_id_and_name_claims_named_in_the_settings_are_read() -> None:
    claims = {"urn:sambi:hsaid": "SE2321000016-55", "displayName": "Bo Sjuksköterska", "name": "Fel"}
    read = staff_claims(claims, hsa_id_claim="urn:sambi:hsaid", name_claim="displayName", admin=None)
    assert read == StaffClaims("SE2321000016-55", "Bo Sjuksköterska", None)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({"given_name": "Annika", "family_name": "Läkare"}, "Annika Läkare", id="given-family"),
        pytest.param({"name": " ", "given_name": "Annika"}, "Annika", id="blank-name-given-only"),
        pytest.param({"name": "Annika\u0000 \t Läkare\n"}, "Annika Läkare", id="control-characters"),
        pytest.param({"name": "A" * 300}, "A" * 200, id="cut-at-200"),
    ],
)
def test_the_name_is_made_tidy(claims: dict[str, Any], expected: str) -> None:
    assert _read({"employeeHsaId": "SE2321000016-1003", **claims}).display_name == expected


@pytest.mark.parametrize(
    ("claims", "message", "kind"),
    [
        pytest.param({"name": "Nils"}, NO_HSA_ID, "no_hsa_id", id="no-hsa-id"),
        pytest.param({**ANNIKA, "employeeHsaId": "SE123-1"}, NO_HSA_ID, "no_hsa_id", id="invalid-hsa-id"),
        pytest.param({**ANNIKA, "employeeHsaId": None}, NO_HSA_ID, "no_hsa_id", id="null-hsa-id"),
        pytest.param({"employeeHsaId": HSA}, NO_NAME, "no_name", id="no-name"),
        pytest.param({"employeeHsaId": HSA, "name": 42}, NO_NAME, "no_name", id="name-not-text"),
        pytest.param({"employeeHsaId": HSA, "name": "\u0007"}, NO_NAME, "no_name", id="name-empty"),
    ],
)
def test_claims_without_a_valid_hsa_id_or_a_name_are_refused(
    claims: dict[str, Any], message: str, kind: str
) -> None:
    with pytest.raises(StaffSignInFailed) as refused:
        _read(claims)
    assert (refused.value.message, refused.value.kind, refused.value.status) == (message, kind, 400)
    assert refused.value.hsa_id == (HSA if kind == "no_name" else None)  # for the audit, once known


def test_the_refusals_say_plainly_what_to_do() -> None:
    assert (
        NO_HSA_ID == "Inloggningen gav inget giltigt HSA-id. Kontakta din administratör om felet finns kvar."
    )
    assert NO_NAME == "Inloggningen gav inget namn. Kontakta din administratör om felet finns kvar."
