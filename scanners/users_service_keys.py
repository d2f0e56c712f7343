"""A detect-secrets plugin that finds the users service's API keys, and nothing else.

Use it as it is (``detect-secrets scan --plugin users_service_keys.py``), with
``PREFIX`` set to the deployment's ``API_KEY_PREFIX``. It needs only
detect-secrets and the standard library, so it can be copied anywhere. A
match must also pass the key's check digits (a CRC32 of everything before
them), so a string that only looks like a key is not reported. Keys of the
older form (``uk_<user id>.<key id>.<secret>``) carry no check; their shape
is unique enough.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Generator

from detect_secrets.plugins.base import RegexBasedDetector

PREFIX = "uk"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
USER_ID = (
    r"[0-9a-f]{24}|[0-9a-f]{32}|u-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
KEY = re.compile(
    rf"(?<![0-9A-Za-z_])({PREFIX}_[012][0-9a-f]{{48}}[0-9A-Za-z]{{49}})(?![0-9A-Za-z_])"
    rf"|(?<![0-9A-Za-z_])(uk_(?:{USER_ID})\.[0-9a-f]{{16}}\.[A-Za-z0-9_-]{{43}})(?![A-Za-z0-9_-])"
)


def passes_check(key: str) -> bool:
    """True for an older-form key, or one whose last 6 characters are the base62
    CRC32 of the rest."""
    if "." in key:
        return True
    number = zlib.crc32(key[:-6].encode("ascii"))
    check = ""
    for _ in range(6):
        number, digit = divmod(number, 62)
        check = ALPHABET[digit] + check
    return key[-6:] == check


class UsersServiceKeyDetector(RegexBasedDetector):  # type: ignore[misc]
    """The users service's API keys."""

    secret_type = "Users service API key"
    denylist = (KEY,)

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for found in super().analyze_string(string):
            if passes_check(found):
                yield found
