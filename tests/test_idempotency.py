"""``Idempotency-Key`` on ``POST /user``."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalice.test import Client

from app import app
from chalicelib.storage.models import IdempotentRequest, LogEntry, User
from tests.conftest import ROOT
from tests.faults import serialized_storage
from tests.threads import ThreadSafeClient

API = "/api/v1"


def post_user(client: Client, caller: Any, body: dict[str, Any], key: str | None) -> Any:
    headers = caller.json_headers(**({"Idempotency-Key": key} if key is not None else {}))
    return client.http.post(f"{API}/user", headers=headers, body=json.dumps({"user": body}))


def test_retry_with_same_key_and_body_returns_first_answer_and_makes_one_user(
    client: Client, admin: Any
) -> None:
    body = {"email": "retry@example.org", "name": "Retry"}
    first = post_user(client, admin, body, "key-1")
    second = post_user(client, admin, body, "key-1")
    assert first.status_code == second.status_code == 201
    assert first.json_body == second.json_body
    assert [u.id for u in User.by_email.query("retry@example.org")] == [first.json_body["id"]]
    assert len(list(LogEntry.query(first.json_body["id"]))) == 1


def test_same_key_with_other_body_returns_422(client: Client, admin: Any) -> None:
    assert post_user(client, admin, {"email": "one@example.org"}, "key-2").status_code == 201
    response = post_user(client, admin, {"email": "two@example.org"}, "key-2")
    assert response.status_code == 422
    assert response.json_body["Code"] == "IdempotencyKeyReused"
    assert list(User.by_email.query("two@example.org")) == []


def test_same_key_from_another_caller_is_another_request(
    client: Client, admin: Any, make_user: Any
) -> None:
    other = make_user(permissions=["USER_ADD"])
    assert post_user(client, admin, {"email": "a1@example.org"}, "shared").status_code == 201
    assert post_user(client, other, {"email": "a2@example.org"}, "shared").status_code == 201


def test_request_without_key_is_not_remembered(client: Client, admin: Any) -> None:
    assert post_user(client, admin, {"email": "plain@example.org"}, None).status_code == 201
    assert list(IdempotentRequest.scan()) == []
    assert post_user(client, admin, {"email": "plain@example.org"}, None).status_code == 409


def test_failed_first_attempt_is_not_remembered(client: Client, admin: Any) -> None:
    bad = post_user(client, admin, {"email": "not an email"}, "key-3")
    assert bad.status_code == 400
    assert post_user(client, admin, {"email": "fixed@example.org"}, "key-3").status_code == 201


def test_malformed_key_returns_400(client: Client, admin: Any) -> None:
    response = post_user(client, admin, {"email": "k@example.org"}, "x" * 201)
    assert response.status_code == 400
    assert response.json_body["Code"] == "InvalidInput"


def test_concurrent_retries_with_one_key_make_one_user(admin: Any) -> None:
    body = {"email": "concurrent@example.org"}
    barrier = threading.Barrier(6)
    client = ThreadSafeClient(app, "test", str(ROOT))

    def send(_: int) -> Any:
        barrier.wait()
        return post_user(client, admin, body, "key-4")

    # moto's backend serves one request at a time, as DynamoDB applies each atomically.
    with serialized_storage(), ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(send, range(6)))
    ids = {r.json_body["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    assert [r.status_code for r in responses] == [201] * 6
    assert len(list(User.by_email.query("concurrent@example.org"))) == 1


def test_retry_after_the_user_was_erased_is_a_fresh_request_that_makes_a_new_user(
    client: Client, admin: Any
) -> None:
    body = {"email": "gone@example.org", "name": "Gone"}
    first = post_user(client, admin, body, "key-gone")
    assert first.status_code == 201
    erased = first.json_body["id"]
    deleted = client.http.delete(f"{API}/user/{erased}", headers=admin.headers)
    assert deleted.status_code == 204
    assert list(IdempotentRequest.scan()) == []  # erasure removed its record
    retry = post_user(client, admin, body, "key-gone")
    assert retry.status_code == 201, retry.body
    made = retry.json_body["id"]
    assert made != erased
    assert [u.id for u in User.by_email.query("gone@example.org")] == [made]
    again = post_user(client, admin, body, "key-gone")  # remembered anew
    assert (again.status_code, again.json_body) == (201, {"id": made})
    other = post_user(client, admin, {"email": "other@example.org"}, "key-gone")
    assert other.status_code == 422


def test_a_record_an_unfinished_erasure_left_counts_as_removed(client: Client, admin: Any) -> None:
    body = {"email": "half@example.org", "name": "Half"}
    first = post_user(client, admin, body, "key-half")
    erased = first.json_body["id"]
    (record,) = IdempotentRequest.scan()
    deleted = client.http.delete(f"{API}/user/{erased}", headers=admin.headers)
    assert deleted.status_code == 204
    record.save()  # as if a fault had stopped the erasure before its removal
    retry = post_user(client, admin, {**body, "name": "Other"}, "key-half")
    assert retry.status_code == 201, retry.body
    made = retry.json_body["id"]
    assert made != erased
    assert [(r.user_id, r.key) for r in IdempotentRequest.scan()] == [(made, record.key)]
    again = post_user(client, admin, {**body, "name": "Other"}, "key-half")
    assert (again.status_code, again.json_body) == (201, {"id": made})


def test_a_malformed_body_is_400_whatever_its_key(client: Client, admin: Any) -> None:
    first = post_user(client, admin, {"email": "once@example.org"}, "key-once")
    assert first.status_code == 201
    for body in ({"email": ""}, {"name": "no email"}, {"email": "x@example.org", "id": "u1"}):
        response = post_user(client, admin, body, "key-once")
        assert response.status_code in (400, 403), (body, response.body)
    again = post_user(client, admin, {"email": "once@example.org"}, "key-once")
    assert (again.status_code, again.json_body) == (201, first.json_body)
