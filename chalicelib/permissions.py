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
