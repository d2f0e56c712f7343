"""Settings: built from an environment mapping, secrets from SSM when named so and
read once per container."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from bench import environment as bench_environment
from chalicelib import config
from chalicelib.http import container

SECRET = "a-session-secret-kept-in-ssm-0123456789"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def environment(aws: None) -> dict[str, str]:
    """The test environment, as a mapping of its own for one test."""
    return dict(bench_environment.ENVIRON)


def test_session_secret_naming_an_ssm_parameter_is_read_from_ssm(
    environment: dict[str, str],
) -> None:
    boto3.client("ssm", region_name="eu-north-1").put_parameter(
        Name="/users/test/session", Value=SECRET, Type="SecureString"
    )
    environment["SESSION_SECRET"] = "ssm:/users/test/session"
    assert config.load_secrets(environment).session_secret == SECRET.encode()


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
    provider = config.load_secrets(environment).providers["elixir"]
    assert provider.client_secret == "client-secret-from-ssm"
    assert provider.scope == "openid profile email"
    assert provider.link_verified_email is False


def test_secrets_are_read_once_per_container(environment: dict[str, str]) -> None:
    container.use(config.load_settings(environment))  # secrets read on first use
    first = container.secrets()
    assert first.session_secret == environment["SESSION_SECRET"].encode()
    assert container.secrets() is first


def test_missing_ssm_parameter_fails_naming_the_variable(environment: dict[str, str]) -> None:
    environment["SESSION_SECRET"] = "ssm:/users/test/missing"
    with pytest.raises(config.ConfigError, match="SESSION_SECRET"):
        config.load_secrets(environment)


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
        config.load_secrets(environment)


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
        config.load_settings(environment)


def test_table_prefix_is_required_in_aws(environment: dict[str, str]) -> None:
    environment["SERVICE_ENV"] = "aws"
    environment.pop("TABLE_PREFIX", None)
    with pytest.raises(config.ConfigError, match="TABLE_PREFIX"):
        config.load_settings(environment)


def test_app_and_every_module_import_with_an_empty_environment() -> None:
    """Nothing reads a setting at import: the settings are read on first use."""
    modules = [
        "app",
        *(
            ".".join(p.relative_to(ROOT).with_suffix("").parts)
            for folder in ("chalicelib", "ops")
            for p in sorted((ROOT / folder).glob("**/*.py"))
            if p.name != "__init__.py"
        ),
    ]
    code = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-c", code + "print('imported')"],
        cwd=ROOT,
        env={},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
