"""Guest names: no invisible characters, and nothing that reads as a host's role (rooms.names)."""

from __future__ import annotations

import json

import pytest

from name_texts import INVISIBLE, LOOKS_LIKE_ROLE
from vardmote.lib.text import has_invisible_characters, skeleton
from vardmote.rooms import messages as m
from vardmote.rooms import names, texts
from vardmote.rooms.errors import ErrorCode, ProtocolError


def test_the_refusals_read_as_the_guest_is_shown_them() -> None:
    assert texts.NAME_INVISIBLE == INVISIBLE
    assert texts.NAME_LOOKS_LIKE_ROLE == LOOKS_LIKE_ROLE


@pytest.mark.parametrize(
    "name",
    [
        "Olle\u202eelo",  # RIGHT-TO-LEFT OVERRIDE: the page would show "Olleole"
        "Olle\u202a",
        "Olle\u202b",
        "Olle\u202c",
        "Olle\u202d",
        "\u2066Olle\u2069",  # LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE
        "\u2067Olle",
        "\u2068Olle",
        "Ol\u200ble",  # ZERO WIDTH SPACE
        "Ol\u200cle",  # ZERO WIDTH NON-JOINER
        "Ol\u200dle",  # ZERO WIDTH JOINER
        "Ol\u2060le",  # WORD JOINER
        "\ufeffOlle",  # ZERO WIDTH NO-BREAK SPACE (BOM)
        "Ol\u00adle",  # SOFT HYPHEN
        "Olle\u200e",  # LEFT-TO-RIGHT MARK
        "Olle\u061c",  # ARABIC LETTER MARK
        "Olle\x00",
        "Olle\x7f",
        "Olle\x85",
        "Olle\ue000",  # private use
        "Olle\U000e0041",  # TAG LATIN CAPITAL LETTER A
    ],
)
def test_a_name_with_an_invisible_character_is_refused(name: str) -> None:
    assert has_invisible_characters(name)
    assert names.refusal(name, 60) == INVISIBLE


@pytest.mark.parametrize(
    "name",
    [
        "Annika Berg (mötesorganisatör)",
        "Annika Berg (Mötesorganisatör, du)",
        "Annika Berg (MÖTESORGANISATÖR)",
        "Annika Berg （mötesorganisatör）",  # fullwidth parentheses
        "Annika Berg （ＭÖＴＥＳＯＲＧＡＮＩＳＡＴÖＲ）",  # fullwidth letters too
        "Annika Berg [mötesorganisatör]",
        "Annika Berg ⟨mötesorganisatör⟩",
        "Annika Berg <mötesorganisatör>",
        "Annika Berg – mötesorganisatör",
        "Annika Berg, mötesorganisatören",
        "Annika Berg (motesorganisator)",  # no accents
        "Annika Berg (mötes-organisatör)",
        "Annika Berg (m ö t e s o r g a n i s a t ö r)",
        "Annika Berg (organisatör)",
        "Annika (värd)",
        "Annika värd",
        "Värd",
        "VÄRDEN",
        "Annika (värdinna)",
        "Annika (v ä r d)",
        "Annika (vаrd)",  # Cyrillic а
        "Vårdpersonal",
        "Annika (vårdpersonalen)",
        "Annika (Vårdpersonal)",
        "Annika (ｖåｒｄｐｅｒｓｏｎａｌ)",
        "Annika (vårdpersοnal)",  # Greek ο
    ],
)
def test_a_name_that_reads_as_a_hosts_role_is_refused(name: str) -> None:
    assert names.reads_as_host(name)
    assert names.refusal(name, 60) == LOOKS_LIKE_ROLE


@pytest.mark.parametrize(
    "name",
    [
        "David",
        "Edvard Persson",  # "vard" inside a word is no role
        "Hans Värdig",
        "Maria (vårdnadshavare)",
        "David (pappa)",
        "Sara, tolk",
        "Zoë Ängström",
        "Åsa-Lena Öberg",
        "محمد علي",  # right-to-left letters are letters, not overrides
        "李小龙",
        "O'Brien",
        "Organ Isak",  # two words, neither a role; together "organisak"
        "Вард",  # Cyrillic: reads "Bapд", no look-alike of "värd"
        "Varð",
    ],
)
def test_ordinary_names_are_taken(name: str) -> None:
    assert names.refusal(name, 60) is None


def test_the_skeleton_reads_compatibility_forms_case_accents_and_look_alikes_alike() -> None:
    assert skeleton("Annika （ＭÖＴＥＳＯＲＧＡＮＩＳＡＴÖＲ）") == "annika (motesorganisator)"
    assert skeleton("Vårdpersοnal") == "vardpersonal"  # Greek omicron
    assert skeleton("vаrd") == "vard"  # Cyrillic a
    assert skeleton("Edvard") == "edvard"


def test_length_is_checked_first_with_its_own_sentence() -> None:
    assert names.refusal("", 60) == "Skriv ditt namn med högst 60 tecken."
    assert names.refusal("a" * 61, 60) == "Skriv ditt namn med högst 60 tecken."
    assert names.refusal("a" * 60, 60) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Olle\u202eelo", INVISIBLE),
        ("Olle\u200b", INVISIBLE),
        ("Annika Berg (mötesorganisatör)", LOOKS_LIKE_ROLE),
        ("Annika Berg （mötesorganisatör）", LOOKS_LIKE_ROLE),
    ],
)
def test_join_with_such_a_name_is_refused_as_a_bad_message_with_the_reason(name: str, text: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        m.decode(json.dumps({"type": "join", "link": "tok", "name": name}))
    assert refused.value.code is ErrorCode.BAD_MESSAGE
    assert refused.value.message_sv == text
    assert refused.value.request == "join"


def test_white_space_is_folded_before_the_name_is_checked() -> None:
    joined = m.decode(json.dumps({"type": "join", "link": "tok", "name": " Annika\u2028 Berg "}))
    assert isinstance(joined, m.Join)
    assert joined.name == "Annika Berg"
