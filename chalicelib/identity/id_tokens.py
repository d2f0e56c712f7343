"""What a login trusts from an OpenID Provider: its discovery document and keys
(cached per container) and the ID token checked against them.

A provider that is down costs a login at most ``CONNECT_TIMEOUT`` plus
``READ_TIMEOUT`` seconds, and a failed fetch of its discovery document or keys
is remembered for ``FAILURE_TTL`` seconds, during which logins end at once in
``provider_unavailable``: an outage does not become a crowd of waiting Lambdas.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from chalicelib import errors
from chalicelib.config import Provider
from chalicelib.errors import LoginError, LoginFailed
from chalicelib.records import guards
from chalicelib.records.record import USER
from chalicelib.text import invisible, is_clean

CONNECT_TIMEOUT = 2
READ_TIMEOUT = 3
HTTP_TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
METADATA_TTL = 3600
FAILURE_TTL = 30
# DynamoDB keys hold at most 2,048 bytes; an identity's guard key holds the sub.
MAX_SUB_BYTES = 1000
CLOCK_LEEWAY = 60
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]

_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, KeySet]] = {}
_failed: dict[str, float] = {}  # URL -> until when a fetch of it is not tried again


def _fetch_json(url: str) -> dict[str, Any]:
    """The JSON object at ``url``; LoginFailed(LoginError.PROVIDER_UNAVAILABLE) when the fetch
    fails, or failed less than ``FAILURE_TTL`` seconds ago."""
    if _failed.get(url, 0.0) > time.monotonic():
        raise LoginFailed(LoginError.PROVIDER_UNAVAILABLE)
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not return a JSON object")
    except (requests.RequestException, ValueError) as exc:
        _failed[url] = time.monotonic() + FAILURE_TTL
        raise LoginFailed(LoginError.PROVIDER_UNAVAILABLE) from exc
    return document


def metadata(chosen: Provider) -> dict[str, Any]:
    """The provider's discovery document, cached per container."""
    cached = _metadata.get(chosen.server_metadata_url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    document = _fetch_json(chosen.server_metadata_url)
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not all(isinstance(document.get(key), str) for key in needed):
        _failed[chosen.server_metadata_url] = time.monotonic() + FAILURE_TTL
        raise LoginFailed(LoginError.PROVIDER_UNAVAILABLE)
    _metadata[chosen.server_metadata_url] = (time.monotonic() + METADATA_TTL, document)
    return document


def _keys(jwks_uri: str, refresh: bool = False) -> KeySet:
    cached = _jwks.get(jwks_uri)
    if cached is not None and cached[0] > time.monotonic() and not refresh:
        return cached[1]
    document = _fetch_json(jwks_uri)
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (ValueError, JoseError) as exc:
        _failed[jwks_uri] = time.monotonic() + FAILURE_TTL
        raise LoginFailed(LoginError.PROVIDER_UNAVAILABLE) from exc
    _jwks[jwks_uri] = (time.monotonic() + METADATA_TTL, keys)
    return keys


def profile(claims: Mapping[str, Any]) -> tuple[str | None, bool, str]:
    """The email, whether the provider asserts it verified, and the name of ID token claims.

    Only a JSON ``true`` asserts a verified email: an absent claim, ``false`` or
    a string such as ``"true"`` does not. A name the record cannot hold (too
    long, or with control or invisible characters) is left out, and the login
    goes on without it: the person can set it later.
    """
    email = claims.get("email")
    return (
        email if isinstance(email, str) else None,
        claims.get("email_verified") is True,
        _storable_name(claims.get("name")),
    )


def _storable_name(name: Any) -> str:
    if not isinstance(name, str) or any(invisible(char) for char in name):
        return ""
    try:
        USER.by_name["name"].check(name)
    except errors.InvalidInput:
        return ""
    return name


def validate_id_token(
    id_token: str, document: Mapping[str, Any], client_id: str, nonce: str
) -> dict[str, Any]:
    """The claims of an ID token whose signature and claims all check out.

    Raises LoginFailed(LoginError.INVALID_ID_TOKEN).
    """
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": document["issuer"]},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        try:
            decoded = jwt.decode(id_token, _keys(document["jwks_uri"]), ID_TOKEN_ALGORITHMS)
        except JoseError:
            keys = _keys(document["jwks_uri"], refresh=True)
            decoded = jwt.decode(id_token, keys, ID_TOKEN_ALGORITHMS)
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise LoginFailed(LoginError.INVALID_ID_TOKEN) from exc
    claims = dict(decoded.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # OpenID Connect Core 1.0 section 3.1.3.7 items 4 and 5: an azp, when present,
    # must name this client, with one audience as with several.
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise LoginFailed(LoginError.INVALID_ID_TOKEN)
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or not is_clean(sub) or guards.IDENTITY_SEPARATOR in sub:
        raise LoginFailed(LoginError.INVALID_ID_TOKEN)
    if len(sub.encode()) > MAX_SUB_BYTES:
        raise LoginFailed(LoginError.INVALID_PROFILE)
    return claims
