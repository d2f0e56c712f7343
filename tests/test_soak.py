"""Soak: mixed operations from 8 threads through one Chalice test client, with 10% of
the DynamoDB attempts failing (``tests/faults.py``).

Afterwards the tables hold no invariant violation (``ops/invariants.py``),
no request got a 5xx other than a 503 while faults hit that very request, and
every answer is one the contract allows for its operation. ``SOAK_OPERATIONS``
sets the number of operations (120 by default; ``make soak`` runs 1,000);
``SOAK_FAULT_SHARE`` the share of failing attempts (0.1) and ``SOAK_SEED`` the
seed. botocore retries a failed attempt up to three times, so at 10% almost
every fault is ridden out; a larger share (0.5) makes 503s common.

Bounded: the operations are a fixed list, drawn from a seed; the workers take
them until none is left, and a test checks that each one was answered. How
long a run takes is printed (``pytest -s``), never asserted.
Each thread's requests run on that thread, faults are counted per thread, so a
503 is matched to the faults of its own request.

moto's backend is serialized (``serialized_storage``), as DynamoDB runs each
request atomically and moto's transactions are not safe across threads; the
service's own read-then-write races are not serialized.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from app import app
from bench import environment
from chalicelib.http import container
from chalicelib.ids import SYSTEM
from chalicelib.permissions import PERMISSIONS
from chalicelib.records import apikeys
from chalicelib.records.record import MANAGER_FIELDS
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage import models
from ops.invariants import Violation, check
from tests import moto_dynamodb
from tests.faults import KINDS, inject_faults, serialized_storage
from tests.threads import ThreadSafeClient

# The soak runs once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = int(os.environ.get("SOAK_OPERATIONS", "120"))
THREADS = 8
FAULT_SHARE = float(os.environ.get("SOAK_FAULT_SHARE", "0.1"))
SEED = int(os.environ.get("SOAK_SEED", "1729"))
SEED_USERS = 12

# What the contract allows each operation to answer, as (status, code); 503
# StorageUnavailable is allowed only when faults hit the request.
OK = None
ALLOWED: dict[str, set[tuple[int, str | None]]] = {
    "create": {(201, OK), (409, "EditConflict")},
    "patch-profile": {(200, OK), (404, "UserNotFound"), (409, "EditConflict")},
    "patch-email": {(200, OK), (404, "UserNotFound"), (409, "EditConflict")},
    "patch-permissions": {(200, OK), (404, "UserNotFound"), (409, "EditConflict")},
    "patch-if-match": {
        (200, OK),
        (404, "UserNotFound"),
        (409, "EditConflict"),
        (412, "VersionMismatch"),
    },
    "delete": {(204, OK), (404, "UserNotFound"), (409, "EditConflict"), (412, "VersionMismatch")},
    "key-made": {(201, OK), (404, "UserNotFound"), (409, "EditConflict")},
    "key-added": {
        (201, OK),
        (404, "UserNotFound"),
        (409, "EditConflict"),
        (409, "TooManyApiKeys"),
    },
    "key-revoked": {
        (204, OK),
        (404, "UserNotFound"),
        (404, "ApiKeyNotFound"),
        (409, "EditConflict"),
    },
    "get-user": {(200, OK), (404, "UserNotFound")},
    "get-me": {(200, OK)},
    "list-users": {(200, OK)},
    "find-by-email": {(200, OK)},
    "get-log": {(200, OK), (404, "UserNotFound")},
    "get-apikeys": {(200, OK), (404, "UserNotFound")},
}
WEIGHTS = {
    "create": 14,
    "patch-profile": 16,
    "patch-email": 5,
    "patch-permissions": 6,
    "patch-if-match": 5,
    "delete": 7,
    "key-made": 6,
    "key-added": 6,
    "key-revoked": 7,
    "get-user": 8,
    "get-me": 4,
    "list-users": 4,
    "find-by-email": 4,
    "get-log": 5,
    "get-apikeys": 3,
}
PROFILE_FIELDS = ("name", "affiliation", "contact", "url")


@dataclass
class Outcome:
    """One request of the soak: what was asked, what came back, how many faults hit it."""

    operation: str
    thread: int
    status: int
    code: str | None
    faults: int


@dataclass
class Soak:
    """What a soak run left behind."""

    outcomes: list[Outcome]
    violations: list[Violation]
    faults: Counter[str]
    elapsed: float
    errors: list[str] = field(default_factory=list)


class Pool:
    """User ids and API key ids the threads pick from, shared and locked."""

    def __init__(self, users: list[str], emails: list[str]) -> None:
        self._lock = threading.Lock()
        self.users = list(users)
        self.emails = list(emails)
        self.keys: dict[str, list[str]] = {}

    def user(self, rng: random.Random) -> str:
        with self._lock:
            return rng.choice(self.users)

    def email(self, rng: random.Random) -> str:
        with self._lock:
            return rng.choice(self.emails)

    def add_user(self, user_id: str, email: str) -> None:
        with self._lock:
            self.users.append(user_id)
            self.emails.append(email)

    def add_key(self, user_id: str, key_id: str) -> None:
        with self._lock:
            self.keys.setdefault(user_id, []).append(key_id)

    def key(self, rng: random.Random) -> tuple[str, str] | None:
        with self._lock:
            held = [(user_id, key_id) for user_id, ids in self.keys.items() for key_id in ids]
            return rng.choice(held) if held else None


class Worker:
    """One thread's caller: a user manager whose key no operation touches."""

    def __init__(self, client: ThreadSafeClient, key: str, pool: Pool, rng: random.Random) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}
        self.pool = pool
        self.rng = rng
        # Faults injected into this thread so far, and the count when the
        # operation's own request began (a preparatory read comes before it).
        self.injected: Callable[[], int] = lambda: 0
        self.mark = 0

    def _json(self, method: str, path: str, body: Any, **headers: str) -> Any:
        sent = {**self.headers, "Content-Type": "application/json", **headers}
        return getattr(self.client.http, method)(
            f"{API}{path}", headers=sent, body=json.dumps(body)
        )

    def _token(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"

    def _email(self) -> str:
        return f"soak-{self._token()}@Example.org"

    def run(self, operation: str) -> Any:
        http, rng, pool = self.client.http, self.rng, self.pool
        target = pool.user(rng)
        if operation == "create":
            email = self._email()
            user: dict[str, Any] = {"email": email, "name": "Soak"}
            if rng.random() < 0.3:
                user["permissions"] = ["USER_MANAGEMENT"]
            extra = {"Idempotency-Key": self._token()} if rng.random() < 0.5 else {}
            response = self._json("post", "/user", {"user": user}, **extra)
            if response.status_code == 201:
                pool.add_user(response.json_body["id"], email)
            return response
        if operation == "patch-profile":
            name = rng.choice(PROFILE_FIELDS)
            value = (
                f"https://example.org/{self._token()}"
                if name == "url"
                else f"{name} {rng.random()}"
            )
            return self._json("patch", f"/user/{target}", {"user": {name: value}})
        if operation == "patch-email":
            return self._json("patch", f"/user/{target}", {"user": {"email": self._email()}})
        if operation == "patch-permissions":
            permissions = rng.choice(
                [[], ["USER_MANAGEMENT"], ["DATA_EDIT"], ["USER_MANAGEMENT", "DATA_EDIT"]]
            )
            return self._json("patch", f"/user/{target}", {"user": {"permissions": permissions}})
        if operation == "patch-if-match":
            version = self._version(target)
            return self._json(
                "patch",
                f"/user/{target}",
                {"user": {"contact": f"c {rng.random()}"}},
                **{"If-Match": version},
            )
        if operation == "delete":
            headers = dict(self.headers)
            if rng.random() < 0.3:
                headers["If-Match"] = self._version(target)
            return http.delete(f"{API}/user/{target}", headers=headers)
        if operation in ("key-made", "key-added"):
            if operation == "key-made":
                response = http.post(f"{API}/user/{target}/apikey", headers=self.headers)
            else:
                response = self._json("post", f"/user/{target}/apikeys", {"name": "soak"})
            if response.status_code == 201:
                pool.add_key(target, response.json_body["id"])
            return response
        if operation == "key-revoked":
            held = pool.key(rng)
            user_id, key_id = held if held else (target, "0" * 16)
            return http.delete(f"{API}/user/{user_id}/apikeys/{key_id}", headers=self.headers)
        if operation == "get-user":
            return http.get(f"{API}/user/{target}", headers=self.headers)
        if operation == "get-me":
            return http.get(f"{API}/user/me", headers=self.headers)
        if operation == "list-users":
            return http.get(f"{API}/user?limit=50", headers=self.headers)
        if operation == "find-by-email":
            return http.get(f"{API}/user?email={pool.email(rng)}", headers=self.headers)
        if operation == "get-log":
            return http.get(f"{API}/user/{target}/log?limit=1000", headers=self.headers)
        if operation == "get-apikeys":
            return http.get(f"{API}/user/{target}/apikeys", headers=self.headers)
        raise AssertionError(f"unknown operation {operation}")

    def _version(self, user_id: str) -> str:
        """A version to send in If-Match: mostly one recently read, sometimes a stale one."""
        version = self.rng.randint(1, 3)
        response = self.client.http.get(f"{API}/user/{user_id}", headers=self.headers)
        if response.status_code == 200 and self.rng.random() < 0.8:
            version = response.json_body["user"]["version"]
        self.mark = self.injected()
        return str(version)


def _plan(count: int, rng: random.Random) -> list[str]:
    names = list(WEIGHTS)
    return rng.choices(names, weights=[WEIGHTS[name] for name in names], k=count)


def _run(client: ThreadSafeClient) -> Soak:
    rng = random.Random(SEED)
    managers = []
    for index in range(THREADS):
        body = {"email": f"manager-{index}@example.org", "permissions": list(PERMISSIONS)}
        manager = create_user(SYSTEM, NewUser(body, MANAGER_FIELDS))
        managers.append(apikeys.make_api_key(SYSTEM, manager.id, container.settings())["key"])
    users, emails = [], []
    for index in range(SEED_USERS):
        email = f"seed-{index}@example.org"
        users.append(create_user(SYSTEM, NewUser({"email": email}, MANAGER_FIELDS)).id)
        emails.append(email)
    pool = Pool(users, emails)
    workers = [Worker(client, key, pool, random.Random(rng.getrandbits(64))) for key in managers]
    for worker in workers:  # the first use of each key records it
        assert worker.run("get-me").status_code == 200
    plan = _plan(OPERATIONS, rng)
    plan_lock = threading.Lock()
    outcomes: list[Outcome] = []
    errors: list[str] = []
    started = time.monotonic()

    def next_operation() -> str | None:
        with plan_lock:
            return plan.pop() if plan else None

    def work(worker: Worker) -> None:
        thread = threading.get_ident()
        while (operation := next_operation()) is not None:
            worker.mark = injector.in_thread()
            try:
                response = worker.run(operation)
            except Exception as exc:  # the client turns the service's own errors into 500s
                errors.append(f"{operation}: {exc!r}")
                continue
            body = response.json_body if response.body else None
            code = body.get("Code") if isinstance(body, dict) else None
            outcome = Outcome(
                operation, thread, response.status_code, code, injector.in_thread() - worker.mark
            )
            with plan_lock:
                outcomes.append(outcome)

    with (
        serialized_storage(),
        inject_faults(
            share=FAULT_SHARE, kinds=KINDS, seed=SEED, full_retries=True, every_kind=True
        ) as injector,
    ):
        for worker in workers:
            worker.injected = injector.in_thread
        threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        faults = injector.counts
    with serialized_storage():
        violations = check()
    return Soak(outcomes, violations, faults, elapsed, errors)


@pytest.fixture(scope="module")
def soak() -> Iterator[Soak]:
    with mock_aws():
        moto_dynamodb.install(environment.ENVIRON["AWS_DEFAULT_REGION"])
        models.create_tables()
        result = _run(ThreadSafeClient(app, "test", str(ROOT)))
        # What the run did, shown with ``pytest -s``.
        print(f"\n{len(result.outcomes)} operations in {result.elapsed:.1f} s; ", end="")
        print(f"faults {dict(result.faults)}\n{_table(result.outcomes)}")
        yield result


def _table(outcomes: list[Outcome]) -> str:
    counts = Counter((o.operation, o.status, o.code, o.faults > 0) for o in outcomes)
    return "\n".join(f"{n:4d} {key}" for key, n in sorted(counts.items(), key=str))


def test_soak_leaves_no_invariant_violation(soak: Soak) -> None:
    assert soak.violations == [], "\n".join(json.dumps(v.as_dict()) for v in soak.violations)


def test_soak_answers_5xx_only_as_503_while_faults_hit_the_request(soak: Soak) -> None:
    bad = [
        o
        for o in soak.outcomes
        if o.status >= 500 and not (o.status == 503 and o.code == "StorageUnavailable" and o.faults)
    ]
    assert bad == [], _table(bad)


def test_soak_answers_only_what_the_contract_allows(soak: Soak) -> None:
    bad = [
        o
        for o in soak.outcomes
        if (o.status, o.code) not in ALLOWED[o.operation]
        and not (o.status == 503 and o.code == "StorageUnavailable" and o.faults)
    ]
    assert bad == [], _table(bad)


def test_soak_answers_every_operation(soak: Soak) -> None:
    assert soak.errors == []
    assert len(soak.outcomes) == OPERATIONS


def test_soak_injects_every_kind_of_fault(soak: Soak) -> None:
    assert set(soak.faults) == set(KINDS), soak.faults
