"""What a request costs: the DynamoDB capacity it consumes, the Lambda time and memory it
bills, and from these the price of a million such requests.

The requests run through ``chalice.test.Client`` (the authorizer, then the route, in this
process) against DynamoDB Local, which answers ``ReturnConsumedCapacity`` from item sizes
as DynamoDB does (moto's figures ignore item size). Every DynamoDB call made is asked for
``ReturnConsumedCapacity=TOTAL`` by a botocore hook; reads (GetItem, BatchGetItem, Query,
Scan, TransactGetItems) count as read request units, everything else as write request
units. One exception: DynamoDB Local's figure for ``TransactWriteItems`` is not
DynamoDB's (it reports 4 units for one small Put and 4 for two), so a transaction's
write units are worked out by DynamoDB's published rule instead: 2 per item per
started KiB, the item's size taken as DynamoDB counts it (``item_size``) from the Put's
item, or from the stored item for an Update, Delete or ConditionCheck (an Update's
new values added).

Lambda: each request is two invocations when API Gateway has not cached the authorizer's
decision (the authorizer, then the route) and one when it has; each is billed by its
duration rounded up to the millisecond, times the memory the ``prod`` stage configures.
The durations are this machine's, with DynamoDB Local on 127.0.0.1 as the store: an
estimate of Lambda's, not a reading of it.

Run alone: ``python -m bench.cost --endpoint http://127.0.0.1:PORT`` (a DynamoDB-compatible
store that honours ``ReturnConsumedCapacity``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from chalice.test import Client

from bench.harness import Counts, counting
from bench.table import Row, quiet_request_log

ROOT = Path(__file__).resolve().parent.parent

# List prices, US East (N. Virginia), on-demand, as AWS publishes them in 2025
# (DynamoDB's on-demand prices after their November 2024 reduction; Lambda on x86_64;
# REST APIs, first 333 million requests a month). Free tiers left out.
PRICES_AS_OF = "AWS list prices, us-east-1, 2025 (DynamoDB on-demand, Lambda x86_64, REST API)"
API_GATEWAY_PER_MILLION = 3.50
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_PER_GB_SECOND = 0.0000166667
DYNAMODB_READ_UNITS_PER_MILLION = 0.125
DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


def memory_mb() -> int:
    """The memory the deployed functions get: the ``prod`` stage's ``lambda_memory_size``."""
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    return int(stages["prod"]["lambda_memory_size"])


# --- consumed capacity ------------------------------------------------------------


@dataclass
class Capacity:
    """Request units consumed by the calls counted (bench/harness.py)."""

    counts: Counts

    @property
    def read(self) -> float:
        return sum(c.units for c in self.counts.calls if c.operation in READ_OPERATIONS)

    @property
    def write(self) -> float:
        return sum(c.units for c in self.counts.calls if c.operation not in READ_OPERATIONS)


def item_size(item: dict[str, Any]) -> int:
    """An item's size in bytes as DynamoDB counts it for capacity: each attribute's name
    (UTF-8) plus its value: strings and binaries their length, a number about one byte
    per two significant digits plus one, booleans and nulls 1, lists and maps 3 plus 1
    per element plus their contents, sets their elements."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "B":
        return len(content)
    if kind == "N":
        return _number_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in content.items())
    if kind == "SS":
        return sum(len(element.encode()) for element in content)
    if kind == "NS":
        return sum(_number_size(element) for element in content)
    return sum(len(element) for element in content)  # BS


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def transaction_write_units(
    items: list[dict[str, Any]], stored: Callable[[str, dict[str, Any]], dict[str, Any]]
) -> float:
    """The write units of a ``TransactWriteItems`` by DynamoDB's rule: 2 per item per
    started KiB; ``stored(table, key)`` gives an item as it is before the transaction."""
    units = 0
    for entry in items:
        ((action, spec),) = entry.items()
        if action == "Put":
            size = item_size(spec["Item"])
        else:
            size = item_size(stored(spec["TableName"], spec["Key"]) or spec["Key"])
            size += item_size(spec.get("ExpressionAttributeValues", {}))
        units += 2 * max(1, math.ceil(size / 1024))
    return float(units)


_STORE: list[Any] = []  # a client of the same store whose calls nobody counts


def _transaction_units(items: list[dict[str, Any]]) -> float:
    """A transaction's write units, its items as the store holds them before it runs."""

    def stored(table: str, key: dict[str, Any]) -> dict[str, Any]:
        found = _STORE[0].get_item(TableName=table, Key=key, ConsistentRead=True)
        return dict(found.get("Item", {}))

    return transaction_write_units(items, stored)


@contextlib.contextmanager
def consumed() -> Iterator[Capacity]:
    """The request units consumed by the DynamoDB calls made inside the block."""
    with counting(capacity=_transaction_units) as counts:
        yield Capacity(counts)


# --- price -----------------------------------------------------------------------


@dataclass
class Cost:
    """One kind of request: what it consumes and what a million of them cost."""

    name: str
    read_units: float
    write_units: float
    invocation_ms: list[float] = field(default_factory=list)  # each Lambda invocation
    memory_mb: int = 512

    @property
    def billed_ms(self) -> int:
        """Lambda bills each invocation by the millisecond, rounded up, one at least."""
        return sum(_billed(ms) for ms in self.invocation_ms)

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024

    def per_million(self) -> dict[str, float]:
        """Dollars per million requests, part by part."""
        return {
            "API Gateway": API_GATEWAY_PER_MILLION,
            "Lambda requests": LAMBDA_REQUESTS_PER_MILLION * len(self.invocation_ms),
            "Lambda duration": LAMBDA_PER_GB_SECOND * self.gb_seconds * 1_000_000,
            "DynamoDB reads": DYNAMODB_READ_UNITS_PER_MILLION * self.read_units,
            "DynamoDB writes": DYNAMODB_WRITE_UNITS_PER_MILLION * self.write_units,
        }

    def total_per_million(self) -> float:
        return sum(self.per_million().values())


def _billed(ms: float) -> int:
    return max(1, math.ceil(ms))


def cost_row(cost: Cost) -> Row:
    """A row of BENCHMARKS.md: capacity, billed time and memory, price per million."""
    parts = cost.per_million()
    durations = " + ".join(f"{_billed(ms)}" for ms in cost.invocation_ms)
    return Row(
        measure=f"cost: {cost.name}",
        calls=f"RRU {cost.read_units:g}, WRU {cost.write_units:g}",
        median=f"{durations} ms billed at {cost.memory_mb} MB",
        floor=f"${cost.total_per_million():.2f} per million",
        target="; ".join(f"{name} ${value:.3f}" for name, value in parts.items()),
    )


# --- the requests ------------------------------------------------------------------


@dataclass
class Measured:
    """Per request: the request units consumed, and the authorizer's and route's time."""

    capacity: Capacity
    authorizer_ms: float
    total_ms: float


def median_request(
    send: Callable[[], Any], decide: Callable[[], Any] | None, iterations: int
) -> Measured:
    """The capacity of one request, and median times of the whole request and of the
    authorizer's decision alone (timed on its own, as the bench's other rows are)."""
    with consumed() as capacity:
        send()
    totals, decisions = [], []
    for _ in range(iterations):
        started = time.perf_counter()
        send()
        totals.append((time.perf_counter() - started) * 1000)
        if decide is not None:
            started = time.perf_counter()
            decide()
            decisions.append((time.perf_counter() - started) * 1000)
    authorizer = statistics.median(decisions) if decisions else 0.0
    return Measured(capacity, authorizer, statistics.median(totals))


def costs(endpoint: str, iterations: int) -> list[Cost]:
    """Who-am-I, a PATCH, a create, a page of 100 users and an OIDC login, each measured
    against the store at ``endpoint``."""
    from bench import environment
    from bench.world import PAGE, make_world, managed_user
    from chalicelib import config
    from chalicelib.http import container
    from chalicelib.identity import auth
    from chalicelib.storage import models

    environ = {**environment.ENVIRON, "DYNAMODB_ENDPOINT": endpoint}
    environ["TABLE_PREFIX"] = f"users-cost-{uuid.uuid4().hex[:8]}-"
    os.environ.update(environ)
    container.use(config.load_settings(environ), config.load_secrets(environ))
    models.create_tables()
    _STORE[:] = [botocore.session.get_session().create_client("dynamodb", endpoint_url=endpoint)]
    memory = memory_mb()
    results = []
    with Client(_app(), stage_name="test", project_dir=str(ROOT)) as client:
        world = make_world(client)
        for _ in range(PAGE):
            managed_user(world.admin.id)
        headers = {"Authorization": world.api_key_header}

        def decide() -> Any:
            return auth.decide(
                world.api_key_header,
                container.session_secret,
                container.settings(),
                container.rulebook(),
            )

        def request(method: str, path: str, body: Callable[[], Any] | None = None) -> Any:
            def send() -> Any:
                raw = json.dumps(body()).encode() if body is not None else b""
                extra = {"Content-Type": "application/json"} if body is not None else {}
                reply = client.http.request(
                    method, f"/api/v1{path}", headers={**headers, **extra}, body=raw
                )
                if reply.status_code >= 300:
                    raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.body!r}")
                return reply

            return send

        subject = world.subject.id
        cases = [
            ("who-am-I (GET /user/me)", request("GET", "/user/me")),
            (
                "PATCH /user/{id}",
                request("PATCH", f"/user/{subject}", lambda: {"user": {"name": _name()}}),
            ),
            (
                "POST /user",
                request("POST", "/user", lambda: {"user": {"email": f"{_name()}@example.org"}}),
            ),
            (f"GET /user (limit {PAGE})", request("GET", f"/user?limit={PAGE}")),
        ]
        for name, send in cases:
            measured = median_request(send, decide, iterations)
            route_ms = max(measured.total_ms - measured.authorizer_ms, 0.0)
            results.append(
                Cost(
                    name,
                    measured.capacity.read,
                    measured.capacity.write,
                    [measured.authorizer_ms, route_ms],
                    memory,
                )
            )
            if name.startswith("who-am-I"):
                results.append(_cached_who_am_i(world.api_key_header, iterations, memory))
        results.append(_oidc_login_cost(client, iterations, memory))
    return results


def _cached_who_am_i(header: str, iterations: int, memory: int) -> Cost:
    """Who-am-I after a decision API Gateway cached: the API function alone, handed
    that decision (bench/gateway.py), reads the user itself."""
    from bench import gateway

    me = "/api/v1/user/me"
    context = gateway.decide(header, me)

    def send() -> Any:
        reply = gateway.cached(me, {}, header, context)
        if reply.status != 200:
            raise RuntimeError(f"GET {me}: {reply.status} {reply.body!r}")
        return reply

    measured = median_request(send, None, iterations)
    return Cost(
        "who-am-I, authorizer's decision cached",
        measured.capacity.read,
        0.0,
        [measured.total_ms],
        memory,
    )


def _oidc_login_cost(client: Client, iterations: int, memory: int) -> Cost:
    """A returning user's OIDC login against the local OpenID Provider: the start (one
    invocation, no storage) and the callback (one invocation: the provider's token
    endpoint, then the user's reads and the new session's write)."""
    from chalicelib import config
    from chalicelib.http import container
    from devtools.oidc_provider import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        running_provider,
        submit_login_form,
    )

    with running_provider() as url:
        providers = {
            "local": {
                "server_metadata_url": f"{url}/.well-known/openid-configuration",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "link_verified_email": True,
            }
        }
        environ = {**os.environ, "OIDC_PROVIDERS": json.dumps(providers)}
        container.use(config.load_settings(environ), config.load_secrets(environ))
        host = "127.0.0.1:8000"

        def start() -> tuple[Any, dict[str, str]]:
            reply = client.http.get("/api/v1/login/oidc/local?origin=/", headers={"Host": host})
            cookies = _cookies(reply)
            return reply, cookies

        def callback(location: str, cookies: dict[str, str]) -> Any:
            path = location.split(host, 1)[1]
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            reply = client.http.get(path, headers={"Host": host, "Cookie": cookie})
            if reply.status_code != 302 or "login_error" in reply.headers.get("Location", ""):
                raise RuntimeError(f"login failed: {reply.status_code} {reply.headers}")
            return reply

        def login() -> tuple[float, float, Capacity]:
            started = time.perf_counter()
            reply, cookies = start()
            start_ms = (time.perf_counter() - started) * 1000
            location = submit_login_form(reply.headers["Location"], "alice", "alice-password")
            with consumed() as capacity:
                started = time.perf_counter()
                callback(location, cookies)
                callback_ms = (time.perf_counter() - started) * 1000
            return start_ms, callback_ms, capacity

        login()  # the first login makes the user; the rest are returning logins
        runs = [login() for _ in range(max(3, iterations // 3))]
    capacity = runs[-1][2]
    return Cost(
        "OIDC login, returning user (start + callback)",
        capacity.read,
        capacity.write,
        [statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)],
        memory,
    )


def _cookies(reply: Any) -> dict[str, str]:
    raw = reply.headers.get("Set-Cookie") or reply.headers.get("set-cookie") or []
    values = [raw] if isinstance(raw, str) else list(raw)
    found = {}
    for value in values:
        name, _, rest = value.partition("=")
        found[name] = rest.split(";")[0]
    return found


def _name() -> str:
    return f"n{uuid.uuid4().hex[:12]}"


def _app() -> Any:
    from app import app

    return app


def rows(endpoint: str, iterations: int) -> list[Row]:
    """The cost rows of BENCHMARKS.md, measured in a process of their own (the service's
    settings and connection there name the store at ``endpoint``, not moto)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cost",
            "--endpoint",
            endpoint,
            "--iterations",
            str(iterations),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    measured = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [cost_row(Cost(**{k: v for k, v in m.items() if k != "per_million"})) for m in measured]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoint", required=True, help="a DynamoDB-compatible store's URL")
    parser.add_argument("--iterations", type=int, default=15)
    args = parser.parse_args(argv)
    with quiet_request_log():
        measured = costs(args.endpoint, args.iterations)
    for cost in measured:
        print(json.dumps(cost.__dict__ | {"per_million": cost.per_million()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
