"""Simultaneous requests with real threads against one Chalice test client on moto.

A ``threading.Barrier`` releases all requests at once, so the service's
read-then-write paths really overlap. Uniqueness and lost updates must be
prevented by DynamoDB conditions inside the service, not by luck.

The harness makes moto and the test client behave as AWS does across
threads (``tests/faults.serialized_storage``, ``tests/threads.py``); neither
touches the service.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.storage.models import LogEntry
from tests.conftest import ROOT, assert_error
from tests.faults import FaultInjector, inject_faults, serialized_storage
from tests.threads import ThreadSafeClient

API = "/api/v1"
CREATORS = 10
MAX_RACE_ROUNDS = 50
BARRIER_TIMEOUT = 60  # seconds; only a hung thread comes near it
# Switch threads often, so the service's read-then-write windows overlap more.
SWITCH_INTERVAL = 1e-5


@pytest.fixture(autouse=True)
def like_aws() -> Iterator[None]:
    """moto runs one request at a time, as DynamoDB applies each atomically."""
    with serialized_storage():
        yield


@pytest.fixture
def client(aws: None) -> ThreadSafeClient:
    """The service's HTTP entry, called from several threads at once."""
    return ThreadSafeClient(app, "test", str(ROOT))


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """Let the interpreter switch threads every few microseconds, not every 5 ms."""
    original = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(original)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(calls), timeout=BARRIER_TIMEOUT)

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def create_same_email(client: Client, admin: Any, email: str) -> list[Any]:
    body = json.dumps({"user": {"email": email, "name": "Racer"}})

    def post() -> Any:
        return client.http.post(f"{API}/user", headers=admin.json_headers(), body=body)

    return together([post] * CREATORS)


def user_record(client: Client, admin: Any, user_id: str) -> dict[str, Any]:
    response = client.http.get(f"{API}/user/{user_id}", headers=admin.headers)
    assert response.status_code == 200, response.body
    return response.json_body["user"]


def log_of(client: Client, admin: Any, user_id: str) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user/{user_id}/log?limit=1000", headers=admin.headers)
    assert response.status_code == 200, response.body
    return response.json_body["logs"]


def patch(client: Client, admin: Any, user_id: str, fields: dict[str, str]) -> Callable[[], Any]:
    body = json.dumps({"user": fields})
    return lambda: client.http.patch(
        f"{API}/user/{user_id}", headers=admin.json_headers(), body=body
    )


# -- simultaneous creates with one email -----------------------------------


def test_simultaneous_creates_with_same_email_give_one_201_and_nine_409(
    client: Client, admin: Any
) -> None:
    responses = create_same_email(client, admin, f"race-{secrets.token_hex(4)}@example.org")
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 1, [(r.status_code, r.body) for r in responses]
    assert len(refused) == CREATORS - 1
    for response in refused:
        assert_error(response, 409, "EmailTaken")


def test_simultaneous_creates_with_same_email_leave_one_user(client: Client, admin: Any) -> None:
    email = f"race-{secrets.token_hex(4)}@example.org"
    responses = create_same_email(client, admin, email)
    winners = [r.json_body["id"] for r in responses if r.status_code == 201]
    response = client.http.get(f"{API}/user?email={email}", headers=admin.headers)
    assert response.status_code == 200, response.body
    assert [user["id"] for user in response.json_body["users"]] == winners
    assert len(winners) == 1


def test_simultaneous_creates_with_same_email_log_one_add(client: Client, admin: Any) -> None:
    email = f"race-{secrets.token_hex(4)}@example.org"
    responses = create_same_email(client, admin, email)
    winners = [r.json_body["id"] for r in responses if r.status_code == 201]
    adds = [
        entry
        for entry in LogEntry.scan(consistent_read=True)
        if entry.action == "add" and str(entry.data.get("email", "")).lower() == email
    ]
    assert [entry.entry_id for entry in adds] == winners
    assert len(adds) == 1
    assert [entry["action"] for entry in log_of(client, admin, winners[0])] == ["add"]


# -- simultaneous edits of different fields --------------------------------


def patch_race(
    client: Client,
    admin: Any,
    make_user: Any,
    round_: int,
    watch: AbstractContextManager[Any] | None = None,
) -> tuple[Any, ...]:
    """Two simultaneous PATCHes of one fresh user: name and affiliation.

    ``watch`` is entered around the two PATCHes alone.
    Returns (user id, version before, both responses, the two fields sent).
    """
    target = make_user(name="Before", affiliation="Before")
    before = user_record(client, admin, target.id)["version"]
    name = {"name": f"Name {round_}"}
    affiliation = {"affiliation": f"Affiliation {round_}"}
    with watch if watch is not None else contextlib.nullcontext():
        responses = together(
            [patch(client, admin, target.id, name), patch(client, admin, target.id, affiliation)]
        )
    return target.id, before, responses, (name, affiliation)


def test_simultaneous_patches_of_different_fields_both_succeed(
    client: Client, admin: Any, make_user: Any
) -> None:
    _, _, responses, _ = patch_race(client, admin, make_user, 0)
    assert [r.status_code for r in responses] == [200, 200], [r.body for r in responses]


def test_simultaneous_patches_of_different_fields_both_persist(
    client: Client, admin: Any, make_user: Any
) -> None:
    user_id, _, _, (name, affiliation) = patch_race(client, admin, make_user, 0)
    record = user_record(client, admin, user_id)
    assert record["name"] == name["name"]
    assert record["affiliation"] == affiliation["affiliation"]


def test_simultaneous_patches_of_different_fields_raise_version_by_two(
    client: Client, admin: Any, make_user: Any
) -> None:
    user_id, before, _, _ = patch_race(client, admin, make_user, 0)
    assert user_record(client, admin, user_id)["version"] == before + 2


def test_simultaneous_patches_of_different_fields_log_two_edits_each_with_its_field(
    client: Client, admin: Any, make_user: Any
) -> None:
    user_id, before, _, sent = patch_race(client, admin, make_user, 0)
    entries = log_of(client, admin, user_id)
    new = entries[before:]
    assert len(entries) == before + 2, entries
    assert [entry["action"] for entry in new] == ["edit", "edit"]
    assert sorted((entry["data"] for entry in new), key=json.dumps) == sorted(sent, key=json.dumps)


@contextlib.contextmanager
def counting_into(injectors: list[FaultInjector]) -> Iterator[None]:
    """Count the DynamoDB attempts made in the block, injecting nothing."""
    with inject_faults(share=0.0) as injector:
        injectors.append(injector)
        yield


def test_simultaneous_patches_really_collide_and_both_survive(
    client: Client, admin: Any, make_user: Any
) -> None:
    """The races above pass whether or not the two PATCHes overlapped; this one
    repeats the race until one PATCH had to re-read and re-apply (a third
    transaction attempt), then checks that round: answers, record, version, log."""
    for round_ in range(MAX_RACE_ROUNDS):
        injectors: list[FaultInjector] = []
        user_id, before, responses, (name, affiliation) = patch_race(
            client, admin, make_user, round_, watch=counting_into(injectors)
        )
        if injectors[0].attempts["TransactWriteItems"] > 2:
            break
    else:
        pytest.fail(f"no two PATCHes overlapped in {MAX_RACE_ROUNDS} rounds")
    assert [r.status_code for r in responses] == [200, 200], [r.body for r in responses]
    record = user_record(client, admin, user_id)
    assert (record["name"], record["affiliation"]) == (name["name"], affiliation["affiliation"])
    assert record["version"] == before + 2
    new = log_of(client, admin, user_id)[before:]
    assert sorted((entry["data"] for entry in new), key=json.dumps) == sorted(
        [name, affiliation], key=json.dumps
    )
