"""The benchmark's counting, at tiny size: DynamoDB calls per request, never timings."""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

import boto3
import pytest
from chalice.test import Client

from bench import cost, decided, harness, pages, routes
from bench import world as bench_world
from chalicelib.storage.models import User
from devtools.local_stack import Store
from tests.conftest import ROOT


def test_get_me_makes_one_read_the_authorizers(client: Client) -> None:
    world = bench_world.make_world(client)

    counted = bench_world.count_scenario(world, bench_world.scenario("GET /user/me"))

    assert counted.total.operations() == Counter({"BatchGetItem": 1})
    assert counted.authorizer.operations() == Counter({"BatchGetItem": 1})
    assert counted.decide is not None
    assert counted.decide.operations() == Counter({"BatchGetItem": 1})
    assert counted.total.items_read == 2  # the key and its user, shown by the route


def test_read_routes_read_once_per_record_whether_or_not_the_decision_was_cached(
    client: Client,
) -> None:
    world = bench_world.make_world(client)

    rows = decided.rows(world, iterations=1)

    assert len(rows) == 2 * len(decided.ROUTES)
    assert all(row.result == "pass" for row in rows), [(r.measure, r.result) for r in rows]
    twice = [route for route in decided.ROUTES for _ in ("fresh", "cached")]
    own = [row for route, row in zip(twice, rows, strict=True) if route.own]
    assert {row.calls for row in own} == {"BatchGetItem 1", "GetItem 1"}
    # Every read route the benchmark times through the test client is served both ways.
    read_routes = {sc.name for sc in bench_world.scenarios() if sc.kind == "read" and sc.credential}
    served = {row.measure.split(":")[0].split(",")[0] for row in rows}
    assert {name.split(" (")[0] for name in read_routes} <= {n.split(" (")[0] for n in served}


def test_patch_user_writes_one_transaction(client: Client) -> None:
    world = bench_world.make_world(client)

    counted = bench_world.count_scenario(world, bench_world.scenario("PATCH /user/{id}"))

    assert counted.route.operations()["TransactWriteItems"] == 1
    assert counted.authorizer.round_trips == 1


def test_floor_replays_the_same_calls_on_a_fresh_record(client: Client) -> None:
    world = bench_world.make_world(client)
    sc = bench_world.scenario("DELETE /user/{id}")
    counted = bench_world.count_scenario(world, sc)

    floor = bench_world.floor_for(sc, counted, world)  # makes the fresh record
    with harness.counting() as bare:
        floor()

    # The same calls by construction; on the fresh record they read as much.
    assert bare.items_read == counted.total.items_read > 0


def test_every_route_meets_its_round_trip_target(client: Client) -> None:
    world = bench_world.make_world(client)

    missed = {}
    for sc in bench_world.scenarios():
        counted = bench_world.count_scenario(world, sc)
        assert counted.total.round_trips >= 1, sc.name
        _, misses = routes.judge(sc, counted)
        if misses:
            missed[sc.name] = misses
    assert missed == {}


def test_recorded_answers_stand_in_for_moto(client: Client) -> None:
    world = bench_world.make_world(client)
    sc = bench_world.scenario("GET /user/{id}")
    request = sc.request(world, world.subject)
    first = bench_world.send(world, request, 200)

    with pages.answered_from_recording(lambda: bench_world.send(world, request, 200)) as rec:
        # Gone from moto (through a client of its own), still in the recording.
        key = {"id": {"S": world.subject.id}}
        boto3.client("dynamodb").delete_item(TableName=User.Meta.table_name, Key=key)
        again = bench_world.send(world, request, 200)
        assert rec.position == len(rec.answers) == 2  # the authorizer's read, the route's

    assert again.body == first.body
    bench_world.send(world, request, 404)  # moto answers again after the block


def test_bench_never_imports_tests() -> None:
    """tests/ import bench/'s harness and environment; bench/ imports nothing of tests/."""
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n == "tests" or n.startswith("tests.")], path


def test_key_use_rows_stay_within_the_contracts_bound(client: Client) -> None:
    from bench.key_use import key_use_rows

    # 400 requests: 1 s apart they span six minutes and a part, 10 s apart they pass the hour
    # once (4,000 s); the bench's 1,000 only cross each boundary more often.
    rows = key_use_rows(requests=400)
    assert all(row.result == "pass" for row in rows), [(r.measure, r.calls) for r in rows]
    assert [row.calls for row in rows] == [
        "1 UpdateItem",  # one address, within the hour: the first use only
        # two addresses: the first use, then each first change of address a minute on
        "7 UpdateItem",  # 1 s apart: every 61 s
        "2 UpdateItem",  # one address, 10 s apart: the first use, then one when the hour passed
        "58 UpdateItem",  # 10 s apart: every 70 s
    ]


def test_item_size_counts_names_and_values_as_dynamodb_does() -> None:
    item = {
        "id": {"S": "abc"},  # 2 + 3
        "n": {"N": "12345"},  # 1 + (5 digits + 1) // 2 + 1 = 1 + 4
        "ok": {"BOOL": True},  # 2 + 1
        "tags": {"L": [{"S": "ab"}, {"S": "c"}]},  # 4 + 3 + (1 + 2) + (1 + 1)
        "m": {"M": {"k": {"S": "vv"}}},  # 1 + 3 + 1 + 1 + 2
    }

    assert cost.item_size(item) == 5 + 5 + 3 + 12 + 8


def test_transaction_write_units_follow_dynamodbs_rule_of_two_per_item_per_kib() -> None:
    big = {"id": {"S": "x"}, "v": {"S": "y" * 3000}}  # 3,003 bytes: 3 KiB started
    stored = {("t", "a"): {"id": {"S": "a"}, "name": {"S": "Ada"}}}

    def read(table: str, key: dict[str, Any]) -> dict[str, Any]:
        return stored.get((table, key["id"]["S"]), {})

    items = [
        {"Put": {"TableName": "t", "Item": big}},
        {"Update": {"TableName": "t", "Key": {"id": {"S": "a"}}}},
        {"ConditionCheck": {"TableName": "t", "Key": {"id": {"S": "gone"}}}},
    ]

    assert cost.transaction_write_units(items, read) == 2 * 3 + 2 + 2


def test_cost_per_million_adds_gateway_lambda_and_dynamodb_prices() -> None:
    request = cost.Cost(
        "r", read_units=2, write_units=4, invocation_ms=[0.2, 9.1, 0.0], memory_mb=1024
    )

    parts = request.per_million()

    # Each invocation rounded up to the millisecond, one at least.
    assert request.billed_ms == 1 + 10 + 1
    assert parts["Lambda requests"] == 3 * cost.LAMBDA_REQUESTS_PER_MILLION
    assert parts["Lambda duration"] == pytest.approx(cost.LAMBDA_PER_GB_SECOND * 0.012 * 1e6)
    assert parts["DynamoDB reads"] == 2 * cost.DYNAMODB_READ_UNITS_PER_MILLION
    assert parts["DynamoDB writes"] == 4 * cost.DYNAMODB_WRITE_UNITS_PER_MILLION
    assert request.total_per_million() == pytest.approx(sum(parts.values()))


def test_consumed_capacity_is_asked_for_and_added_up_per_request(client: Client) -> None:
    world = bench_world.make_world(client)
    request = bench_world.scenario("GET /user/me").request(world, world.subject)

    with harness.counting() as counts, cost.consumed() as capacity:
        bench_world.send(world, request, 200)

    assert all(call.params.get("ReturnConsumedCapacity") == "TOTAL" for call in counts.calls)
    assert capacity.read > 0
    assert capacity.write == 0


def test_cost_rows_measure_each_request_on_dynamodb_local(local_store: Store) -> None:
    rows = cost.rows(local_store.endpoint, iterations=1)

    by_name = {row.measure.removeprefix("cost: "): row for row in rows}
    assert list(by_name) == [
        "who-am-I (GET /user/me)",
        "who-am-I, authorizer's decision cached",
        "PATCH /user/{id}",
        "POST /user",
        "GET /user (limit 100)",
        "OIDC login, returning user (start + callback)",
    ]
    units = {
        name: dict(part.split(" ") for part in row.calls.split(", "))
        for name, row in by_name.items()
    }
    for name in ("who-am-I (GET /user/me)", "GET /user (limit 100)"):
        assert float(units[name]["RRU"]) > 0
        assert float(units[name]["WRU"]) == 0
    for name in ("PATCH /user/{id}", "POST /user"):  # a transaction: 2 per item, 2+ items
        assert float(units[name]["WRU"]) >= 4
    cached = float(units["who-am-I, authorizer's decision cached"]["RRU"])
    assert 0 < cached < float(units["who-am-I (GET /user/me)"]["RRU"])
    assert all(row.floor.endswith(" per million") for row in rows)
