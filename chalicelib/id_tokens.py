"""What a login trusts from an OpenID Provider: its discovery document and keys
(cached per container) and the ID token checked against them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from chalicelib import guards
from chalicelib.config import Provider
from chalicelib.errors import LoginFailed
from chalicelib.text import is_clean

HTTP_TIMEOUT = 10
METADATA_TTL = 3600
CLOCK_LEEWAY = 60
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]

_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, KeySet]] = {}


def _fetch_json(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not return a JSON object")
    return document


def metadata(chosen: Provider) -> dict[str, Any]:
    """The provider's discovery document, cached per container."""
    cached = _metadata.get(chosen.server_metadata_url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        document = _fetch_json(chosen.server_metadata_url)
    except (requests.RequestException, ValueError) as exc:
        raise LoginFailed("provider_unavailable") from exc
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not all(isinstance(document.get(key), str) for key in needed):
        raise LoginFailed("provider_unavailable")
    _metadata[chosen.server_metadata_url] = (time.monotonic() + METADATA_TTL, document)
    return document


def _keys(jwks_uri: str, refresh: bool = False) -> KeySet:
    cached = _jwks.get(jwks_uri)
    if cached is not None and cached[0] > time.monotonic() and not refresh:
        return cached[1]
    try:
        keys = KeySet.import_key_set(_fetch_json(jwks_uri))  # type: ignore[arg-type]
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise LoginFailed("provider_unavailable") from exc
    _jwks[jwks_uri] = (time.monotonic() + METADATA_TTL, keys)
    return keys


def profile(claims: Mapping[str, Any]) -> tuple[str | None, bool, str]:
    """The email, whether the provider asserts it verified, and the name of ID token claims.

    Only a JSON ``true`` asserts a verified email: an absent claim, ``false`` or
    a string such as ``"true"`` does not.
    """
    email = claims.get("email")
    name = claims.get("name")
    return (
        email if isinstance(email, str) else None,
        claims.get("email_verified") is True,
        name if isinstance(name, str) and is_clean(name) else "",
    )


def validate_id_token(
    id_token: str, document: Mapping[str, Any], client_id: str, nonce: str
) -> dict[str, Any]:
    """The claims of an ID token whose signature and claims all check out.

    Raises LoginFailed("invalid_id_token").
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
        raise LoginFailed("invalid_id_token") from exc
    claims = dict(decoded.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise LoginFailed("invalid_id_token")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or not is_clean(sub) or guards.IDENTITY_SEPARATOR in sub:
        raise LoginFailed("invalid_id_token")
    return claims
