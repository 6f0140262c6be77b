"""The Swedish texts of the live meeting: one place, one wording per situation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vardmote.rooms
from vardmote.rooms import texts
from vardmote.rooms.errors import DEFAULT_TEXT, ErrorCode, ProtocolError

ROOMS = Path(vardmote.rooms.__file__).parent


def test_every_error_code_has_a_default_text() -> None:
    assert set(DEFAULT_TEXT) == set(ErrorCode)
    assert all(text.strip() for text in DEFAULT_TEXT.values())


def test_media_unavailable_reads_the_same_wherever_it_is_said() -> None:
    assert DEFAULT_TEXT[ErrorCode.MEDIA_UNAVAILABLE] == texts.MEDIA_UNAVAILABLE
    assert texts.MEDIA_UNAVAILABLE == "Videotjänsten svarar inte just nu. Försök igen om en stund."
    assert ProtocolError(ErrorCode.MEDIA_UNAVAILABLE).message_sv == texts.MEDIA_UNAVAILABLE


def test_the_end_of_a_meeting_reads_the_same_for_a_late_guest_and_at_the_end() -> None:
    assert DEFAULT_TEXT[ErrorCode.MEETING_ENDED] == texts.MEETING_ENDED == "Mötet är avslutat."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(texts.meeting_full(15), "Mötet är fullt: högst 15 deltagare får vara med.", id="full"),
        pytest.param(texts.name_invalid(60), "Skriv ditt namn med högst 60 tecken.", id="name"),
        pytest.param(texts.chat_invalid(2000), "Ett chattmeddelande ska ha 1–2000 tecken.", id="chat"),
        pytest.param(texts.field_invalid("sdp"), "Fältet 'sdp' saknas eller är fel.", id="field"),
    ],
)
def test_it_fills_in_the_texts_that_name_a_number_or_a_field(text: str, expected: str) -> None:
    assert text == expected


def _swedish_literals(path: Path) -> list[str]:
    """_swedish_literals is the strings with å, ä or ö in a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and any(c in node.value for c in "åäöÅÄÖ")
    ]


@pytest.mark.parametrize(
    "module", [pytest.param(p, id=p.name) for p in sorted(ROOMS.glob("*.py")) if p.name != "texts.py"]
)
def test_no_module_of_the_rooms_writes_a_sentence_of_its_own(module: Path) -> None:
    assert _swedish_literals(module) == []
