"""Reading one user record by id, consistently (the read every change starts from),
and a record as the authorizer's context carries it to the route."""

from __future__ import annotations

import json

from chalicelib import errors
from chalicelib.ids import USER_ID_RE
from chalicelib.storage.items import Item
from chalicelib.storage.models import User, storage_errors


def check_user_id(user_id: str) -> None:
    """Raise UserNotFound, before any read, for an id no user can have.

    DynamoDB refuses an overlong key as a bad request: this keeps such an id
    from reaching it and coming back as a storage fault.
    """
    if not USER_ID_RE.fullmatch(user_id):
        raise errors.UserNotFound(f"no user has id {user_id[:64]!r}")


def load_user(user_id: str, decided: User | None = None) -> User:
    """Read a user with a consistent read; raises UserNotFound.

    ``decided`` is the caller's record as the authorizer read it, consistently,
    for this very request (``request_io.decided_user``): when it is that user,
    it is the answer, and nothing is read again.
    """
    if decided is not None and decided.id == user_id:
        return decided
    check_user_id(user_id)
    with storage_errors():
        try:
            return User.get(user_id, consistent_read=True)
        except User.DoesNotExist as exc:
            raise errors.UserNotFound(f"no user has id {user_id!r}") from exc


def carried_user(item: Item) -> str:
    """A user record as a string: its DynamoDB item (as read, or ``User.serialize()``),
    as JSON."""
    return json.dumps(item, separators=(",", ":"))


def uncarried_user(text: str) -> User:
    """The user record ``carried_user`` wrote."""
    return User.from_raw_data(json.loads(text))
