"""The scope grammar: SMART v2 system scopes for Appointment, the v1 aliases, and what is refused."""

from __future__ import annotations

import pytest

from vardmote.clients.scopes import GRAMMAR_HELP, ScopeError, allows, parse_scope, parse_scopes, within


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        pytest.param("system/Appointment.cruds", "cruds", id="all"),
        pytest.param("system/Appointment.rs", "rs", id="read-and-search"),
        pytest.param("system/Appointment.c", "c", id="create"),
        pytest.param("system/Appointment.cud", "cud", id="write-in-v2"),
        pytest.param("system/Appointment.ds", "ds", id="delete-and-search"),
        pytest.param("system/Appointment.read", "rs", id="v1-read"),
        pytest.param("system/Appointment.write", "cud", id="v1-write"),
        pytest.param("system/Appointment.*", "cruds", id="v1-star"),
    ],
)
def test_a_scope_gives_its_permissions(text: str, actions: str) -> None:
    scope = parse_scope(text)
    assert (scope.text, scope.resource, scope.actions) == (text, "Appointment", frozenset(actions))


UNREADABLE = "Behörigheten {!r} går inte att tolka. " + GRAMMAR_HELP


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("system/Appointment.sr", UNREADABLE.format("system/Appointment.sr"), id="out-of-order"),
        pytest.param("system/Appointment.crudss", UNREADABLE.format("system/Appointment.crudss"), id="twice"),
        pytest.param("system/Appointment.x", UNREADABLE.format("system/Appointment.x"), id="unknown-letter"),
        pytest.param("system/Appointment.", UNREADABLE.format("system/Appointment."), id="no-permission"),
        pytest.param(
            "system/Appointment.Read", UNREADABLE.format("system/Appointment.Read"), id="capital-read"
        ),
        pytest.param(
            "system/Appointment.rs?status=booked",
            UNREADABLE.format("system/Appointment.rs?status=booked"),
            id="v2-query",
        ),
        pytest.param("Appointment.rs", UNREADABLE.format("Appointment.rs"), id="no-context"),
        pytest.param(
            "patient/Appointment.rs",
            "Behörigheten 'patient/Appointment.rs' gäller inte ett system: ett journalsystem får bara "
            "behörigheter som börjar med system/. " + GRAMMAR_HELP,
            id="patient-context",
        ),
        pytest.param(
            "user/Appointment.cruds",
            "Behörigheten 'user/Appointment.cruds' gäller inte ett system: ett journalsystem får bara "
            "behörigheter som börjar med system/. " + GRAMMAR_HELP,
            id="user-context",
        ),
        pytest.param(
            "system/Patient.rs",
            "Resursen 'Patient' finns inte i Vårdmötes API; det som finns är Appointment. " + GRAMMAR_HELP,
            id="unknown-resource",
        ),
        pytest.param(
            "system/*.cruds",
            "Resursen '*' finns inte i Vårdmötes API; det som finns är Appointment. " + GRAMMAR_HELP,
            id="every-resource",
        ),
        pytest.param(
            "system/appointment.rs",
            "Resursen 'appointment' finns inte i Vårdmötes API; det som finns är Appointment. "
            + GRAMMAR_HELP,
            id="lower-case-resource",
        ),
    ],
)
def test_a_scope_outside_the_grammar_is_refused_with_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ScopeError) as refused:
        parse_scope(text)
    assert refused.value.message == message


def test_a_very_long_scope_is_shown_shortened() -> None:
    text = "system/Appointment." + "r" * 200
    with pytest.raises(ScopeError) as refused:
        parse_scope(text)
    assert refused.value.message == UNREADABLE.format(text[:100] + "…")


def test_several_scopes_are_read_once_each_in_their_order() -> None:
    scopes = parse_scopes(" system/Appointment.rs\tsystem/Appointment.c  system/Appointment.rs ")
    assert [scope.text for scope in scopes] == ["system/Appointment.rs", "system/Appointment.c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "Ange minst en behörighet. " + GRAMMAR_HELP, id="empty"),
        pytest.param("   ", "Ange minst en behörighet. " + GRAMMAR_HELP, id="spaces"),
        pytest.param(
            " ".join(
                f"system/Appointment.{p}"
                for p in [
                    "c",
                    "r",
                    "u",
                    "d",
                    "s",
                    "cr",
                    "cu",
                    "cd",
                    "cs",
                    "ru",
                    "rd",
                    "rs",
                    "ud",
                    "us",
                    "ds",
                    "cru",
                    "crd",
                    "crs",
                    "cud",
                    "cus",
                    "cds",
                ]
            ),
            "Ange högst 20 behörigheter, högst 500 tecken tillsammans.",
            id="twenty-one",
        ),
    ],
)
def test_no_scope_or_too_many_is_refused(text: str, message: str) -> None:
    with pytest.raises(ScopeError) as refused:
        parse_scopes(text)
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("asked", "granted", "expected"),
    [
        pytest.param("system/Appointment.rs", "system/Appointment.cruds", True, id="part-of-all"),
        pytest.param("system/Appointment.read", "system/Appointment.rs", True, id="v1-read-is-rs"),
        pytest.param("system/Appointment.rs", "system/Appointment.read", True, id="rs-is-v1-read"),
        pytest.param("system/Appointment.c system/Appointment.s", "system/Appointment.cs", True, id="split"),
        pytest.param("system/Appointment.cs", "system/Appointment.c system/Appointment.s", True, id="joined"),
        pytest.param("system/Appointment.cruds", "system/Appointment.*", True, id="star"),
        pytest.param("system/Appointment.rs", "system/Appointment.r", False, id="search-missing"),
        pytest.param("system/Appointment.write", "system/Appointment.read", False, id="write-for-a-reader"),
        pytest.param(
            "system/Appointment.d", "system/Appointment.write system/Appointment.rs", True, id="d-in-write"
        ),
    ],
)
def test_a_request_is_within_the_scopes_only_if_every_permission_is(
    asked: str, granted: str, expected: bool
) -> None:
    assert within(parse_scopes(asked), parse_scopes(granted)) is expected


def test_allows_asks_for_one_permission_on_one_resource() -> None:
    scopes = parse_scopes("system/Appointment.read")
    assert [action for action in "cruds" if allows(scopes, "Appointment", action)] == ["r", "s"]
    assert not allows(scopes, "Patient", "r")
