"""The opaque ``next`` cursors of pages: a DynamoDB start key, checked on the way back."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from chalicelib import errors
from chalicelib.text import is_clean, whole_number


def encode_cursor(last_evaluated_key: Mapping[str, Any] | None) -> str | None:
    """The opaque ``next`` cursor of a page, or None on the last page."""
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_types: Mapping[str, str]) -> dict[str, Any] | None:
    """The start key named by a ``cursor``: one value of the given DynamoDB type
    (``S`` or ``N``) per key attribute. Raises InvalidCursor if it names none."""
    if cursor is None:
        return None
    invalid = errors.InvalidCursor("cursor is not the next of an earlier page")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(key, dict) or set(key) != set(key_types):
        raise invalid
    for name, kind in key_types.items():
        value = key[name]
        if not (isinstance(value, dict) and set(value) == {kind}):
            raise invalid
        text = value[kind]
        if not isinstance(text, str) or not 0 < len(text) <= 400 or not is_clean(text):
            raise invalid
        if kind == "N" and whole_number(text) is None:
            raise invalid
    return key
