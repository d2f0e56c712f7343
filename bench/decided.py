"""Reads per request of the routes that show the caller's own record, served as API
Gateway serves them (bench/gateway.py): the decision made for the request, whose
read the route uses, and a decision the gateway cached, after which the route reads."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import gateway
from bench.harness import Counts, counting
from bench.table import Row, _ms, _ops
from bench.world import API, World

READS = ("GetItem", "BatchGetItem", "Query", "Scan")
FRESH_TARGET = (1, 0)  # reads: authorizer, route
CACHED_TARGET = (0, 1)


@dataclass(frozen=True)
class OwnRecord:
    name: str
    resource: str
    credential: str  # "apikey" or "token"

    def params(self, world: World) -> dict[str, str]:
        return {"user_id": world.admin.id} if "{user_id}" in self.resource else {}

    def header(self, world: World) -> str:
        return world.token_header if self.credential == "token" else world.api_key_header


ROUTES = (
    OwnRecord("GET /user/me", f"{API}/user/me", "apikey"),
    OwnRecord("GET /user/me (access token)", f"{API}/user/me", "token"),
    OwnRecord("GET /user/{id}, own record", f"{API}/user/{{user_id}}", "apikey"),
    OwnRecord(
        "GET /user/{id}/permissions, own record", f"{API}/user/{{user_id}}/permissions", "apikey"
    ),
)


def _reads(counts: Counts, by_authorizer: bool) -> int:
    return sum(1 for call in counts.part(by_authorizer).calls if call.operation in READS)


def _median_ms(serve: Callable[[], object], iterations: int) -> float:
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        serve()
        times.append((time.perf_counter() - started) * 1000)
    return float(statistics.median(times))


def _row(name: str, counts: Counts, median: float, target: tuple[int, int]) -> Row:
    authorizer, route = _reads(counts, True), _reads(counts, False)
    met = (authorizer, route) == target
    return Row(
        measure=name,
        trips=f"{counts.round_trips} = {counts.part(True).round_trips} + "
        f"{counts.part(False).round_trips}",
        calls=_ops(counts),
        items=f"{counts.items_read} = {counts.part(True).items_read} + "
        f"{counts.part(False).items_read}",
        median=_ms(median),
        target=f"reads {target[0]} + {target[1]}",
        result="pass" if met else f"miss: reads {authorizer} + {route}",
    )


def rows(world: World, iterations: int) -> list[Row]:
    """Two rows per route: the decision made for the request, and a cached one."""
    result = []
    for r in ROUTES:
        params, header = r.params(world), r.header(world)
        context = gateway.decide(header, r.resource.format(**params))  # also a first use
        fresh = functools.partial(_ok, gateway.decided, r.resource, params, header)
        cached = functools.partial(_ok, gateway.cached, r.resource, params, header, context)
        for serve in (fresh, cached):
            serve()  # untimed
        with counting() as fresh_counts:
            fresh()
        with counting() as cached_counts:
            cached()
        result.append(
            _row(
                f"{r.name}: decision made for the request (API Gateway's cache missed)",
                fresh_counts,
                _median_ms(fresh, iterations),
                FRESH_TARGET,
            )
        )
        result.append(
            _row(
                f"{r.name}: decision cached by API Gateway",
                cached_counts,
                _median_ms(cached, iterations),
                CACHED_TARGET,
            )
        )
    return result


def _ok(serve: Callable[..., gateway.Reply], *args: Any) -> gateway.Reply:
    reply = serve(*args)
    if reply.status != 200:
        raise RuntimeError(f"{reply.status} {reply.body}")
    return reply
