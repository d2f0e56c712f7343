"""Reads per request of every read route served as API Gateway serves it (bench/gateway.py):
the decision made for the request, and a decision the gateway cached.

A route that shows the caller's own record uses the authorizer's read when the
decision was made for the request, and reads the record itself after a cached
one: reads 1 + 0 and 0 + 1 (authorizer + route). Any other read route reads what
it shows either way, within the route's bound (bench/routes.py), and the
authorizer reads once when it runs: 1 + the route's reads, then 0 + the same.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import gateway
from bench.harness import Counts, counting
from bench.routes import MAX_NAMING_PAGE_READS, MAX_ROUTE_READS
from bench.table import Row, _ms, _ops
from bench.world import API, PAGE, World

READS = ("GetItem", "BatchGetItem", "Query", "Scan")
FRESH_TARGET = (1, 0)  # reads of an own-record route: authorizer, route
CACHED_TARGET = (0, 1)


@dataclass(frozen=True)
class ReadRoute:
    name: str
    resource: str
    credential: str = "apikey"  # "apikey" or "token"
    own: bool = True  # shows the caller's own record; else the managed user's, or a list
    query: tuple[tuple[str, str], ...] = ()
    most_reads: int = MAX_ROUTE_READS  # the route's bound, when it shows another's record

    def params(self, world: World) -> dict[str, str]:
        if "{user_id}" not in self.resource:
            return {}
        return {"user_id": world.admin.id if self.own else world.subject.id}

    def header(self, world: World) -> str:
        return world.token_header if self.credential == "token" else world.api_key_header

    def targets(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Reads (authorizer, route) for a decision made for the request, then a cached one;
        for another's record the route's figure is a bound."""
        if self.own:
            return FRESH_TARGET, CACHED_TARGET
        return (1, self.most_reads), (0, self.most_reads)


PAGED = (("limit", str(PAGE)),)
ROUTES = (
    ReadRoute("GET /user/me", f"{API}/user/me"),
    ReadRoute("GET /user/me (access token)", f"{API}/user/me", "token"),
    ReadRoute("GET /user/{id}, own record", f"{API}/user/{{user_id}}"),
    ReadRoute("GET /user/{id}/permissions, own record", f"{API}/user/{{user_id}}/permissions"),
    ReadRoute(f"GET /user (limit {PAGE})", f"{API}/user", own=False, query=PAGED),
    ReadRoute("GET /user/{id}, another's record", f"{API}/user/{{user_id}}", own=False),
    ReadRoute(
        "GET /user/{id}/permissions, another's record",
        f"{API}/user/{{user_id}}/permissions",
        own=False,
    ),
    ReadRoute("GET /user/{id}/apikeys", f"{API}/user/{{user_id}}/apikeys", own=False),
    ReadRoute(
        f"GET /user/{{id}}/log (limit {PAGE})",
        f"{API}/user/{{user_id}}/log",
        own=False,
        query=PAGED,
        most_reads=MAX_NAMING_PAGE_READS,
    ),
    ReadRoute(
        f"GET /user/{{id}}/actions (limit {PAGE})",
        f"{API}/user/{{user_id}}/actions",
        own=False,
        query=PAGED,
        most_reads=MAX_NAMING_PAGE_READS,
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


def _row(name: str, counts: Counts, median: float, target: tuple[int, int], exact: bool) -> Row:
    authorizer, route = _reads(counts, True), _reads(counts, False)
    met = authorizer == target[0] and (route == target[1] if exact else route <= target[1])
    return Row(
        measure=name,
        trips=f"{counts.round_trips} = {counts.part(True).round_trips} + "
        f"{counts.part(False).round_trips}",
        calls=_ops(counts),
        items=f"{counts.items_read} = {counts.part(True).items_read} + "
        f"{counts.part(False).items_read}",
        median=_ms(median),
        target=f"reads {target[0]} + {target[1] if exact else f'≤ {target[1]}'}",
        result="pass" if met else f"miss: reads {authorizer} + {route}",
    )


def rows(world: World, iterations: int) -> list[Row]:
    """Two rows per route: the decision made for the request, and a cached one."""
    result = []
    for r in ROUTES:
        params, header, query = r.params(world), r.header(world), dict(r.query)
        context = gateway.decide(header, r.resource.format(**params))  # also a first use
        fresh = functools.partial(_ok, gateway.decided, r.resource, params, header, query)
        cached = functools.partial(_ok, gateway.cached, r.resource, params, header, context, query)
        for serve in (fresh, cached):
            serve()  # untimed
        with counting() as fresh_counts:
            fresh()
        with counting() as cached_counts:
            cached()
        fresh_target, cached_target = r.targets()
        result.append(
            _row(
                f"{r.name}: decision made for the request (API Gateway's cache missed)",
                fresh_counts,
                _median_ms(fresh, iterations),
                fresh_target,
                r.own,
            )
        )
        result.append(
            _row(
                f"{r.name}: decision cached by API Gateway",
                cached_counts,
                _median_ms(cached, iterations),
                cached_target,
                r.own,
            )
        )
    return result


def _ok(serve: Callable[..., gateway.Reply], *args: Any) -> gateway.Reply:
    reply = serve(*args)
    if reply.status != 200:
        raise RuntimeError(f"{reply.status} {reply.body}")
    return reply
