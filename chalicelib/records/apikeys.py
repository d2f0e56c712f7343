"""API keys in storage: made, listed, rotated, revoked (docs/API.md sections 4 and 11).

Each change is logged on the owner's record in the transaction that makes it
(``changes.add_edit``); key material never reaches a log entry. A key's scope
is its ``permissions`` list (absent: all of its owner's) and ``read_only``;
what it may do is the closure of that list intersected with what its owner
may do now (``key_permissions``), so a key never outlives a permission its
owner lost. A caller working through a scoped key (or its session) makes,
rotates and lists keys only within its own scope.

The authorizer's function imports this module for a decision's parts
(``hash_secret``, ``key_permissions``): change logging
and request checks are imported where a key changes or a body is checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import errors, key_format, timestamps
from chalicelib.config import Settings
from chalicelib.ids import KEY_ID_RE, SYSTEM, new_id
from chalicelib.permissions import Caller, expand
from chalicelib.records.rules import Rulebook, effective_permissions
from chalicelib.records.user_reads import check_user_id, load_user
from chalicelib.storage.batch import get_many
from chalicelib.storage.models import ApiKey, User, storage_errors
from chalicelib.storage.transactions import Transaction
from chalicelib.storage.versions import retrying

MAX_API_KEYS = 20
DEFAULT_OVERLAP_HOURS = 24
NOT_LOGGED = "the key itself is never logged"


def hash_secret(secret: str) -> str:
    """What is stored of a key's secret: its SHA-256. A slow password hash buys
    nothing for 256 random bits."""
    return hashlib.sha256(secret.encode()).hexdigest()


def owner_permissions(user: User, rulebook: Rulebook) -> frozenset[str]:
    """What a key's owner may do now: its effective permissions (docs/API.md section 2),
    granted by hand or by a live rule."""
    return effective_permissions(user, rulebook)


def key_permissions(listed: list[str] | None, owner: frozenset[str]) -> frozenset[str]:
    """What a request made with a key whose ``permissions`` are ``listed`` (None: all of
    its owner's) may do, its owner holding ``owner`` now."""
    if listed is None:
        return owner
    return expand(listed) & owner


@dataclass(frozen=True)
class KeyRequest:
    """What a new key should be: name, lifetime (None: the default) and scope."""

    name: str = ""
    expires_in_days: int | None = None
    permissions: tuple[str, ...] | None = None  # None: all of the owner's
    read_only: bool = False


PLAIN = KeyRequest()
"""A key with all of its owner's permissions and the default lifetime."""


def inherited(caller: Caller, name: str = "", days: int | None = None) -> KeyRequest:
    """A request for a key with the caller's own scope: all of the owner's for an
    unscoped caller, the caller's permissions for one working through a scoped key."""
    permissions = tuple(sorted(caller.permissions)) if caller.scoped else None
    return KeyRequest(name, days, permissions, caller.read_only)


def check_key_request(body: dict[str, Any], caller: Caller, max_days: int) -> KeyRequest:
    """The key a ``POST /user/{id}/apikeys`` body asks for.

    Raises UnknownField, InvalidInput (``expires_in_days`` over ``max_days``),
    PermissionDenied (a scope wider than the caller's).
    """
    from chalicelib.records.validation import API_KEY_REQUEST

    API_KEY_REQUEST.check(body)
    days = body.get("expires_in_days")
    if days is not None and days > max_days:
        raise errors.InvalidInput(f"expires_in_days must be from 1 to {max_days}")
    request = inherited(caller, body.get("name", ""), days)
    if "permissions" in body:
        wider = sorted(expand(body["permissions"]) - caller.permissions)
        if wider:
            raise errors.PermissionDenied(
                f"a key may hold at most the caller's permissions, not {', '.join(wider)}"
            )
        request = KeyRequest(request.name, days, tuple(body["permissions"]), request.read_only)
    read_only = body.get("read_only", False) or request.read_only
    return KeyRequest(request.name, days, request.permissions, read_only)


def _within(caller: Caller, key: ApiKey, owner: frozenset[str]) -> bool:
    """True when ``key``'s scope is no wider than the caller's own."""
    if not caller.scoped:
        return True
    listed = owner if key.permissions is None else expand(key.permissions)
    return listed <= caller.permissions and (key.read_only or not caller.read_only)


def _days_from(key: ApiKey, settings: Settings) -> int:
    """A rotated key's lifetime: its predecessor's, within API_KEY_MAX_DAYS."""
    if key.expires is None:
        return settings.api_key_default_days
    lifetime = timestamps.parse(key.expires) - timestamps.parse(key.created)
    return max(1, min(settings.api_key_max_days, round(lifetime / timedelta(days=1))))


def _new_key(
    transaction: Transaction, user_id: str, request: KeyRequest, days: int, settings: Settings
) -> tuple[dict[str, str], str]:
    """Put a new key into ``transaction``: its answer (``key``, ``id``, ``expires``)
    and its id."""
    key_id = new_id()[:16]
    key, secret = key_format.make_key(settings.api_key_prefix, user_id, key_id)
    created = datetime.now(UTC)
    expires = timestamps.stamp(created + timedelta(days=days))
    transaction.put(
        ApiKey(
            user_id=user_id,
            key_id=key_id,
            secret_hash=hash_secret(secret),
            name=request.name,
            created=timestamps.stamp(created),
            expires=expires,
            permissions=list(request.permissions) if request.permissions is not None else None,
            read_only=request.read_only,
        ),
        condition=ApiKey.key_id.does_not_exist(),
    )
    return {"key": key, "id": key_id, "expires": expires}, key_id


def make_api_key(
    actor: str,
    user_id: str,
    settings: Settings,
    request: KeyRequest = PLAIN,
    replace: bool = False,
) -> dict[str, str]:
    """Make a new API key for a user, logged on the owner's record.

    With ``replace`` the user's other keys are revoked in the same
    transaction. Returns ``{"key", "id", "expires"}``: the only time the key
    is shown. Raises UserNotFound, TooManyApiKeys.
    """
    from chalicelib.records.changes import add_edit

    days = request.expires_in_days or settings.api_key_default_days

    def attempt() -> dict[str, str]:
        user = load_user(user_id)
        existing = sorted(user.api_key_ids or ())
        if not replace and len(existing) >= MAX_API_KEYS:
            raise errors.TooManyApiKeys(f"a user may hold at most {MAX_API_KEYS} API keys")
        transaction = Transaction()
        answer, key_id = _new_key(transaction, user_id, request, days, settings)
        comment = f"API key {key_id} made"
        if replace and existing:
            comment += "; revoked " + ", ".join(existing)
            for old_id in existing:
                transaction.delete(ApiKey(user_id=user_id, key_id=old_id))
        ids = User.api_key_ids.set({key_id}) if replace else User.api_key_ids.add({key_id})
        data = {"key_id": key_id, "name": request.name, "expires": answer["expires"]}
        add_edit(transaction, user, actor, data, f"{comment} ({NOT_LOGGED})", actions=[ids])
        transaction.commit()
        return answer

    return retrying(attempt)


def _view(key: ApiKey, max_days: int) -> dict[str, Any]:
    return {
        "id": key.key_id,
        "name": key.name,
        "created": key.created,
        "expires": timestamps.stamp(key.expiry(max_days)),
        "last_used": key.last_used,
        "last_used_ip": key.last_used_ip,
        "permissions": list(key.permissions) if key.permissions is not None else None,
        "read_only": bool(key.read_only),
    }


def list_api_keys(
    user_id: str, caller: Caller, max_days: int, rulebook: Rulebook
) -> dict[str, Any]:
    """The user's API keys with their scopes, never the keys themselves; a caller
    working through a scoped key sees those within its scope. Raises UserNotFound.

    One Query; the user is read too when it finds no key (to tell a user
    without keys from no user) or the caller is scoped.
    """
    check_user_id(user_id)
    with storage_errors():
        keys = list(ApiKey.query(user_id, consistent_read=True))
    if keys and not caller.scoped:
        return {"apikeys": [_view(key, max_days) for key in keys]}
    owner = owner_permissions(load_user(user_id), rulebook)
    shown = [_view(key, max_days) for key in keys if _within(caller, key, owner)]
    return {"apikeys": shown}


def owned_keys(user_id: str, max_days: int) -> list[dict[str, Any]]:
    """Every API key of a user as the list shows it, never the key itself: its
    scope, expiry and last use (for an export)."""
    with storage_errors():
        return [_view(key, max_days) for key in ApiKey.query(user_id, consistent_read=True)]


def _read_key(user_id: str, key_id: str) -> tuple[ApiKey, User]:
    """A key and its owner in one round trip; raises UserNotFound, ApiKeyNotFound."""
    check_user_id(user_id)
    if not KEY_ID_RE.fullmatch(key_id):
        raise errors.ApiKeyNotFound(f"the user has no API key {key_id[:64]!r}")
    key, user = get_many(
        [(ApiKey, {"user_id": user_id, "key_id": key_id}), (User, {"id": user_id})]
    )
    if not isinstance(user, User):
        raise errors.UserNotFound(f"no user has id {user_id!r}")
    if not isinstance(key, ApiKey):
        raise errors.ApiKeyNotFound(f"the user has no API key {key_id!r}")
    return key, user


def _gone() -> Exception:
    return errors.ApiKeyNotFound("the API key was revoked meanwhile")


def revoke_api_key(actor: str, user_id: str, key_id: str, why: str = "revoked") -> None:
    """Revoke one API key, logged on the owner's record ("API key <id> <why>");
    raises UserNotFound, ApiKeyNotFound."""
    from chalicelib.records.changes import add_edit

    def attempt() -> None:
        key, user = _read_key(user_id, key_id)
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            actor,
            {"key_id": key.key_id, "name": key.name},
            f"API key {key_id} {why} ({NOT_LOGGED})",
            actions=[User.api_key_ids.delete({key_id})],
        )
        transaction.delete(key, condition=ApiKey.key_id.exists(), error=_gone)
        transaction.commit()

    retrying(attempt)


def check_rotation(body: dict[str, Any]) -> int:
    """The ``overlap_hours`` of a rotation request (default 24); raises UnknownField,
    InvalidInput."""
    from chalicelib.records.validation import API_KEY_ROTATION

    API_KEY_ROTATION.check(body)
    return int(body.get("overlap_hours", DEFAULT_OVERLAP_HOURS))


def rotate_api_key(
    caller: Caller,
    user_id: str,
    key_id: str,
    overlap_hours: int,
    settings: Settings,
    rulebook: Rulebook,
) -> dict[str, str]:
    """Replace a key by a new one with its name and scope and a fresh expiry; the old
    one keeps working ``overlap_hours`` more (never beyond its own expiry; with 0 it
    is revoked now). One log entry names both.

    Returns ``{"key", "id", "expires", "old_key_expires"}``. Raises UserNotFound,
    ApiKeyNotFound, PermissionDenied (a key wider than the caller's scope),
    TooManyApiKeys.
    """
    from chalicelib.records.changes import add_edit

    def attempt() -> dict[str, str]:
        old, user = _read_key(user_id, key_id)
        if not _within(caller, old, owner_permissions(user, rulebook)):
            raise errors.PermissionDenied("the key's scope is wider than the caller's")
        existing = user.api_key_ids or set()
        if overlap_hours and len(existing) >= MAX_API_KEYS:
            raise errors.TooManyApiKeys(
                f"a user may hold at most {MAX_API_KEYS} API keys; rotate with overlap_hours 0"
            )
        now = datetime.now(UTC)
        until = min(old.expiry(settings.api_key_max_days), now + timedelta(hours=overlap_hours))
        old_expires = timestamps.stamp(until)
        permissions = tuple(old.permissions) if old.permissions is not None else None
        request = KeyRequest(old.name, None, permissions, bool(old.read_only))
        transaction = Transaction()
        answer, new_key_id = _new_key(
            transaction, user_id, request, _days_from(old, settings), settings
        )
        ids: Action = User.api_key_ids.add({new_key_id})
        if overlap_hours:
            transaction.update(
                old, [ApiKey.expires.set(old_expires)], ApiKey.key_id.exists(), error=_gone
            )
        else:
            # One action per attribute: the version condition guards the set read.
            ids = User.api_key_ids.set((existing - {key_id}) | {new_key_id})
            transaction.delete(old, condition=ApiKey.key_id.exists(), error=_gone)
        comment = (
            f"API key {new_key_id} made by rotating API key {key_id}, "
            f"which works until {old_expires} ({NOT_LOGGED})"
        )
        data = {
            "key_id": new_key_id,
            "name": old.name,
            "expires": answer["expires"],
            "rotates": key_id,
            "old_key_expires": old_expires,
        }
        add_edit(transaction, user, caller.id, data, comment, actions=[ids])
        transaction.commit()
        return {**answer, "old_key_expires": old_expires}

    return retrying(attempt)


def revoke_leaked(body: dict[str, Any], settings: Settings) -> dict[str, int]:
    """Revoke each key of ``{"keys": [...]}`` that passes its check and names a live
    key, logged on its owner's record as done by ``system`` ("revoked as leaked").

    Answers only how many (``{"revoked": n}``): nothing tells a finder whose key it
    was. A key failing its check costs no storage read; the real ones are read in
    one round trip. Raises UnknownField, InvalidInput.
    """
    from chalicelib.records.validation import LEAKED_KEYS

    LEAKED_KEYS.check(body)
    found = {
        parts
        for token in body["keys"]
        if (parts := key_format.parse(token.strip(), settings.api_key_prefix)) is not None
    }
    if not found:
        return {"revoked": 0}
    ordered = sorted(found, key=lambda p: (p.user_id, p.key_id, p.secret))
    items = get_many([(ApiKey, {"user_id": p.user_id, "key_id": p.key_id}) for p in ordered])
    now = datetime.now(UTC)
    revoked = set()
    for parts, item in zip(ordered, items, strict=True):
        if (
            isinstance(item, ApiKey)
            and item.secret_hash == hash_secret(parts.secret)
            and not item.has_expired(now, settings.api_key_max_days)
            and (parts.user_id, parts.key_id) not in revoked
        ):
            try:
                revoke_api_key(SYSTEM, parts.user_id, parts.key_id, "revoked as leaked")
            except (errors.ApiKeyNotFound, errors.UserNotFound):
                continue  # revoked meanwhile, or its user deleted: not counted
            revoked.add((parts.user_id, parts.key_id))
    return {"revoked": len(revoked)}
