"""Change logs: a record's history and a user's actions (API.md section 7)."""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.cursors import decode_cursor, encode_cursor
from chalicelib.ids import SYSTEM, USER_ID_RE
from chalicelib.models import LogEntry, storage_errors
from chalicelib.user_reads import check_user_id
from chalicelib.validation import Page


def log_view(entry: LogEntry, *, with_data: bool = True) -> dict[str, Any]:
    """A log entry as the API shows it; ``/actions`` leaves out ``data`` and ``user``."""
    view: dict[str, Any] = {
        "id": entry.id,
        "action": entry.action,
        "comment": entry.comment,
        "data_type": entry.data_type,
        "entry_id": entry.entry_id,
        "timestamp": entry.timestamp,
    }
    if with_data:
        view.update(user=entry.user, data=entry.data)
    return view


def get_log(user_id: str, page: Page) -> dict[str, Any]:
    """The change history of one record, oldest first; raises UserNotFound if it has none."""
    start = decode_cursor(page.cursor, {"entry_id": "S", "version": "N"})
    if start is not None and start["entry_id"]["S"] != user_id:
        raise errors.InvalidCursor("cursor belongs to another record")
    check_user_id(user_id)
    with storage_errors():
        results = LogEntry.query(user_id, limit=page.limit, last_evaluated_key=start)
        logs = [log_view(entry) for entry in results]
        next_page = encode_cursor(results.last_evaluated_key)
    if not logs and start is None:
        raise errors.UserNotFound(f"no user has id {user_id!r}")
    return {"entry_id": user_id, "data_type": "user", "logs": logs, "next": next_page}


def get_actions(actor: str, page: Page) -> dict[str, Any]:
    """The changes one user made, oldest first."""
    start = decode_cursor(
        page.cursor, {"entry_id": "S", "version": "N", "user": "S", "timestamp": "S"}
    )
    if start is not None and start["user"]["S"] != actor:
        raise errors.InvalidCursor("cursor belongs to another user")
    if actor != SYSTEM and not USER_ID_RE.fullmatch(actor):
        return {"logs": [], "next": None}  # no user can have this id, so it made no change
    with storage_errors():
        results = LogEntry.by_actor.query(actor, limit=page.limit, last_evaluated_key=start)
        logs = [log_view(entry, with_data=False) for entry in results]
        return {"logs": logs, "next": encode_cursor(results.last_evaluated_key)}
