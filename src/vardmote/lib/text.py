"""Text: checks on what people type before it reaches the database.

PostgreSQL refuses NUL in text, and no field of Vårdmöte has a use for
control characters; they are refused where text comes in, with a message
that says which field. Names that others see are held to more: no invisible
characters at all (:func:`has_invisible_characters`), and :func:`skeleton`
reads a text the way a person sees it, so that a look-alike can be caught.
"""

from __future__ import annotations

import re
import unicodedata

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
"""Control, format (bidi overrides, zero-width characters, soft hyphen), surrogate, private-use
and unassigned characters: none of them shows as itself on the page."""
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic and Greek letters that read as Latin ones (lower case: skeleton folds case first).
        "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "і": "i", "ј": "j", "к": "k", "м": "m",
        "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "ɡ": "g", "ı": "i", "ȷ": "j",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    }
)  # fmt: skip


def has_control_characters(value: str) -> bool:
    """has_control_characters tells whether value holds NUL or another control character."""
    return any(unicodedata.category(c) == "Cc" for c in value)


def has_invisible_characters(value: str) -> bool:
    """has_invisible_characters tells whether value holds a character that does not show as
    itself: a control character, a format character (Unicode category Cf: the bidi overrides
    U+202A–U+202E and isolates U+2066–U+2069, zero-width characters, the soft hyphen),
    a lone surrogate, or a private-use or unassigned code point."""
    return any(unicodedata.category(c) in _INVISIBLE for c in value)


def skeleton(value: str) -> str:
    """skeleton is value as a reader takes it in: NFKC (fullwidth and other compatibility forms
    become the plain ones, so "（" is "("), case folded, without accents ("värd" is "vard"),
    and with Cyrillic and Greek letters that look Latin read as Latin ("vаrd" with a Cyrillic
    а is "vard")."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    bare = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare.translate(_LOOK_ALIKES))


def without_control_characters(value: str) -> str:
    """without_control_characters drops control characters (for throttle keys and logs)."""
    return "".join(c for c in value if unicodedata.category(c) != "Cc")


def is_key(value: str) -> bool:
    """is_key tells whether value can be a policy key such as ``vardmote_patient``."""
    return bool(_KEY.match(value))
