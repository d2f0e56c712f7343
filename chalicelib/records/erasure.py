"""Erasure: what deleting a user does after its record is gone (docs/API.md section 10).

``users.delete_user`` removes the record, its guards and API keys and writes the
``delete`` log entry in one transaction; that entry carries ``erasing`` until
``finish`` has done the rest, step by step, each step safe to run again:

1. API keys the record no longer listed are removed;
2. the user's sessions are ended;
3. the idempotency records that answer with the user's id are removed (found
   by a strongly consistent Scan of that table, which holds one day of creates;
   each removed only while it still names the user, since a retry of its create
   may have replaced it already), so a retry of that create is a fresh request;
4. in every log entry of the record the personal values (``PERSONAL`` in
   ``data`` and ``old``) become ``"[erased]"``, and any of them a ``comment``
   quotes (a key's name, a linked identity) likewise;
5. ``erasing`` is removed from the ``delete`` entry.

A fault between steps leaves ``erasing`` set: a retry of the ``DELETE``, or
``check-invariants --repair``, runs ``finish`` again and completes it. The log
entries stay (who changed which field, when), as does the user id, which now
names nobody and is how other records' logs still refer to the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import DeleteError

from chalicelib.records.record import PERSONAL_FIELDS
from chalicelib.records.user_sessions import end_user_sessions
from chalicelib.storage.models import ApiKey, IdempotentRequest, LogEntry, storage_errors

ERASED = "[erased]"
LOGGED_FIELDS = ("data", "old")  # the parts of a log entry that hold values
"""``old`` is written by services that log a change's former values."""


def unfinished(user_id: str) -> bool:
    """True when the record's last log entry is a ``delete`` whose erasure is not done."""
    with storage_errors():
        last = list(LogEntry.query(user_id, scan_index_forward=False, limit=1))
    return bool(last) and last[0].action == "delete" and bool(last[0].erasing)


def finish(user_id: str) -> None:
    """Run every step of an erasure after the record's transaction; each may run again.

    Raises StorageUnavailable when a step fails: the erasure stays unfinished.
    """
    with storage_errors():
        for key in ApiKey.query(user_id, consistent_read=True):
            key.delete()
    end_user_sessions(user_id)
    remove_idempotency_records(user_id)
    with storage_errors():
        entries = list(LogEntry.query(user_id, consistent_read=True))
        values = personal_values(entries)
        for entry in entries:
            actions = _scrub_actions(entry, values)
            if actions:
                entry.update(actions=actions, condition=LogEntry.version.exists())
        for entry in entries:
            if entry.action == "delete" and entry.erasing:
                entry.update(actions=[LogEntry.erasing.remove()])


def remove_idempotency_records(user_id: str) -> None:
    """Remove every idempotency record that answers with ``user_id``."""
    answering = IdempotentRequest.user_id == user_id
    with storage_errors():
        for record in IdempotentRequest.scan(answering, consistent_read=True):
            try:
                record.delete(condition=answering)
            except DeleteError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
                # A retry of the create replaced it, answering with its new user.


def personal_values(entries: Iterable[LogEntry]) -> list[str]:
    """Every personal value the entries still hold, longest first, none empty."""
    found: set[str] = set()
    for entry in entries:
        for part in _logged(entry).values():
            for name in PERSONAL_FIELDS:
                found.update(_strings(part.get(name)))
    found.discard(ERASED)
    return sorted((value for value in found if value), key=lambda v: (-len(v), v))


def _logged(entry: LogEntry) -> dict[str, dict[str, Any]]:
    """The value-holding parts of an entry that it has, by attribute name."""
    parts = {}
    for name in LOGGED_FIELDS:
        value = getattr(entry, name, None) if name in LogEntry.get_attributes() else None
        if isinstance(value, dict):
            parts[name] = value
    return parts


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def scrubbed(part: dict[str, Any]) -> dict[str, Any]:
    """``part`` with each personal field's value replaced by ``"[erased]"``."""
    return {name: ERASED if name in PERSONAL_FIELDS else value for name, value in part.items()}


def scrubbed_comment(comment: str, values: Iterable[str]) -> str:
    """``comment`` with each of ``values`` it quotes replaced by ``"[erased]"``."""
    for value in values:
        comment = comment.replace(value, ERASED)
    return comment


def _scrub_actions(entry: LogEntry, values: list[str]) -> list[Any]:
    """The update actions that erase the entry's personal values; none when erased."""
    attributes = LogEntry.get_attributes()
    actions = []
    for name, part in _logged(entry).items():
        clean = scrubbed(part)
        if clean != part:
            actions.append(attributes[name].set(clean))
    comment = scrubbed_comment(entry.comment or "", values)
    if comment != (entry.comment or ""):
        actions.append(LogEntry.comment.set(comment))
    return actions
