"""DynamoDB tables and items (PynamoDB), and the translation of storage failures.

Tables, all named ``TABLE_PREFIX`` + name:

- ``users``: one item per user, keyed by ``id``; index ``by_email`` on the
  lower-cased email.
- ``guards``: one item per unique value a user holds (``email#<lower-cased
  email>``, ``auth#<auth id>``), written in the same transaction as the user,
  so that uniqueness lives in the database; plus the ``count#user_managers``
  counter that keeps the last user manager.
- ``logs``: the change log, keyed by record id (``entry_id``) and ``version``,
  so a record's history reads in order with one Query; index ``by_actor``
  (actor, timestamp) gives what one user did, in order.
- ``apikeys``: keyed by owner ``user_id`` and ``key_id``; only a hash of the key.
- ``sessions``: browser sessions, keyed by ``id``, expiring through DynamoDB TTL.
- ``idempotency``: the first answer to each ``Idempotency-Key`` of ``POST /user``,
  written in the same transaction as the user it made; expires through TTL.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.config import settings

_SETTINGS = settings()

USER_MANAGERS_COUNTER = "count#user_managers"


class _Meta:
    region = _SETTINGS.region
    host = _SETTINGS.dynamodb_endpoint
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


def _table(name: str) -> str:
    return f"{_SETTINGS.table_prefix}{name}"


class UserEmailIndex(GlobalSecondaryIndex["User"]):
    """Users by lower-cased email, for ``GET /user?email=``."""

    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email_lower = UnicodeAttribute(hash_key=True)


class User(Model):
    """A user record (API.md section 3)."""

    class Meta(_Meta):
        table_name = _table("users")

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    email_lower = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    affiliation = UnicodeAttribute(default="")
    contact = UnicodeAttribute(default="")
    orcid = UnicodeAttribute(default="")
    url = UnicodeAttribute(default="")
    permissions = ListAttribute[str](default=list)
    auth_ids = ListAttribute[str](default=list)
    # The ids of the user's API keys, kept in each key change's transaction, so
    # that a change touching all of them reads them with the user.
    api_key_ids = UnicodeSetAttribute(default=set)
    version = NumberAttribute()
    created = UnicodeAttribute()
    updated = UnicodeAttribute()

    by_email = UserEmailIndex()


class Guard(Model):
    """A unique value held by one user, or a counter kept beside the users."""

    class Meta(_Meta):
        table_name = _table("guards")

    key = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(null=True)
    total = NumberAttribute(null=True)


class LogActorIndex(GlobalSecondaryIndex["LogEntry"]):
    """Log entries by actor, in time order, for ``GET /user/{id}/actions``."""

    class Meta:
        index_name = "by_actor"
        projection = AllProjection()

    user = UnicodeAttribute(hash_key=True)
    timestamp = UnicodeAttribute(range_key=True)


class LogEntry(Model):
    """One change to one record (API.md section 7)."""

    class Meta(_Meta):
        table_name = _table("logs")

    entry_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    id = UnicodeAttribute()
    action = UnicodeAttribute()
    comment = UnicodeAttribute(default="")
    data_type = UnicodeAttribute(default="user")
    user = UnicodeAttribute()
    timestamp = UnicodeAttribute()
    data = JSONAttribute(default=dict)

    by_actor = LogActorIndex()


class ApiKey(Model):
    """An API key: its owner, id and the SHA-256 hash of its secret part."""

    class Meta(_Meta):
        table_name = _table("apikeys")

    user_id = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute(range_key=True)
    secret_hash = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    created = UnicodeAttribute()
    expires = UnicodeAttribute(null=True)
    last_used = UnicodeAttribute(null=True)


class Session(Model):
    """A browser session, named by the ``session`` cookie."""

    class Meta(_Meta):
        table_name = _table("sessions")

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    created = UnicodeAttribute()
    expires_at = TTLAttribute()


class IdempotentRequest(Model):
    """The first answer to a ``POST /user`` sent with an ``Idempotency-Key``."""

    class Meta(_Meta):
        table_name = _table("idempotency")

    key = UnicodeAttribute(hash_key=True)
    body_hash = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()


MODELS: tuple[type[Model], ...] = (User, Guard, LogEntry, ApiKey, Session, IdempotentRequest)
TTL_MODELS: tuple[type[Model], ...] = (Session, IdempotentRequest)


@functools.cache
def connection() -> Connection:
    """The low-level connection used for transactions and cross-table reads."""
    return Connection(
        region=_SETTINGS.region,
        host=_SETTINGS.dynamodb_endpoint,
        connect_timeout_seconds=_Meta.connect_timeout_seconds,
        read_timeout_seconds=_Meta.read_timeout_seconds,
        max_retry_attempts=_Meta.max_retry_attempts,
    )


def create_tables() -> list[str]:
    """Create every table that does not exist yet, with TTL where items expire.

    Returns the names of the tables created.
    """
    created = []
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
    for model in TTL_MODELS:
        if model.Meta.table_name in created:
            connection().dispatch(
                "UpdateTimeToLive",
                {
                    "TableName": model.Meta.table_name,
                    "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires_at"},
                },
            )
    return created


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a storage failure that PynamoDB could not ride out into a 503."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        raise errors.StorageUnavailable("The storage is unavailable; nothing was written.") from exc


def get_many(keys: Sequence[tuple[type[Model], Mapping[str, str]]]) -> list[Model | None]:
    """Read items of several tables in one consistent round trip.

    Each key is ``(model class, {key attribute: string value})``; the result
    holds the items in the same order, None where an item does not exist.
    """
    request: dict[str, dict[str, Any]] = {}
    for model, key in keys:
        table = request.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})
        table["Keys"].append({name: {"S": value} for name, value in key.items()})
    key_names = {model.Meta.table_name: tuple(sorted(key)) for model, key in keys}
    found: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    with storage_errors():
        for _ in range(5):
            reply = connection().dispatch("BatchGetItem", {"RequestItems": request})
            for table_name, items in reply.get("Responses", {}).items():
                for item in items:
                    values = tuple(item[name]["S"] for name in key_names[table_name])
                    found[(table_name, values)] = item
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05)
        else:
            raise errors.StorageUnavailable("The storage is busy; try again.")
    result: list[Model | None] = []
    for model, key in keys:
        values = tuple(key[name] for name in sorted(key))
        raw = found.get((model.Meta.table_name, values))
        result.append(model.from_raw_data(raw) if raw is not None else None)
    return result


def encode_cursor(last_evaluated_key: Mapping[str, Any] | None) -> str | None:
    """The opaque ``next`` cursor of a page, or None on the last page."""
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_types: Mapping[str, str]) -> dict[str, Any] | None:
    """The start key named by a ``cursor``: one value of the given DynamoDB type
    (``S`` or ``N``) per key attribute. Raises InvalidCursor if it names none."""
    if cursor is None:
        return None
    invalid = errors.InvalidCursor("cursor is not the next of an earlier page")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(key, dict) or set(key) != set(key_types):
        raise invalid
    for name, kind in key_types.items():
        value = key[name]
        if not (isinstance(value, dict) and set(value) == {kind}):
            raise invalid
        text = value[kind]
        if not isinstance(text, str) or not 0 < len(text) <= 400:
            raise invalid
        if kind == "N" and not text.isdigit():
            raise invalid
    return key
