"""Names: what a guest may be called in a meeting.

Others see a guest's name in the participant list, on video tiles and in the
chat, next to what the page itself says of people (the role a host has,
"mötesorganisatör", is the page's own markup, never part of a name). So a
guest's name, after runs of white space are folded into one space:

- has 1–60 characters;
- holds no invisible characters: no control or format characters (bidi
  overrides and isolates, zero-width characters, the soft hyphen), no
  private-use or unassigned code points (:func:`vardmote.lib.text.has_invisible_characters`);
- does not read as a host's role. The name is read as its skeleton
  (:func:`vardmote.lib.text.skeleton`: NFKC, so fullwidth "（" is "(", case
  folded, accents dropped, Cyrillic and Greek look-alikes read as Latin
  letters), and split into parts at every bracket of any kind (Unicode
  categories Ps and Pe). A name is refused when one of its words (a run of
  letters) is one of :data:`HOST_WORDS` or begins with one of
  :data:`HOST_STEMS`, or when the letters of one part, run together, are
  or begin so ("(v ä r d)", "Mötes-organisatör").

Staff and room devices are shown under the names they are registered with and
are not checked here. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

from vardmote.lib.text import has_invisible_characters, skeleton
from vardmote.rooms import texts

HOST_WORDS = frozenset({"vard", "varden", "vardar", "vardarna", "vardinna", "vardinnan"})
"""Words (as skeletons) that name a host: "värd" and its forms. "vård" has the same skeleton
and is refused with it; "vårdnadshavare" and "Edvard" are other words and are not."""
HOST_STEMS = ("motesorganisator", "organisator", "vardpersonal")
"""Beginnings of words (as skeletons) that name a host: "mötesorganisatör" (the page's own
name of the role), "organisatör", "vårdpersonal", with every ending."""

_LETTERS = re.compile(r"[^\W\d_]+")


def refusal(name: str, max_chars: int) -> str | None:
    """refusal is why a guest may not be called name (already folded: one space between words),
    as the Swedish sentence the guest is shown; None if they may."""
    if not 1 <= len(name) <= max_chars:
        return texts.name_invalid(max_chars)
    if has_invisible_characters(name):
        return texts.NAME_INVISIBLE
    if reads_as_host(name):
        return texts.NAME_LOOKS_LIKE_ROLE
    return None


def reads_as_host(name: str) -> bool:
    """reads_as_host tells whether name holds a word, or a part between brackets, that reads as
    a host's role (the rule in this module's docstring)."""
    read = skeleton(name)
    parts = [""]
    for c in read:
        if unicodedata.category(c) in ("Ps", "Pe") or c in "<>":
            parts.append("")
        else:
            parts[-1] += c
    words = _LETTERS.findall(read)
    together = ["".join(_LETTERS.findall(part)) for part in parts]
    return any(_names_host(word) for word in [*words, *together])


def _names_host(word: str) -> bool:
    return word in HOST_WORDS or word.startswith(HOST_STEMS)
