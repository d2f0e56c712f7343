"""End to end over real HTTP: DynamoDB Local, ``manage.py`` and ``chalice local``
on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devtools.local_stack import (
    BIN,
    ROOT,
    Store,
    chalice_local,
    fresh_prefix,
    service_env,
    tables_and_admin,
)

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

CLIENTS = 8
# Rounds race for the emails racer0, racer1, racer2, racer0: each is raced by every client,
# and racer0 again once its first winner deleted it.
ROUNDS = 4


class Api:
    """A small HTTP client for the service under test."""

    def __init__(self, base: str, key: str, env: dict[str, str]) -> None:
        self.base = f"{base}/api/v1"
        self.key = key
        self.env = env

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        token = self.key if key is None else key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def api(local_store: Store) -> Iterator[Api]:
    env = service_env(local_store.endpoint, TABLE_PREFIX=fresh_prefix("users-e2e-"))
    created = tables_and_admin(env, "root@example.org")
    with chalice_local(env) as base:
        yield Api(base, created["key"], env)


def test_key_from_manage_py_reads_own_record(api: Api) -> None:
    response = api.call("GET", "/user/me")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "root@example.org"
    assert "USER_MANAGEMENT" in response.json()["user"]["permissions"]


def test_created_user_is_found_edited_and_deleted(api: Api) -> None:
    created = api.call("POST", "/user", json={"user": {"email": "Ada@Example.org", "name": "Ada"}})
    assert created.status_code == 201
    user_id = created.json()["id"]
    found = api.call("GET", "/user", params={"email": "ada@example.org"})
    assert [u["id"] for u in found.json()["users"]] == [user_id]
    edited = api.call("PATCH", f"/user/{user_id}", json={"user": {"affiliation": "Lab"}})
    assert edited.status_code == 200
    assert edited.json()["user"]["version"] == 2
    assert api.call("DELETE", f"/user/{user_id}").status_code == 204
    assert api.call("GET", f"/user/{user_id}").status_code == 404
    log = api.call("GET", f"/user/{user_id}/log").json()["logs"]
    assert [entry["action"] for entry in log] == ["add", "edit", "delete"]


def test_new_key_works_and_bad_key_gives_401_with_error_body(api: Api) -> None:
    me = api.call("GET", "/user/me").json()["user"]
    made = api.call("POST", f"/user/{me['id']}/apikeys", json={"name": "script"})
    assert made.status_code == 201
    assert api.call("GET", "/user/me", key=made.json()["key"]).status_code == 200
    key = made.json()["key"]
    refused = api.call("GET", "/user/me", key=key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert refused.status_code == 401
    assert refused.json()["Code"] == "InvalidCredentials"


def test_request_without_credentials_gives_401(api: Api) -> None:
    assert api.call("GET", "/user/me", key="").status_code == 401


def test_concurrent_clients_leave_every_invariant_intact(api: Api) -> None:
    """Clients racing for the same emails cancel each other's transactions; the
    local DynamoDB must still keep every change that it answered for."""

    def client(number: int) -> list[str]:
        made = []
        for round_ in range(ROUNDS):
            email = f"racer{round_ % 3}@example.org"
            created = api.call("POST", "/user", json={"user": {"email": email, "name": "R"}})
            assert created.status_code in (201, 409), created.text
            if created.status_code == 201:
                made.append(created.json()["id"])
                api.call("DELETE", f"/user/{created.json()['id']}")
            own = f"client{number}-{round_}@example.org"
            created = api.call("POST", "/user", json={"user": {"email": own}})
            assert created.status_code == 201, created.text
            made.append(created.json()["id"])
            edited = api.call("PATCH", f"/user/{made[-1]}", json={"user": {"name": "Edited"}})
            assert edited.status_code == 200, edited.text
        return made

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        made = [user_id for ids in pool.map(client, range(CLIENTS)) for user_id in ids]

    assert len(made) >= CLIENTS * ROUNDS
    check = subprocess.run(
        [str(BIN / "python"), "manage.py", "check-invariants"],
        cwd=ROOT,
        env=api.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (check.returncode, check.stdout) == (0, ""), check.stdout + check.stderr
