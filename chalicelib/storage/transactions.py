"""One change's items, written to DynamoDB together or not at all.

A ``Transaction`` collects puts, updates and deletes, each with the domain
error its condition stands for, and commits them as one ``TransactWriteItems``:
a failed condition raises that error, a clash with another transaction
``ConcurrentChange`` (the caller retries), a storage fault
``StorageUnavailable``, saying whether the change may have landed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.storage.models import connection

ErrorFactory = Callable[[], Exception]


# PynamoDB sends a transaction's condition checks, then deletes, then puts, then
# updates; cancellation reasons come back in that order.
_ORDER = {"check": -1, "delete": 0, "put": 1, "update": 2}


@dataclass
class _Op:
    kind: str
    apply: Callable[[TransactWrite], None]
    on_condition_failed: ErrorFactory | None


class Transaction:
    """The items of one change, written together or not at all.

    Each operation may name the domain error its condition stands for; when
    DynamoDB cancels the transaction because of that condition, commit raises
    that error, with the DynamoDB error as its cause.
    """

    def __init__(self) -> None:
        self._ops: list[_Op] = []

    def __len__(self) -> int:
        return len(self._ops)

    def put(
        self,
        item: Model,
        condition: Condition | None = None,
        error: ErrorFactory | None = None,
        decisive: bool = False,
    ) -> None:
        """Write a whole item; a ``decisive`` condition's error wins over all others."""
        op = _Op("put", lambda tw: tw.save(item, condition=condition), error)
        if decisive:
            self._ops.insert(0, op)
        else:
            self._ops.append(op)

    def update(
        self,
        item: Model,
        actions: list[Action],
        condition: Condition | None = None,
        error: ErrorFactory | None = None,
    ) -> None:
        """Change some attributes of an item."""
        self._ops.append(
            _Op("update", lambda tw: tw.update(item, actions, condition=condition), error)
        )

    def delete(
        self, item: Model, condition: Condition | None = None, error: ErrorFactory | None = None
    ) -> None:
        """Delete an item."""
        self._ops.append(
            _Op(
                "delete",
                lambda tw: tw.delete(item, condition=condition, add_version_condition=False),
                error,
            )
        )

    def check(
        self,
        model: type[Model],
        hash_key: str,
        condition: Condition,
        error: ErrorFactory | None = None,
    ) -> None:
        """Write nothing, but only if ``condition`` holds for the item of ``hash_key``
        (whether or not it exists)."""
        self._ops.append(
            _Op("check", lambda tw: tw.condition_check(model, hash_key, condition=condition), error)
        )

    def commit(self) -> None:
        """Write every operation in one DynamoDB transaction.

        Raises the domain error of the first failed condition, or
        StorageUnavailable when DynamoDB could not take the transaction.
        """
        ops = sorted(self._ops, key=lambda op: _ORDER[op.kind])
        try:
            # The token makes a retry after a lost reply a no-op, not a second write.
            token = uuid.uuid4().hex
            with TransactWrite(connection=connection(), client_request_token=token) as transaction:
                for op in ops:
                    op.apply(transaction)
        except TransactWriteError as exc:
            failed = {
                id(op)
                for op, reason in zip(ops, _reasons(exc), strict=False)
                if reason == "ConditionalCheckFailed"
            }
            for op in self._ops:  # the first failure in the order the change added them
                if id(op) in failed and op.on_condition_failed is not None:
                    raise op.on_condition_failed() from exc
            if "TransactionConflict" in _reasons(exc):
                raise ConcurrentChange() from exc
            if not isinstance(exc.cause, ClientError):
                # No answer came back, not even to botocore's retries, which
                # carried the same token: DynamoDB may have taken it.
                raise errors.StorageUnavailable(
                    "The storage did not answer; the change may have been written: "
                    "read the record before trying again."
                ) from exc
            raise errors.StorageUnavailable(
                "The storage could not take the change; nothing was written."
            ) from exc
        except PynamoDBException as exc:
            raise errors.StorageUnavailable(
                "The storage is unavailable; nothing was written."
            ) from exc


class ConcurrentChange(Exception):
    """Another transaction touched the same items at the same time; retry."""


def _reasons(exc: TransactWriteError) -> list[str | None]:
    # A lost request (a timeout) has no DynamoDB reply, hence no reasons.
    if not isinstance(exc.cause, ClientError):
        return []
    if exc.cause_response_code != "TransactionCanceledException":
        return []
    return [reason.code if reason else None for reason in exc.cancellation_reasons]
