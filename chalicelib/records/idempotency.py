"""``Idempotency-Key`` on ``POST /user``: a retry gets the first answer.

The key's record is written in the same transaction as the user it made, so
concurrent retries make one user; the same key with another body is refused.
Keys are scoped to the caller and remembered for a day. Erasing a user removes
the records that answer with its id (docs/API.md section 10, ``erasure.py``), so a
retry after that is a fresh request; a record whose user is gone while its
erasure is still unfinished counts as removed already.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import errors
from chalicelib.storage.models import IdempotentRequest, User, storage_errors
from chalicelib.storage.transactions import Transaction

MAX_KEY_LENGTH = 200
REMEMBERED = timedelta(hours=24)


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


def _remembered(record_key: str) -> IdempotentRequest | None:
    """The key's record while it holds an answer; None when there is none or it
    expired. A record whose user is gone is returned too: see ``_answer``."""
    with storage_errors():
        try:
            found = IdempotentRequest.get(record_key, consistent_read=True)
        except IdempotentRequest.DoesNotExist:
            return None
    return found if found.expires_at > datetime.now(UTC) else None


def _answer(found: IdempotentRequest | None, body_hash: str) -> str | None:
    """The id the record answers with; None when the request is a fresh one: no
    record, or one whose user was erased (which the erasure removes).

    Raises IdempotencyKeyReused when the record answers another body.
    """
    if found is None:
        return None
    with storage_errors():
        try:
            User.get(found.user_id, consistent_read=True, attributes_to_get=["id"])
        except User.DoesNotExist:
            return None
    if found.body_hash != body_hash:
        raise errors.IdempotencyKeyReused("this Idempotency-Key was used with another body")
    return found.user_id


def create_once(actor: str, key: str, body: Mapping[str, Any], create: Callable[..., User]) -> str:
    """The id of the user made for this key: made now by ``create(also=...)``, or the
    first time. Raises IdempotencyKeyReused, and whatever ``create`` raises."""
    check_key(key)
    record_key = _record_key(actor, key)
    body_hash = _body_hash(body)
    found = _remembered(record_key)
    first = _answer(found, body_hash)
    if first is not None:
        return first
    replaceable = IdempotentRequest.key.does_not_exist() | (
        IdempotentRequest.expires_at < datetime.now(UTC)
    )
    if found is not None:  # its user was erased; the erasure has yet to remove it
        replaceable |= IdempotentRequest.user_id == found.user_id

    def remember(transaction: Transaction, user: User) -> None:
        transaction.put(
            IdempotentRequest(
                key=record_key,
                body_hash=body_hash,
                user_id=user.id,
                expires_at=datetime.now(UTC) + REMEMBERED,
            ),
            condition=replaceable,
            error=_Retried,
            decisive=True,
        )

    try:
        return create(also=remember).id
    except (_Retried, errors.EditConflict):
        answer = _answer(_remembered(record_key), body_hash)
        if answer is None:
            raise errors.EditConflict("a retry with this Idempotency-Key is in progress") from None
        return answer


class _Retried(Exception):
    """A concurrent request with the same key made its user first."""
