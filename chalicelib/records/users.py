"""User records: create, edit and delete (docs/API.md sections 3 and 4); reading them is
``user_views.py``, computing a change ``changes.py``.

No HTTP objects here: functions take plain values and the caller, return
records, and raise the domain errors of ``errors.py``. Every change is one
transaction holding the record, its guard items and its log entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib import errors
from chalicelib.permissions import PERMISSIONS
from chalicelib.records import addresses, changes, erasure, guards, search
from chalicelib.records.changes import NewUser, count_user_managers, counts_as_manager, log_entry
from chalicelib.records.record import NEW_USER, USER
from chalicelib.records.user_reads import check_user_id, load_user
from chalicelib.records.user_sessions import end_user_sessions
from chalicelib.records.user_views import user_view
from chalicelib.storage.models import ApiKey, Guard, LogEntry, User, storage_errors
from chalicelib.storage.transactions import Transaction
from chalicelib.storage.versions import check_version, retrying, stale_error
from chalicelib.timestamps import now

__all__ = ["PERMISSIONS", "NewUser", "create_user", "delete_user", "update_user"]

log = logging.getLogger(__name__)


def check_new_user(new: NewUser) -> None:
    """Refuse a new record's body on its own, before anything is read: UnknownField /
    InvalidInput (400), FieldNotWritable (403)."""
    NEW_USER.check(new.body)
    changes.check_writable(new.body, new.writable)


def create_user(
    actor: str, new: NewUser, also: Callable[[Transaction, User], None] | None = None
) -> User:
    """Create a user with its guards and ``add`` log entry in one transaction.

    An id that has a change log (a deleted user's) is never given again:
    UserExists. ``also`` adds more items to the same transaction. A
    transaction whose first attempt landed but whose answer was lost, so that
    the storage client's retry met the user it had just written, is recognised
    by its log entry and answered as the success it was.
    Raises UnknownField / InvalidInput (400), FieldNotWritable (403),
    UserExists / EmailTaken / AuthIdTaken (409).
    """
    check_new_user(new)
    new = replace(new, body=_stored_email(new.body))
    change = changes.creation(actor, new, now())

    def attempt() -> User:
        transaction = changes.transaction(change)
        if also is not None:
            also(transaction, change.record)
        try:
            transaction.commit()
        except (errors.UserExists, errors.EmailTaken, errors.AuthIdTaken):
            if _landed(change.entry):
                return change.record
            raise
        return change.record

    return retrying(attempt)


def _landed(entry: LogEntry) -> bool:
    """True when this very log entry (its random id) is stored: an earlier attempt
    of the same transaction landed, and only its answer was lost."""
    with storage_errors():
        try:
            stored = LogEntry.get(entry.entry_id, entry.version, consistent_read=True)
        except LogEntry.DoesNotExist:
            return False
    return bool(stored.id == entry.id)


def update_user(
    actor: str,
    user_id: str,
    patch: Mapping[str, Any],
    writable: tuple[str, ...],
    if_match: int | None = None,
    view: Callable[[User], dict[str, Any]] = user_view,
) -> User:
    """Write the fields of ``patch`` that change, with one ``edit`` log entry;
    returns the record as written (or as read, when nothing changed).

    A field not in ``writable`` may be sent back as ``view`` shows it to the
    caller. Concurrent edits are re-read and re-applied, so edits of
    different fields all survive. Raises UnknownField / InvalidInput,
    FieldNotWritable, UserNotFound, EmailTaken, LastUserManager,
    VersionMismatch.
    """
    USER.check(patch)
    patch = _stored_email(patch)

    def attempt() -> User:
        user = load_user(user_id)
        check_version(int(user.version), if_match)
        change = changes.edit(
            user, patch, writable, lambda: view(user), actor, now(), if_match=if_match
        )
        if change is None:
            return user
        changes.transaction(change).commit()
        return change.record

    record = retrying(attempt)
    if patch.get("suspended") is True:
        _end_sessions(user_id)
    return record


def _end_sessions(user_id: str) -> None:
    """End a suspended user's sessions. Best effort: the authorizer refuses them
    anyway while the user is suspended, and ``check-invariants --repair`` ends any
    left behind."""
    try:
        end_user_sessions(user_id)
    except errors.StorageUnavailable:
        log.warning("could not end the sessions of a suspended user", exc_info=True)


def _stored_email(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` with its email (if any) in the form it is stored and compared in."""
    if "email" not in body:
        return body
    return {**body, "email": addresses.normalise(body["email"])}


def delete_user(actor: str, user_id: str, if_match: int | None = None) -> None:
    """Erase a user (docs/API.md section 10): the record, its guards and API keys go with
    the ``delete`` log entry in one transaction, then ``erasure.finish`` ends its
    sessions, removes its idempotency records and erases its personal values from
    its log. A user whose erasure a fault left unfinished is finished now.

    Raises UserNotFound, VersionMismatch, LastUserManager, StorageUnavailable.
    """

    check_user_id(user_id)

    def attempt() -> None:
        try:
            user = load_user(user_id)
        except errors.UserNotFound:
            if erasure.unfinished(user_id):
                return
            raise
        check_version(int(user.version), if_match)
        transaction = Transaction()
        transaction.delete(
            user,
            condition=User.version == user.version,
            error=stale_error(if_match),
        )
        for key in guards.user_keys(user.email, user.auth_ids):
            transaction.delete(Guard(key=key), condition=Guard.user_id == user.id)
        if counts_as_manager(user.permissions, bool(user.suspended)):
            count_user_managers(transaction, -1)
        for key_id in user.api_key_ids or ():
            transaction.delete(ApiKey(user_id=user.id, key_id=key_id))
        search.write_entries(transaction, user, None)
        entry = log_entry(user.id, int(user.version) + 1, "delete", actor, {}, "erased")
        entry.erasing = True
        transaction.put(entry, condition=LogEntry.version.does_not_exist())
        transaction.commit()

    retrying(attempt)
    erasure.finish(user_id)
