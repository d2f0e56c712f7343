"""The authorizer's decision: who is calling, and what they may do.

A bearer token is an API key when it starts with the deployment's key prefix
(or the older ``uk_``; ``key_format.py``), else an access token. An API key
whose check digits fail is refused here, before any storage read; a
well-formed one costs one consistent ``BatchGetItem`` of the key and its
owner, as does an access token (its session, its user and, for a session
made with a key, that key). What the caller may do is its owner's effective
permissions, cut down to the key's scope (docs/API.md section 11) when a key is
involved. The authorizer writes nothing: when a key was last used, and from
where, is written by the route (``key_use.py``), which sees the address.

The decision runs on every request the gateway has not cached, so it reads the
few attributes it needs from the items as DynamoDB returns them
(``items.read``) rather than decoding whole model instances, and hands the
owner's item on to the route as it was read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import errors, key_format, timestamps
from chalicelib.config import Settings
from chalicelib.identity import sessions
from chalicelib.records.apikeys import hash_secret, key_permissions
from chalicelib.records.rules import Rulebook, effective
from chalicelib.records.user_reads import carried_user
from chalicelib.storage.batch import get_items
from chalicelib.storage.items import Item, read
from chalicelib.storage.models import ApiKey, User, item_expiry

# The most characters of a user record the decision's context carries: API Gateway
# bounds an authorizer's answer, and a larger record is read again by the route.
CARRIED_USER_CHARS = 4096

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """The authorizer's answer: who is calling, or why nobody is."""

    user_id: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    method: str = ""
    session_id: str = ""
    key_id: str = ""  # the API key that made the decision, or whose session did
    scoped: bool = False  # the key holds a permissions list or is read-only
    read_only: bool = False
    key_expires: str = ""  # the key's expiry, for the API-Key-Expires header
    last_used: str = ""  # as stored when the key was read (key_use.py)
    last_used_ip: str = ""
    error: str = ""
    unavailable: bool = False
    # The caller's record as the decision read it (its DynamoDB item), and when
    # (seconds since the epoch, taken before the read): a route of the same
    # request shows it instead of reading it again (request_io.decided_user).
    user: Item | None = None
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
            "key_id": self.key_id,
            "scoped": "true" if self.scoped else "",
            "read_only": "true" if self.read_only else "",
            "key_expires": self.key_expires,
            "last_used": self.last_used,
            "last_used_ip": self.last_used_ip,
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


def decide(
    header: str | None, session_secret: Callable[[], bytes], settings: Settings, rulebook: Rulebook
) -> Decision:
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
        if key_format.looks_like_key(token, settings.api_key_prefix):
            return verify_api_key(token, settings, rulebook, read_at=started)
        return verify_access_token(
            token, session_secret(), settings.api_key_max_days, rulebook, read_at=started
        )
    except errors.InvalidCredentials as exc:
        return denied(str(exc))
    except errors.StorageUnavailable:
        log.warning("authorizer could not reach the storage", exc_info=True)
        return Decision(error="credentials could not be checked; try again", unavailable=True)
    except Exception:
        log.exception("authorizer failed")
        return denied("credentials could not be checked")


def _owner_permissions(user: Item, rulebook: Rulebook) -> frozenset[str]:
    """``apikeys.owner_permissions`` of a user's item as read."""
    granted = read(user, User.permissions) or []
    return effective(granted, read(user, User.rule_permissions) or [], rulebook)


def _scoped(
    user: Item, key: Item, expiry: datetime, rulebook: Rulebook | None, **decision: Any
) -> Decision:
    """The decision for ``user`` acting through ``key`` (their items as read), which
    ends at ``expiry``: the key's share of what the user may do now (nothing without
    a ``rulebook``)."""
    owner = _owner_permissions(user, rulebook) if rulebook else frozenset[str]()
    listed = read(key, ApiKey.permissions)
    read_only = read(key, ApiKey.read_only) or False
    return Decision(
        user_id=read(user, User.id) or "",
        permissions=key_permissions(listed, owner),
        key_id=read(key, ApiKey.key_id) or "",
        scoped=listed is not None or read_only,
        read_only=read_only,
        key_expires=read(key, ApiKey.expires) or timestamps.stamp(expiry),
        user=user,
        **decision,
    )


def verify_api_key(
    token: str, settings: Settings, rulebook: Rulebook | None, read_at: float = 0.0
) -> Decision:
    """The caller named by an API key, or a denial for a bad, expired or revoked one
    or a suspended owner; its permissions are the key's share of the owner's
    effective ones (none without a ``rulebook``). ``read_at``: when the read began.

    A key that is malformed or fails its check is refused without a storage read.
    """
    parts = key_format.parse(token, settings.api_key_prefix)
    if parts is None:
        return denied("malformed API key")
    key, user = get_items(
        [
            (ApiKey, {"user_id": parts.user_id, "key_id": parts.key_id}),
            (User, {"id": parts.user_id}),
        ]
    )
    return api_key_decision(parts, key, user, settings, rulebook, read_at)


def api_key_decision(
    parts: key_format.KeyParts,
    key: Item | None,
    user: Item | None,
    settings: Settings,
    rulebook: Rulebook | None,
    read_at: float = 0.0,
) -> Decision:
    """``verify_api_key``'s decision once it has read the items of the key ``parts``
    names and of its owner (None: no such item)."""
    if key is None or not sessions.same_secret(
        read(key, ApiKey.secret_hash) or "", hash_secret(parts.secret)
    ):
        return denied("unknown or revoked API key")
    if user is None:
        return denied("the key's user no longer exists")
    if read(user, User.suspended):
        return denied("the user is suspended")
    expiry = item_expiry(key, settings.api_key_max_days)
    if expiry <= datetime.now(UTC):
        return denied("the API key has expired")
    return _scoped(
        user,
        key,
        expiry,
        rulebook,
        method="apikey",
        last_used=read(key, ApiKey.last_used) or "",
        last_used_ip=read(key, ApiKey.last_used_ip) or "",
        read_at=read_at,
    )


def verify_access_token(
    token: str, session_secret: bytes, key_max_days: int, rulebook: Rulebook, read_at: float = 0.0
) -> Decision:
    """The caller named by an access token whose session is still live; a session
    made with an API key carries the key's scope. ``read_at``: when the read began.

    Raises InvalidCredentials.
    """
    user_id, sid, key_id = sessions.decode_access_token(token, session_secret)
    _, user, key = sessions.live_session(sid, user_id, key_id, key_max_days)
    if key is not None:
        return _scoped(
            user,
            key,
            item_expiry(key, key_max_days),
            rulebook,
            method="keysession",
            session_id=sid,
            read_at=read_at,
        )
    return Decision(
        user_id=read(user, User.id) or "",
        permissions=_owner_permissions(user, rulebook),
        method="token",
        session_id=sid,
        user=user,
        read_at=read_at,
    )


def login_with_api_key(
    body: dict[str, Any], settings: Settings
) -> tuple[sessions.NewSession, Decision]:
    """Start a browser session for the owner of the ``api-key`` in ``body``, and the
    key's decision (its expiry, its last use).

    ``api-user``, which older clients send, is accepted and ignored, whatever
    its type. The session is bound to the key: it ends when the key is revoked,
    replaced or expires, and carries the key's scope (docs/API.md section 1).
    Raises UnknownField, InvalidInput, InvalidCredentials.
    """
    from chalicelib.records.validation import API_KEY_LOGIN  # only logins check a body

    API_KEY_LOGIN.check(body)
    key = body["api-key"]
    decision = (
        verify_api_key(key, settings, None)
        if key_format.looks_like_key(key, settings.api_key_prefix)
        else denied("not an API key")
    )
    if not decision.user_id:
        raise errors.InvalidCredentials(decision.error)
    return sessions.start_session(decision.user_id, api_key_id=decision.key_id), decision
