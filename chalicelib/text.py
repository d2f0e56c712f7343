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


# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt): code points
# a renderer shows as nothing, e.g. U+034F COMBINING GRAPHEME JOINER, U+3164
# HANGUL FILLER, variation selectors. Some are letters or marks by category, so
# ``is_clean`` lets them through.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# Printable by category, blank on screen: U+2800 BRAILLE PATTERN BLANK.
BLANK = frozenset("\u2800")


def invisible(char: str) -> bool:
    """True for a code point that shows as nothing: default-ignorable, non-printing
    (controls, format characters, separators and spaces, unassigned, private use),
    or blank though printable."""
    code = ord(char)
    return (
        not char.isprintable()
        or char in BLANK
        or any(low <= code <= high for low, high in DEFAULT_IGNORABLE)
    )
