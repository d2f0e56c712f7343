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

# The permission names: a declaration with no dependency on what reads settings.
from chalicelib.permissions import PERMISSIONS

ENVIRONMENTS = ("local", "test", "aws")
MIN_SECRET_LENGTH = 32
PROVIDER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
API_KEY_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{1,15}")
DEFAULT_SCOPE = "openid profile email"
DEFAULT_RULES_MAX_AGE_DAYS = 30


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


# The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
DEFAULT_RETENTION_DAYS = 180  # LS Login's terms for services ask for at least 180 days


def log_retention_days(environ: Mapping[str, str]) -> int:
    """``LOG_RETENTION_DAYS``: how long the API's access log and the functions' logs
    keep their lines (written into the deployment template by ``make package``).

    Raises ConfigError unless it is a period CloudWatch Logs accepts.
    """
    raw = _get(environ, "LOG_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))
    if raw is None or not (raw.isascii() and raw.isdigit()) or int(raw) not in RETENTION_DAYS:
        allowed = ", ".join(map(str, RETENTION_DAYS))
        raise ConfigError(f"LOG_RETENTION_DAYS must be one of {allowed}")
    return int(raw)


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
class Predecessor:
    """The provider another replaced (API.md section 12): its name, and the claim of
    the new provider's ID token naming the old ``sub`` (None: the same ``sub``)."""

    provider: str
    claim: str | None = None


@dataclass(frozen=True)
class PermissionRule:
    """Grants ``grant`` to whoever's ``claim`` holds a value matching the glob ``match``."""

    claim: str
    match: str
    grant: tuple[str, ...]


@dataclass(frozen=True)
class Provider:
    """An OpenID Connect provider users may log in with."""

    name: str
    server_metadata_url: str
    client_id: str
    client_secret: str
    scope: str = DEFAULT_SCOPE
    link_verified_email: bool = False
    previous: Predecessor | None = None
    permission_rules: tuple[PermissionRule, ...] = ()
    rules_max_age_days: int = DEFAULT_RULES_MAX_AGE_DAYS


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
        "previous",
        "permission_rules",
        "rules_max_age_days",
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
        previous=_previous(raw.get("previous"), where),
        permission_rules=tuple(
            _rule(rule, f"{where}.permission_rules[{index}]")
            for index, rule in enumerate(_list(raw.get("permission_rules", []), where))
        ),
        rules_max_age_days=_max_age(raw.get("rules_max_age_days"), where),
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 400:
        raise ConfigError(f"{where} must be a non-empty string of at most 400 characters")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}.permission_rules must be a list")
    return value


def _previous(raw: Any, where: str) -> Predecessor | None:
    """``previous``: ``{"provider": <old name>, "claim": <claim naming the old sub>}``."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= {"provider", "claim"} or "provider" not in raw:
        raise ConfigError(f'{where}.previous must be {{"provider": ..., "claim": ...}}')
    provider = _text(raw["provider"], f"{where}.previous.provider")
    if not PROVIDER_NAME_RE.match(provider):
        raise ConfigError(f"{where}.previous.provider is not a valid provider name")
    claim = raw.get("claim")
    return Predecessor(provider, None if claim is None else _text(claim, f"{where}.previous.claim"))


def _rule(raw: Any, where: str) -> PermissionRule:
    """One permission rule: ``{"claim", "match" (a glob), "grant": [permission, ...]}``."""
    if not isinstance(raw, dict) or set(raw) != {"claim", "match", "grant"}:
        raise ConfigError(f'{where} must be {{"claim": ..., "match": ..., "grant": [...]}}')
    grant = raw["grant"]
    if (
        not isinstance(grant, list)
        or not grant
        or not all(isinstance(name, str) and name in PERMISSIONS for name in grant)
    ):
        raise ConfigError(f"{where}.grant must be a non-empty list of permission names")
    return PermissionRule(
        claim=_text(raw["claim"], f"{where}.claim"),
        match=_text(raw["match"], f"{where}.match"),
        grant=tuple(dict.fromkeys(grant)),
    )


def _max_age(raw: Any, where: str) -> int:
    if raw is None:
        return DEFAULT_RULES_MAX_AGE_DAYS
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 3650:
        raise ConfigError(f"{where}.rules_max_age_days must be a whole number from 1 to 3650")
    return raw


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
