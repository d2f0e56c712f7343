"""Settings of the service, built from an environment mapping by pure functions.

Nothing reads the process's environment at import: each entry point (the app on
its first request or authorizer call, ``manage.py``, the benchmark, the tests)
builds the settings once and passes them down. A missing or malformed setting
fails loudly and names the variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("local", "test", "aws")
MIN_SECRET_LENGTH = 32
PROVIDER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
API_KEY_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{1,15}")
DEFAULT_SCOPE = "openid profile email"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The non-secret settings, built from the environment by ``load_settings``."""

    environment: str
    region: str
    dynamodb_endpoint: str | None
    table_prefix: str
    allowed_origins: tuple[str, ...]
    public_url: str | None
    # API keys (API.md section 11): the prefix scanners know them by, and
    # their lifetimes in days.
    api_key_prefix: str = "uk"
    api_key_max_days: int = 365
    api_key_default_days: int = 90

    @property
    def is_local(self) -> bool:
        """True for local development and tests (cookies without ``Secure``)."""
        return self.environment in ("local", "test")


def _get(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = environ.get(name, "").strip()
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


def _days(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(environ, name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 36500:
        raise ConfigError(f"{name} must be a whole number of days from 1 to 36500")
    return int(raw)


def _api_key_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    prefix = _get(environ, "API_KEY_PREFIX", "uk") or "uk"
    if not API_KEY_PREFIX_RE.fullmatch(prefix):
        raise ConfigError(
            "API_KEY_PREFIX must be 2 to 16 lower-case letters and digits, starting with a letter"
        )
    max_days = _days(environ, "API_KEY_MAX_DAYS", 365)
    default_days = _days(environ, "API_KEY_DEFAULT_DAYS", min(90, max_days))
    if default_days > max_days:
        raise ConfigError("API_KEY_DEFAULT_DAYS must not exceed API_KEY_MAX_DAYS")
    return {
        "api_key_prefix": prefix,
        "api_key_max_days": max_days,
        "api_key_default_days": default_days,
    }


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build the settings from ``environ`` (``os.environ`` at an entry point).

    Raises ConfigError naming the variable that is missing or malformed.
    """
    environment = _get(environ, "SERVICE_ENV", "aws") or "aws"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"SERVICE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    region = _get(environ, "AWS_REGION") or _get(environ, "AWS_DEFAULT_REGION")
    if region is None:
        raise ConfigError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
    prefix = _get(environ, "TABLE_PREFIX")
    if prefix is None:
        if environment == "aws":
            raise ConfigError("TABLE_PREFIX is not set")
        prefix = f"users-{environment}-"
    endpoint = _get(environ, "DYNAMODB_ENDPOINT")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError("DYNAMODB_ENDPOINT must be an http(s) URL")
    return Settings(
        environment=environment,
        region=region,
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        allowed_origins=_origins(_get(environ, "ALLOWED_ORIGINS")),
        public_url=_public_url(_get(environ, "PUBLIC_URL")),
        **_api_key_settings(environ),
    )


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
    """The secret settings: read by an entry point on first use, never at import."""

    session_secret: bytes
    providers: Mapping[str, Provider]


def _provider(name: str, raw: Any, resolve: Resolve) -> Provider:
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
        client_secret=resolve(raw["client_secret"], f"{where}.client_secret") or "",
        scope=scope,
        link_verified_email=link,
    )


SSM_PREFIX = "ssm:"
Resolve = Callable[[str | None, str], str | None]


def ssm_reader(region: str) -> Callable[[str], str]:
    """Reads SecureString (or String) parameters of SSM Parameter Store in ``region``,
    decrypted; the client is made on the first read."""

    def read(name: str) -> str:
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError

        client: Any = botocore.session.get_session().create_client("ssm", region_name=region)
        try:
            reply = client.get_parameter(Name=name, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise ConfigError(f"SSM parameter {name!r} could not be read") from exc
        return str(reply["Parameter"]["Value"])

    return read


def _resolver(read_parameter: Callable[[str], str]) -> Resolve:
    def resolve(value: str | None, where: str) -> str | None:
        """``value`` itself, or the SSM parameter it names as ``ssm:<parameter name>``."""
        if value is None or not value.startswith(SSM_PREFIX):
            return value
        try:
            return read_parameter(value[len(SSM_PREFIX) :])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc

    return resolve


def load_secrets(
    environ: Mapping[str, str], read_parameter: Callable[[str], str] | None = None
) -> Secrets:
    """Read SESSION_SECRET and OIDC_PROVIDERS from ``environ``; any of them, or a
    provider's ``client_secret``, may name an SSM parameter as ``ssm:<name>``, read
    with ``read_parameter`` (default: SSM in the settings' region).

    Raises ConfigError naming the variable that is missing or malformed.
    """
    if read_parameter is None:
        read_parameter = ssm_reader(load_settings(environ).region)
    resolve = _resolver(read_parameter)
    session_secret = resolve(_get(environ, "SESSION_SECRET"), "SESSION_SECRET")
    if session_secret is None or len(session_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"SESSION_SECRET must be set, at least {MIN_SECRET_LENGTH} characters")
    try:
        raw = json.loads(resolve(_get(environ, "OIDC_PROVIDERS"), "OIDC_PROVIDERS") or "{}")
    except ValueError as exc:
        raise ConfigError("OIDC_PROVIDERS is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise ConfigError("OIDC_PROVIDERS must be a JSON object keyed by provider name")
    return Secrets(
        session_secret=session_secret.encode(),
        providers={name: _provider(name, value, resolve) for name, value in raw.items()},
    )
