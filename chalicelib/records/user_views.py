"""User records as callers see them: one record, the caller's own, a page of them
(docs/API.md sections 3 and 4). Managers and the user see every field; others the public ones."""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.permissions import USER_MANAGEMENT, Caller, expand
from chalicelib.records import guards, search
from chalicelib.records.record import USER, stored_value
from chalicelib.records.rules import Rulebook, effective_permissions, explain
from chalicelib.records.user_reads import load_user
from chalicelib.records.validation import MAX_SHORT, Page
from chalicelib.storage.cursors import decode_cursor, encode_cursor
from chalicelib.storage.models import User, storage_errors

DERIVED = "effective_permissions"  # computed with the rulebook, not stored


def user_view(
    user: User, *, full: bool = True, expanded: bool = False, rulebook: Rulebook | None = None
) -> dict[str, Any]:
    """A user as the API shows it: ``full`` for managers and self, else the public
    fields (``record.USER``); ``expanded`` shows permissions as their closure, sorted.

    With a ``rulebook`` (every answer; a log entry has none) the full record
    carries the derived ``effective_permissions`` too.
    """
    record: dict[str, Any] = {
        field.name: stored_value(field, getattr(user, field.name))
        for field in USER.fields
        if (full or field.public) and field.name != DERIVED
    }
    if not full:
        return record
    if expanded:
        record["permissions"] = sorted(expand(user.permissions))
    if rulebook is not None:
        record[DERIVED] = sorted(effective_permissions(user, rulebook))
    return record


def own_view(user: User, rulebook: Rulebook | None = None) -> dict[str, Any]:
    """A user's own record as ``/user/me`` shows it: permissions expanded and sorted."""
    return user_view(user, expanded=True, rulebook=rulebook)


# ``decided``: the caller's record as the authorizer read it for this request, or
# None (user_reads.load_user).


def get_user(user_id: str, rulebook: Rulebook, decided: User | None = None) -> dict[str, Any]:
    """The full record of a user; raises UserNotFound."""
    return user_view(load_user(user_id, decided), rulebook=rulebook)


def get_me(caller: Caller, rulebook: Rulebook, decided: User | None = None) -> dict[str, Any]:
    """The caller's own record with expanded, sorted permissions."""
    return own_view(load_user(caller.id, decided), rulebook)


def get_permissions(
    user_id: str, rulebook: Rulebook, decided: User | None = None
) -> dict[str, Any]:
    """Why the user has each effective permission (docs/API.md section 12); raises UserNotFound."""
    return {"permissions": explain(load_user(user_id, decided), rulebook)}


SUSPENDED_VALUES = {"true": True, "false": False}


def list_users(
    caller: Caller,
    page: Page,
    email: str | None = None,
    query: str | None = None,
    suspended: str | None = None,
    rulebook: Rulebook | None = None,
) -> dict[str, Any]:
    """One page of users, all, by exact ``email``, or found by ``query`` in name order
    (``search.py``); only public fields without USER_MANAGEMENT.

    ``suspended`` (``true`` or ``false``, managers only) keeps the users whose flag
    has that value; like any filter of a Scan, a page may then hold fewer users
    than ``limit``, and even none, before its ``next``. Raises InvalidInput for a
    query of the wrong length or one given with ``email``, or a ``suspended``
    other than those two; PermissionDenied.
    """
    full = caller.has(USER_MANAGEMENT)
    wanted = None
    if suspended is not None:
        if suspended not in SUSPENDED_VALUES:
            raise errors.InvalidInput("suspended must be true or false")
        caller.require(USER_MANAGEMENT)
        wanted = SUSPENDED_VALUES[suspended]
    if query is not None:
        if email is not None:
            raise errors.InvalidInput("give email or q, not both")
        found, next_page = search.search(query, page)
        kept = [u for u in found if wanted is None or bool(u.suspended) == wanted]
        users = [user_view(user, full=full, rulebook=rulebook) for user in kept]
        return {"users": users, "next": next_page}
    only = None if wanted is None else (User.suspended == wanted)
    if wanted is False:
        only = User.suspended.does_not_exist() | (User.suspended == False)  # noqa: E712
    if email is not None and not 0 < len(email) <= MAX_SHORT:
        return {"users": [], "next": None}  # no stored email is empty or this long
    with storage_errors():
        if email is not None:
            normalised = guards.normalise_email(email)
            start = decode_cursor(page.cursor, {"id": "S", "email_lower": "S"})
            if start is not None and start["email_lower"]["S"] != normalised:
                raise errors.InvalidCursor("cursor belongs to another query")
            results = User.by_email.query(
                normalised, only, limit=page.limit, last_evaluated_key=start
            )
        else:
            start = decode_cursor(page.cursor, {"id": "S"})
            results = User.scan(only, limit=page.limit, last_evaluated_key=start)
        users = [user_view(user, full=full, rulebook=rulebook) for user in results]
        return {"users": users, "next": encode_cursor(results.last_evaluated_key)}
