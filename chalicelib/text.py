"""Which characters a string from outside may hold: one rule for bodies, queries and headers.

DynamoDB stores UTF-8 only, so a lone surrogate cannot reach it; control
characters (Unicode category C: controls, format characters such as zero-width
spaces, unassigned and private-use code points) and line or paragraph
separators have no place in the fields
of a user record, in a query or in a header the service reads. Newline and tab
are allowed where free text is (``affiliation``, ``contact``).
"""

from __future__ import annotations

import re
import unicodedata

MULTILINE_ALLOWED = frozenset("\n\t")
ASCII_DIGITS = re.compile(r"[0-9]+")


def is_clean(value: str, multiline: bool = False) -> bool:
    """True when ``value`` holds no lone surrogate and no control or invisible character
    (newline and tab allowed with ``multiline``)."""
    for char in value:
        category = unicodedata.category(char)
        if (category[0] == "C" or category in ("Zl", "Zp")) and not (
            multiline and char in MULTILINE_ALLOWED
        ):
            return False
    return True


def whole_number(raw: str, max_digits: int = 15) -> int | None:
    """The value of ``raw`` when it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` accepts superscripts and other scripts' digits that ``int``
    refuses or reads differently: only 0-9 count here.
    """
    if len(raw) > max_digits or not ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)
