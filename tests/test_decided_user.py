"""One read per request: a route shows the caller's record as the authorizer read it
for that very request, and reads it again when API Gateway served a cached decision."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from chalice.app import Request
from chalice.test import Client

from bench import gateway
from bench.harness import Counts, counting
from chalicelib import key_format
from chalicelib.http import container, request_io
from chalicelib.identity import auth, sessions
from chalicelib.ids import SYSTEM
from chalicelib.records.users import update_user
from chalicelib.storage.models import ApiKey, User
from tests.conftest import Account

ME = "/api/v1/user/me"
USER = "/api/v1/user/{user_id}"
PERMISSIONS = "/api/v1/user/{user_id}/permissions"


READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def reads(counts: Counts, by_authorizer: bool) -> list[str]:
    """The reads counted, by the authorizer or by the route (a key's first use in
    its hour also writes its last use)."""
    return [call.operation for call in counts.part(by_authorizer).calls if call.operation in READS]


def test_who_am_i_through_the_local_gateway_reads_the_user_once(
    client: Client, make_user: Any
) -> None:
    user = make_user(name="Ada")
    with counting() as counts:
        response = client.http.get(ME, headers=user.headers)
    assert response.status_code == 200, response.body
    assert reads(counts, by_authorizer=True) == ["BatchGetItem"]
    assert reads(counts, by_authorizer=False) == []


def test_a_fresh_decision_and_a_cached_one_answer_alike_with_one_read_each(
    aws: None, admin: Account, make_user: Any
) -> None:
    header = f"Bearer {admin.key}"
    own = {"user_id": admin.id}
    for resource in (ME, USER, PERMISSIONS):
        params = {} if resource == ME else own
        with counting() as fresh_counts:
            fresh = gateway.decided(resource, params, header)
        context = gateway.decide(header, resource.format(**params))
        with counting() as cached_counts:
            cached = gateway.cached(resource, params, header, context)
        assert fresh.status == cached.status == 200, (fresh, cached)
        assert fresh.body == cached.body, resource
        assert reads(fresh_counts, by_authorizer=True) == ["BatchGetItem"], resource
        assert reads(fresh_counts, by_authorizer=False) == [], resource
        assert reads(cached_counts, by_authorizer=True) == [], resource
        assert reads(cached_counts, by_authorizer=False) == ["GetItem"], resource


def test_a_cached_decision_never_shows_a_record_older_than_the_request(
    aws: None, make_user: Any
) -> None:
    user = make_user(name="Before")
    header = f"Bearer {user.key}"
    context = gateway.decide(header, ME)
    assert "Before" in context["user"]
    update_user(SYSTEM, user.id, {"name": "After"}, ("name",))
    reply = gateway.cached(ME, {}, header, context)
    assert reply.status == 200
    assert reply.body["user"]["name"] == "After"


def test_another_users_record_is_read_though_the_decision_carries_the_callers(
    aws: None, admin: Account, make_user: Any
) -> None:
    other = make_user(name="Other")
    with counting() as counts:
        reply = gateway.decided(USER, {"user_id": other.id}, f"Bearer {admin.key}")
    assert reply.status == 200
    assert reply.body["user"]["id"] == other.id
    assert reply.body["user"]["name"] == "Other"
    assert reads(counts, by_authorizer=False) == ["GetItem"]


def test_the_context_carries_the_record_as_strings_and_no_key_secret(
    aws: None, make_user: Any
) -> None:
    user = make_user()
    context = gateway.decide(f"Bearer {user.key}", ME)
    assert all(isinstance(value, str) for value in context.values())
    assert int(context["read_at"]) > 0
    parts = key_format.parse(user.key, container.settings().api_key_prefix)
    assert parts is not None
    stored_key = ApiKey.get(user.id, parts.key_id, consistent_read=True)
    for value in context.values():
        assert parts.secret not in value
        assert stored_key.secret_hash not in value
    stored = User.get(user.id, consistent_read=True)
    assert stored.api_key_ids  # the record names its keys by id: no secret
    assert User.from_raw_data(json.loads(context["user"])).api_key_ids == stored.api_key_ids


def test_a_key_and_an_access_token_carry_the_record_as_stored(aws: None, make_user: Any) -> None:
    user = make_user(name="Ada", permissions=["USER_SEARCH"])
    session = sessions.start_session(user.id)
    settings = container.settings()
    token = sessions.issue_token(
        session.cookie, container.session_secret(), settings.api_key_max_days
    )["token"]
    stored = User.get(user.id, consistent_read=True).serialize()
    for header in (f"Bearer {user.key}", f"Bearer {token}"):
        context = gateway.decide(header, ME)
        assert User.from_raw_data(json.loads(context["user"])).serialize() == stored


def test_a_record_too_large_for_the_context_is_left_to_the_route(aws: None, make_user: Any) -> None:
    user = make_user()
    stored = User.get(user.id, consistent_read=True)
    item = stored.serialize()
    assert "user" in auth.Decision(user_id=user.id, user=item, read_at=1.0).context()
    stored.contact = "x" * auth.CARRIED_USER_CHARS
    context = auth.Decision(user_id=user.id, user=stored.serialize(), read_at=1.0).context()
    assert "user" not in context
    assert "read_at" not in context
    header = f"Bearer {user.key}"
    fresh = gateway.decide(header, ME)
    del fresh["user"]
    with counting() as counts:
        reply = gateway.route(ME, {}, header, fresh, gateway.now_ms() - 60_000)
    assert reply.status == 200
    assert reply.body["user"]["id"] == user.id
    assert reads(counts, by_authorizer=False) == ["GetItem"]


def _request(context: dict[str, str], arrived: int | None) -> Request:
    request_context: dict[str, Any] = {
        "httpMethod": "GET",
        "resourcePath": ME,
        "authorizer": context,
    }
    if arrived is not None:
        request_context["requestTimeEpoch"] = arrived
    event = {
        "multiValueQueryStringParameters": None,
        "headers": {},
        "pathParameters": None,
        "requestContext": request_context,
        "body": None,
        "stageVariables": None,
    }
    return Request(event)


def test_a_decision_counts_as_made_for_the_request_only_when_read_after_it_arrived(
    aws: None, make_user: Any
) -> None:
    user = make_user()
    context = gateway.decide(f"Bearer {user.key}", ME)
    read_at = int(context["read_at"])
    local = container.settings()
    deployed = replace(local, environment="aws")
    assert local.is_local and not deployed.is_local
    for settings in (local, deployed):
        assert request_io.decided_user(_request(context, read_at - 1), settings) is not None
        assert request_io.decided_user(_request(context, read_at), settings) is None
        assert request_io.decided_user(_request(context, read_at + 5), settings) is None
    # chalice local and the test client give no arrival time: they decide every request.
    assert request_io.decided_user(_request(context, None), local) is not None
    assert request_io.decided_user(_request(context, None), deployed) is None
    someone_else = {**context, "user_id": "0" * 32}
    assert request_io.decided_user(_request(someone_else, read_at - 1), local) is None
