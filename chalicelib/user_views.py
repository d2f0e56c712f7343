"""User records as callers see them: one record, the caller's own, a page of them
(API.md sections 3 and 4). Managers and the user see every field; others the public ones."""

from __future__ import annotations

from typing import Any

from chalicelib import errors, guards, search
from chalicelib.cursors import decode_cursor, encode_cursor
from chalicelib.models import User, storage_errors
from chalicelib.permissions import USER_MANAGEMENT, Caller, expand
from chalicelib.user_reads import load_user
from chalicelib.validation import MAX_SHORT, Page


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
        email_verified=bool(user.email_verified),
        permissions=permissions,
        auth_ids=list(user.auth_ids),
        version=int(user.version),
        created=user.created,
        updated=user.updated,
    )
    return record


def own_view(user: User) -> dict[str, Any]:
    """A user's own record as ``/user/me`` shows it: permissions expanded and sorted."""
    return user_view(user, expanded=True)


def get_user(user_id: str) -> dict[str, Any]:
    """The full record of a user; raises UserNotFound."""
    return user_view(load_user(user_id))


def get_me(caller: Caller) -> dict[str, Any]:
    """The caller's own record with expanded, sorted permissions."""
    return own_view(load_user(caller.id))


def list_users(
    caller: Caller, page: Page, email: str | None = None, query: str | None = None
) -> dict[str, Any]:
    """One page of users, all, by exact ``email``, or found by ``query`` in name order
    (``search.py``); only public fields without USER_MANAGEMENT.

    Raises InvalidInput for a query of the wrong length or one given with ``email``.
    """
    full = caller.has(USER_MANAGEMENT)
    if query is not None:
        if email is not None:
            raise errors.InvalidInput("give email or q, not both")
        found, next_page = search.search(query, page)
        return {"users": [user_view(user, full=full) for user in found], "next": next_page}
    if email is not None and not 0 < len(email) <= MAX_SHORT:
        return {"users": [], "next": None}  # no stored email is empty or this long
    with storage_errors():
        if email is not None:
            normalised = guards.normalise_email(email)
            start = decode_cursor(page.cursor, {"id": "S", "email_lower": "S"})
            if start is not None and start["email_lower"]["S"] != normalised:
                raise errors.InvalidCursor("cursor belongs to another query")
            results = User.by_email.query(normalised, limit=page.limit, last_evaluated_key=start)
        else:
            start = decode_cursor(page.cursor, {"id": "S"})
            results = User.scan(limit=page.limit, last_evaluated_key=start)
        users = [user_view(user, full=full) for user in results]
        return {"users": users, "next": encode_cursor(results.last_evaluated_key)}
