"""API keys and the authorizer's decision.

An API key reads ``uk_<user id>.<key id>.<secret>`` (user ids as
``ids.USER_ID_PATTERN`` has them): the fixed prefix tells it
apart from an access token, the user and key ids make verifying it one
key-value read of the key and its owner, and the secret is 256 random bits of
which only the SHA-256 hash is stored. A slow password hash buys nothing for
secrets this long.

The authorizer's function imports this module: what only key management and
login use (change logging, transactions, request checks) is imported there.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import errors, sessions, timestamps
from chalicelib.batch import get_many
from chalicelib.ids import KEY_ID_PATTERN, KEY_ID_RE, USER_ID_PATTERN, new_id
from chalicelib.models import ApiKey, User, storage_errors
from chalicelib.rules import Rulebook, effective_permissions
from chalicelib.timestamps import now
from chalicelib.user_reads import carried_user, check_user_id, load_user

API_KEY_PREFIX = "uk_"
API_KEY_RE = re.compile(rf"uk_({USER_ID_PATTERN})\.({KEY_ID_PATTERN})\.([A-Za-z0-9_-]{{43}})")
MAX_API_KEYS = 20
# The most characters of a user record the decision's context carries: API Gateway
# bounds an authorizer's answer, and a larger record is read again by the route.
CARRIED_USER_CHARS = 4096
LAST_USED_STEP = timedelta(hours=1)
NOT_LOGGED = "the key itself is never logged"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """The authorizer's answer: who is calling, or why nobody is."""

    user_id: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    method: str = ""
    session_id: str = ""
    key_id: str = ""  # the API key that made the decision, when one did
    error: str = ""
    unavailable: bool = False
    # The caller's record as the decision read it, and when (seconds since the
    # epoch, taken before the read): a route of the same request shows it
    # instead of reading it again (request_io.decided_user).
    user: User | None = None
    read_at: float = 0.0

    @property
    def principal(self) -> str:
        """The principal id API Gateway records for the request."""
        return self.user_id or "anonymous"

    def context(self) -> dict[str, str]:
        """The authorizer context handed to the route: strings only."""
        return {
            "user_id": self.user_id,
            "permissions": ",".join(sorted(self.permissions)),
            "method": self.method,
            "session_id": self.session_id,
            "error": self.error,
            "unavailable": "true" if self.unavailable else "",
            **self._record(),
        }

    def _record(self) -> dict[str, str]:
        """The caller's record and its read time (milliseconds since the epoch),
        when the record fits in CARRIED_USER_CHARS."""
        if self.user is None:
            return {}
        text = carried_user(self.user)
        if len(text) > CARRIED_USER_CHARS:
            return {}
        return {"user": text, "read_at": str(int(self.read_at * 1000))}


def denied(reason: str) -> Decision:
    """A decision that names no caller; the route answers 401 with ``reason``."""
    return Decision(error=reason)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def decide(header: str | None, session_secret: Callable[[], bytes], rulebook: Rulebook) -> Decision:
    """Verify the bearer token of a request; never raises.

    API keys are told apart from access tokens by their prefix; ``session_secret``
    gives the key access tokens are signed with, read only for an access token;
    ``rulebook`` says which of the caller's rule grants are live.
    """
    token = bearer_token(header)
    if token is None:
        return denied("expected an Authorization: Bearer <token> header")
    started = time.time()
    try:
        if token.startswith(API_KEY_PREFIX):
            return replace(verify_api_key(token, rulebook), read_at=started)
        return replace(verify_access_token(token, session_secret(), rulebook), read_at=started)
    except errors.InvalidCredentials as exc:
        return denied(str(exc))
    except errors.StorageUnavailable:
        log.warning("authorizer could not reach the storage", exc_info=True)
        return Decision(error="credentials could not be checked; try again", unavailable=True)
    except Exception:
        log.exception("authorizer failed")
        return denied("credentials could not be checked")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_api_key(token: str, rulebook: Rulebook | None) -> Decision:
    """The caller named by an API key, or a denial for a bad, expired or revoked one;
    its permissions are the owner's effective ones (none without a ``rulebook``)."""
    match = API_KEY_RE.fullmatch(token)
    if match is None:
        return denied("malformed API key")
    user_id, key_id, secret = match.groups()
    key, user = get_many(
        [(ApiKey, {"user_id": user_id, "key_id": key_id}), (User, {"id": user_id})]
    )
    if not isinstance(key, ApiKey) or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return denied("unknown or revoked API key")
    if not isinstance(user, User):
        return denied("the key's user no longer exists")
    if user.suspended:
        return denied("the user is suspended")
    current = datetime.now(UTC)
    if key.has_expired(current):
        return denied("the API key has expired")
    if key.last_used is None or timestamps.parse(key.last_used) <= current - LAST_USED_STEP:
        _touch(key)
    permissions = effective_permissions(user, rulebook) if rulebook else frozenset()
    return Decision(
        user_id=user.id, permissions=permissions, method="apikey", key_id=key_id, user=user
    )


def verify_access_token(token: str, session_secret: bytes, rulebook: Rulebook) -> Decision:
    """The caller named by an access token whose session is still live.

    Raises InvalidCredentials.
    """
    user_id, sid, key_id = sessions.decode_access_token(token, session_secret)
    _, user = sessions.live_session(sid, user_id, key_id)
    return Decision(
        user_id=user.id,
        permissions=effective_permissions(user, rulebook),
        method="keysession" if key_id else "token",
        session_id=sid,
        user=user,
    )


def login_with_api_key(body: dict[str, Any]) -> sessions.NewSession:
    """Start a browser session for the owner of the ``api-key`` in ``body``.

    ``api-user``, which older clients send, is accepted and ignored, whatever
    its type. The session is bound to the key: it ends when the key is revoked,
    replaced or expires (API.md section 1). Raises UnknownField, InvalidInput,
    InvalidCredentials.
    """
    from chalicelib.validation import API_KEY_LOGIN

    API_KEY_LOGIN.check(body)
    key = body["api-key"]
    decision = (
        verify_api_key(key, None) if key.startswith(API_KEY_PREFIX) else denied("not an API key")
    )
    if not decision.user_id:
        raise errors.InvalidCredentials(decision.error)
    return sessions.start_session(decision.user_id, api_key_id=decision.key_id)


def _touch(key: ApiKey) -> None:
    """Record when a key was last used, at most once per LAST_USED_STEP; best effort."""
    try:
        key.update(actions=[ApiKey.last_used.set(now())], condition=ApiKey.key_id.exists())
    except Exception:
        log.info("could not record last use of an API key", exc_info=True)


def _key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.key_id,
        "name": key.name,
        "created": key.created,
        "expires": key.expires,
        "last_used": key.last_used,
    }


def list_api_keys(user_id: str) -> dict[str, Any]:
    """The user's API keys, never the keys themselves; raises UserNotFound.

    One Query; the user is read only when it finds no key, to tell a user
    without keys from no user.
    """
    check_user_id(user_id)
    with storage_errors():
        keys = list(ApiKey.query(user_id, consistent_read=True))
    if not keys:
        load_user(user_id)
    return {"apikeys": [_key_view(key) for key in keys]}


def check_key_request(body: dict[str, Any]) -> tuple[str, int | None]:
    """The ``name`` and ``expires_in_days`` of a key request; raises UnknownField, InvalidInput."""
    from chalicelib.validation import API_KEY_REQUEST

    API_KEY_REQUEST.check(body)
    return body.get("name", ""), body.get("expires_in_days")


def make_api_key(
    actor: str,
    user_id: str,
    name: str = "",
    expires_in_days: int | None = None,
    replace: bool = False,
) -> dict[str, str]:
    """Make a new API key for a user, logged on the owner's record.

    With ``replace`` the user's other keys are revoked in the same
    transaction. Returns ``{"key", "id"}``: the only time the key is shown.
    Raises UserNotFound, TooManyApiKeys.
    """

    from chalicelib.changes import add_edit
    from chalicelib.transactions import Transaction
    from chalicelib.versions import retrying

    def attempt() -> dict[str, str]:
        user = load_user(user_id)
        existing = sorted(user.api_key_ids or ())
        if not replace and len(existing) >= MAX_API_KEYS:
            raise errors.TooManyApiKeys(f"a user may hold at most {MAX_API_KEYS} API keys")
        key_id = new_id()[:16]
        secret = secrets.token_urlsafe(32)
        created = now()
        expires = None
        if expires_in_days is not None:
            expires = timestamps.stamp(timestamps.parse(created) + timedelta(days=expires_in_days))
        transaction = Transaction()
        comment = f"API key {key_id} made"
        if replace and existing:
            comment += "; revoked " + ", ".join(existing)
            for old_id in existing:
                transaction.delete(ApiKey(user_id=user_id, key_id=old_id))
        ids = User.api_key_ids.set({key_id}) if replace else User.api_key_ids.add({key_id})
        add_edit(
            transaction,
            user,
            actor,
            {"key_id": key_id, "name": name},
            f"{comment} ({NOT_LOGGED})",
            actions=[ids],
        )
        transaction.put(
            ApiKey(
                user_id=user_id,
                key_id=key_id,
                secret_hash=_hash(secret),
                name=name,
                created=created,
                expires=expires,
            ),
            condition=ApiKey.key_id.does_not_exist(),
        )
        transaction.commit()
        return {"key": f"{API_KEY_PREFIX}{user_id}.{key_id}.{secret}", "id": key_id}

    return retrying(attempt)


def revoke_api_key(actor: str, user_id: str, key_id: str) -> None:
    """Revoke one API key, logged on the owner's record; raises UserNotFound, ApiKeyNotFound."""

    from chalicelib.changes import add_edit
    from chalicelib.transactions import Transaction
    from chalicelib.versions import retrying

    check_user_id(user_id)
    if not KEY_ID_RE.fullmatch(key_id):
        raise errors.ApiKeyNotFound(f"the user has no API key {key_id[:64]!r}")

    def attempt() -> None:
        key, user = get_many(
            [(ApiKey, {"user_id": user_id, "key_id": key_id}), (User, {"id": user_id})]
        )
        if not isinstance(user, User):
            raise errors.UserNotFound(f"no user has id {user_id!r}")
        if not isinstance(key, ApiKey):
            raise errors.ApiKeyNotFound(f"the user has no API key {key_id!r}")
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            actor,
            {"key_id": key.key_id, "name": key.name},
            f"API key {key_id} revoked ({NOT_LOGGED})",
            actions=[User.api_key_ids.delete({key_id})],
        )
        transaction.delete(
            key,
            condition=ApiKey.key_id.exists(),
            error=lambda: errors.ApiKeyNotFound(f"the user has no API key {key_id!r}"),
        )
        transaction.commit()

    retrying(attempt)
