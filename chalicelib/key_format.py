"""What an API key looks like (API.md section 1), with no storage in sight.

A key reads ``<prefix>_<body><check>``: ``<prefix>`` is ``API_KEY_PREFIX``
(default ``uk``); ``<body>`` is 77 base62 characters (``0-9A-Za-z``) holding,
as one big-endian number, a byte naming the owner's id form, the owner's id
(16 bytes), the key's id (8 bytes) and a secret of 256 random bits;
``<check>`` is 6 base62 characters, the CRC32 of everything before it
(prefix and underscore included). So a key carries its own lookup ids (one
key-value read verifies it), a secret scanner can recognise it, and a typo or
a truncation is refused before any storage read.

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

from chalicelib.changes import KEY_ID_PATTERN, USER_ID_PATTERN

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_LENGTH = 77  # base62 digits of 57 bytes: 1 + 16 + 8 + 32
CHECK_LENGTH = 6  # base62 digits of a CRC32
SECRET_BYTES = 32
_ID_BYTES = 16
_KEY_ID_BYTES = 8
# The forms of user id (changes.USER_ID_PATTERN), by the byte that names them.
_OBJECT_ID, _HEX_ID, _TRACKER_ID = 0, 1, 2
_TRACKER_RE = re.compile(
    r"u-([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})"
)
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
    if number:
        raise ValueError("the number does not fit")
    return "".join(reversed(digits))


def _number(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + ALPHABET.index(char)
    return number


def check_digits(text: str) -> str:
    """The ``<check>`` of a key whose other characters are ``text``."""
    return _base62(zlib.crc32(text.encode("ascii")), CHECK_LENGTH)


def _id_bytes(user_id: str) -> tuple[int, bytes]:
    tracker = _TRACKER_RE.fullmatch(user_id)
    if tracker is not None:
        return _TRACKER_ID, bytes.fromhex("".join(tracker.groups()))
    if len(user_id) == 24:
        return _OBJECT_ID, bytes.fromhex(user_id).rjust(_ID_BYTES, b"\0")
    return _HEX_ID, bytes.fromhex(user_id)


def _user_id(form: int, raw: bytes) -> str | None:
    if form == _OBJECT_ID and not any(raw[:4]):
        return raw[4:].hex()
    if form == _HEX_ID:
        return raw.hex()
    if form == _TRACKER_ID:
        h = raw.hex()
        return f"u-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return None


def make_key(prefix: str, user_id: str, key_id: str) -> tuple[str, str]:
    """A new key of user ``user_id`` with id ``key_id``: ``(key, secret)``.

    Only a hash of ``secret`` is stored; the key is shown once.
    """
    secret = secrets.token_bytes(SECRET_BYTES)
    form, owner = _id_bytes(user_id)
    raw = bytes([form]) + owner + bytes.fromhex(key_id) + secret
    text = f"{prefix}_{_base62(int.from_bytes(raw, 'big'), BODY_LENGTH)}"
    return text + check_digits(text), secret.hex()


def parse(token: str, prefix: str) -> KeyParts | None:
    """The parts of a key of either form, or None when it is malformed or its check fails.

    Costs no storage read: a typo or a truncated key ends here.
    """
    legacy = LEGACY_RE.fullmatch(token)
    if legacy is not None:
        return KeyParts(*legacy.groups())
    expected = len(prefix) + 1 + BODY_LENGTH + CHECK_LENGTH
    if (
        len(token) != expected
        or not token.startswith(f"{prefix}_")
        or not token.isascii()
        or not token[len(prefix) + 1 :].isalnum()
    ):
        return None
    text, check = token[:-CHECK_LENGTH], token[-CHECK_LENGTH:]
    if check_digits(text) != check:
        return None
    number = _number(text[len(prefix) + 1 :])
    if number >> (8 * (1 + _ID_BYTES + _KEY_ID_BYTES + SECRET_BYTES)):
        return None
    raw = number.to_bytes(1 + _ID_BYTES + _KEY_ID_BYTES + SECRET_BYTES, "big")
    user_id = _user_id(raw[0], raw[1 : 1 + _ID_BYTES])
    if user_id is None:
        return None
    key_id = raw[1 + _ID_BYTES : 1 + _ID_BYTES + _KEY_ID_BYTES].hex()
    return KeyParts(user_id, key_id, raw[1 + _ID_BYTES + _KEY_ID_BYTES :].hex())


def looks_like_key(token: str, prefix: str) -> bool:
    """True when ``token`` is meant as an API key (not an access token): it starts
    with the deployment's prefix or the older form's."""
    return token.startswith((f"{prefix}_", LEGACY_PREFIX))
