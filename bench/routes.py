"""Round trips and latency per route, judged against their targets."""

from __future__ import annotations

from bench.table import Row, _ms, _ops
from bench.timing import Timing
from bench.world import Counted, Scenario

# Targets; never loosened here. A miss is reported, not hidden.
MAX_AUTHORIZER_TRIPS = 1
MAX_ROUTE_READS = 1
CHANGE_TRANSACTIONS = 1
# An erasure (API.md section 10) reads the user, then finds what else names the
# person: its keys, sessions and log entries (a Query each) and its idempotency
# records (a Scan of a table holding one day of creates); its writes after the
# one transaction are one per log entry, session and key found, and one to finish.
ERASURE = "DELETE /user/{id}"
MAX_ERASURE_READS = 5
# A page of a log names the people on it (API.md section 7: `actors`, `records`): the
# page's Query, then one BatchGetItem of those people.
NAMING_PAGES = frozenset({"GET /user/{id}/log", "GET /user/{id}/actions"})
MAX_NAMING_PAGE_READS = 2


def judge(sc: Scenario, counted: Counted) -> tuple[list[str], list[str]]:
    """A route's round-trip targets, and those its counts miss."""
    authorizer, route = counted.authorizer, counted.route
    transactions = route.operations()["TransactWriteItems"]
    reads = route.round_trips - transactions
    misses = []
    target = []
    if sc.credential:
        target.append(f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}")
        alone = counted.decide.round_trips if counted.decide is not None else 0
        if max(authorizer.round_trips, alone) > MAX_AUTHORIZER_TRIPS:
            misses.append(f"authorizer {max(authorizer.round_trips, alone)}")
    if sc.kind == "read":
        most = MAX_NAMING_PAGE_READS if sc.name in NAMING_PAGES else MAX_ROUTE_READS
        target.append(f"route ≤ {most} read")
        if route.round_trips > most:
            misses.append(f"route {route.round_trips} round trips")
    else:
        ops = route.operations()
        most = MAX_ERASURE_READS if sc.name == ERASURE else MAX_ROUTE_READS
        if sc.name == ERASURE:
            reads = sum(ops[op] for op in ("GetItem", "Query", "Scan", "BatchGetItem"))
        target.append(f"{CHANGE_TRANSACTIONS} TransactWriteItems + ≤ {most} read")
        if transactions != CHANGE_TRANSACTIONS:
            misses.append(f"{transactions} TransactWriteItems")
        if reads > most:
            misses.append(f"{reads} reads")
    return target, misses


def route_row(sc: Scenario, counted: Counted, timing: Timing) -> Row:
    """A route's counts and latency, judged against the issue's targets."""
    authorizer, route = counted.authorizer, counted.route
    trips = f"{counted.total.round_trips} = {authorizer.round_trips} + {route.round_trips}"
    if counted.decide is not None and (counted.decide.operations() != authorizer.operations()):
        trips += f" (decide alone: {counted.decide.round_trips})"
    target, misses = judge(sc, counted)
    return Row(
        measure=sc.name,
        trips=trips,
        calls=_ops(counted.total),
        items=f"{counted.total.items_read} = {authorizer.items_read} + {route.items_read}",
        median=_ms(timing.route_ms),
        floor=_ms(timing.floor_ms),
        ratio=f"{timing.ratio:.2f}",
        target="; ".join(target),
        result="miss: " + ", ".join(misses) if misses else "pass",
    )
