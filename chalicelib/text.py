"""Which characters a string from outside may hold: one rule for bodies, queries and headers.

DynamoDB stores UTF-8 only, so a lone surrogate cannot reach it; control
characters (Unicode categories Cc and Cf: controls, and format characters such
as zero-width spaces and direction marks) and line or paragraph separators
have no place in the fields of a user record, in a query or in a header the
service reads. Newline and tab are allowed where free text is
(``affiliation``, ``contact``). Code points this Unicode version leaves
unassigned, and private-use ones, are neither and are kept.

``char_class`` writes the same rule as a regular-expression character class,
for the patterns of the OpenAPI document.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MULTILINE_ALLOWED = frozenset("\n\t")
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
ASCII_DIGITS = re.compile(r"[0-9]+")


def is_clean(value: str, multiline: bool = False) -> bool:
    """True when ``value`` holds no lone surrogate and no control or invisible character
    (newline and tab allowed with ``multiline``)."""
    for char in value:
        if unicodedata.category(char) in REFUSED_CATEGORIES and not (
            multiline and char in MULTILINE_ALLOWED
        ):
            return False
    return True


CLASS_KINDS = ("text", "multiline", "visible", "host", "email")


def char_class(kind: str) -> str:
    """A regular-expression character class (JSON Schema's and Python's syntax alike)
    of the characters of ``kind``: ``text`` (``is_clean``), ``multiline`` (with
    newline and tab), ``visible`` (clean and not whitespace), ``host`` (visible,
    not ``/?#``), ``email`` (``email_local_char``). All but ``email`` are written
    as the few characters they leave out, so that generators read them quickly."""
    return _char_classes()[kind]


@functools.cache
def _char_classes() -> dict[str, str]:
    """Every ``char_class``, from the rules of ``is_clean`` and ``email_local_char``: one
    pass over the code points, then over the few ``email_local_char`` may take (a
    tenth of a second or so, once per container: only the OpenAPI document asks for
    them)."""
    left_out: dict[str, list[int]] = {kind: [] for kind in CLASS_KINDS if kind != "email"}
    category = unicodedata.category
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            # Lone surrogates are refused too, but a JSON Schema pattern, read as Unicode
            # text, cannot name them (a Rust or ECMA u-mode regex refuses the range).
            continue
        char = chr(code)
        refused = category(char) in REFUSED_CATEGORIES
        space = char.isspace()
        if refused:
            left_out["text"].append(code)
            if char not in MULTILINE_ALLOWED:
                left_out["multiline"].append(code)
        if refused or space:
            left_out["visible"].append(code)
        if refused or space or char in "/?#":
            left_out["host"].append(code)
    # email_local_char takes ASCII and EMAIL_SCRIPTS only: those are the code points to ask.
    email: list[int] = []
    for code in sorted(
        {*map(ord, ATEXT), *(c for lo, hi in EMAIL_SCRIPTS for c in range(lo, hi + 1))}
    ):
        char = chr(code)
        if is_clean(char) and not char.isspace() and email_local_char(char):
            email.append(code)
    classes = {kind: f"[^{_spans(codes)}]" for kind, codes in left_out.items()}
    classes["email"] = f"[{_spans(email)}]"
    return classes


def _spans(codes: list[int]) -> str:
    """Sorted code points as the inside of a character class, runs as ranges."""
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in spans)


def _escape(code: int) -> str:
    """One character of a class, read alike by ECMA-262 (u flag) and Python: ASCII letters,
    digits and space as themselves, other BMP characters as ``\\uXXXX`` (surrogates
    included), characters beyond the BMP as themselves."""
    char = chr(code)
    if char.isascii() and (char.isalnum() or char == " "):
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else char


ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)


EMAIL_SCRIPTS = ((0xFF10, 0xFF5A),)
"""Where letters and digits beyond ASCII may come from in an address's local part: the
fullwidth forms, which NFKC folds to ASCII (other scripts meet the mixed-script and
lookalike rules of chalicelib/records/addresses.py, which no pattern can state)."""


def email_local_char(char: str) -> bool:
    """True for a character an address's local part may hold (``char_class("email")``):
    RFC 5322's atext, or a letter or digit of ``EMAIL_SCRIPTS`` that NFC leaves as is."""
    if char.isascii():
        return char in ATEXT
    code = ord(char)
    return (
        any(low <= code <= high for low, high in EMAIL_SCRIPTS)
        and unicodedata.category(char)[0] in "LN"
        and unicodedata.is_normalized("NFC", char)
    )


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
