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
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries import quota
from botocore.retries import standard as _standard
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import errors, timestamps
from chalicelib.config import settings
from chalicelib.text import is_clean, whole_number

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


# botocore-stubs describe an older botocore's retry classes (int backoffs,
# handlers typed as returning None).
standard: Any = _standard


def cap_backoff(client: Any, max_backoff: float) -> None:
    """Give ``client`` botocore's standard-mode retries (same attempts, conditions
    and retry quota) with waits between attempts of at most ``max_backoff`` seconds.

    botocore takes no backoff setting: its standard retry handler is replaced by
    one built the way botocore builds it, with that maximum.
    """
    service = client.meta.service_model.service_id.hyphenize()
    retries = client.meta.config.retries or {}
    attempts = retries.get("total_max_attempts", standard.DEFAULT_MAX_ATTEMPTS)
    adapter = standard.RetryEventAdapter()
    throttling = standard.ThrottlingErrorDetector(adapter)
    retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)
    backoff = standard.ExponentialBackoff(
        max_backoff=max_backoff, service_name=service, throttling_detector=throttling
    )
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(max_attempts=attempts),
            retry_backoff=backoff,
        ),
        retry_event_adapter=adapter,
        retry_quota=retry_quota,
        service_name=service,
    )
    events = client.meta.events
    unique_id = f"retry-config-{service}"  # the id botocore registers its handler under
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
    events.register(f"after-call.{service}", retry_quota.release_retry_quota)


class _Connection(Connection):
    """PynamoDB's connection; its client's retry waits capped by the settings."""

    @property
    def client(self) -> Any:
        built = self._client
        client = super().client
        if client is not built and _SETTINGS.dynamodb_max_backoff is not None:
            cap_backoff(client, _SETTINGS.dynamodb_max_backoff)
        return client


@functools.cache
def connection() -> Connection:
    """The one DynamoDB connection of this container, made on first use.

    Transactions, cross-table reads and every model send their requests through
    it, so one botocore session and one client serve them all: botocore loads
    DynamoDB's service model once per container, not once per table.
    """
    return _Connection(
        region=_SETTINGS.region,
        host=_SETTINGS.dynamodb_endpoint,
        connect_timeout_seconds=_Meta.connect_timeout_seconds,
        read_timeout_seconds=_Meta.read_timeout_seconds,
        max_retry_attempts=_Meta.max_retry_attempts,
    )


class _Table(Model):
    """A table whose requests go through ``connection()``."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # PynamoDB gives each model a connection of its own, with its own
        # botocore session and client; the model's table description moves to
        # the shared connection instead. Building a TableConnection makes no
        # client: botocore's work starts at the first request.
        table: TableConnection = super()._get_connection()
        shared = connection()
        if table.connection is not shared:
            shared.add_meta_table(table.get_meta_table())
            table.connection = shared
        return table


class UserEmailIndex(GlobalSecondaryIndex["User"]):
    """Users by lower-cased email, for ``GET /user?email=``."""

    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email_lower = UnicodeAttribute(hash_key=True)


class User(_Table):
    """A user record (API.md section 3)."""

    class Meta(_Meta):
        table_name = _table("users")

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    email_lower = UnicodeAttribute()
    # Whether a trusted party vouched for the email (API.md section 6); records
    # written before the attribute existed read as not vouched for.
    email_verified = BooleanAttribute(default=False)
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


class Guard(_Table):
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


class LogEntry(_Table):
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


class ApiKey(_Table):
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

    def has_expired(self, at: datetime) -> bool:
        """True when the key has an expiry and ``at`` is past it."""
        if self.expires is None:
            return False
        return timestamps.parse(self.expires) <= at


class Session(_Table):
    """A browser session, named by the ``session`` cookie."""

    class Meta(_Meta):
        table_name = _table("sessions")

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    # The API key a session was made with (POST /login/apikey): the session
    # lives no longer than the key.
    api_key_id = UnicodeAttribute(null=True)
    created = UnicodeAttribute()
    expires_at = TTLAttribute()


class IdempotentRequest(_Table):
    """The first answer to a ``POST /user`` sent with an ``Idempotency-Key``."""

    class Meta(_Meta):
        table_name = _table("idempotency")

    key = UnicodeAttribute(hash_key=True)
    body_hash = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()


MODELS: tuple[type[Model], ...] = (User, Guard, LogEntry, ApiKey, Session, IdempotentRequest)
TTL_MODELS: tuple[type[Model], ...] = (Session, IdempotentRequest)


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
        if not isinstance(text, str) or not 0 < len(text) <= 400 or not is_clean(text):
            raise invalid
        if kind == "N" and whole_number(text) is None:
            raise invalid
    return key
