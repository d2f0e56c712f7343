"""A small, real OpenID Provider for local development and tests.

It is built from Authlib's server classes on Flask and speaks the actual protocol:
authorization code flow with PKCE (S256, required for every client), confidential
clients authenticating with ``client_secret_basic`` or ``client_secret_post``, RS256
ID tokens signed with a key published at ``/jwks``, a UserInfo endpoint and a
discovery document.  Everything lives in memory; a restart forgets codes, tokens and
the signing key.

NEVER run this anywhere but on a developer machine or in a test: accounts and client
secrets come from plain configuration, and it refuses to bind to non-loopback addresses.

Run it in the foreground::

    python -m devtools.oidc_provider --port 9000 [--host 127.0.0.1] [--config JSON_OR_PATH]
        [--testing]

or start it as a subprocess from Python (tests)::

    with running_provider({"testing": True}) as issuer:
        ...

Configuration (a JSON object; keys not given fall back to :func:`default_config`):

``issuer``
    Base URL of the provider, e.g. ``http://127.0.0.1:9000``. Endpoints hang off it.
    From the command line it defaults to the address actually bound.
``clients``
    List of ``{"client_id", "client_secret", "redirect_uris": [...],
    "redirect_uri_prefixes": [...]}``. A redirect URI is accepted if it equals one of
    ``redirect_uris`` or starts with one of ``redirect_uri_prefixes`` (the prefix must end
    at a ``:``, ``/`` or ``?`` boundary and the host must match, so ``http://127.0.0.1``
    accepts ``http://127.0.0.1:8000/callback`` but not ``http://127.0.0.1.evil.example/``).
    Redirect URIs with user info or a fragment are always refused.
``accounts``
    List of ``{"username", "password", "sub", "email", "email_verified", "name"}``.
``testing``
    If true, ``POST /testing/next-id-token`` exists and lets a test tamper with the next
    ID token (see :func:`create_app`).

Claims follow the granted scope, as with a real provider: ``sub`` for ``openid``,
``email``/``email_verified`` for ``email``, ``name`` for ``profile``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hmac
import ipaddress
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Flask, Response, jsonify, render_template_string, request, url_for
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "READY_MESSAGE_PREFIX",
    "create_app",
    "default_config",
    "main",
    "running_provider",
]

DEFAULT_CLIENT_ID = "users-service-local"
DEFAULT_CLIENT_SECRET = "local-dev-secret-not-for-production"
READY_MESSAGE_PREFIX = "OIDC provider ready at "

SCOPES_SUPPORTED = ["openid", "email", "profile"]
TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
SIGNING_ALG = "RS256"
ID_TOKEN_LIFETIME = 3600
ACCESS_TOKEN_LIFETIME = 3600
AUTHORIZATION_CODE_LIFETIME = 600

_DEFAULT_CONFIG: dict[str, Any] = {
    "clients": [
        {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "redirect_uris": [],
            "redirect_uri_prefixes": ["http://127.0.0.1", "http://localhost"],
        }
    ],
    "accounts": [
        {
            "username": "alice",
            "password": "alice-password",
            "sub": "alice-sub",
            "email": "alice@example.org",
            "email_verified": True,
            "name": "Alice Example",
        },
        {
            "username": "bob",
            "password": "bob-password",
            "sub": "bob-sub",
            "email": "bob@example.org",
            "email_verified": False,
            "name": "Bob Example",
        },
    ],
    "testing": False,
}

_REPO_ROOT = Path(__file__).resolve().parent.parent
# Form fields of the login page that are not part of the authorization request.
_LOGIN_FIELDS = frozenset({"username", "password", "action"})


def default_config() -> dict[str, Any]:
    """Return a fresh copy of the default configuration (without ``issuer``)."""
    return copy.deepcopy(_DEFAULT_CONFIG)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    sub: str
    email: str
    email_verified: bool
    name: str

    def user_info(self) -> UserInfo:
        return UserInfo(
            sub=self.sub,
            email=self.email,
            email_verified=self.email_verified,
            name=self.name,
        )


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    redirect_uri_prefixes: tuple[str, ...] = ()

    @property
    def client_metadata(self) -> dict[str, Any]:
        # Read by Authlib's UserInfoEndpoint (e.g. userinfo_signed_response_alg).
        return {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OpenID Connect makes redirect_uri REQUIRED in the authorization request.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return str(list_to_scope([s for s in scope_to_list(scope) if s in SCOPES_SUPPORTED]))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        try:
            parsed = urlsplit(redirect_uri)
        except ValueError:
            return False
        if parsed.username is not None or parsed.password is not None or "#" in redirect_uri:
            return False
        return any(_matches_prefix(redirect_uri, prefix) for prefix in self.redirect_uri_prefixes)

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method in TOKEN_ENDPOINT_AUTH_METHODS
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def _matches_prefix(uri: str, prefix: str) -> bool:
    if not prefix or not uri.startswith(prefix):
        return False
    rest = uri[len(prefix) :]
    if rest and prefix[-1] not in "/:?" and rest[0] not in "/:?":
        return False
    actual, expected = urlsplit(uri), urlsplit(prefix)
    return actual.scheme == expected.scheme and actual.hostname == expected.hostname


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    account: Account
    nonce: str | None
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class Token:
    access_token: str
    client: Client
    account: Account
    scope: str
    issued_at: float
    expires_in: int

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> Account:
        return self.account

    def get_client(self) -> Client:
        return self.client


@dataclass(frozen=True)
class IdTokenOverrides:
    """Tampering applied to the next ID token (testing knob)."""

    aud: str | None = None
    iss: str | None = None
    exp_offset: int | None = None
    nonce: str | None = None
    bad_signature: bool = False

    @classmethod
    def from_json(cls, data: object) -> IdTokenOverrides:
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(data) - {"aud", "iss", "exp_offset", "nonce", "bad_signature"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        for key in ("aud", "iss", "nonce"):
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"{key!r} must be a string")
        exp_offset = data.get("exp_offset")
        if exp_offset is not None and (
            isinstance(exp_offset, bool) or not isinstance(exp_offset, int)
        ):
            raise ValueError("'exp_offset' must be an integer")
        bad_signature = data.get("bad_signature", False)
        if not isinstance(bad_signature, bool):
            raise ValueError("'bad_signature' must be a boolean")
        return cls(
            aud=data.get("aud"),
            iss=data.get("iss"),
            exp_offset=exp_offset,
            nonce=data.get("nonce"),
            bad_signature=bad_signature,
        )


_NO_OVERRIDES = IdTokenOverrides()
# The overrides in effect while Authlib encodes one ID token (set per request/thread).
_active_overrides: ContextVar[IdTokenOverrides] = ContextVar(
    "_active_overrides", default=_NO_OVERRIDES
)


class ProviderState:
    """In-memory storage shared by the request handlers (thread safe)."""

    def __init__(
        self,
        issuer: str,
        clients: Sequence[Client],
        accounts: Sequence[Account],
        testing: bool,
    ) -> None:
        self.issuer = issuer
        self.testing = testing
        self.clients = {client.client_id: client for client in clients}
        self.accounts = {account.username: account for account in accounts}
        self.signing_key = RSAKey.generate_key(
            2048, parameters={"use": "sig", "alg": SIGNING_ALG}, auto_kid=True
        )
        # Same "kid" as the real key, but not published: verification fails on the signature.
        self.rogue_key: RSAKey | None = (
            RSAKey.generate_key(
                2048,
                parameters={"use": "sig", "alg": SIGNING_ALG, "kid": str(self.signing_key.kid)},
            )
            if testing
            else None
        )
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._tokens: dict[str, Token] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._next_overrides: IdTokenOverrides | None = None

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.signing_key]).as_dict(private=False))

    def authenticate(self, username: str, password: str) -> Account | None:
        account = self.accounts.get(username)
        # Compare against something even for unknown users, to keep timing uniform.
        expected = account.password if account else "\0"
        if hmac.compare_digest(expected.encode(), password.encode()) and account:
            return account
        return None

    def save_code(self, item: AuthorizationCode) -> None:
        with self._lock:
            self._purge_expired()
            self._codes[item.code] = item
            if item.nonce:
                self._nonces.add((item.client_id, item.nonce))

    def redeem_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """Return the code and remove it: a code can be presented only once."""
        with self._lock:
            item = self._codes.get(code)
            if item is None or item.client_id != client_id:
                return None
            del self._codes[code]
        if time.time() >= item.expires_at:
            return None
        return item

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return (client_id, nonce) in self._nonces

    def save_token(self, token: Token) -> None:
        with self._lock:
            self._purge_expired()
            self._tokens[token.access_token] = token

    def find_token(self, access_token: str) -> Token | None:
        with self._lock:
            return self._tokens.get(access_token)

    def set_next_id_token_overrides(self, overrides: IdTokenOverrides) -> None:
        with self._lock:
            self._next_overrides = overrides

    def take_id_token_overrides(self) -> IdTokenOverrides:
        with self._lock:
            overrides, self._next_overrides = self._next_overrides, None
        return overrides or _NO_OVERRIDES

    def _purge_expired(self) -> None:
        now = time.time()
        for code in [c for c, item in self._codes.items() if now >= item.expires_at]:
            del self._codes[code]
        for key in [k for k, token in self._tokens.items() if token.is_expired()]:
            del self._tokens[key]


# ------------------------------------------------------------------ Authlib wiring


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, app: Flask, state: ProviderState) -> None:
        self.state = state
        super().__init__(app, query_client=state.clients.get, save_token=self._store_token)

    def _store_token(self, token: dict[str, Any], oauth_request: OAuth2Request) -> None:
        self.state.save_token(
            Token(
                access_token=token["access_token"],
                client=oauth_request.client,
                account=oauth_request.user,
                scope=token.get("scope", ""),
                issued_at=time.time(),
                expires_in=int(token["expires_in"]),
            )
        )


class _AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    server: _Server

    def save_authorization_code(self, code: str, oauth_request: OAuth2Request) -> None:
        data = oauth_request.payload.data
        now = time.time()
        self.server.state.save_code(
            AuthorizationCode(
                code=code,
                client_id=oauth_request.client.client_id,
                redirect_uri=oauth_request.payload.redirect_uri,
                scope=oauth_request.scope,
                account=oauth_request.user,
                nonce=data.get("nonce"),
                auth_time=int(now),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=now + AUTHORIZATION_CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.server.state.redeem_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Already removed by redeem_code when it was presented.
        pass

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Account:
        return authorization_code.account


class _RequiredS256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256, required for every client (confidential ones included)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Callable[[str, str], bool]]] = {
        "S256": compare_s256_code_challenge
    }

    def validate_code_challenge(self, grant: _AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required with code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: _AuthorizationCodeGrant, result: object) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, state: ProviderState) -> None:
        super().__init__(require_nonce=False)
        self.state = state

    def exists_nonce(self, nonce: str, oauth_request: OAuth2Request) -> bool:
        return self.state.nonce_used(oauth_request.payload.client_id, nonce)

    def generate_user_info(self, user: Account, scope: str) -> UserInfo:
        return user.user_info().filter(scope)

    def encode_id_token(self, token: dict[str, Any], oauth_request: OAuth2Request) -> str:
        # The overrides are consumed here, once per issued ID token, and read back by the
        # hooks below while Authlib assembles and signs the token.
        reset = _active_overrides.set(self.state.take_id_token_overrides())
        try:
            return str(super().encode_id_token(token, oauth_request))
        finally:
            _active_overrides.reset(reset)

    def get_client_algorithm(self, client: Client) -> str:
        return SIGNING_ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": SIGNING_ALG, "kid": str(self.state.signing_key.kid)}

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        if _active_overrides.get().bad_signature and self.state.rogue_key is not None:
            return self.state.rogue_key
        return self.state.signing_key

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        overrides = _active_overrides.get()
        now = int(time.time())
        lifetime = ID_TOKEN_LIFETIME if overrides.exp_offset is None else overrides.exp_offset
        exp = now + lifetime
        return {
            "iss": self.state.issuer if overrides.iss is None else overrides.iss,
            "aud": client.client_id if overrides.aud is None else overrides.aud,
            "iat": min(now, exp - ID_TOKEN_LIFETIME),
            "exp": exp,
        }

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        overrides = _active_overrides.get()
        if overrides.nonce is not None:
            claims["nonce"] = overrides.nonce
        return claims


class _BearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, state: ProviderState) -> None:
        super().__init__()
        self.state = state

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.state.find_token(token_string)


class _UserInfoEndpoint(UserInfoEndpoint):  # type: ignore[misc]
    def __init__(self, state: ProviderState, resource_protector: ResourceProtector) -> None:
        super().__init__(resource_protector=resource_protector)
        self.state = state

    def get_issuer(self) -> str:
        return self.state.issuer

    def generate_user_info(self, user: Account, scope: str) -> UserInfo:
        return user.user_info().filter(scope)

    def resolve_private_key(self) -> RSAKey:
        return self.state.signing_key


# ----------------------------------------------------------------------- Flask app

_LOGIN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - local OpenID Provider</title></head>
<body>
<h1>Sign in</h1>
<p>Local development OpenID Provider. Application: <code>{{ client_id }}</code></p>
{% if error %}<p id="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
{% for name, value in hidden %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<p><label>Username <input name="username" value="{{ username }}"
 autocomplete="username" required></label></p>
<p><label>Password <input type="password" name="password"
 autocomplete="current-password" required></label></p>
<p><button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="deny" formnovalidate>Cancel</button></p>
</form>
</body>
</html>
"""


def _parse_clients(raw: object) -> list[Client]:
    if not isinstance(raw, list):
        raise ValueError("'clients' must be a list")
    clients = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ValueError("each client must be an object")
        clients.append(
            Client(
                client_id=str(entry["client_id"]),
                client_secret=str(entry["client_secret"]),
                redirect_uris=tuple(entry.get("redirect_uris") or ()),
                redirect_uri_prefixes=tuple(entry.get("redirect_uri_prefixes") or ()),
            )
        )
    return clients


def _parse_accounts(raw: object) -> list[Account]:
    if not isinstance(raw, list):
        raise ValueError("'accounts' must be a list")
    accounts = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ValueError("each account must be an object")
        accounts.append(
            Account(
                username=str(entry["username"]),
                password=str(entry["password"]),
                sub=str(entry["sub"]),
                email=str(entry["email"]),
                email_verified=bool(entry["email_verified"]),
                name=str(entry["name"]),
            )
        )
    return accounts


def _discovery_document(issuer: str) -> dict[str, Any]:
    metadata = OpenIDProviderMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint=f"{issuer}/userinfo",
        jwks_uri=f"{issuer}/jwks",
        scopes_supported=SCOPES_SUPPORTED,
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=[SIGNING_ALG],
        token_endpoint_auth_methods_supported=TOKEN_ENDPOINT_AUTH_METHODS,
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "email",
            "email_verified",
            "name",
        ],
    )
    metadata.validate()
    return dict(metadata)


def create_app(config: Mapping[str, Any]) -> Flask:
    """Build the provider as a Flask app.

    ``config`` must contain ``issuer``; ``clients``, ``accounts`` and ``testing`` default
    to :func:`default_config`. Each app generates its own RS256 signing key.

    With ``testing`` true, ``POST /testing/next-id-token`` accepts a JSON object with the
    optional keys ``aud`` (str), ``iss`` (str), ``exp_offset`` (int seconds from now,
    negative means already expired), ``nonce`` (str) and ``bad_signature`` (bool: sign
    with a key that is not in the JWKS, under the published ``kid``). They apply to the
    next ID token issued only; a second call before that replaces the first. Answers 204.
    """
    defaults = default_config()
    issuer = str(config["issuer"]).rstrip("/")
    testing = bool(config.get("testing", defaults["testing"]))
    state = ProviderState(
        issuer=issuer,
        clients=_parse_clients(config.get("clients", defaults["clients"])),
        accounts=_parse_accounts(config.get("accounts", defaults["accounts"])),
        testing=testing,
    )
    discovery = _discovery_document(issuer)

    app = Flask(__name__)
    app.config.update(
        OAUTH2_SCOPES_SUPPORTED=SCOPES_SUPPORTED,
        OAUTH2_TOKEN_EXPIRES_IN={"authorization_code": ACCESS_TOKEN_LIFETIME},
        OAUTH2_REFRESH_TOKEN_GENERATOR=False,
    )
    server = _Server(app, state)
    server.register_grant(
        _AuthorizationCodeGrant, [_RequiredS256CodeChallenge(required=True), _OpenIDCode(state)]
    )
    resource_protector = ResourceProtector()
    resource_protector.register_token_validator(_BearerTokenValidator(state))
    server.register_endpoint(_UserInfoEndpoint(state, resource_protector))

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        return jsonify(discovery)

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(state.jwks())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as exc:
            # Redirects back with ?error=... once client and redirect_uri are trusted,
            # otherwise answers with a 400 JSON error and no redirect.
            return server.handle_error_response(None, exc)  # type: ignore[no-any-return]

        if request.method == "POST" and request.form.get("action") == "deny":
            return server.create_authorization_response(grant_user=None, grant=grant)  # type: ignore[no-any-return]

        login_error = None
        username = ""
        if request.method == "POST" and "username" in request.form:
            username = request.form.get("username", "")
            account = state.authenticate(username, request.form.get("password", ""))
            if account is not None:
                return server.create_authorization_response(grant_user=account, grant=grant)  # type: ignore[no-any-return]
            login_error = "Invalid username or password."

        hidden = [
            (name, value)
            for name, value in request.values.items(multi=True)
            if name not in _LOGIN_FIELDS
        ]
        page = render_template_string(
            _LOGIN_PAGE,
            action=url_for("authorize"),
            client_id=grant.client.client_id,
            hidden=hidden,
            error=login_error,
            username=username,
        )
        return Response(page, status=200, headers={"Cache-Control": "no-store"})

    @app.post("/token")
    def issue_token() -> Response:
        return server.create_token_response()  # type: ignore[no-any-return]

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        return server.create_endpoint_response("userinfo")  # type: ignore[no-any-return]

    if testing:

        @app.post("/testing/next-id-token")
        def next_id_token() -> Response:
            body = request.get_json(silent=True) if request.get_data() else {}
            try:
                overrides = IdTokenOverrides.from_json(body)
            except ValueError as exc:
                return Response(
                    json.dumps({"error": "invalid_request", "error_description": str(exc)}),
                    status=400,
                    mimetype="application/json",
                )
            state.set_next_id_token_overrides(overrides)
            return Response(status=204)

    return app


# -------------------------------------------------------------------------- CLI


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"refusing to bind to {host!r}: give a loopback IP address") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to bind to {host!r}: not a loopback address")


def _load_config(value: str | None) -> dict[str, Any]:
    config = default_config()
    if value:
        text = value if value.lstrip().startswith("{") else Path(value).read_text("utf-8")
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("the configuration must be a JSON object")
        config.update(loaded)
    return config


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(argv: Sequence[str] | None = None) -> int:
    """Run the provider in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.oidc_provider",
        description="Local OpenID Provider for development and tests (loopback only).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--config", help="configuration as a JSON object, or a JSON file path")
    parser.add_argument("--testing", action="store_true", help="enable /testing/* routes")
    args = parser.parse_args(argv)

    try:
        _check_loopback(args.host)
        config = _load_config(args.config)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    if args.testing:
        config["testing"] = True

    # Bind first so that --port 0 works without a race, then build the app for the
    # address actually bound.
    server = make_server(args.host, args.port, app=_not_ready, threaded=True)
    config.setdefault("issuer", f"http://{_url_host(args.host)}:{server.port}")
    server.app = create_app(config)
    print(f"{READY_MESSAGE_PREFIX}{config['issuer'].rstrip('/')}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


# ------------------------------------------------------------------ subprocess


@contextlib.contextmanager
def running_provider(
    config_overrides: Mapping[str, Any] | None = None,
    port: int = 0,
    *,
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Run the provider as a subprocess on 127.0.0.1 and yield its issuer URL.

    ``config_overrides`` are merged (shallowly) over :func:`default_config`, e.g.
    ``{"testing": True}`` or ``{"clients": [...]}``. ``port=0`` lets the subprocess pick
    a free port. On exit the subprocess is terminated and waited for.
    """
    config = default_config()
    config.update(config_overrides or {})
    command = [
        sys.executable,
        "-m",
        "devtools.oidc_provider",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        json.dumps(config),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=_REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        # Keep draining stdout so that the child can never block on a full pipe.
        pump = threading.Thread(
            target=_pump_lines, args=(process, lines), name="oidc-provider-stdout", daemon=True
        )
        pump.start()
        try:
            yield _wait_until_ready(process, lines, log, startup_timeout)
        finally:
            _stop(process)
            pump.join(timeout=10)


def _pump_lines(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            lines.put(line)
    lines.put("")


def _wait_until_ready(
    process: subprocess.Popen[str], lines: queue.Queue[str], log: IO[bytes], timeout: float
) -> str:
    deadline = time.monotonic() + timeout

    def fail(reason: str) -> RuntimeError:
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
        return RuntimeError(f"OIDC provider did not start: {reason}\n{output}")

    try:
        line = lines.get(timeout=max(deadline - time.monotonic(), 0))
    except queue.Empty:
        raise fail("timed out waiting for the ready line") from None
    if not line.startswith(READY_MESSAGE_PREFIX):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        raise fail(f"unexpected output {line!r} (exit code {process.returncode})")
    issuer = line[len(READY_MESSAGE_PREFIX) :].strip()

    discovery_url = f"{issuer}/.well-known/openid-configuration"
    while True:
        if process.poll() is not None:
            raise fail(f"exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(discovery_url, timeout=2) as response:
                if json.load(response).get("issuer") == issuer:
                    return issuer
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            raise fail(f"timed out waiting for {discovery_url}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
