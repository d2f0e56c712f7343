"""Change logs: a record's history and a user's actions (docs/API.md section 8)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib import errors
from chalicelib.ids import SYSTEM, USER_ID_RE
from chalicelib.records.user_reads import check_user_id
from chalicelib.records.validation import Page
from chalicelib.storage.batch import get_many
from chalicelib.storage.cursors import decode_cursor, encode_cursor
from chalicelib.storage.models import LogEntry, User, storage_errors

ORDERS = ("asc", "desc")
"""``?order=``: oldest first (the default) or newest first."""
BATCH = 100  # keys of one BatchGetItem


def parse_order(raw: str | None) -> bool:
    """True for oldest first (``asc``, the default), False for ``desc``; InvalidInput else."""
    if raw is None or raw == ORDERS[0]:
        return True
    if raw == ORDERS[1]:
        return False
    raise errors.InvalidInput(f"order must be {' or '.join(ORDERS)}")


def log_view(entry: LogEntry, *, with_data: bool = True) -> dict[str, Any]:
    """A log entry as the API shows it; ``/actions`` leaves out ``data`` and ``user``.
    An entry written before ``old`` was kept shows none."""
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
    if entry.old is not None:
        view["old"] = entry.old
    return view


def people(ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{"name", "deleted"}`` for each user id (``system`` left out): the current name,
    null for a user without one or gone."""
    wanted = sorted({user_id for user_id in ids if user_id != SYSTEM})
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        for user_id, user in zip(chunk, get_many([(User, {"id": i}) for i in chunk]), strict=True):
            if isinstance(user, User):
                found[user_id] = {"name": user.name or None, "deleted": False}
            else:
                found[user_id] = {"name": None, "deleted": True}
    return found


def get_log(user_id: str, page: Page, oldest_first: bool = True) -> dict[str, Any]:
    """The change history of one record, oldest first or newest first, with its
    ``actors``; raises UserNotFound if it has none."""
    start = decode_cursor(page.cursor, {"entry_id": "S", "version": "N"})
    if start is not None and start["entry_id"]["S"] != user_id:
        raise errors.InvalidCursor("cursor belongs to another record")
    check_user_id(user_id)
    with storage_errors():
        results = LogEntry.query(
            user_id, limit=page.limit, last_evaluated_key=start, scan_index_forward=oldest_first
        )
        entries = list(results)
        next_page = encode_cursor(results.last_evaluated_key)
    if not entries and start is None:
        raise errors.UserNotFound(f"no user has id {user_id!r}")
    return {
        "entry_id": user_id,
        "data_type": "user",
        "logs": [log_view(entry) for entry in entries],
        "actors": people(entry.user for entry in entries),
        "next": next_page,
    }


def get_actions(actor: str, page: Page, oldest_first: bool = True) -> dict[str, Any]:
    """The changes one user made, oldest first or newest first, with the ``records``
    they changed."""
    start = decode_cursor(
        page.cursor, {"entry_id": "S", "version": "N", "user": "S", "timestamp": "S"}
    )
    if start is not None and start["user"]["S"] != actor:
        raise errors.InvalidCursor("cursor belongs to another user")
    if actor != SYSTEM and not USER_ID_RE.fullmatch(actor):
        raise errors.UserNotFound(f"no user has id {actor[:64]!r}")
    with storage_errors():
        results = LogEntry.by_actor.query(
            actor, limit=page.limit, last_evaluated_key=start, scan_index_forward=oldest_first
        )
        entries = list(results)
        next_page = encode_cursor(results.last_evaluated_key)
    return {
        "logs": [log_view(entry, with_data=False) for entry in entries],
        "records": people(entry.entry_id for entry in entries),
        "next": next_page,
    }
