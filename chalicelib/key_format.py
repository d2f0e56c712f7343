"""What an API key looks like (API.md section 1), with no storage in sight.

A key reads ``<prefix>_<body><check>``: ``<prefix>`` is ``API_KEY_PREFIX``
(default ``uk``); ``<body>`` is 92 base62 characters (``0-9A-Za-z``): a digit
naming the form of the owner's id, the owner's id as 32 lower-case hex digits
(a subset of base62), the key's id as 16, and a secret of 43 random base62
characters (256 bits); ``<check>`` is 6 base62 characters, the CRC32 of
everything before it (prefix and underscore included). So a key carries its
own lookup ids, read without any decoding (one key-value read verifies it), a
secret scanner can recognise it, and a typo or a truncation is refused before
any storage read.

Keys made before this form read ``uk_<user id>.<key id>.<secret>`` and keep
working until they expire or are revoked; ``parse`` reads both. The README
publishes the regular expression secret scanners look for, and
``scanners/users_service_keys.py`` a detect-secrets plugin that checks the
check digits too.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

from chalicelib.ids import KEY_ID_PATTERN, USER_ID_PATTERN

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_LENGTH = 43  # random base62 characters: 43 x log2(62) > 256 bits
CHECK_LENGTH = 6  # base62 digits of a CRC32
# The forms of user id (ids.USER_ID_PATTERN), by the digit that names them.
_OBJECT_ID, _HEX_ID, _TRACKER_ID = "0", "1", "2"
_TRACKER_RE = re.compile(
    r"u-([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})"
)
_BODY = rf"([012])([0-9a-f]{{32}})([0-9a-f]{{16}})([0-9A-Za-z]{{{SECRET_LENGTH}}})"
LEGACY_PREFIX = "uk_"
LEGACY_RE = re.compile(rf"uk_({USER_ID_PATTERN})\.({KEY_ID_PATTERN})\.([A-Za-z0-9_-]{{43}})")


@dataclass(frozen=True)
class KeyParts:
    """What a well-formed key names: its owner, its id and its secret."""

    user_id: str
    key_id: str
    secret: str


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def check_digits(text: str) -> str:
    """The ``<check>`` of a key whose other characters are ``text``."""
    return _base62(zlib.crc32(text.encode("ascii")), CHECK_LENGTH)


def _id_digits(user_id: str) -> str:
    """The form digit and 32 hex digits of a user id."""
    tracker = _TRACKER_RE.fullmatch(user_id)
    if tracker is not None:
        return _TRACKER_ID + "".join(tracker.groups())
    if len(user_id) == 24:
        return _OBJECT_ID + user_id.rjust(32, "0")
    return _HEX_ID + user_id


def _user_id(form: str, digits: str) -> str | None:
    if form == _OBJECT_ID:
        return digits[8:] if digits.startswith("00000000") else None
    if form == _HEX_ID:
        return digits
    d = digits
    return f"u-{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}"


def make_key(prefix: str, user_id: str, key_id: str) -> tuple[str, str]:
    """A new key of user ``user_id`` with id ``key_id``: ``(key, secret)``.

    Only a hash of ``secret`` is stored; the key is shown once.
    """
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    text = f"{prefix}_{_id_digits(user_id)}{key_id}{secret}"
    return text + check_digits(text), secret


def parse(token: str, prefix: str) -> KeyParts | None:
    """The parts of a key of either form, or None when it is malformed or its check fails.

    Costs no storage read: a typo or a truncated key ends here.
    """
    legacy = LEGACY_RE.fullmatch(token)
    if legacy is not None:
        return KeyParts(*legacy.groups())
    match = _pattern(prefix).fullmatch(token)
    if match is None or check_digits(token[:-CHECK_LENGTH]) != match.group(5):
        return None
    form, digits, key_id, secret, _ = match.groups()
    user_id = _user_id(form, digits)
    return None if user_id is None else KeyParts(user_id, key_id, secret)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(prefix: str) -> re.Pattern[str]:
    found = _PATTERNS.get(prefix)
    if found is None:
        found = _PATTERNS[prefix] = re.compile(
            rf"{re.escape(prefix)}_{_BODY}([0-9A-Za-z]{{{CHECK_LENGTH}}})"
        )
    return found


def looks_like_key(token: str, prefix: str) -> bool:
    """True when ``token`` is meant as an API key (not an access token): it starts
    with the deployment's prefix or the older form's."""
    return token.startswith((f"{prefix}_", LEGACY_PREFIX))
