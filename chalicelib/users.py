"""User records: create, edit and delete (API.md sections 3 and 4); reading them is
``user_views.py``.

No HTTP objects here: functions take plain values and the caller, return plain
dicts, and raise the domain errors of ``errors.py``. Every change is one
transaction holding the record, its guard items and its log entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import addresses, errors, guards
from chalicelib.changes import (
    add_edit,
    check_version,
    load_user,
    log_entry,
    new_id,
    retrying,
    stale_error,
)
from chalicelib.models import (
    USER_MANAGERS_COUNTER,
    ApiKey,
    Guard,
    LogEntry,
    User,
    storage_errors,
)
from chalicelib.permissions import PERMISSIONS, USER_MANAGEMENT
from chalicelib.timestamps import now
from chalicelib.transactions import Transaction
from chalicelib.user_views import user_view
from chalicelib.validation import CREATOR_FIELDS, PROFILE_FIELDS, USER

__all__ = ["PERMISSIONS"]


def _count_user_managers(transaction: Transaction, delta: int) -> None:
    """Keep the count of user managers; refuse to take away the last one."""
    counter = Guard(key=USER_MANAGERS_COUNTER)
    if delta > 0:
        transaction.update(counter, [Guard.total.add(delta)])
    else:
        transaction.update(
            counter,
            [Guard.total.add(delta)],
            condition=Guard.total > -delta,
            error=lambda: errors.LastUserManager(
                f"this would leave no user with {USER_MANAGEMENT}"
            ),
        )


def create_user(
    actor: str,
    body: Mapping[str, Any],
    may_set_permissions: bool,
    auth_ids: list[str] | None = None,
    comment: str = "",
    user_id: str | None = None,
    also: Callable[[Transaction, User], None] | None = None,
    email_verified: bool = True,
) -> User:
    """Create a user with its guards and ``add`` log entry in one transaction.

    ``user_id`` keeps an id given from outside (an import); by default the
    service makes one. An id that has a change log (a deleted user's) is
    never given again: UserExists. ``also`` adds more items to the same transaction.
    ``email_verified`` is false only for an address no trusted party vouched for
    (a login at a provider not trusted for linking, or without a verified email).
    A transaction whose first attempt landed but whose answer was lost, so
    that the storage client's retry met the user it had just written, is
    recognised by its log entry and answered as the success it was.
    Raises UnknownField / InvalidInput (400), FieldNotWritable (403),
    UserExists / EmailTaken / AuthIdTaken (409).
    """
    USER.check(body)
    if "email" not in body:
        raise errors.InvalidInput("email is required")
    for name in body:
        if name not in CREATOR_FIELDS and name != "permissions":
            raise errors.FieldNotWritable(f"{name} is set by the service")
    permissions = list(body.get("permissions", []))
    if permissions and not may_set_permissions:
        raise errors.FieldNotWritable(f"setting permissions needs {USER_MANAGEMENT}")
    stamp = now()
    email = addresses.normalise(body["email"])
    user = User(
        id=user_id or new_id(),
        email=email,
        email_lower=guards.normalise_email(email),
        email_verified=email_verified,
        permissions=permissions,
        auth_ids=auth_ids if auth_ids is not None else [email],
        version=1,
        created=stamp,
        updated=stamp,
        **{name: body.get(name, "") for name in PROFILE_FIELDS},
    )
    entry = log_entry(user.id, 1, "add", actor, user_view(user), comment, stamp)

    def attempt() -> User:
        transaction = Transaction()
        transaction.put(
            user,
            condition=User.id.does_not_exist(),
            error=lambda: errors.UserExists(f"a user with id {user.id!r} exists already"),
        )
        email_key, *identity_keys = guards.user_keys(email, user.auth_ids)
        transaction.put(
            Guard(key=email_key, user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.EmailTaken(f"another user has the email {email!r}"),
        )
        for key in identity_keys:
            transaction.put(
                Guard(key=key, user_id=user.id),
                condition=Guard.key.does_not_exist(),
                error=lambda: errors.AuthIdTaken("another user holds this login identity"),
            )
        if USER_MANAGEMENT in permissions:
            _count_user_managers(transaction, +1)
        transaction.put(
            entry,
            condition=LogEntry.version.does_not_exist(),
            error=lambda: errors.UserExists(
                f"a user with id {user.id!r} existed and was deleted; ids are not reused"
            ),
        )
        if also is not None:
            also(transaction, user)
        try:
            transaction.commit()
        except (errors.UserExists, errors.EmailTaken, errors.AuthIdTaken):
            if _landed(entry):
                return user
            raise
        return user

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


def _changes(
    user: User, body: Mapping[str, Any], writable: tuple[str, ...], shown: Mapping[str, Any]
) -> dict[str, Any]:
    """The writable fields ``body`` changes; FieldNotWritable for any other change."""
    changes = {}
    for name, value in body.items():
        if value == shown[name]:
            continue
        if name not in writable:
            raise errors.FieldNotWritable(f"you may not change {name}")
        if value != getattr(user, name):
            changes[name] = value
    return changes


def update_user(
    actor: str,
    user_id: str,
    body: Mapping[str, Any],
    writable: tuple[str, ...],
    if_match: int | None = None,
    expanded: bool = False,
) -> dict[str, Any]:
    """Write the fields of ``body`` that change, with one ``edit`` log entry.

    ``expanded`` compares ``permissions`` with the expanded list, as
    ``/user/me`` shows it. Concurrent edits are re-read and re-applied, so
    edits of different fields all survive. Raises UnknownField / InvalidInput,
    FieldNotWritable, UserNotFound, EmailTaken, LastUserManager,
    VersionMismatch.
    """
    USER.check(body)
    if "email" in body:
        body = {**body, "email": addresses.normalise(body["email"])}

    def attempt() -> dict[str, Any]:
        user = load_user(user_id)
        check_version(user, if_match)
        changes = _changes(user, body, writable, user_view(user, expanded=expanded))
        if changes:
            _write_changes(actor, user, changes, if_match)
        return user_view(user, expanded=expanded)

    return retrying(attempt)


def _write_changes(actor: str, user: User, changes: dict[str, Any], if_match: int | None) -> None:
    """Write ``changes`` and their log entry. A new email (only a manager or the
    creator may set one) counts as vouched for, and takes the old one's place in
    ``auth_ids``, so that the old address is free again. Another case or form of
    the same address vouches for nothing: ``email_verified`` stays as it was, or
    an unverified login's account would receive the address owner's identity."""
    transaction = Transaction()
    actions: list[Action] = [getattr(User, name).set(value) for name, value in changes.items()]
    also: dict[str, Any] = {}
    if "email" in changes:
        new_email = changes["email"]
        old = guards.normalise_email(user.email)
        also = {
            "email_lower": guards.normalise_email(new_email),
            "email_verified": guards.normalise_email(new_email) != old or bool(user.email_verified),
            "auth_ids": [
                new_email if guards.normalise_email(a) == old else a for a in user.auth_ids
            ],
        }
        actions += [getattr(User, name).set(value) for name, value in also.items()]
    version, stamp = add_edit(
        transaction, user, actor, dict(changes), actions=actions, if_match=if_match
    )
    if "email" in changes and guards.email_key(new_email) != guards.email_key(user.email):
        transaction.delete(
            Guard(key=guards.email_key(user.email)), condition=Guard.user_id == user.id
        )
        transaction.put(
            Guard(key=guards.email_key(new_email), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.EmailTaken(f"another user has the email {new_email!r}"),
        )
    if "permissions" in changes:
        was = USER_MANAGEMENT in user.permissions
        will = USER_MANAGEMENT in changes["permissions"]
        if was != will:
            _count_user_managers(transaction, +1 if will else -1)
    transaction.commit()
    for name, value in {**changes, **also}.items():
        setattr(user, name, value)
    user.version = version
    user.updated = stamp


def delete_user(actor: str, user_id: str, if_match: int | None = None) -> None:
    """Delete a user, its guards and API keys, keeping its change log.

    Raises UserNotFound, VersionMismatch, LastUserManager.
    """

    def attempt() -> None:
        user = load_user(user_id)
        check_version(user, if_match)
        transaction = Transaction()
        transaction.delete(
            user,
            condition=User.version == user.version,
            error=stale_error(if_match),
        )
        for key in guards.user_keys(user.email, user.auth_ids):
            transaction.delete(Guard(key=key), condition=Guard.user_id == user.id)
        if USER_MANAGEMENT in user.permissions:
            _count_user_managers(transaction, -1)
        for key_id in user.api_key_ids or ():
            transaction.delete(ApiKey(user_id=user.id, key_id=key_id))
        transaction.put(log_entry(user.id, int(user.version) + 1, "delete", actor, {}))
        transaction.commit()

    retrying(attempt)
