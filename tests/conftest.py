"""Fixtures: moto-backed tables, the Chalice test client, users with API keys.

The environment that PynamoDB reads at import is set here, before the app is
imported; under moto's ``mock_aws`` no endpoint may be set.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.update(
    SERVICE_ENV="test",
    TABLE_PREFIX="users-test-",
    AWS_DEFAULT_REGION="eu-north-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    SESSION_SECRET="test-session-secret-0123456789abcdef",
)
os.environ.pop("DYNAMODB_ENDPOINT", None)
os.environ.pop("AWS_PROFILE", None)

import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import auth, models
from chalicelib.changes import SYSTEM
from chalicelib.permissions import PERMISSIONS
from chalicelib.users import create_user

ROOT = Path(__file__).resolve().parent.parent
ALL_PERMISSIONS = list(PERMISSIONS)


@pytest.fixture
def aws() -> Iterator[None]:
    """Empty tables in moto, for one test."""
    with mock_aws():
        models.create_tables()
        yield


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
