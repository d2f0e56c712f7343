"""``Idempotency-Key`` on ``POST /user``: a retry gets the first answer.

The key's record is written in the same transaction as the user it made, so
concurrent retries make one user; the same key with another body is refused.
Keys are scoped to the caller and remembered for a day. A retry after the user
it made was deleted gets 410 ``UserDeleted``, neither the id of a user that is
gone nor a second user the caller did not ask for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import errors
from chalicelib.models import IdempotentRequest, User, storage_errors
from chalicelib.transactions import Transaction

MAX_KEY_LENGTH = 200
REMEMBERED = timedelta(hours=24)
ERASED_BODY = "erased"
"""The body hash of a record whose user was erased: a hash of personal values no
more, the record kept until it expires so that a retry gets 410, not a new user."""


def _record_key(actor: str, key: str) -> str:
    return hashlib.sha256(f"{actor}\n{key}".encode()).hexdigest()


def _body_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # A body with a lone surrogate is refused by the create that follows; hashing
    # it must not fail first.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def check_key(key: str) -> None:
    """Raise InvalidInput for a key that is empty, too long or not printable ASCII."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise errors.InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )


def _first_answer(record_key: str, body_hash: str) -> str | None:
    with storage_errors():
        try:
            found = IdempotentRequest.get(record_key, consistent_read=True)
        except IdempotentRequest.DoesNotExist:
            return None
    if found.expires_at <= datetime.now(UTC):
        return None
    if found.body_hash == ERASED_BODY:
        raise errors.UserDeleted("the user this Idempotency-Key created has been deleted since")
    if found.body_hash != body_hash:
        raise errors.IdempotencyKeyReused("this Idempotency-Key was used with another body")
    with storage_errors():
        try:
            User.get(found.user_id, consistent_read=True, attributes_to_get=["id"])
        except User.DoesNotExist:
            raise errors.UserDeleted(
                "the user this Idempotency-Key created has been deleted since"
            ) from None
    return found.user_id


def create_once(actor: str, key: str, body: Mapping[str, Any], create: Callable[..., User]) -> str:
    """The id of the user made for this key: made now by ``create(also=...)``, or the
    first time. Raises IdempotencyKeyReused, UserDeleted, and whatever ``create`` raises."""
    check_key(key)
    record_key = _record_key(actor, key)
    body_hash = _body_hash(body)
    first = _first_answer(record_key, body_hash)
    if first is not None:
        return first

    def remember(transaction: Transaction, user: User) -> None:
        transaction.put(
            IdempotentRequest(
                key=record_key,
                body_hash=body_hash,
                user_id=user.id,
                expires_at=datetime.now(UTC) + REMEMBERED,
            ),
            condition=IdempotentRequest.key.does_not_exist()
            | (IdempotentRequest.expires_at < datetime.now(UTC)),
            error=_Retried,
            decisive=True,
        )

    try:
        return create(also=remember).id
    except (_Retried, errors.EditConflict):
        answer = _first_answer(record_key, body_hash)
        if answer is None:
            raise errors.EditConflict("a retry with this Idempotency-Key is in progress") from None
        return answer


class _Retried(Exception):
    """A concurrent request with the same key made its user first."""
