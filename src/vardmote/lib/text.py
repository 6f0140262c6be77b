"""Text: checks on what people type before it reaches the database.

PostgreSQL refuses NUL in text, and no field of Vårdmöte has a use for
control characters; they are refused where text comes in, with a message
that says which field.
"""

from __future__ import annotations

import re
import unicodedata

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def has_control_characters(value: str) -> bool:
    """has_control_characters tells whether value holds NUL or another control character."""
    return any(unicodedata.category(c) == "Cc" for c in value)


def without_control_characters(value: str) -> str:
    """without_control_characters drops control characters (for throttle keys and logs)."""
    return "".join(c for c in value if unicodedata.category(c) != "Cc")


def is_key(value: str) -> bool:
    """is_key tells whether value can be a policy key such as ``vardmote_patient``."""
    return bool(_KEY.match(value))
