"""Fixtures: moto-backed tables, the Chalice test client, users with API keys.

The environment that PynamoDB reads at import is set here
(``tests/environment.py``), before the app is imported.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import environment

environment.use()

import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import auth, config, models
from chalicelib.changes import SYSTEM
from chalicelib.permissions import PERMISSIONS
from chalicelib.users import create_user

# The browser harness: Chromium through Playwright, the ``browser_page`` fixture.
pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
ALL_PERMISSIONS = list(PERMISSIONS)


@pytest.fixture
def aws() -> Iterator[None]:
    """Empty tables in moto, for one test."""
    with mock_aws():
        models.create_tables()
        yield


@pytest.fixture
def configure() -> Iterator[Any]:
    """Factory: ``configure(NAME="value" or None, ...)`` sets (or removes) settings in the
    environment and has the service read them afresh; undone after the test."""
    saved = dict(os.environ)

    def apply(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.settings.cache_clear()
        config.secrets.cache_clear()

    yield apply
    os.environ.clear()
    os.environ.update(saved)
    config.settings.cache_clear()
    config.secrets.cache_clear()


@pytest.fixture
def client(aws: None) -> Iterator[Client]:
    """The Chalice test client on the ``test`` stage."""
    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


class Account:
    """A user made for a test, with an API key."""

    def __init__(self, user_id: str, key: str, email: str) -> None:
        self.id = user_id
        self.key = key
        self.email = email

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this user."""
        return {"Authorization": f"Bearer {self.key}"}

    def json_headers(self, **extra: str) -> dict[str, str]:
        """Authenticating headers for a JSON body."""
        return {**self.headers, "Content-Type": "application/json", **extra}


@pytest.fixture
def make_user(aws: None) -> Any:
    """Factory: ``make_user(permissions=[...], **fields) -> Account``."""

    def make(permissions: list[str] | None = None, **fields: Any) -> Account:
        email = fields.pop("email", f"{secrets.token_hex(4)}@example.org")
        body = {"email": email, "name": fields.pop("name", "Test User"), **fields}
        body["permissions"] = permissions or []
        user = create_user(SYSTEM, body, may_set_permissions=True)
        key = auth.make_api_key(SYSTEM, user.id)["key"]
        return Account(user.id, key, email)

    return make


@pytest.fixture
def admin(make_user: Any) -> Account:
    """A user holding every permission."""
    return make_user(permissions=ALL_PERMISSIONS, name="Admin")


def assert_error(response: Any, status: int, code: str) -> None:
    """The response has ``status`` and the error body ``{"Code": code, "Message": ...}``."""
    assert response.status_code == status, response.body
    body = json.loads(response.body)
    assert set(body) == {"Code", "Message"}, body
    assert body["Code"] == code, body
    assert isinstance(body["Message"], str) and body["Message"], body
