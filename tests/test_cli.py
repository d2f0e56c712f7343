"""What ``manage.py`` runs: ``ops.cli.main`` on a fresh moto (docs/API.md section 9).

These tests open their own ``mock_aws`` instead of the ``aws`` fixture, so that
``create-tables`` starts from an account without tables.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import key_format
from chalicelib.storage import models
from ops import cli

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
# At least these; the service may add more.
TABLES = {"users", "guards", "logs", "apikeys", "sessions"}


def table_names() -> set[str]:
    dynamodb = boto3.client("dynamodb")
    return set(dynamodb.list_tables()["TableNames"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run one command; returns (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def create_user(capsys: pytest.CaptureFixture[str], *extra: str, **fields: str) -> dict[str, str]:
    """``create-user`` that must succeed; returns the one JSON object it printed."""
    email = fields.get("email", f"{secrets.token_hex(4)}@example.org")
    code, out, err = run(capsys, "create-user", "--email", email, *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def fresh_aws() -> Iterator[None]:
    """A moto account without any table."""
    with mock_aws():
        yield


@pytest.fixture
def tables(fresh_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    """The service's tables, made by ``create-tables``."""
    code, _, err = run(capsys, "create-tables")
    assert code == 0, err


@pytest.fixture
def client(tables: None) -> Iterator[Client]:
    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- create-tables ---------------------------------------------------------


def test_create_tables_creates_every_table(
    fresh_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert table_names() == set()
    code, _, err = run(capsys, "create-tables")
    assert code == 0, err
    created = table_names()
    assert {name.rsplit("-", 1)[-1] for name in created} >= TABLES
    assert all(name.startswith("users-test-") for name in created)


def test_create_tables_prints_the_tables_it_created(
    fresh_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "create-tables")
    assert set(json.loads(out)["created"]) == table_names()


def test_create_tables_twice_succeeds_and_keeps_tables(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table_names()
    code, _, err = run(capsys, "create-tables")
    assert code == 0, err
    assert table_names() == before


def test_tables_made_by_create_tables_serve_the_api(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    made = create_user(capsys, "--api-key")
    assert client.http.get(f"{API}/user/me", headers=bearer(made["key"])).status_code == 200


# -- create-user -----------------------------------------------------------

WITH_KEY = ("--name", "Ada", "--permissions", "USER_MANAGEMENT,DATA_EDIT", "--api-key")


def test_create_user_with_api_key_prints_one_object_with_id_and_key(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "create-user", "--email", "ada@example.org", *WITH_KEY)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1, out
    made = json.loads(out)
    assert set(made) == {"id", "key"}
    assert made["id"] and made["key"].startswith("uk_")


def test_created_api_key_authenticates_as_the_new_user(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    made = create_user(capsys, *WITH_KEY, email="ada@example.org")
    response = client.http.get(f"{API}/user/me", headers=bearer(made["key"]))
    assert response.status_code == 200, response.body
    user = response.json_body["user"]
    assert (user["id"], user["email"], user["name"]) == (made["id"], "ada@example.org", "Ada")


def test_created_user_has_the_given_permissions(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    made = create_user(capsys, *WITH_KEY)
    response = client.http.get(f"{API}/user/{made['id']}", headers=bearer(made["key"]))
    assert response.status_code == 200, response.body
    assert sorted(response.json_body["user"]["permissions"]) == ["DATA_EDIT", "USER_MANAGEMENT"]


def test_create_user_without_api_key_prints_only_id(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "create-user", "--email", "bob@example.org")
    assert code == 0, err
    made = json.loads(out)
    assert set(made) == {"id"} and made["id"]


def test_create_user_without_api_key_makes_no_key(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = create_user(capsys, email="bob@example.org")
    manager = create_user(capsys, "--permissions", "USER_MANAGEMENT", "--api-key")
    response = client.http.get(f"{API}/user/{plain['id']}/apikeys", headers=bearer(manager["key"]))
    assert response.status_code == 200, response.body
    assert response.json_body["apikeys"] == []


def test_create_user_with_taken_email_exits_1_naming_the_error(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(capsys, email="ada@example.org")
    code, out, err = run(capsys, "create-user", "--email", "ada@example.org")
    assert code == 1
    assert out == ""
    assert "EmailTaken" in err


def test_create_user_with_email_taken_in_other_case_exits_1(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(capsys, email="ada@example.org")
    code, _, err = run(capsys, "create-user", "--email", "ADA@Example.org")
    assert code == 1
    assert "EmailTaken" in err


def test_create_user_with_unknown_permission_exits_1(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "create-user", "--email", "ada@example.org", "--permissions", "USER_MANAGEMENT,ROOT"
    )
    assert code == 1
    assert out == ""
    assert "InvalidInput" in err


def test_refused_create_user_creates_nobody(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "create-user", "--email", "ada@example.org", "--permissions", "ROOT")
    assert (code, out) == (1, "")
    assert all(model.count() == 0 for model in models.MODELS)  # nothing written
    code, _, err = run(capsys, "create-user", "--email", "ada@example.org")
    assert code == 0, err  # the email was not taken either


def test_created_user_log_has_one_add_by_system(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    made = create_user(capsys, *WITH_KEY)
    response = client.http.get(f"{API}/user/{made['id']}/log", headers=bearer(made["key"]))
    assert response.status_code == 200, response.body
    adds = [entry for entry in response.json_body["logs"] if entry["action"] == "add"]
    assert len(adds) == 1, response.json_body["logs"]
    assert adds[0]["user"] == "system"
    assert adds[0]["entry_id"] == made["id"]


def test_created_user_log_never_contains_the_key(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    made = create_user(capsys, *WITH_KEY)
    response = client.http.get(f"{API}/user/{made['id']}/log", headers=bearer(made["key"]))
    assert response.status_code == 200, response.body
    parts = key_format.parse(made["key"], "uk")
    assert parts is not None
    assert made["key"] not in response.body.decode()
    assert parts.secret not in response.body.decode()


def test_create_user_without_email_exits_with_usage_error(
    tables: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["create-user", "--name", "Ada"])
    assert exited.value.code == 2
    assert "--email" in capsys.readouterr().err


def _manage_without_settings(*args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh interpreter whose environment holds no setting."""
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_needs_no_settings() -> None:
    done = _manage_without_settings("--help")
    assert done.returncode == 0, done.stderr
    for command in ("create-tables", "create-user", "import-users", "check-invariants"):
        assert command in done.stdout


def test_command_without_settings_names_the_missing_one_and_exits_2() -> None:
    done = _manage_without_settings("create-tables")
    assert done.returncode == 2
    assert "AWS_REGION" in done.stderr
    assert "Traceback" not in done.stderr


def _manage_at(endpoint: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh interpreter against ``endpoint``, with only ``settings``
    for credentials (never the instance metadata service)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SERVICE_ENV": "local",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "TABLE_PREFIX": "users-cli-",
        "DYNAMODB_ENDPOINT": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **settings,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _nothing_listens() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_create_user_without_credentials_says_so() -> None:
    done = _manage_at(_nothing_listens(), "create-user", "--email", "ada@example.org")
    assert done.returncode == 1
    assert "no AWS credentials" in done.stderr and "AWS_ACCESS_KEY_ID" in done.stderr
    assert "may have been written" not in done.stderr
    assert "Traceback" not in done.stderr


def test_command_at_an_endpoint_that_does_not_answer_names_it() -> None:
    endpoint = _nothing_listens()
    keys = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    done = _manage_at(endpoint, "create-user", "--email", "ada@example.org", **keys)
    assert done.returncode == 1
    assert f"cannot reach DynamoDB at {endpoint}" in done.stderr
    assert "may have been written" not in done.stderr
    checked = _manage_at(endpoint, "check-invariants", **keys)
    assert checked.returncode == 2
    assert f"cannot reach DynamoDB at {endpoint}" in checked.stderr


def test_create_user_before_create_tables_says_to_create_them(
    fresh_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "create-user", "--email", "ada@example.org")
    assert (code, out) == (1, "")
    assert "manage.py create-tables" in err
    assert "may have been written" not in err
