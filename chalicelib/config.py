"""Settings of the service: the only module that reads ``os.environ``.

Settings are read once per container and passed down. A missing or malformed
setting fails loudly and names the variable.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

ENVIRONMENTS = ("local", "test", "aws")


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
    public_url = _get("PUBLIC_URL")
    return Settings(
        environment=environment,
        region=region,
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        allowed_origins=_origins(_get("ALLOWED_ORIGINS")),
        public_url=public_url.rstrip("/") if public_url else None,
    )


@functools.cache
def settings() -> Settings:
    """The settings of this container, read once."""
    return load_settings()
