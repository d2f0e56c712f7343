"""Everything held about a person, in one document (docs/API.md section 10).

``GET /user/me/export`` and ``GET /user/{id}/export`` answer it. Other people
appear in it only by id: the person's own log entries name their actors by id,
and the entries the person made on other records leave out their ``data``, as
``/actions`` does. A history larger than one answer may carry (``MAX_BYTES``)
stops where the budget ends, with ``log_next`` / ``actions_next`` cursors that
the ``/log`` and ``/actions`` routes take.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib import timestamps
from chalicelib.permissions import expand, explain
from chalicelib.records import apikeys, guards
from chalicelib.records.logs import log_view
from chalicelib.records.user_reads import load_user
from chalicelib.records.user_sessions import user_sessions
from chalicelib.records.user_views import user_view
from chalicelib.storage.cursors import encode_cursor
from chalicelib.storage.models import LogEntry, storage_errors

FORMAT = "users-service-export/1"
MAX_BYTES = 5 * 1024 * 1024
"""The largest document an export answers; Lambda's answers may carry 6 MB."""
CURSOR_ROOM = 512  # bytes kept for each cursor (ids and a timestamp, base64)


def filename(user_id: str, exported: str) -> str:
    """The file name an export is saved under: the user's id (never a name or an
    address: names may hold any character) and the day."""
    return f"users-service-export-{user_id}-{exported[:10]}.json"


def _size(value: Any) -> int:
    """The bytes ``value`` takes in the answer (Chalice writes compact, ASCII JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


def identities(auth_ids: Iterable[str]) -> list[dict[str, str]]:
    """A user's OpenID Connect identities: ``{"identity", "sub", "provider"}``."""
    found = []
    for auth_id in auth_ids:
        if guards.is_identity(auth_id):
            sub, _, provider = auth_id.rpartition(guards.IDENTITY_SEPARATOR)
            found.append({"identity": auth_id, "sub": sub, "provider": provider})
    return found


def _sessions(user_id: str) -> list[dict[str, str]]:
    """The user's live sessions: when each began and ends, and how it began."""
    current = datetime.now(UTC)
    listed = []
    for session in user_sessions(user_id):
        if session.expires_at <= current:
            continue
        view = {
            "created": session.created,
            "expires": timestamps.stamp(session.expires_at),
            "kind": session.kind or ("apikey" if session.api_key_id else "oidc"),
        }
        if session.provider:
            view["provider"] = session.provider
        listed.append(view)
    return listed


def _fill(
    entries: Iterable[LogEntry],
    view: Callable[[LogEntry], dict[str, Any]],
    cursor_key: Callable[[LogEntry], dict[str, Any]],
    budget: int,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """The views of ``entries`` that fit in ``budget`` bytes, the cursor of the page
    after the last one taken (None when all fit), and the bytes used."""
    taken: list[dict[str, Any]] = []
    used = 0
    last: LogEntry | None = None
    for entry in entries:
        shown = view(entry)
        size = _size(shown) + 1
        if last is not None and used + size > budget:
            return taken, encode_cursor(cursor_key(last)), used
        taken.append(shown)
        last = entry
        used += size
    return taken, None, used


def _log_key(entry: LogEntry) -> dict[str, Any]:
    return {"entry_id": {"S": entry.entry_id}, "version": {"N": str(int(entry.version))}}


def _action_key(entry: LogEntry) -> dict[str, Any]:
    return {**_log_key(entry), "user": {"S": entry.user}, "timestamp": {"S": entry.timestamp}}


def export_user(user_id: str, key_max_days: int, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The export document of a user (``key_max_days``: API_KEY_MAX_DAYS, the expiry
    of a key made without one); raises UserNotFound."""
    user = load_user(user_id)
    record = user_view(user)
    record["effective_permissions"] = sorted(expand(user.permissions))
    record["permission_reasons"] = explain(user.permissions)
    document: dict[str, Any] = {
        "format": FORMAT,
        "exported": timestamps.now(),
        "user": record,
        "identities": identities(user.auth_ids),
        "apikeys": apikeys.owned_keys(user_id, key_max_days),
        "sessions": _sessions(user_id),
        "log": [],
        "log_next": None,
        "actions": [],
        "actions_next": None,
    }
    budget = max_bytes - _size(document) - 2 * CURSOR_ROOM
    with storage_errors():
        log = LogEntry.query(user_id, consistent_read=True)
        document["log"], document["log_next"], used = _fill(log, log_view, _log_key, budget // 2)
        actions = LogEntry.by_actor.query(user_id)
        document["actions"], document["actions_next"], _ = _fill(
            actions, lambda entry: log_view(entry, with_data=False), _action_key, budget - used
        )
    return document
