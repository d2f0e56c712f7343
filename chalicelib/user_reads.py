"""Reading one user record by id, consistently (the read every change starts from)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.ids import USER_ID_RE
from chalicelib.models import User, storage_errors


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
