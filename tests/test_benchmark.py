"""The benchmark's counting, at tiny size: DynamoDB calls per request, never timings."""

from __future__ import annotations

import ast
from collections import Counter

import boto3
from chalice.test import Client

from bench import harness, pages, routes
from bench import world as bench_world
from chalicelib.models import User
from tests.conftest import ROOT


def test_get_me_makes_one_authorizer_read_and_one_route_read(client: Client) -> None:
    world = bench_world.make_world(client)

    counted = bench_world.count_scenario(world, bench_world.scenario("GET /user/me"))

    assert counted.total.operations() == Counter({"BatchGetItem": 1, "GetItem": 1})
    assert counted.authorizer.operations() == Counter({"BatchGetItem": 1})
    assert counted.decide is not None
    assert counted.decide.operations() == Counter({"BatchGetItem": 1})
    assert counted.total.items_read == 3  # the key and its user, then the user


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

    rows = key_use_rows()
    assert len(rows) == 4
    assert all(row.result == "pass" for row in rows), [(r.measure, r.calls) for r in rows]
    assert rows[0].calls == "1 UpdateItem"  # one address, within the hour: the first use only
