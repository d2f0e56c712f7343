"""Storage faults on every route (docs/API.md sections 4 and 8).

"A storage fault that the service could not ride out gives 503 with the error
body, and nothing is written." Faults come from ``tests/faults.py``: real
botocore clients answering for DynamoDB, with botocore's retries, PynamoDB's
error translation and the service's own retries all running for real. Each
test compares every item of every table before and after (``stored_items``).

botocore's retry quota belongs to a client, and failing tests drain it: a test
that expects botocore to ride out a fault asks ``inject_faults`` for
``full_retries`` (fresh clients); the others hold whether botocore retries or not.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

from bench import gateway
from chalicelib.config import Secrets, Settings
from chalicelib.http import container
from chalicelib.storage import models
from chalicelib.storage.models import Guard, User
from chalicelib.storage.transactions import ConcurrentChange, Transaction
from tests.conftest import (
    Account,
    assert_error,
    restore_items,
    saved_items,
    stored_items,
    tables_empty,
)
from tests.faults import (
    BATCH_GET,
    THROTTLING,
    TIMEOUT,
    TRANSACT_WRITE,
    TRANSACTION_CONFLICT,
    dynamodb_clients,
    inject_faults,
    lose_answers,
)

API = "/api/v1"
CSRF = "csrf-token-for-fault-tests"


@dataclass
class World:
    """Who acts and on whom: an admin, and a user manager with two API keys."""

    client: Client
    admin: Account
    target: Account
    spare_key_id: str


@pytest.fixture
def world(request: pytest.FixtureRequest, client: Client, aws: None) -> World:
    """The world, its keys' first uses recorded.

    It is made once per worker and settings (its admin, target and spare key
    written, each key used once) and its items are kept (``saved_items``) and put
    back into the empty tables of each later test, as ``admin`` does for its user:
    making it costs several times as much CPU. Each key is used again then (the
    service writes that use only should it be due, as after a fresh world's)."""
    settings, secrets_ = container.settings(), container.secrets()
    made = _WORLDS.get(settings)
    if made is not None and made[0] == secrets_ and tables_empty():
        _, admin, target, spare_key_id, saved = made
        restore_items(saved)
        _use_keys(client, admin, target)
        return World(client, admin, target, spare_key_id)
    empty = tables_empty()
    admin = request.getfixturevalue("admin")
    target = request.getfixturevalue("make_user")(permissions=["USER_MANAGEMENT"], name="Target")
    response = client.http.post(
        f"{API}/user/{target.id}/apikeys",
        headers=admin.json_headers(),
        body=json.dumps({"name": "spare"}),
    )
    assert response.status_code == 201, response.body
    _use_keys(client, admin, target)
    spare_key_id = response.json_body["id"]
    if empty:
        _WORLDS[settings] = (secrets_, admin, target, spare_key_id, saved_items())
    return World(client, admin, target, spare_key_id)


def _use_keys(client: Client, *accounts: Account) -> None:
    """The first use of a key records it; do it now."""
    for account in accounts:
        assert client.http.get(f"{API}/user/me", headers=account.headers).status_code == 200


# Per settings: the secrets the world was made under, its admin, target and spare
# key's id, and its items.
_WORLDS: dict[Settings, tuple[Secrets, Account, Account, str, dict[str, Any]]] = {}


def _json(world: World, account: Account, method: str, path: str, body: Any, **headers: str) -> Any:
    return getattr(world.client.http, method)(
        f"{API}{path}", headers=account.json_headers(**headers), body=json.dumps(body)
    )


def _new_email() -> str:
    return f"new-{secrets.token_hex(4)}@example.org"


Call = Callable[[World], Any]

# Each route: how to call it and the status it answers when all goes well.
WRITES: dict[str, tuple[Call, int]] = {
    "create": (
        lambda w: _json(w, w.admin, "post", "/user", {"user": {"email": _new_email()}}),
        201,
    ),
    "create-idempotent": (
        lambda w: _json(
            w,
            w.admin,
            "post",
            "/user",
            {"user": {"email": _new_email()}},
            **{"Idempotency-Key": secrets.token_hex(8)},
        ),
        201,
    ),
    "patch": (
        lambda w: _json(
            w,
            w.admin,
            "patch",
            f"/user/{w.target.id}",
            {"user": {"name": "Changed", "email": _new_email(), "permissions": []}},
        ),
        200,
    ),
    "patch-if-match": (
        lambda w: _json(
            w,
            w.admin,
            "patch",
            f"/user/{w.target.id}",
            {"user": {"name": "C"}},
            **{"If-Match": "3"},
        ),
        200,
    ),
    "patch-me": (
        lambda w: _json(w, w.target, "patch", "/user/me", {"user": {"affiliation": "Elsewhere"}}),
        200,
    ),
    "delete": (
        lambda w: w.client.http.delete(f"{API}/user/{w.target.id}", headers=w.admin.headers),
        204,
    ),
    "key-replaced": (
        lambda w: w.client.http.post(f"{API}/user/{w.target.id}/apikey", headers=w.admin.headers),
        201,
    ),
    "key-added": (
        lambda w: _json(w, w.admin, "post", f"/user/{w.target.id}/apikeys", {"name": "ci"}),
        201,
    ),
    "key-revoked": (
        lambda w: w.client.http.delete(
            f"{API}/user/{w.target.id}/apikeys/{w.spare_key_id}", headers=w.admin.headers
        ),
        204,
    ),
}


@dataclass
class _Answer:
    status_code: int
    body: str


def _me_after_a_cached_decision(w: World) -> _Answer:
    """``GET /user/me`` as API Gateway serves it after a decision it cached, when the
    route reads the user itself (after one made for the request, as the test
    client's always is, the route shows the authorizer's read: no call to fail)."""
    header = w.target.headers["Authorization"]
    context = gateway.decide(header, f"{API}/user/me")
    reply = gateway.cached(f"{API}/user/me", {}, header, context)
    return _Answer(reply.status, json.dumps(reply.body))


READS: dict[str, tuple[Call, int]] = {
    "list": (lambda w: w.client.http.get(f"{API}/user", headers=w.admin.headers), 200),
    "list-by-email": (
        lambda w: w.client.http.get(f"{API}/user?email={w.target.email}", headers=w.admin.headers),
        200,
    ),
    "me": (_me_after_a_cached_decision, 200),
    "user": (
        lambda w: w.client.http.get(f"{API}/user/{w.target.id}", headers=w.admin.headers),
        200,
    ),
    "apikeys": (
        lambda w: w.client.http.get(f"{API}/user/{w.target.id}/apikeys", headers=w.admin.headers),
        200,
    ),
    "log": (
        lambda w: w.client.http.get(f"{API}/user/{w.target.id}/log", headers=w.admin.headers),
        200,
    ),
    "actions": (
        lambda w: w.client.http.get(f"{API}/user/{w.admin.id}/actions", headers=w.admin.headers),
        200,
    ),
}

ROUTES = {**WRITES, **READS}


# -- the harness itself ------------------------------------------------------


def test_harness_hooks_every_client_the_routes_use(world: World) -> None:
    with inject_faults(share=0.0) as injector:
        statuses = {route: call(world).status_code for route, (call, _) in ROUTES.items()}
    assert max(statuses.values()) < 500, statuses
    assert {"GetItem", "Query", "Scan", BATCH_GET, TRANSACT_WRITE} <= set(injector.attempts)
    # Nothing reached DynamoDB through a client met only on the way.
    assert injector.late == []
    assert len(injector.clients) == len(dynamodb_clients()) == 1  # one, shared by all
    assert injector.total == 0


def test_harness_hooks_a_client_made_while_it_runs(aws: None) -> None:
    with (
        inject_faults(share=1.0, kinds=[TIMEOUT]) as injector,
        pytest.raises(PynamoDBException),
    ):
        Connection(region=User.Meta.region).list_tables()
    assert len(injector.late) == 1
    assert injector.attempts["ListTables"] == injector.counts[TIMEOUT] > 0


def test_harness_throttling_is_retried_by_botocore(aws: None) -> None:
    with (
        inject_faults(share=1.0, kinds=[THROTTLING], limit=1, full_retries=True) as injector,
        pytest.raises(User.DoesNotExist),
    ):
        User.get("nobody", consistent_read=True)
    assert injector.attempts["GetItem"] == 2
    assert injector.counts == {THROTTLING: 1}


def test_harness_transaction_conflict_reaches_the_service_with_its_reason(aws: None) -> None:
    transaction = Transaction()
    transaction.put(Guard(key="email#x@example.org", user_id="x"))
    with (
        inject_faults(share=1.0, kinds=[TRANSACTION_CONFLICT]) as injector,
        pytest.raises(ConcurrentChange),
    ):
        transaction.commit()
    assert injector.counts == {TRANSACTION_CONFLICT: 1}
    assert list(Guard.scan(consistent_read=True)) == []


def test_harness_with_the_same_seed_injects_the_same_faults(aws: None) -> None:
    # Transaction conflicts are never retried by botocore, so each commit is one
    # attempt, whatever is left of botocore's retry quota.
    def run() -> list[str]:
        outcomes = []
        with inject_faults(share=0.5, kinds=[TRANSACTION_CONFLICT], seed=7):
            for index in range(12):
                transaction = Transaction()
                transaction.put(Guard(key=f"email#{index}@example.org", user_id=str(index)))
                try:
                    transaction.commit()
                    outcomes.append("written")
                except ConcurrentChange as exc:
                    reasons = exc.__cause__.cancellation_reasons  # type: ignore[union-attr]
                    outcomes.append(f"conflict {reasons}")
        for guard in Guard.scan(consistent_read=True):
            guard.delete()
        return outcomes

    first = run()
    assert "written" in first
    assert len(set(first)) > 1
    assert run() == first


def test_harness_unhooks_every_client_on_exit(world: World) -> None:
    with inject_faults(share=1.0, kinds=[TIMEOUT]) as injector:
        pass
    injector.active = True  # a handler left registered would now fail every call
    try:
        call, status = READS["user"]
        assert call(world).status_code == status
        assert injector.total == 0
        assert sum(injector.attempts.values()) == 0
    finally:
        injector.active = False


# -- one failed attempt is ridden out ---------------------------------------


@pytest.mark.parametrize("route", list(ROUTES))
def test_route_rides_out_one_timed_out_attempt(world: World, route: str) -> None:
    call, status = ROUTES[route]
    with inject_faults(
        share=1.0, kinds=[TIMEOUT], spare=[BATCH_GET], limit=1, full_retries=True
    ) as injector:
        response = call(world)
    assert injector.total == 1
    assert response.status_code == status, response.body


@pytest.mark.parametrize("route", ["create", "patch"])
def test_route_rides_out_one_throttled_attempt(world: World, route: str) -> None:
    call, status = ROUTES[route]
    with inject_faults(
        share=1.0, kinds=[THROTTLING], spare=[BATCH_GET], limit=1, full_retries=True
    ) as injector:
        response = call(world)
    assert injector.total == 1
    assert response.status_code == status, response.body


@pytest.mark.parametrize("route", list(WRITES))
def test_write_route_rides_out_one_transaction_conflict(world: World, route: str) -> None:
    call, status = WRITES[route]
    with inject_faults(share=1.0, kinds=[TRANSACTION_CONFLICT], limit=1) as injector:
        response = call(world)
    assert injector.total == 1
    assert response.status_code == status, response.body


# -- faults the service cannot ride out: 503 (or 409) and nothing written -----


@pytest.mark.parametrize(
    ("route", "kind"),
    [(route, TIMEOUT) for route in ROUTES] + [("user", THROTTLING)],
)
def test_route_with_every_storage_call_failing_answers_503_and_writes_nothing(
    world: World, route: str, kind: str
) -> None:
    call, _ = ROUTES[route]
    before = stored_items()
    # The authorizer's BatchGetItem is spared: the route itself must meet the fault.
    with inject_faults(share=1.0, kinds=[kind], spare=[BATCH_GET]) as injector:
        response = call(world)
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


@pytest.mark.parametrize(
    ("route", "kind"),
    [(route, TIMEOUT) for route in WRITES] + [("create", THROTTLING), ("patch", THROTTLING)],
)
def test_write_route_whose_transaction_fails_answers_503_and_writes_nothing(
    world: World, route: str, kind: str
) -> None:
    call, _ = WRITES[route]
    before = stored_items()
    with inject_faults(share=1.0, kinds=[kind], only=[TRANSACT_WRITE]) as injector:
        response = call(world)
    assert injector.counts[kind] > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


@pytest.mark.parametrize("route", list(WRITES))
def test_write_route_whose_transaction_keeps_conflicting_answers_409_and_writes_nothing(
    world: World, route: str
) -> None:
    call, _ = WRITES[route]
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TRANSACTION_CONFLICT]) as injector:
        response = call(world)
    assert injector.counts[TRANSACTION_CONFLICT] > 0
    assert_error(response, 409, "EditConflict")
    assert stored_items() == before


def test_patch_with_stale_if_match_answers_412_while_writes_fail(world: World) -> None:
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT], only=[TRANSACT_WRITE]):
        response = _json(
            world,
            world.admin,
            "patch",
            f"/user/{world.target.id}",
            {"user": {"name": "C"}},
            **{"If-Match": "1"},
        )
    assert_error(response, 412, "VersionMismatch")
    assert stored_items() == before


def test_delete_of_the_last_user_manager_answers_409_after_riding_out_a_timeout(
    world: World,
) -> None:
    delete = world.client.http.delete
    assert delete(f"{API}/user/{world.target.id}", headers=world.admin.headers).status_code == 204
    before = stored_items()
    with inject_faults(
        share=1.0, kinds=[TIMEOUT], spare=[BATCH_GET, TRANSACT_WRITE], limit=1, full_retries=True
    ) as injector:
        response = delete(f"{API}/user/{world.admin.id}", headers=world.admin.headers)
    assert injector.total == 1
    assert_error(response, 409, "LastUserManager")
    assert stored_items() == before


# -- the authorizer and the login routes ------------------------------------


@pytest.mark.parametrize("route", ["me", "user", "create"])
def test_auth_route_whose_credentials_cannot_be_read_answers_503(world: World, route: str) -> None:
    """The authorizer's read is a storage fault, not missing or malformed credentials."""
    call, _ = ROUTES[route]
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT], only=[BATCH_GET]) as injector:
        response = call(world)
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


def _login(world: World) -> str:
    response = world.client.http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"api-key": world.target.key}),
    )
    assert response.status_code == 200, response.body
    raw = response.headers.get("Set-Cookie") or []
    cookies = [raw] if isinstance(raw, str) else list(raw)
    (cookie,) = [c for c in cookies if c.startswith("session=")]
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _session_headers(session: str) -> dict[str, str]:
    return {"Cookie": f"session={session}; _csrf_token={CSRF}", "X-CSRF-Token": CSRF}


def test_login_with_api_key_when_storage_fails_answers_503_and_writes_nothing(
    world: World,
) -> None:
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT]) as injector:
        response = world.client.http.post(
            f"{API}/login/apikey",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"api-key": world.target.key}),
        )
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


def test_login_whose_session_cannot_be_stored_answers_503_and_writes_nothing(
    world: World,
) -> None:
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT], only=["PutItem"]) as injector:
        response = world.client.http.post(
            f"{API}/login/apikey",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"api-key": world.target.key}),
        )
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


def test_login_whose_older_sessions_cannot_be_read_answers_503_and_writes_nothing(
    world: World,
) -> None:
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT], only=["Query"]) as injector:
        response = world.client.http.post(
            f"{API}/login/apikey",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"api-key": world.target.key}),
        )
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


def test_access_token_when_storage_fails_answers_503(world: World) -> None:
    session = _login(world)
    with inject_faults(share=1.0, kinds=[TIMEOUT]) as injector:
        response = world.client.http.post(f"{API}/login/token", headers=_session_headers(session))
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")


def test_logout_when_storage_fails_answers_503_and_keeps_the_session(world: World) -> None:
    session = _login(world)
    before = stored_items()
    with inject_faults(share=1.0, kinds=[TIMEOUT]) as injector:
        response = world.client.http.post(f"{API}/logout", headers=_session_headers(session))
    assert injector.total > 0
    assert_error(response, 503, "StorageUnavailable")
    assert stored_items() == before


# -- what the storage never needs to see, and faults the route rides out ---------

LONG_ID = "a" * 3000  # no user can have it; DynamoDB would refuse a key this long


def _attempts_per_call() -> int:
    """How many HTTP attempts botocore makes for one DynamoDB call of the service."""
    retries = models.connection().client.meta.config.retries or {}
    return int(retries["total_max_attempts"])


def test_route_answers_after_a_fault_only_the_authorizer_met(world: World) -> None:
    """API Gateway would keep the authorizer's 'unavailable' for its cache time;
    the route checks the credentials again instead."""
    with inject_faults(
        share=1.0, kinds=[TIMEOUT], only=[BATCH_GET], limit=_attempts_per_call(), full_retries=True
    ) as injector:
        response = world.client.http.get(f"{API}/user/me", headers=world.target.headers)
    assert injector.total == _attempts_per_call()  # every attempt of the authorizer's read
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == world.target.id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/user/{LONG_ID}"),
        ("delete", f"/user/{LONG_ID}"),
        ("get", f"/user/{LONG_ID}/apikeys"),
        ("post", f"/user/{LONG_ID}/apikey"),
        ("delete", f"/user/{LONG_ID}/apikeys/{'0' * 16}"),
        ("get", f"/user/{LONG_ID}/log"),
        ("get", f"/user/{LONG_ID}/actions"),
        ("get", "/user/SYSTEM/log"),
    ],
)
def test_id_no_user_can_have_is_answered_without_reading_the_storage(
    world: World, method: str, path: str
) -> None:
    with inject_faults(share=0.0) as injector:
        response = getattr(world.client.http, method)(f"{API}{path}", headers=world.admin.headers)
    assert injector.attempts == {BATCH_GET: 1}  # the authorizer's read, nothing more
    assert_error(response, 404, "UserNotFound")


def test_key_id_no_key_can_have_is_answered_without_reading_the_storage(world: World) -> None:
    path = f"{API}/user/{world.target.id}/apikeys/{'x' * 2000}"
    with inject_faults(share=0.0) as injector:
        response = world.client.http.delete(path, headers=world.admin.headers)
    assert injector.attempts == {BATCH_GET: 1}
    assert_error(response, 404, "ApiKeyNotFound")


def test_transaction_without_an_answer_says_it_may_have_been_written(world: World) -> None:
    call, _ = WRITES["create"]
    with inject_faults(share=1.0, kinds=[TIMEOUT], only=[TRANSACT_WRITE]):
        response = call(world)
    assert_error(response, 503, "StorageUnavailable")
    assert "may have been written" in response.json_body["Message"]


def test_transaction_refused_by_the_storage_says_nothing_was_written(world: World) -> None:
    call, _ = WRITES["create"]
    with inject_faults(share=1.0, kinds=[THROTTLING], only=[TRANSACT_WRITE]):
        response = call(world)
    assert_error(response, 503, "StorageUnavailable")
    assert "nothing was written" in response.json_body["Message"]


# -- a create whose answer was lost ---------------------------------------------


def test_create_whose_first_write_landed_and_answer_was_lost_answers_201_with_its_id(
    client: Client, admin: Account
) -> None:
    with lose_answers(TRANSACT_WRITE) as lost:
        response = client.http.post(
            f"{API}/user",
            headers=admin.json_headers(),
            body=json.dumps({"user": {"email": "lost.answer@example.org"}}),
        )
    assert lost.lost == 1
    assert response.status_code == 201, response.body
    user_id = response.json_body["id"]
    shown = client.http.get(f"{API}/user?email=lost.answer@example.org", headers=admin.headers)
    assert [user["id"] for user in shown.json_body["users"]] == [user_id]
    log = client.http.get(f"{API}/user/{user_id}/log", headers=admin.headers).json_body["logs"]
    assert [entry["action"] for entry in log] == ["add"]


def test_create_of_a_taken_email_still_answers_409_when_its_answer_was_lost(
    client: Client, admin: Account
) -> None:
    with lose_answers(TRANSACT_WRITE):
        response = client.http.post(
            f"{API}/user",
            headers=admin.json_headers(),
            body=json.dumps({"user": {"email": admin.email}}),
        )
    assert_error(response, 409, "EmailTaken")
