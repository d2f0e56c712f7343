"""Browser sessions, access tokens and CSRF (docs/API.md sections 1 and 6).

The ``session`` cookie reads ``<user id>.<secret>``, or ``<user id>.<key
id>.<secret>`` for a session made with an API key, the secret being 256 random
bits; the table keeps only the SHA-256 of the whole value, so a copy of the
table opens no session, and the ids in it let the session, its user and its
key be read in one round trip. A session made with a key stores the key's id
and ends when the key is revoked, replaced or expires; its access tokens carry
the key's id too (claim ``key``). An access token is a JWT
signed with HS256 (pinned) under ``SESSION_SECRET``; RFC 7519 section 4.1
claims ``iss``, ``aud``, ``exp``, ``iat`` and ``sub`` are required, with ``sid``
naming the session, whose end ends the token too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import errors, timestamps
from chalicelib.identity.cookies import CSRF, SESSION, Jar, set_cookie
from chalicelib.ids import KEY_ID_PATTERN, KEY_ID_RE, USER_ID_PATTERN
from chalicelib.public_base import Base
from chalicelib.storage.batch import get_items
from chalicelib.storage.items import Item, read
from chalicelib.storage.models import ApiKey, Session, User, item_expiry, storage_errors

if TYPE_CHECKING:
    from joserfc.jwk import OctKey
    from pynamodb.models import Model

# joserfc (and the cryptography package under it) is imported by the functions
# that sign or check tokens, so that routes called with an API key, and the
# cold start of every route, do not pay for loading it.

CSRF_HEADER = "x-csrf-token"
SESSION_LIFETIME = timedelta(hours=12)
MAX_SESSIONS = 20  # live sessions per user (docs/API.md section 6); a new one ends the oldest
TOKEN_LIFETIME = 15 * 60
ALGORITHM = "HS256"
ISSUER = "users-service"
AUDIENCE = "users-service"
CSRF_LIFETIME = 12 * 3600
RECENT_LOGIN = timedelta(minutes=10)
ENDED = datetime.fromtimestamp(0, UTC)  # the end of a session stored without one
SESSION_COOKIE_RE = re.compile(
    rf"({USER_ID_PATTERN})\.(?:({KEY_ID_PATTERN})\.)?[A-Za-z0-9_-]{{43}}"
)


def session_id(cookie: str) -> str:
    """The stored id of the session a cookie value names."""
    return hashlib.sha256(cookie.encode()).hexdigest()


def _key(secret: bytes) -> OctKey:
    from joserfc.jwk import OctKey

    return OctKey.import_key(secret)


def csrf_token(cookies: Jar, base: Base) -> tuple[str, str | None]:
    """The caller's CSRF token, and the ``Set-Cookie`` value that hands it out when
    the caller had none (or two): a cookie readable by the deployment's pages
    (``<prefix>/``)."""
    token = cookies.get(CSRF)
    if token:
        return token, None
    token = secrets.token_urlsafe(32)
    return token, set_cookie(CSRF, token, CSRF_LIFETIME, base.site_path, base.secure, False)


def check_csrf(cookies: Jar, header: str | None) -> None:
    """Double submit: a cookie holder must echo the ``_csrf_token`` cookie in ``X-CSRF-Token``;
    one that sent either cookie twice cannot.

    Raises CsrfTokenMismatch.
    """
    if not cookies.holds(SESSION) and not cookies.holds(CSRF):
        return
    expected = cookies.get(CSRF) or ""
    if not expected or not header or not same_secret(expected, header):
        raise errors.CsrfTokenMismatch("X-CSRF-Token must equal the _csrf_token cookie")


def same_secret(expected: str, given: str) -> bool:
    """Compare two secrets in constant time; any text, non-ASCII included, is safe here."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


@dataclass(frozen=True)
class NewSession:
    """A session just started: the cookie value, shown only to its browser."""

    cookie: str
    expires: datetime

    def set_cookie(self, base: Base) -> str:
        """The ``Set-Cookie`` value that hands the session to the browser (``<prefix>/api/v1``)."""
        lifetime = int(SESSION_LIFETIME.total_seconds())
        return set_cookie(SESSION, self.cookie, lifetime, base.api_path, base.secure)


def clear_session_cookie(base: Base) -> str:
    """A ``Set-Cookie`` value that removes the session cookie."""
    return set_cookie(SESSION, "", 0, base.api_path, base.secure)


def start_session(user_id: str, api_key_id: str = "", provider: str = "") -> NewSession:
    """Store a new session for a user: one made with an API key is bound to that key,
    one made by an OpenID Connect login names its ``provider``.

    A user keeps at most ``MAX_SESSIONS`` live sessions: starting one more ends
    the oldest, so that a script logging in in a loop cannot fill the table.
    """
    key_part = f"{api_key_id}." if api_key_id else ""
    cookie = f"{user_id}.{key_part}{secrets.token_urlsafe(32)}"
    created = datetime.now(UTC)
    expires = created + SESSION_LIFETIME
    new = Session(
        id=session_id(cookie),
        user_id=user_id,
        api_key_id=api_key_id or None,
        kind="apikey" if api_key_id else "oidc",
        provider=provider or None,
        created=timestamps.stamp(created, "microseconds"),
        expires_at=expires,
    )
    with storage_errors():
        beyond_cap = _sessions_beyond_cap(user_id, created)
        new.save()
        for session in beyond_cap:
            session.delete()
    return NewSession(cookie, expires)


def _sessions_beyond_cap(user_id: str, now: datetime) -> list[Session]:
    """The user's live sessions that the one about to start pushes past ``MAX_SESSIONS``:
    all but the newest ``MAX_SESSIONS - 1``. Read before the new session is written,
    so that a storage fault here leaves nothing written."""
    newest_first = Session.by_user.query(user_id, scan_index_forward=False)
    live = [session for session in newest_first if session.expires_at > now]
    return live[MAX_SESSIONS - 1 :]


def end_session(cookie: str | None) -> None:
    """End the session a cookie names, if any: its access tokens stop working too."""
    if cookie:
        with storage_errors():
            Session(id=session_id(cookie)).delete()


def require_recent_login(method: str, sid: str) -> None:
    """Raise RecentLoginRequired unless the caller holds an access token of a session
    that an OpenID Connect login began less than ``RECENT_LOGIN`` ago (never a key,
    nor a session made with one)."""
    refused = errors.RecentLoginRequired(
        "sign in again with your provider (within the last 10 minutes) to do this"
    )
    if method != "token" or not sid:
        raise refused
    with storage_errors():
        try:
            session = Session.get(sid, consistent_read=True)
        except Session.DoesNotExist:
            raise refused from None
    began = timestamps.parse(session.created)
    if session.kind != "oidc" or began < datetime.now(UTC) - RECENT_LOGIN:
        raise refused


def live_session(
    sid: str, user_id: str, api_key_id: str | None, key_max_days: int
) -> tuple[Item, Item, Item | None]:
    """The items of the session ``sid`` of user ``user_id``, of the user and of the API
    key ``api_key_id`` the session was made with (None for none), read in one round
    trip (``items.read`` reads them).

    InvalidCredentials when either is gone, the session is another user's, or
    it was made with a key that is revoked, replaced or expired. Sessions past
    their expiry count as ended even before DynamoDB's TTL removes them.
    """
    keys: list[tuple[type[Model], dict[str, str]]] = [
        (Session, {"id": sid}),
        (User, {"id": user_id}),
    ]
    if api_key_id:
        keys.append((ApiKey, {"user_id": user_id, "key_id": api_key_id}))
    session, user, *key = get_items(keys)
    now = datetime.now(UTC)
    if session is None or read(session, Session.user_id) != user_id:
        raise errors.InvalidCredentials("the session has ended")
    if (read(session, Session.api_key_id) or None) != (api_key_id or None):
        raise errors.InvalidCredentials("the session has ended")
    if _expires_at(session) <= now:
        raise errors.InvalidCredentials("the session has expired")
    if user is None:
        raise errors.InvalidCredentials("the session's user no longer exists")
    if read(user, User.suspended):
        raise errors.InvalidCredentials("the user is suspended")
    if not api_key_id:
        return session, user, None
    if key[0] is None or item_expiry(key[0], key_max_days) <= now:
        raise errors.InvalidCredentials("the API key the session was made with has ended")
    return session, user, key[0]


def _expires_at(session: Item) -> datetime:
    """When a session's item says it ends; one stored without an end has ended."""
    return read(session, Session.expires_at) or ENDED


def signed_in_user(cookie: str | None, key_max_days: int) -> str | None:
    """The id of the user whose live session a ``session`` cookie names, else None
    (``key_max_days``: API_KEY_MAX_DAYS)."""
    match = SESSION_COOKIE_RE.fullmatch(cookie or "")
    if match is None:
        return None
    try:
        _, user, _ = live_session(
            session_id(match.string), match.group(1), match.group(2), key_max_days
        )
    except errors.InvalidCredentials:
        return None
    return read(user, User.id)


def issue_token(cookie: str | None, secret: bytes, key_max_days: int) -> dict[str, object]:
    """An access token for the session a cookie names, signed with the session secret;
    InvalidCredentials if the session has ended (``key_max_days``: API_KEY_MAX_DAYS)."""
    match = SESSION_COOKIE_RE.fullmatch(cookie or "")
    if match is None:
        raise errors.InvalidCredentials("no session: log in first")
    session, user, _ = live_session(
        session_id(match.string), match.group(1), match.group(2), key_max_days
    )
    issued = int(time.time())
    expires = min(issued + TOKEN_LIFETIME, int(_expires_at(session).timestamp()))
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": read(user, User.id),
        "sid": read(session, Session.id),
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_hex(8),
    }
    key_id = read(session, Session.api_key_id)
    if key_id:
        claims["key"] = key_id
    from joserfc import jwt

    token = jwt.encode(
        {"alg": ALGORITHM, "typ": "at+jwt"}, claims, _key(secret), algorithms=[ALGORITHM]
    )
    return {"token": token, "expires_in": expires - issued}


def decode_access_token(token: str, secret: bytes) -> tuple[str, str, str | None]:
    """The user id, session id and (for a session made with an API key) key id of a
    valid access token.

    Decoding and claim checks happen together here: the algorithm is pinned to
    HS256, and ``iss``, ``aud``, ``exp``, ``iat``, ``sub`` and ``sid`` are all
    essential (RFC 7519 sections 4.1.1 to 4.1.6). Raises InvalidCredentials.
    """
    from joserfc import jwt
    from joserfc.errors import JoseError

    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        sid={"essential": True},
    )
    try:
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise errors.InvalidCredentials("invalid access token") from exc
    claims = decoded.claims
    if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
        raise errors.InvalidCredentials("invalid access token")
    key_id = claims.get("key")
    if key_id is not None and not (isinstance(key_id, str) and KEY_ID_RE.fullmatch(key_id)):
        raise errors.InvalidCredentials("invalid access token")
    lifetime = claims["exp"] - claims["iat"]
    if not isinstance(lifetime, int) or lifetime > TOKEN_LIFETIME:
        raise errors.InvalidCredentials("access tokens live at most 15 minutes")
    return claims["sub"], claims["sid"], key_id
