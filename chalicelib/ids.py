"""Ids: the one home of their formats, and the maker of new ones.

Every parser of a user id (API keys, session cookies, routes, logs) uses
``USER_ID_PATTERN``; ``SYSTEM`` is the actor of the changes the service makes
on its own (a first login, an import, ``manage.py``).
"""

from __future__ import annotations

import re
import uuid

SYSTEM = "system"

# A user id: 32 hex characters as new_id makes them; for users imported from the
# older tracker, its own ids kept: 24 hex characters (a MongoDB ObjectId) or
# ``u-`` and a UUID with dashes, as the tracker makes them.
USER_ID_PATTERN = (
    "[0-9a-f]{24}|[0-9a-f]{32}|u-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
USER_ID_RE = re.compile(USER_ID_PATTERN)
# An API key's id: 16 hex characters.
KEY_ID_PATTERN = "[0-9a-f]{16}"
KEY_ID_RE = re.compile(KEY_ID_PATTERN)


def new_id() -> str:
    """A new opaque id (128 random bits, hex)."""
    return uuid.uuid4().hex
