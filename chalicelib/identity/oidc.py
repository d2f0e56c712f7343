"""Login with OpenID Connect through Authlib; imported only by the login routes.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``. The three
secrets of one login travel in the short-lived, HttpOnly ``oidc_login`` cookie,
signed under ``SESSION_SECRET``, so they are bound to the browser that started
the login and nothing is stored. The callback checks ``state``, exchanges the
code, validates the ID token (OpenID Connect Core 1.0 section 3.1.3.7: JWKS
signature, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``), then finds, links or
creates the user, and applies the provider's permission rules. A login started
with ``link`` from a signed-in browser links the identity to that browser's
user instead (docs/API.md section 7).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from chalicelib import errors
from chalicelib.config import Provider, Secrets
from chalicelib.errors import LoginError, LoginFailed
from chalicelib.identity import cookies, identities, sessions
from chalicelib.identity.id_tokens import (
    HTTP_TIMEOUT,
    MAX_SUB_BYTES,
    metadata,
    profile,
    validate_id_token,
)
from chalicelib.public_base import Base
from chalicelib.records import guards, rules
from chalicelib.text import is_clean

LOGIN_COOKIE = cookies.OIDC_LOGIN
LOGIN_ROUTE = "/login/oidc"
LOGIN_LIFETIME = 600
ATTEMPT_AUDIENCE = "users-service-oidc-login"


@dataclass
class Redirect:
    """Where to send the browser, and the cookies to set on the way."""

    location: str
    cookies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    """One login in flight, as the ``oidc_login`` cookie carries it."""

    provider: str
    state: str
    nonce: str
    verifier: str
    origin: str
    link: str = ""  # the signed-in user the identity is linked to, for a link

    def to_claims(self, expires: int) -> dict[str, object]:
        """The claims of the ``oidc_login`` cookie: every field by name, and its expiry."""
        return {"aud": ATTEMPT_AUDIENCE, "exp": expires, **asdict(self)}

    @classmethod
    def from_claims(cls, claims: Mapping[str, object]) -> Attempt:
        """The attempt a cookie's (validated) claims carry; TypeError for a field
        missing or not a string."""
        values = {f.name: claims.get(f.name) for f in fields(cls)}
        if not all(isinstance(value, str) for value in values.values()):
            raise TypeError("the login cookie misses a field of the attempt")
        return cls(**{name: str(value) for name, value in values.items()})


def providers(base: Base, configured: Mapping[str, Provider]) -> dict[str, str]:
    """Each configured provider and the path that starts a login with it."""
    return {name: base.path(f"{LOGIN_ROUTE}/{name}") for name in configured}


def redirect_uri(base: Base, name: str) -> str:
    """Where provider ``name`` sends the browser back: the callback under the public base."""
    return base.url(f"{LOGIN_ROUTE}/{name}/authorize")


def _login_cookie(value: str, max_age: int, base: Base) -> str:
    """The ``oidc_login`` cookie, sent back only to ``<prefix>/api/v1/login/oidc`` (to
    every path over HTTPS, where its ``__Host-`` name needs ``Path=/``)."""
    return cookies.set_cookie(LOGIN_COOKIE, value, max_age, base.path(LOGIN_ROUTE), base.secure)


def provider(name: str, configured: Mapping[str, Provider]) -> Provider:
    """The configured provider ``name``; raises ProviderNotFound."""
    found = configured.get(name)
    if found is None:
        raise errors.ProviderNotFound(f"no login provider is called {name!r}")
    return found


# Printable ASCII without space or backslash: nothing that could split a header,
# that a browser would read differently, or that chalice local would choke on.
ORIGIN_CHARS = re.compile(r"[\x21-\x5b\x5d-\x7e]{1,2000}")


def safe_origin(origin: str | None, allowed_origins: Iterable[str]) -> str:
    """``origin`` when it is a path on this site or one of ``allowed_origins``, else ``/``.

    Control, space and non-ASCII characters are never echoed into ``Location``.
    """
    if not origin or not ORIGIN_CHARS.fullmatch(origin):
        return "/"
    if origin.startswith("/"):
        return "/" if origin.startswith("//") else origin
    try:
        parts = urlsplit(origin)
    except ValueError:
        return "/"
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return "/"
    allowed = f"{parts.scheme}://{parts.netloc}".lower()
    return origin if allowed in (o.lower() for o in allowed_origins) else "/"


def _with_error(origin: str, code: str) -> str:
    separator = "&" if "?" in origin else "?"
    return f"{origin}{separator}{urlencode({'login_error': code})}"


def _attempt_key(secret: bytes) -> OctKey:
    return OctKey.import_key(secret)


def _client(chosen: Provider, callback: str) -> OAuth2Session:
    return OAuth2Session(
        chosen.client_id,
        chosen.client_secret,
        scope=chosen.scope,
        redirect_uri=callback,
        code_challenge_method="S256",
        default_timeout=HTTP_TIMEOUT,
    )


def start_login(
    name: str,
    origin: str | None,
    base: Base,
    login_secrets: Secrets,
    allowed_origins: Iterable[str],
    link: str | None = None,
) -> Redirect:
    """Send the browser to the provider; back to ``origin`` afterwards when it is a
    path here or one of ``allowed_origins``. Raises ProviderNotFound.

    ``link`` (not None) links the identity to the signed-in user it names
    instead of signing in; an empty ``link`` (no live session) sends the browser
    back with ``login_error=not_signed_in``. A provider that cannot be reached
    sends it back with ``login_error=provider_unavailable``.
    """
    chosen = provider(name, login_secrets.providers)
    landing = safe_origin(origin, allowed_origins)
    if link == "":
        return Redirect(_with_error(landing, "not_signed_in"))
    try:
        document = metadata(chosen)
    except LoginFailed as exc:
        return Redirect(_with_error(landing, exc.code))
    attempt = Attempt(
        provider=name,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        origin=landing,
        link=link or "",
    )
    url, _ = _client(chosen, redirect_uri(base, name)).create_authorization_url(
        document["authorization_endpoint"],
        state=attempt.state,
        nonce=attempt.nonce,
        code_verifier=attempt.verifier,
    )
    claims = attempt.to_claims(int(time.time()) + LOGIN_LIFETIME)
    cookie = jwt.encode(
        {"alg": "HS256"}, claims, _attempt_key(login_secrets.session_secret), algorithms=["HS256"]
    )
    return Redirect(url, [_login_cookie(cookie, LOGIN_LIFETIME, base)])


def _read_attempt(cookie: str | None, secret: bytes) -> Attempt | None:
    if not cookie:
        return None
    registry = jwt.JWTClaimsRegistry(
        aud={"essential": True, "value": ATTEMPT_AUDIENCE}, exp={"essential": True}
    )
    try:
        token = jwt.decode(cookie, _attempt_key(secret), algorithms=["HS256"])
        registry.validate(token.claims)
        return Attempt.from_claims(token.claims)
    except (JoseError, ValueError, KeyError, TypeError):
        return None


def finish_login(
    name: str,
    params: Mapping[str, str],
    cookie: str | None,
    base: Base,
    login_secrets: Secrets,
    session_cookie: str | None = None,
    clock: Callable[[], datetime] = rules.utc_now,
    *,
    key_max_days: int,
) -> Redirect:
    """Complete a login at the callback: a session on success (for a link, the
    identity linked and the browser's session kept), the origin with
    ``login_error`` on failure (``key_max_days``: API_KEY_MAX_DAYS, for a link
    started in a session made with a key). Raises ProviderNotFound."""
    chosen = provider(name, login_secrets.providers)
    attempt = _read_attempt(cookie, login_secrets.session_secret)
    origin = attempt.origin if attempt is not None else "/"
    cleared = _login_cookie("", 0, base)
    try:
        claims = _claims(chosen, params, attempt, redirect_uri(base, name))
        assert attempt is not None  # _claims refuses a login without one
        if attempt.link:
            user_id = _link(chosen, claims, attempt.link, session_cookie, key_max_days)
        else:
            user_id = _login(chosen, claims)
        rules.apply_rules(user_id, chosen, claims, clock())
    except LoginFailed as exc:
        return Redirect(_with_error(origin, exc.code), [cleared])
    if attempt.link:
        return Redirect(origin, [cleared])
    session = sessions.start_session(user_id, provider=chosen.name)
    return Redirect(origin, [cleared, session.set_cookie(base)])


def _link(
    chosen: Provider,
    claims: Mapping[str, Any],
    user_id: str,
    cookie: str | None,
    key_max_days: int,
) -> str:
    """Link the identity to the user who started the link, still signed in here."""
    if sessions.signed_in_user(cookie, key_max_days) != user_id:
        raise LoginFailed(LoginError.NOT_SIGNED_IN, "the session that started the link has ended")
    identity = guards.identity(claims["sub"], chosen.name)
    try:
        identities.link_identity(user_id, identity, actor=user_id)
    except errors.AuthIdTaken as exc:
        raise LoginFailed(LoginError.IDENTITY_TAKEN, "another user holds this identity") from exc
    return user_id


def _predecessor(chosen: Provider, claims: Mapping[str, Any]) -> str | None:
    """The identity at the provider ``chosen`` replaced that the claims name, if any."""
    if chosen.previous is None:
        return None
    old = claims.get(chosen.previous.claim or "sub")
    if (
        not isinstance(old, str)
        or not old
        or len(old.encode()) > MAX_SUB_BYTES
        or not is_clean(old)
    ):
        return None
    if guards.IDENTITY_SEPARATOR in old:
        return None
    return guards.identity(old, chosen.previous.provider)


def _login(chosen: Provider, claims: Mapping[str, Any]) -> str:
    email, verified, name = profile(claims)
    return identities.login_identity(
        guards.identity(claims["sub"], chosen.name),
        email,
        verified,
        name,
        chosen.link_verified_email,
        predecessor=_predecessor(chosen, claims),
    )


def _claims(
    chosen: Provider, params: Mapping[str, str], attempt: Attempt | None, callback: str
) -> dict[str, Any]:
    if "error" in params:
        raise LoginFailed(LoginError.PROVIDER_ERROR)
    state = params.get("state", "")
    if (
        attempt is None
        or attempt.provider != chosen.name
        or not sessions.same_secret(attempt.state, state)
    ):
        raise LoginFailed(LoginError.INVALID_STATE)
    code = params.get("code")
    if not code:
        raise LoginFailed(LoginError.INVALID_REQUEST)
    document = metadata(chosen)
    # RFC 9207 section 2.4: an authorization response that names its issuer must
    # name this provider's, or it may come from another provider (mix-up attack).
    if "iss" in params and params["iss"] != document["issuer"]:
        raise LoginFailed(LoginError.INVALID_ISSUER)
    try:
        token = _client(chosen, callback).fetch_token(
            document["token_endpoint"], code=code, code_verifier=attempt.verifier
        )
    except (OAuth2Error, OAuthError, requests.RequestException, ValueError) as exc:
        raise LoginFailed(LoginError.TOKEN_EXCHANGE_FAILED) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailed(LoginError.INVALID_ID_TOKEN)
    return validate_id_token(id_token, document, chosen.client_id, attempt.nonce)
