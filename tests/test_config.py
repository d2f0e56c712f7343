"""Settings: read from the environment, secrets lazily and from SSM when named so."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest

from chalicelib import config

SECRET = "a-session-secret-kept-in-ssm-0123456789"


@pytest.fixture
def environment(aws: None) -> Iterator[dict[str, str]]:
    """Change the environment for one test and read the secrets afresh."""
    saved = dict(os.environ)
    config.secrets.cache_clear()
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(saved)
    config.secrets.cache_clear()


def test_session_secret_naming_an_ssm_parameter_is_read_from_ssm(
    environment: dict[str, str],
) -> None:
    boto3.client("ssm", region_name="eu-north-1").put_parameter(
        Name="/users/test/session", Value=SECRET, Type="SecureString"
    )
    environment["SESSION_SECRET"] = "ssm:/users/test/session"
    assert config.secrets().session_secret == SECRET.encode()


def test_provider_client_secret_naming_an_ssm_parameter_is_read_from_ssm(
    environment: dict[str, str],
) -> None:
    boto3.client("ssm", region_name="eu-north-1").put_parameter(
        Name="/users/test/elixir", Value="client-secret-from-ssm", Type="SecureString"
    )
    environment["OIDC_PROVIDERS"] = json.dumps(
        {
            "elixir": {
                "server_metadata_url": "https://login.example.org/.well-known/openid-configuration",
                "client_id": "users",
                "client_secret": "ssm:/users/test/elixir",
            }
        }
    )
    provider = config.secrets().providers["elixir"]
    assert provider.client_secret == "client-secret-from-ssm"
    assert provider.scope == "openid profile email"
    assert provider.link_verified_email is False


def test_secrets_are_read_once_per_container(environment: dict[str, str]) -> None:
    first = config.secrets()
    environment["SESSION_SECRET"] = "another-secret-that-is-long-enough-to-use"
    assert config.secrets() is first


def test_missing_ssm_parameter_fails_naming_the_variable(environment: dict[str, str]) -> None:
    environment["SESSION_SECRET"] = "ssm:/users/test/missing"
    with pytest.raises(config.ConfigError, match="SESSION_SECRET"):
        config.secrets()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SESSION_SECRET", "short", "SESSION_SECRET"),
        ("OIDC_PROVIDERS", "not json", "OIDC_PROVIDERS"),
        ("OIDC_PROVIDERS", "[]", "OIDC_PROVIDERS"),
        ("OIDC_PROVIDERS", '{"bad name!": {}}', "provider name"),
        ("OIDC_PROVIDERS", '{"x": {"client_id": "a"}}', "server_metadata_url"),
    ],
)
def test_malformed_secret_setting_fails_naming_it(
    environment: dict[str, str], variable: str, value: str, message: str
) -> None:
    environment[variable] = value
    with pytest.raises(config.ConfigError, match=message):
        config.secrets()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SERVICE_ENV", "staging"),
        ("DYNAMODB_ENDPOINT", "localhost:8000"),
        ("ALLOWED_ORIGINS", "app.example.org"),
    ],
)
def test_malformed_setting_fails_naming_it(
    environment: dict[str, str], variable: str, value: str
) -> None:
    environment[variable] = value
    with pytest.raises(config.ConfigError, match=variable):
        config.load_settings()


def test_table_prefix_is_required_in_aws(environment: dict[str, str]) -> None:
    environment["SERVICE_ENV"] = "aws"
    environment.pop("TABLE_PREFIX", None)
    with pytest.raises(config.ConfigError, match="TABLE_PREFIX"):
        config.load_settings()


def test_dynamodb_max_backoff_is_botocores_own_unless_set(environment: dict[str, str]) -> None:
    environment.pop("DYNAMODB_MAX_BACKOFF", None)
    assert config.load_settings().dynamodb_max_backoff is None
    environment["DYNAMODB_MAX_BACKOFF"] = "0.5"
    assert config.load_settings().dynamodb_max_backoff == 0.5


@pytest.mark.parametrize("value", ["soon", "-1", "21", "nan"])
def test_dynamodb_max_backoff_that_is_not_seconds_is_refused_by_name(
    environment: dict[str, str], value: str
) -> None:
    environment["DYNAMODB_MAX_BACKOFF"] = value
    with pytest.raises(config.ConfigError, match="DYNAMODB_MAX_BACKOFF"):
        config.load_settings()
