"""Settings of the service: the only module that reads ``os.environ``.

Settings are read once per container and passed down. A missing or malformed
setting fails loudly and names the variable.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("local", "test", "aws")
MIN_SECRET_LENGTH = 32
PROVIDER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DEFAULT_SCOPE = "openid profile email"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The non-secret settings, safe to read at import time."""

    environment: str
    region: str
    dynamodb_endpoint: str | None
    table_prefix: str
    allowed_origins: tuple[str, ...]
    public_url: str | None

    @property
    def is_local(self) -> bool:
        """True for local development and tests (cookies without ``Secure``)."""
        return self.environment in ("local", "test")


def _get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def _origins(raw: str | None) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip())
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise ConfigError(f"ALLOWED_ORIGINS: {origin!r} is not an http(s) origin")
    return origins


def _public_url(raw: str | None) -> str | None:
    """``PUBLIC_URL`` without its trailing slash: an http(s) URL with a host, and no
    user, query or fragment."""
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise ConfigError("PUBLIC_URL is not a URL") from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or any(c.isspace() or ord(c) < 32 for c in raw)
    ):
        raise ConfigError(
            "PUBLIC_URL must be an http(s) URL with a host and no user, query or fragment"
        )
    return raw.rstrip("/")


def load_settings() -> Settings:
    """Build the settings from the environment.

    Raises ConfigError naming the variable that is missing or malformed.
    """
    environment = _get("SERVICE_ENV", "aws") or "aws"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"SERVICE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    region = _get("AWS_REGION") or _get("AWS_DEFAULT_REGION")
    if region is None:
        raise ConfigError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
    prefix = _get("TABLE_PREFIX")
    if prefix is None:
        if environment == "aws":
            raise ConfigError("TABLE_PREFIX is not set")
        prefix = f"users-{environment}-"
    endpoint = _get("DYNAMODB_ENDPOINT")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError("DYNAMODB_ENDPOINT must be an http(s) URL")
    return Settings(
        environment=environment,
        region=region,
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        allowed_origins=_origins(_get("ALLOWED_ORIGINS")),
        public_url=_public_url(_get("PUBLIC_URL")),
    )


@functools.cache
def settings() -> Settings:
    """The settings of this container, read once."""
    return load_settings()


@dataclass(frozen=True)
class Provider:
    """An OpenID Connect provider users may log in with."""

    name: str
    server_metadata_url: str
    client_id: str
    client_secret: str
    scope: str = DEFAULT_SCOPE
    link_verified_email: bool = False


@dataclass(frozen=True)
class Secrets:
    """The secret settings, read lazily on first use: never at import."""

    session_secret: bytes
    providers: Mapping[str, Provider]


def _provider(name: str, raw: Any) -> Provider:
    where = f"OIDC_PROVIDERS[{name!r}]"
    if not PROVIDER_NAME_RE.match(name):
        raise ConfigError(f"OIDC_PROVIDERS: {name!r} is not a valid provider name")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = set(raw) - {
        "server_metadata_url",
        "client_id",
        "client_secret",
        "scope",
        "link_verified_email",
    }
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    for key in ("server_metadata_url", "client_id", "client_secret"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{where}.{key} must be a non-empty string")
    if not raw["server_metadata_url"].startswith(("http://", "https://")):
        raise ConfigError(f"{where}.server_metadata_url must be an http(s) URL")
    scope = raw.get("scope", DEFAULT_SCOPE)
    if not isinstance(scope, str) or "openid" not in scope.split():
        raise ConfigError(f"{where}.scope must be a string holding 'openid'")
    link = raw.get("link_verified_email", False)
    if not isinstance(link, bool):
        raise ConfigError(f"{where}.link_verified_email must be true or false")
    return Provider(
        name=name,
        server_metadata_url=raw["server_metadata_url"],
        client_id=raw["client_id"],
        client_secret=_resolve(raw["client_secret"], f"{where}.client_secret") or "",
        scope=scope,
        link_verified_email=link,
    )


SSM_PREFIX = "ssm:"


def _ssm_parameter(name: str, where: str) -> str:
    """A SecureString (or String) parameter of SSM Parameter Store, decrypted."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError

    current = settings()
    client: Any = botocore.session.get_session().create_client("ssm", region_name=current.region)
    try:
        reply = client.get_parameter(Name=name, WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"{where}: SSM parameter {name!r} could not be read") from exc
    return str(reply["Parameter"]["Value"])


def _resolve(value: str | None, where: str) -> str | None:
    """``value`` itself, or the SSM parameter it names as ``ssm:<parameter name>``."""
    if value is not None and value.startswith(SSM_PREFIX):
        return _ssm_parameter(value[len(SSM_PREFIX) :], where)
    return value


def load_secrets() -> Secrets:
    """Read SESSION_SECRET and OIDC_PROVIDERS; any of them, or a provider's
    ``client_secret``, may name an SSM parameter as ``ssm:<name>``.

    Raises ConfigError naming the variable that is missing or malformed.
    """
    session_secret = _resolve(_get("SESSION_SECRET"), "SESSION_SECRET")
    if session_secret is None or len(session_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"SESSION_SECRET must be set, at least {MIN_SECRET_LENGTH} characters")
    try:
        raw = json.loads(_resolve(_get("OIDC_PROVIDERS"), "OIDC_PROVIDERS") or "{}")
    except ValueError as exc:
        raise ConfigError("OIDC_PROVIDERS is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise ConfigError("OIDC_PROVIDERS must be a JSON object keyed by provider name")
    return Secrets(
        session_secret=session_secret.encode(),
        providers={name: _provider(name, value) for name, value in raw.items()},
    )


@functools.cache
def secrets() -> Secrets:
    """The secret settings of this container, read once, on first use."""
    return load_secrets()
