"""One change of a user record: the record's new version and its log entry.

Every change (create, edit, delete, API key made or revoked, identity linked)
goes through ``Transaction`` with the log entry built here, so a record and its
entry are written together or not at all (API.md section 7).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.expressions.update import Action

from chalicelib import errors
from chalicelib.models import LogEntry, User, storage_errors
from chalicelib.timestamps import now
from chalicelib.transactions import ConcurrentChange, Transaction

SYSTEM = "system"
MAX_ATTEMPTS = 5

T = TypeVar("T")


# A user id: 32 hex characters as new_id makes them; for users imported from the
# older tracker, its own ids kept: 24 hex characters (a MongoDB ObjectId) or
# ``u-`` and a UUID with dashes, as the tracker makes them. Every parser of a
# user id (API keys, session cookies, routes) uses this pattern.
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


def check_user_id(user_id: str) -> None:
    """Raise UserNotFound, before any read, for an id no user can have.

    DynamoDB refuses an overlong key as a bad request: this keeps such an id
    from reaching it and coming back as a storage fault.
    """
    if not USER_ID_RE.fullmatch(user_id):
        raise errors.UserNotFound(f"no user has id {user_id[:64]!r}")


def load_user(user_id: str) -> User:
    """Read a user with a consistent read; raises UserNotFound."""
    check_user_id(user_id)
    with storage_errors():
        try:
            return User.get(user_id, consistent_read=True)
        except User.DoesNotExist as exc:
            raise errors.UserNotFound(f"no user has id {user_id!r}") from exc


class StaleVersion(Exception):
    """The record changed between read and write; read it again."""


def log_entry(
    user_id: str,
    version: int,
    action: str,
    actor: str,
    data: dict[str, Any],
    comment: str = "",
    timestamp: str | None = None,
    old: dict[str, Any] | None = None,
) -> LogEntry:
    """The log entry of version ``version`` of a user record; ``old`` holds the changed
    fields' values before an ``edit`` (API.md section 7), ``{}`` by default."""
    return LogEntry(
        entry_id=user_id,
        version=version,
        id=new_id(),
        action=action,
        comment=comment,
        data_type="user",
        user=actor,
        timestamp=timestamp or now(),
        data=data,
        old=old if old is not None else {},
    )


def add_edit(
    transaction: Transaction,
    user: User,
    actor: str,
    data: dict[str, Any],
    comment: str = "",
    actions: list[Action] | None = None,
    if_match: int | None = None,
    old: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Add a new version of ``user`` and its ``edit`` log entry to a transaction.

    ``actions`` set the changed attributes; ``old`` holds the values before of the
    record fields ``data`` changes (``{}`` when it names none, as for an API key).
    The write holds only while the stored version is still ``user.version``; it
    then raises VersionMismatch when the caller named that version (``If-Match``),
    StaleVersion otherwise.
    Returns the new version and its timestamp.
    """
    version = int(user.version) + 1
    stamp = now()
    transaction.update(
        user,
        [*(actions or []), User.version.set(version), User.updated.set(stamp)],
        condition=User.version == user.version,
        error=stale_error(if_match),
    )
    transaction.put(
        log_entry(user.id, version, "edit", actor, data, comment, stamp, old),
        condition=LogEntry.version.does_not_exist(),
    )
    return version, stamp


def stale_error(if_match: int | None) -> Callable[[], Exception]:
    """The error for a record that changed since it was read: VersionMismatch
    when the caller named the version it expected, StaleVersion (retry) otherwise."""
    if if_match is None:
        return StaleVersion
    return functools.partial(
        errors.VersionMismatch, f"the record is no longer at version {if_match}"
    )


def retrying(attempt: Callable[[], T]) -> T:
    """Run a read-then-write until no concurrent change got in between.

    Raises EditConflict when the record keeps changing.
    """
    for _ in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except (StaleVersion, ConcurrentChange):
            continue
    raise errors.EditConflict("the record kept changing; try again")


def check_version(user: User, if_match: int | None) -> None:
    """Raise VersionMismatch when ``If-Match`` names another version than the record's."""
    if if_match is not None and user.version != if_match:
        raise errors.VersionMismatch(f"the record is at version {user.version}, not {if_match}")
