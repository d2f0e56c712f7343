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
- ``search``: the items ``GET /user?q=`` reads, keyed by a prefix of a user's
  email or name and the user's place in name order (``search.py``), written in
  the same transaction as the user.
- ``apikeys``: keyed by owner ``user_id`` and ``key_id``; only a hash of the key.
- ``sessions``: browser sessions, keyed by ``id``, expiring through DynamoDB TTL;
  index ``by_user`` (user id, created) finds a user's sessions, oldest first: to end
  the oldest beyond the cap, to end them all when the user is suspended or erased,
  and to list them in an export.
- ``idempotency``: the first answer to each ``Idempotency-Key`` of ``POST /user``,
  written in the same transaction as the user it made; expires through TTL,
  or is removed when that user is erased.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader
from botocore.session import Session as BotocoreSession
from botocore.session import get_session
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
from chalicelib.config import ConfigError, Settings
from chalicelib.storage.items import Item, read

USER_MANAGERS_COUNTER = "count#user_managers"


class _Meta:
    region: str | None = None  # set by bind()
    host: str | None = None  # set by bind()
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


class _Bound:
    """The settings the tables are bound to (``bind``); None until an entry point binds them."""

    settings: Settings | None = None


def _bound() -> Settings:
    if _Bound.settings is None:
        raise ConfigError("the tables are not bound to settings (models.bind)")
    return _Bound.settings


@functools.cache
def connection() -> Connection:
    """The one DynamoDB connection of this container, made on first use.

    Transactions, cross-table reads and every model send their requests through
    it, so one botocore session and one client serve them all: botocore loads
    DynamoDB's service model once per container, not once per table.
    """
    settings = _bound()
    return _Connection(
        region=settings.region,
        host=settings.dynamodb_endpoint,
        connect_timeout_seconds=_Meta.connect_timeout_seconds,
        read_timeout_seconds=_Meta.read_timeout_seconds,
        max_retry_attempts=_Meta.max_retry_attempts,
    )


SERVICE = "dynamodb"  # the one service the botocore sessions of ``connection()`` serve
# botocore's endpoints.json cut to SERVICE (devtools/dynamodb_endpoints.py writes it).
TRIMMED_DATA = Path(__file__).parent / "botocore_data"


class _OneServiceLoader(Loader):
    """botocore's loader of its service models, told which service exists.

    Before loading a model, botocore lists every service folder of its data
    (some 450, for each kind of file it loads) only to refuse an unknown
    service name; the one name asked for here is known. A model that is not
    there still fails to load, as it would have.

    Its search path has ``TRIMMED_DATA`` before botocore's own data: there
    botocore's ``endpoints.json`` (1.2 MB, parsed on a session's first client)
    is cut to SERVICE's entries. The cut copy counts as botocore's built-in
    data, as the whole file would: a client chooses its endpoint as it would.
    """

    def is_builtin_path(self, path: str) -> bool:
        return Path(path).parent == TRIMMED_DATA or super().is_builtin_path(path)

    def list_available_services(self, type_name: str) -> list[str]:
        return [SERVICE]


class _Connection(Connection):
    """PynamoDB's connection, its botocore session loading service models with
    ``_OneServiceLoader`` (the same search path as botocore's own loader)."""

    @property
    def session(self) -> BotocoreSession:
        if getattr(self._local, "session", None) is None:
            made = get_session()
            data_path = made.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore reads it
            extra = [
                os.path.expanduser(os.path.expandvars(path))
                for path in (data_path.split(os.pathsep) if data_path else [])
            ]
            loader = _OneServiceLoader(extra_search_paths=[*extra, str(TRIMMED_DATA)])
            made.register_component("data_loader", loader)
            self._local.session = made
        session: BotocoreSession = self._local.session
        return session


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
    """A user record (docs/API.md section 3)."""

    class Meta(_Meta):
        table_name = "users"  # prefixed by bind()

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    email_lower = UnicodeAttribute()
    # Whether a trusted party vouched for the email (docs/API.md section 7); records
    # written before the attribute existed read as not vouched for.
    email_verified = BooleanAttribute(default=False)
    name = UnicodeAttribute(default="")
    affiliation = UnicodeAttribute(default="")
    contact = UnicodeAttribute(default="")
    orcid = UnicodeAttribute(default="")
    url = UnicodeAttribute(default="")
    permissions = ListAttribute[str](default=list)
    auth_ids = ListAttribute[str](default=list)
    # Permissions granted by providers' rules at login (docs/API.md section 12): a list of
    # {"permission", "provider", "claim", "value", "asserted"}.
    rule_permissions = JSONAttribute(default=list)
    # The ids of the user's API keys, kept in each key change's transaction, so
    # that a change touching all of them reads them with the user.
    api_key_ids = UnicodeSetAttribute(default=set)
    # A suspended user's keys, sessions and logins are refused (docs/API.md section 10).
    suspended = BooleanAttribute(default=False)
    version = NumberAttribute()
    created = UnicodeAttribute()
    updated = UnicodeAttribute()

    by_email = UserEmailIndex()


class Guard(_Table):
    """A unique value held by one user, or a counter kept beside the users."""

    class Meta(_Meta):
        table_name = "guards"  # prefixed by bind()

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
    """One change to one record (docs/API.md section 8)."""

    class Meta(_Meta):
        table_name = "logs"  # prefixed by bind()

    entry_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    id = UnicodeAttribute()
    action = UnicodeAttribute()
    comment = UnicodeAttribute(default="")
    data_type = UnicodeAttribute(default="user")
    user = UnicodeAttribute()
    timestamp = UnicodeAttribute()
    data = JSONAttribute(default=dict)
    # The changed fields' values before the change; entries written before the
    # attribute existed have none.
    old = JSONAttribute(null=True)
    # Set on the ``delete`` entry of an erasure until every step of it is done
    # (erasure.py): a retry or ``check-invariants --repair`` finishes it.
    erasing = BooleanAttribute(null=True)

    by_actor = LogActorIndex()


class SearchEntry(_Table):
    """One prefix a user is found by, in the user's place in name order (``search.py``)."""

    class Meta(_Meta):
        table_name = "search"  # prefixed by bind()

    prefix = UnicodeAttribute(hash_key=True)
    sort = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    # The user's folded search texts, for a query longer than the prefix.
    texts = ListAttribute[str](default=list)


class ApiKey(_Table):
    """An API key: its owner, id and the SHA-256 hash of its secret part."""

    class Meta(_Meta):
        table_name = "apikeys"  # prefixed by bind()

    user_id = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute(range_key=True)
    secret_hash = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    created = UnicodeAttribute()
    # Keys made before every key expired have none: they end API_KEY_MAX_DAYS
    # after they were made (apikeys.expiry).
    expires = UnicodeAttribute(null=True)
    last_used = UnicodeAttribute(null=True)
    last_used_ip = UnicodeAttribute(null=True)
    # The key's scope (docs/API.md section 11): the permissions it may use (absent:
    # all of its owner's), and whether it may only read.
    permissions = ListAttribute[str](null=True)
    read_only = BooleanAttribute(default=False)

    def expiry(self, max_days: int) -> datetime:
        """When the key stops working (``key_expiry``)."""
        return key_expiry(self.expires, self.created, max_days)

    def has_expired(self, at: datetime, max_days: int) -> bool:
        """True when ``at`` is at or past the key's expiry."""
        return self.expiry(max_days) <= at


def key_expiry(expires: str | None, created: str, max_days: int) -> datetime:
    """When a key stops working: its ``expires``, or for a key made without one,
    ``max_days`` (API_KEY_MAX_DAYS) after it was ``created``."""
    if expires is not None:
        return timestamps.parse(expires)
    return timestamps.parse(created) + timedelta(days=max_days)


def item_expiry(key: Item, max_days: int) -> datetime:
    """``key_expiry`` of an API key's item as read (``items.read``)."""
    return key_expiry(read(key, ApiKey.expires), read(key, ApiKey.created) or "", max_days)


class SessionUserIndex(GlobalSecondaryIndex["Session"]):
    """A user's sessions in the order they began: to end the oldest beyond the cap,
    to end them all (suspension, erasure), or to list them in an export."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class Session(_Table):
    """A browser session, named by the ``session`` cookie."""

    class Meta(_Meta):
        table_name = "sessions"  # prefixed by bind()

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    # The API key a session was made with (POST /login/apikey): the session
    # lives no longer than the key.
    api_key_id = UnicodeAttribute(null=True)
    # How the session began: "oidc" (with ``provider``) or "apikey"; sessions
    # stored before this was kept read as None.
    kind = UnicodeAttribute(null=True)
    provider = UnicodeAttribute(null=True)
    created = UnicodeAttribute()
    expires_at = TTLAttribute()

    by_user = SessionUserIndex()


class IdempotentRequest(_Table):
    """The first answer to a ``POST /user`` sent with an ``Idempotency-Key``."""

    class Meta(_Meta):
        table_name = "idempotency"  # prefixed by bind()

    key = UnicodeAttribute(hash_key=True)
    body_hash = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()


MODELS: tuple[type[Model], ...] = (
    User,
    Guard,
    LogEntry,
    SearchEntry,
    ApiKey,
    Session,
    IdempotentRequest,
)


def reset_connections() -> None:
    """Drop this container's DynamoDB connection; the next request builds a new one
    (a new botocore client: fresh credentials, no open sockets, its own retry quota)."""
    connection.cache_clear()
    for model in MODELS:
        model._connection = None


TTL_MODELS: tuple[type[Model], ...] = (Session, IdempotentRequest)
_NAMES = {model: model.Meta.table_name for model in MODELS}


def bind(settings: Settings) -> None:
    """Point every table at ``settings``: region, endpoint, ``TABLE_PREFIX`` and retry
    waits. Each entry point calls it once; binding other settings starts a new
    connection."""
    if _Bound.settings == settings:
        return
    _Bound.settings = settings
    _Meta.region = settings.region
    _Meta.host = settings.dynamodb_endpoint
    for model, name in _NAMES.items():
        model.Meta.table_name = f"{settings.table_prefix}{name}"
        model._connection = None
    connection.cache_clear()


def create_tables() -> list[str]:
    """Create every table that does not exist yet, and turn on TTL where items expire
    and it is off; run again, it changes nothing.

    Returns the names of the tables created.
    """
    created = []
    for model in MODELS:
        if not model.exists():
            # PynamoDB turns TTL on itself for a model with a TTLAttribute.
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
        else:
            add_missing_indexes(model)
            if model in TTL_MODELS and not ttl_enabled(model):
                # DynamoDB refuses to turn on a TTL that is already on.
                model.update_ttl(ignore_update_ttl_errors=False)
    return created


def add_missing_indexes(model: type[Model], poll_seconds: float = 1.0) -> list[str]:
    """Add to an existing table the global secondary indexes ``model`` declares and
    the table lacks (one made before the index was), and wait until they serve;
    the names of those added."""
    client: Any = connection().client
    name = model.Meta.table_name
    described = client.describe_table(TableName=name)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    added = []
    for index in model._get_schema()["global_secondary_indexes"]:
        if index["index_name"] in present:
            continue
        client.update_table(
            TableName=name,
            AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index["index_name"],
                        # DynamoDB wants the hash key first; PynamoDB lists them in any order
                        "KeySchema": sorted(index["key_schema"], key=lambda k: k["KeyType"]),
                        "Projection": index["projection"],
                    }
                }
            ],
        )
        added.append(index["index_name"])
    while added and any(
        index.get("IndexStatus") != "ACTIVE"
        for index in client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    ):
        time.sleep(poll_seconds)
    return added


def ttl_enabled(model: type[Model]) -> bool:
    """Whether the table of ``model`` expires items (TTL on, or being turned on)."""
    client: Any = connection().client  # dispatch() would add ReturnConsumedCapacity
    described = client.describe_time_to_live(TableName=model.Meta.table_name)
    return described["TimeToLiveDescription"]["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a storage failure that PynamoDB could not ride out into a 503."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        raise errors.StorageUnavailable("The storage is unavailable; nothing was written.") from exc
