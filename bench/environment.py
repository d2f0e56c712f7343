"""The settings the tests and the benchmark run under: moto, the ``test`` stage.

``settings()`` and ``secrets()`` are what the service is given (``container.use``);
``use()`` puts the same variables in this process's environment, for the AWS
clients (moto's dummy credentials) and the servers started as subprocesses.
Under moto's ``mock_aws`` no endpoint may be set.
"""

from __future__ import annotations

import os

from chalicelib import config
from chalicelib.http import container

ENVIRON = {
    "SERVICE_ENV": "test",
    "TABLE_PREFIX": "users-test-",
    "AWS_DEFAULT_REGION": "eu-north-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "SESSION_SECRET": "test-session-secret-0123456789abcdef",
}


def settings() -> config.Settings:
    """The service's settings on moto."""
    return config.load_settings(ENVIRON)


def secrets() -> config.Secrets:
    """The service's secrets on moto (no OpenID Provider configured)."""
    return config.load_secrets(ENVIRON)


def use() -> None:
    """Set this process's environment for moto and subprocesses, and give the
    service (and its tables) the settings and secrets above."""
    os.environ.update(ENVIRON)
    os.environ.pop("DYNAMODB_ENDPOINT", None)
    os.environ.pop("AWS_PROFILE", None)
    container.use(settings(), secrets())
