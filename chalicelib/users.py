"""User records, permissions and change logs: the rules of API.md sections 2, 3 and 7.

No HTTP objects here: functions take plain values and the caller, return plain
dicts, and raise the domain errors of ``errors.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import errors
from chalicelib.changes import (
    SYSTEM,
    add_edit,
    check_version,
    load_user,
    log_entry,
    new_id,
    now,
    retrying,
    stale_error,
)
from chalicelib.models import (
    USER_MANAGERS_COUNTER,
    ApiKey,
    Guard,
    LogEntry,
    Transaction,
    User,
    decode_cursor,
    encode_cursor,
    storage_errors,
)

PERMISSIONS = (
    "DATA_EDIT",
    "OWNERS_READ",
    "USER_ADD",
    "USER_SEARCH",
    "USER_MANAGEMENT",
    "DATA_MANAGEMENT",
)
IMPLIES: Mapping[str, tuple[str, ...]] = {
    "DATA_EDIT": ("USER_ADD", "USER_SEARCH"),
    "USER_MANAGEMENT": ("USER_ADD", "USER_SEARCH"),
    "DATA_MANAGEMENT": ("DATA_EDIT", "OWNERS_READ"),
}
USER_MANAGEMENT = "USER_MANAGEMENT"

FIELDS = (
    "id",
    "email",
    "name",
    "affiliation",
    "contact",
    "orcid",
    "url",
    "permissions",
    "auth_ids",
    "version",
    "created",
    "updated",
)
PUBLIC_FIELDS = ("id", "name", "email", "affiliation", "contact", "orcid", "url")
PROFILE_FIELDS = ("name", "affiliation", "contact", "orcid", "url")
CREATOR_FIELDS = ("email", *PROFILE_FIELDS)
MANAGER_FIELDS = (*CREATOR_FIELDS, "permissions")

MAX_SHORT = 400
MAX_URL = 2048
MAX_PAGE = 1000
DEFAULT_PAGE = 100
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
ORCID_RE = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
URL_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def expand(stored: Iterable[str]) -> frozenset[str]:
    """The transitive closure of stored permissions (API.md section 2)."""
    result: set[str] = set()
    pending = list(stored)
    while pending:
        permission = pending.pop()
        if permission not in result:
            result.add(permission)
            pending.extend(IMPLIES.get(permission, ()))
    return frozenset(result)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user id and the effective (expanded) permissions."""

    id: str
    permissions: frozenset[str]

    def has(self, permission: str) -> bool:
        """True when ``permission`` is in the caller's effective permissions."""
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise PermissionDenied unless the caller has ``permission``."""
        if not self.has(permission):
            raise errors.PermissionDenied(f"this needs the {permission} permission")

    def require_self_or_manager(self, user_id: str) -> None:
        """Raise PermissionDenied unless the caller is ``user_id`` or a user manager."""
        if user_id != self.id and not self.has(USER_MANAGEMENT):
            raise errors.PermissionDenied(f"this needs the {USER_MANAGEMENT} permission")


@dataclass(frozen=True)
class Page:
    """A page request: how many items, and the ``next`` of the page before."""

    limit: int
    cursor: str | None


def parse_page(params: Mapping[str, str], extra: tuple[str, ...] = ()) -> Page:
    """Read ``limit`` and ``cursor``; raises InvalidInput for anything else."""
    unknown = sorted(set(params) - {"limit", "cursor", *extra})
    if unknown:
        raise errors.InvalidInput(f"unknown query parameter {unknown[0]!r}")
    raw = params.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise errors.InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return Page(int(raw), params.get("cursor"))


def orcid_is_valid(orcid: str) -> bool:
    """True for ``dddd-dddd-dddd-dddX`` with a valid ISO 7064 11,2 check digit."""
    if not ORCID_RE.match(orcid):
        return False
    digits = orcid.replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _check_string(name: str, value: Any, limit: int = MAX_SHORT) -> str:
    if not isinstance(value, str):
        raise errors.InvalidInput(f"{name} must be a string")
    if len(value) > limit:
        raise errors.InvalidInput(f"{name} is longer than {limit} characters")
    return value


def _check_field(name: str, value: Any) -> None:
    """Raise InvalidInput when a writable field's value breaks its rule."""
    if name == "permissions":
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise errors.InvalidInput("permissions must be a list of strings")
        unknown = [p for p in value if p not in PERMISSIONS]
        if unknown:
            raise errors.InvalidInput(f"unknown permission {unknown[0]!r}")
        if len(set(value)) != len(value):
            raise errors.InvalidInput("permissions must not repeat a name")
        return
    text = _check_string(name, value, MAX_URL if name == "url" else MAX_SHORT)
    if name == "email" and not EMAIL_RE.match(text):
        raise errors.InvalidInput("email is not a valid address")
    if name == "name" and not text.strip():
        raise errors.InvalidInput("name must not be empty")
    if name == "orcid" and text and not orcid_is_valid(text):
        raise errors.InvalidInput("orcid must be dddd-dddd-dddd-dddX with a valid check digit")
    if name == "url" and text and not URL_RE.match(text):
        raise errors.InvalidInput("url must be an http:// or https:// URL")


def check_body(body: Mapping[str, Any]) -> None:
    """Raise UnknownField or InvalidInput for a ``user`` body that breaks section 3."""
    for name, value in body.items():
        if name not in FIELDS:
            raise errors.UnknownField(f"a user has no field {name!r}")
        if name in MANAGER_FIELDS:
            _check_field(name, value)


def user_view(user: User, *, full: bool = True, expanded: bool = False) -> dict[str, Any]:
    """A user as the API shows it: ``full`` for managers and self, else public fields."""
    record: dict[str, Any] = {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "affiliation": user.affiliation,
        "contact": user.contact,
        "orcid": user.orcid,
        "url": user.url,
    }
    if not full:
        return record
    permissions = sorted(expand(user.permissions)) if expanded else list(user.permissions)
    record.update(
        permissions=permissions,
        auth_ids=list(user.auth_ids),
        version=int(user.version),
        created=user.created,
        updated=user.updated,
    )
    return record


def _email_guard(email: str) -> str:
    return f"email#{email.lower()}"


def _auth_guard(auth_id: str) -> str:
    return f"auth#{auth_id}"


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


def get_user(user_id: str) -> dict[str, Any]:
    """The full record of a user; raises UserNotFound."""
    return user_view(load_user(user_id))


def get_me(caller: Caller) -> dict[str, Any]:
    """The caller's own record with expanded, sorted permissions."""
    return user_view(load_user(caller.id), expanded=True)


def list_users(caller: Caller, page: Page, email: str | None = None) -> dict[str, Any]:
    """One page of users; only public fields without USER_MANAGEMENT."""
    full = caller.has(USER_MANAGEMENT)
    with storage_errors():
        if email is not None:
            start = decode_cursor(page.cursor, {"id": "S", "email_lower": "S"})
            if start is not None and start["email_lower"]["S"] != email.lower():
                raise errors.InvalidCursor("cursor belongs to another query")
            results = User.by_email.query(email.lower(), limit=page.limit, last_evaluated_key=start)
        else:
            start = decode_cursor(page.cursor, {"id": "S"})
            results = User.scan(limit=page.limit, last_evaluated_key=start)
        users = [user_view(user, full=full) for user in results]
        return {"users": users, "next": encode_cursor(results.last_evaluated_key)}


def create_user(
    actor: str,
    body: Mapping[str, Any],
    may_set_permissions: bool,
    auth_ids: list[str] | None = None,
    comment: str = "",
) -> User:
    """Create a user with its guards and ``add`` log entry in one transaction.

    Raises UnknownField / InvalidInput (400), FieldNotWritable (403),
    EmailTaken / AuthIdTaken (409).
    """
    check_body(body)
    if "email" not in body:
        raise errors.InvalidInput("email is required")
    for name in body:
        if name not in CREATOR_FIELDS and name != "permissions":
            raise errors.FieldNotWritable(f"{name} is set by the service")
    permissions = list(body.get("permissions", []))
    if permissions and not may_set_permissions:
        raise errors.FieldNotWritable(f"setting permissions needs {USER_MANAGEMENT}")
    stamp = now()
    email = body["email"]
    user = User(
        id=new_id(),
        email=email,
        email_lower=email.lower(),
        permissions=permissions,
        auth_ids=auth_ids if auth_ids is not None else [email],
        version=1,
        created=stamp,
        updated=stamp,
        **{name: body.get(name, "") for name in PROFILE_FIELDS},
    )
    transaction = Transaction()
    transaction.put(user, condition=User.id.does_not_exist())
    transaction.put(
        Guard(key=_email_guard(email), user_id=user.id),
        condition=Guard.key.does_not_exist(),
        error=lambda: errors.EmailTaken(f"another user has the email {email!r}"),
    )
    for auth_id in user.auth_ids:
        transaction.put(
            Guard(key=_auth_guard(auth_id), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
    if USER_MANAGEMENT in permissions:
        _count_user_managers(transaction, +1)
    transaction.put(log_entry(user.id, 1, "add", actor, user_view(user), comment, stamp))
    transaction.commit()
    return user


def _guard_owner(key: str) -> str | None:
    with storage_errors():
        try:
            return Guard.get(key, consistent_read=True).user_id
        except Guard.DoesNotExist:
            return None


def login_identity(
    identity: str, email: str | None, email_verified: bool, name: str, may_link: bool
) -> str:
    """The id of the user an OpenID Connect identity logs in as (API.md section 6).

    A known identity is its user. An unknown one is linked to the user with the
    same email when the provider asserts the email verified and is trusted for
    linking, or makes a new user when the email is new; both are logged as done
    by ``system``. Raises LoginRefused otherwise.
    """
    owner = _guard_owner(_auth_guard(identity))
    if owner is not None:
        return owner
    if not email:
        raise errors.LoginRefused("email_missing", "the provider did not give an email address")
    owner = _guard_owner(_email_guard(email))
    if owner is None:
        body = {"email": email, **({"name": name} if name.strip() else {})}
        try:
            user = create_user(
                SYSTEM, body, False, auth_ids=[identity], comment="created at first login"
            )
        except errors.EmailTaken as exc:
            raise errors.LoginRefused("email_in_use", "another user has this email") from exc
        except (errors.InvalidInput, errors.AuthIdTaken) as exc:
            raise errors.LoginRefused("invalid_profile", str(exc)) from exc
        return user.id
    if not (may_link and email_verified):
        raise errors.LoginRefused("email_in_use", "another user has this email")
    link_identity(owner, identity)
    return owner


def link_identity(user_id: str, identity: str) -> None:
    """Add an OpenID Connect identity to a user's ``auth_ids``, logged as done by ``system``.

    Raises UserNotFound, AuthIdTaken.
    """

    def attempt() -> None:
        user = load_user(user_id)
        auth_ids = [*user.auth_ids, identity]
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            SYSTEM,
            {"auth_ids": auth_ids},
            f"identity {identity} linked",
            actions=[User.auth_ids.set(auth_ids)],
        )
        transaction.put(
            Guard(key=_auth_guard(identity), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
        transaction.commit()

    retrying(attempt)


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
    check_body(body)

    def attempt() -> dict[str, Any]:
        user = load_user(user_id)
        check_version(user, if_match)
        changes = _changes(user, body, writable, user_view(user, expanded=expanded))
        if changes:
            _write_changes(actor, user, changes, if_match)
        return user_view(user, expanded=expanded)

    return retrying(attempt)


def _write_changes(actor: str, user: User, changes: dict[str, Any], if_match: int | None) -> None:
    transaction = Transaction()
    actions: list[Action] = [getattr(User, name).set(value) for name, value in changes.items()]
    if "email" in changes:
        actions.append(User.email_lower.set(changes["email"].lower()))
    version = add_edit(transaction, user, actor, dict(changes), actions=actions, if_match=if_match)
    if "email" in changes and changes["email"].lower() != user.email_lower:
        new_email = changes["email"]
        transaction.delete(Guard(key=_email_guard(user.email)), condition=Guard.user_id == user.id)
        transaction.put(
            Guard(key=_email_guard(new_email), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.EmailTaken(f"another user has the email {new_email!r}"),
        )
    if "permissions" in changes:
        was = USER_MANAGEMENT in user.permissions
        will = USER_MANAGEMENT in changes["permissions"]
        if was != will:
            _count_user_managers(transaction, +1 if will else -1)
    transaction.commit()
    for name, value in changes.items():
        setattr(user, name, value)
    user.email_lower = user.email.lower()
    user.version = version


def delete_user(actor: str, user_id: str, if_match: int | None = None) -> None:
    """Delete a user, its guards and API keys, keeping its change log.

    Raises UserNotFound, VersionMismatch, LastUserManager.
    """

    def attempt() -> None:
        user = load_user(user_id)
        check_version(user, if_match)
        with storage_errors():
            keys = list(ApiKey.query(user_id, consistent_read=True))
        transaction = Transaction()
        transaction.delete(
            user,
            condition=User.version == user.version,
            error=stale_error(if_match),
        )
        transaction.delete(Guard(key=_email_guard(user.email)), condition=Guard.user_id == user.id)
        for auth_id in user.auth_ids:
            transaction.delete(Guard(key=_auth_guard(auth_id)), condition=Guard.user_id == user.id)
        if USER_MANAGEMENT in user.permissions:
            _count_user_managers(transaction, -1)
        for key in keys:
            transaction.delete(key)
        transaction.put(log_entry(user.id, int(user.version) + 1, "delete", actor, {}))
        transaction.commit()

    retrying(attempt)


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
    with storage_errors():
        results = LogEntry.by_actor.query(actor, limit=page.limit, last_evaluated_key=start)
        logs = [log_view(entry, with_data=False) for entry in results]
        return {"logs": logs, "next": encode_cursor(results.last_evaluated_key)}
