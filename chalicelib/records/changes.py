"""One change of a user record, computed whole before anything is written.

``creation`` (a new record) and ``edit`` (a record and a patch) are pure: they
return a ``Change`` holding the record as it will be, the attributes an edit
sets (the update actions, derived fields included), the guard items taken and
freed, the count of user managers, and the log entry. ``transaction`` turns a
change into the one ``Transaction`` that writes the record and its log entry
together or not at all (docs/API.md section 8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import errors
from chalicelib.ids import new_id
from chalicelib.permissions import USER_MANAGEMENT
from chalicelib.records import guards, search
from chalicelib.records.record import CREATOR_FIELDS, MANAGER_ONLY, PROFILE_FIELDS
from chalicelib.records.user_views import user_view
from chalicelib.storage.models import USER_MANAGERS_COUNTER, Guard, LogEntry, User
from chalicelib.storage.transactions import ErrorFactory, Transaction
from chalicelib.storage.versions import stale_error
from chalicelib.timestamps import now


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
    fields' values before an ``edit`` (docs/API.md section 8), ``{}`` by default."""
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


@dataclass(frozen=True)
class NewUser:
    """A record to create: the caller's ``body``, the fields the caller may write
    (``record``'s declarations), and what the service sets itself.

    ``user_id`` keeps an id given from outside (an import); by default the
    service makes one. ``email_verified`` is false only for an address no
    trusted party vouched for (a login at a provider not trusted for linking,
    or without a verified email). ``auth_ids`` defaults to the email.
    """

    body: Mapping[str, Any]
    writable: tuple[str, ...] = CREATOR_FIELDS
    auth_ids: tuple[str, ...] | None = None
    email_verified: bool = True
    user_id: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class Change:
    """One change of a user record and everything written with it."""

    record: User  # the record as it will be stored
    entry: LogEntry
    read: User | None = None  # the record an edit was computed from; None: a new record
    values: Mapping[str, Any] = field(default_factory=dict)  # the attributes an edit sets
    stale: ErrorFactory | None = None  # an edit's error when the stored version moved on
    taken: tuple[tuple[str, ErrorFactory], ...] = ()  # guard keys taken, and their error
    freed: tuple[str, ...] = ()  # guard keys given up
    managers: int = 0  # +1 or -1: the change of the count of user managers


def _taken_email(email: str) -> ErrorFactory:
    return lambda: errors.EmailTaken(f"another user has the email {email!r}")


def _taken_identity() -> Exception:
    return errors.AuthIdTaken("another user holds this login identity")


def counts_as_manager(permissions: list[str], suspended: bool) -> bool:
    """Whether a user counts toward ``count#user_managers``: it holds USER_MANAGEMENT
    by hand and is not suspended, so the last one who can act is never taken away."""
    return USER_MANAGEMENT in permissions and not suspended


def check_writable(body: Mapping[str, Any], writable: tuple[str, ...]) -> None:
    """FieldNotWritable for a field of a new record the caller may not set (an
    empty ``permissions`` list and ``suspended: false`` set nothing)."""
    for name, value in body.items():
        if name in writable or (name in MANAGER_ONLY and not value):
            continue
        if name in MANAGER_ONLY:
            raise errors.FieldNotWritable(f"setting {name} needs {USER_MANAGEMENT}")
        raise errors.FieldNotWritable(f"{name} is set by the service")


def creation(actor: str, new: NewUser, stamp: str) -> Change:
    """The change that creates a record: the record, its guards and its ``add`` entry.

    ``new.body`` is validated already. Raises InvalidInput without an email,
    FieldNotWritable for a field the caller may not set.
    """
    body = new.body
    if "email" not in body:
        raise errors.InvalidInput("email is required")
    check_writable(body, new.writable)
    email = body["email"]
    auth_ids = list(new.auth_ids) if new.auth_ids is not None else [email]
    permissions = list(body.get("permissions", []))
    suspended = bool(body.get("suspended", False))
    user = User(
        id=new.user_id or new_id(),
        email=email,
        email_lower=guards.normalise_email(email),
        email_verified=new.email_verified,
        permissions=permissions,
        suspended=suspended,
        auth_ids=auth_ids,
        version=1,
        created=stamp,
        updated=stamp,
        **{name: body.get(name, "") for name in PROFILE_FIELDS},
    )
    email_key, *identity_keys = guards.user_keys(email, auth_ids)
    return Change(
        record=user,
        entry=log_entry(user.id, 1, "add", actor, user_view(user), new.comment, stamp),
        taken=(
            (email_key, _taken_email(email)),
            *((key, _taken_identity) for key in identity_keys),
        ),
        managers=+1 if counts_as_manager(permissions, suspended) else 0,
    )


def edit(
    user: User,
    patch: Mapping[str, Any],
    writable: tuple[str, ...],
    shown: Callable[[], Mapping[str, Any]],
    actor: str,
    stamp: str,
    if_match: int | None = None,
    comment: str = "",
) -> Change | None:
    """The change ``patch`` makes to ``user``, or None when it changes nothing.

    A field the caller may not write may be sent back as the caller reads it
    (``shown()``, asked only then); any other value of it is FieldNotWritable.
    A new email (only a manager or the creator may set one) counts as vouched
    for, moves its guard, and takes the old one's place in ``auth_ids``, so
    that the old address is free again. Another case or form of the same
    address vouches for nothing: ``email_verified`` stays as it was, or an
    unverified login's account would receive the address owner's identity.
    """
    changed: dict[str, Any] = {}
    for name, value in patch.items():
        if name not in writable:
            if value != shown()[name]:
                raise errors.FieldNotWritable(f"you may not change {name}")
            continue
        if value != getattr(user, name):
            changed[name] = value
    if not changed:
        return None
    values = dict(changed)
    taken: tuple[tuple[str, ErrorFactory], ...] = ()
    freed: tuple[str, ...] = ()
    if "email" in changed:
        email = changed["email"]
        new, old = guards.normalise_email(email), guards.normalise_email(user.email)
        values.update(
            email_lower=new,
            email_verified=new != old or bool(user.email_verified),
            auth_ids=[
                email if not guards.is_identity(a) and guards.normalise_email(a) == old else a
                for a in user.auth_ids
            ],
        )
        if new != old:
            taken = ((guards.normalised_email_key(new), _taken_email(email)),)
            freed = (guards.normalised_email_key(old),)
    was = counts_as_manager(user.permissions, bool(user.suspended))
    will = counts_as_manager(
        changed.get("permissions", user.permissions),
        bool(changed.get("suspended", user.suspended)),
    )
    managers = 0 if was == will else (+1 if will else -1)
    version = int(user.version) + 1
    values.update(version=version, updated=stamp)
    return Change(
        record=User(**{**user.attribute_values, **values}),
        entry=log_entry(
            user.id, version, "edit", actor, changed, comment, stamp, _before(user, changed)
        ),
        read=user,
        values=values,
        stale=stale_error(if_match),
        taken=taken,
        freed=freed,
        managers=managers,
    )


def _before(user: User, changed: Mapping[str, Any]) -> dict[str, Any]:
    """The values before of the fields ``changed`` names, as the API shows them: an
    ``edit`` entry's ``old``."""
    shown = user_view(user)
    return {name: shown[name] for name in changed}


def transaction(change: Change) -> Transaction:
    """The one transaction that writes ``change``: the record (an edit holds only
    while the stored version is still the one it was computed from), its guards,
    the count of user managers, the search items (``search.py``), and the log entry.

    A new record whose id is taken raises UserExists, and so does one whose
    id has a change log (a deleted user's): ids are never given again.
    """
    record, read = change.record, change.read
    written = Transaction()
    if read is None:
        written.put(
            record,
            condition=User.id.does_not_exist(),
            error=lambda: errors.UserExists(f"a user with id {record.id!r} exists already"),
        )
    else:
        actions: list[Action] = [getattr(User, n).set(v) for n, v in change.values.items()]
        written.update(read, actions, condition=User.version == read.version, error=change.stale)
    for key in change.freed:
        written.delete(Guard(key=key), condition=Guard.user_id == record.id)
    for key, error in change.taken:
        written.put(
            Guard(key=key, user_id=record.id), condition=Guard.key.does_not_exist(), error=error
        )
    if change.managers:
        count_user_managers(written, change.managers)
    search.write_entries(written, read, record)
    if read is None:
        written.put(
            change.entry,
            condition=LogEntry.version.does_not_exist(),
            error=lambda: errors.UserExists(
                f"a user with id {record.id!r} existed and was deleted; ids are not reused"
            ),
        )
    else:
        written.put(change.entry, condition=LogEntry.version.does_not_exist())
    return written


def count_user_managers(transaction: Transaction, delta: int) -> None:
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
