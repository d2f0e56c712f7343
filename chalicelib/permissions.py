"""Permissions and who is calling (API.md section 2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib import errors

DATA_EDIT = "DATA_EDIT"
OWNERS_READ = "OWNERS_READ"
USER_ADD = "USER_ADD"
USER_SEARCH = "USER_SEARCH"
USER_MANAGEMENT = "USER_MANAGEMENT"
DATA_MANAGEMENT = "DATA_MANAGEMENT"
PERMISSIONS = (DATA_EDIT, OWNERS_READ, USER_ADD, USER_SEARCH, USER_MANAGEMENT, DATA_MANAGEMENT)
IMPLIES: Mapping[str, tuple[str, ...]] = {
    DATA_EDIT: (USER_ADD, USER_SEARCH),
    USER_MANAGEMENT: (USER_ADD, USER_SEARCH),
    DATA_MANAGEMENT: (DATA_EDIT, OWNERS_READ),
}
# What each permission lets its holder do: the OpenAPI document, the web UI and
# the README take it from here.
DESCRIPTIONS: dict[str, str] = {
    DATA_EDIT: "create and edit the tracker's orders, datasets and collections "
    "(read by the data services)",
    OWNERS_READ: "see who owns each order and dataset (read by the data services)",
    USER_ADD: "create users",
    USER_SEARCH: "list and search users, public fields only",
    USER_MANAGEMENT: "read and edit every user: email, permissions, identities, "
    "suspension, deletion",
    DATA_MANAGEMENT: "manage all of the tracker's data, whoever owns it "
    "(read by the data services)",
}


def expand(stored: Iterable[str]) -> frozenset[str]:
    """The transitive closure of stored permissions."""
    result: set[str] = set()
    pending = list(stored)
    while pending:
        permission = pending.pop()
        if permission not in result:
            result.add(permission)
            pending.extend(IMPLIES.get(permission, ()))
    return frozenset(result)


def explain(stored: Iterable[str]) -> list[dict[str, object]]:
    """Why a user holds each effective permission, in name order: ``{"name",
    "because": [{"granted": true} | {"implied_by": <name>}, ...]}``."""
    granted = set(stored)
    effective = expand(granted)
    return [
        {
            "name": name,
            "because": [
                *([{"granted": True}] if name in granted else []),
                *(
                    {"implied_by": holder}
                    for holder in sorted(effective)
                    if name in IMPLIES.get(holder, ())
                ),
            ],
        }
        for name in sorted(effective)
    ]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user id and the effective (expanded) permissions.

    A caller with an API key, or a session made with one, is ``scoped`` when the
    key holds a ``permissions`` list or is ``read_only`` (API.md section 11):
    ``permissions`` are then already the key's share of its owner's.
    """

    id: str
    permissions: frozenset[str]
    scoped: bool = False
    read_only: bool = False
    # How the caller proved who it is ("apikey", "token", "keysession": an access
    # token of a session made with a key) and the session it holds, if any.
    method: str = ""
    session_id: str = ""

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
