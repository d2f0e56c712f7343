"""Pages at two sizes: on moto, and with moto's answers recorded."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse
from chalice.test import Client
from moto import mock_aws

from bench.harness import Counts, answer_instead, dynamodb_clients
from bench.table import Row, _ops
from bench.timing import Timing, time_scenario
from bench.world import PAGE, Scenario, Subject, _get, count_scenario, make_world, send
from chalicelib.ids import SYSTEM, new_id
from chalicelib.storage import models
from chalicelib.storage.models import LogEntry, User

MAX_PAGE_RATIO = 1.3  # a page's time at the large size over the small one


# --- pages at two sizes ----------------------------------------------------------


@dataclass
class PageSubjects:
    log_of: str  # a record whose log is seeded
    actor: str  # a user whose actions are seeded
    users: int = 0
    entries: int = 0
    actions: int = 0


def _stamp(n: int) -> str:
    return (
        (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    )


def seed(pages: PageSubjects, records: int) -> None:
    """Grow the users, the seeded log and the seeded actions to ``records`` each,
    writing items directly with PynamoDB batch writes."""
    with User.batch_write() as batch:
        for n in range(pages.users, records):
            email = f"seed-{n}-{new_id()[:8]}@example.org"
            batch.save(
                User(
                    id=new_id(),
                    email=email,
                    email_lower=email,
                    name=f"Seed {n}",
                    permissions=[],
                    auth_ids=[email],
                    version=1,
                    created=_stamp(n),
                    updated=_stamp(n),
                )
            )
    with LogEntry.batch_write() as batch:
        for n in range(pages.entries, records):
            batch.save(
                LogEntry(
                    entry_id=pages.log_of,
                    version=n + 1,
                    id=new_id(),
                    action="edit",
                    user=SYSTEM,
                    timestamp=_stamp(n),
                    data={"name": f"Name {n}"},
                )
            )
        for n in range(pages.actions, records):
            batch.save(
                LogEntry(
                    entry_id=new_id(),
                    version=1,
                    id=new_id(),
                    action="add",
                    user=pages.actor,
                    timestamp=_stamp(n),
                    data={},
                )
            )
    pages.users = pages.entries = pages.actions = records


def page_scenarios(pages: PageSubjects) -> list[tuple[str, Scenario, Subject]]:
    return [
        ("users", Scenario("GET /user", "read", _get(f"/user?limit={PAGE}"), 200), Subject("")),
        (
            "log entries of one user",
            Scenario("GET /user/{id}/log", "read", _get(f"/user/{{id}}/log?limit={PAGE}"), 200),
            Subject(pages.log_of),
        ),
        (
            "actions of one actor",
            Scenario(
                "GET /user/{id}/actions", "read", _get(f"/user/{{id}}/actions?limit={PAGE}"), 200
            ),
            Subject(pages.actor),
        ),
    ]


class Recording:
    """DynamoDB's answers to one request, recorded from moto, then given back in order.

    moto reads a whole table (or partition) and sorts it for every Query or
    Scan, so its time for one page grows with what is stored; DynamoDB reads
    only the page. Answering the service's calls from a recording made at each
    size keeps the store's time constant and leaves, in the measured time,
    what the service itself does with a page: the request, the authorizer,
    botocore's parsing, PynamoDB's decoding, the response.
    """

    def __init__(self) -> None:
        self.answers: list[tuple[str, int, dict[str, str], bytes]] = []
        self.replaying = False
        self.position = 0

    def _received(self, response_dict: dict[str, Any] | None, event_name: str, **_: Any) -> None:
        if not self.replaying and response_dict is not None:
            operation = event_name.rsplit(".", 1)[-1]
            status, body = response_dict["status_code"], response_dict["body"]
            self.answers.append((operation, status, dict(response_dict["headers"]), body))

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if not self.replaying:
            return None
        operation, status, headers, body = self.answers[self.position % len(self.answers)]
        if operation != event_name.rsplit(".", 1)[-1]:
            raise RuntimeError(f"recorded {operation}, the service now sends {event_name}")
        self.position += 1
        return answer_instead(request, status, headers, body)


@contextlib.contextmanager
def answered_from_recording(record: Callable[[], object]) -> Iterator[Recording]:
    """Record DynamoDB's answers to ``record()``; inside the block, give them back in order."""
    recording = Recording()
    clients = dynamodb_clients()
    for client in clients:
        events = client.meta.events
        events.register("response-received.dynamodb", recording._received, unique_id="bench-rec")
        # botocore-stubs type handlers as returning None; a before-send handler answers.
        answer: Any = recording._before_send
        events.register_first("before-send.dynamodb", answer, unique_id="bench-ans")
    try:
        record()
        recording.replaying = True
        yield recording
    finally:
        for client in clients:
            client.meta.events.unregister("response-received.dynamodb", unique_id="bench-rec")
            client.meta.events.unregister("before-send.dynamodb", unique_id="bench-ans")


@dataclass
class PageResult:
    what: str
    name: str
    counts: dict[int, Counts]
    timings: dict[int, Timing]
    recorded: dict[int, Timing] = field(default_factory=dict)


def measure_pages(client: Client, sizes: tuple[int, int], iterations: int) -> list[PageResult]:
    """One page (limit 100) of each paginated route with ``sizes`` records stored."""
    with mock_aws():
        models.create_tables()
        world = make_world(client)
        pages = PageSubjects(log_of=new_id(), actor=new_id(), users=2)
        results: dict[str, PageResult] = {}
        for size in sizes:
            seed(pages, size)
            for what, sc, subject in page_scenarios(pages):
                world.subject = subject
                counted = count_scenario(world, sc)
                result = results.setdefault(what, PageResult(what, sc.name, {}, {}))
                result.counts[size] = counted.total
                result.timings[size] = time_scenario(world, sc, counted, iterations)
                request = functools.partial(send, world, sc.request(world, subject), sc.status)
                with answered_from_recording(request):
                    result.recorded[size] = time_scenario(world, sc, counted, iterations)
        return list(results.values())


def page_rows(result: PageResult, sizes: tuple[int, int]) -> list[Row]:
    """A paginated route at two sizes: on moto, then with moto's answers recorded.

    The target is judged on the second: moto's own time for a page grows with
    the table (its floor column shows by how much), DynamoDB's does not.
    """
    small, large = sizes
    counts = [result.counts[small], result.counts[large]]

    def trips(c: Counts) -> str:
        return f"{c.round_trips} = {c.part(True).round_trips} + {c.part(False).round_trips}"

    def items(c: Counts) -> str:
        return f"{c.items_read} = {c.part(True).items_read} + {c.part(False).items_read}"

    rows = []
    for store, timings in (
        ("moto", result.timings),
        ("answers recorded from moto", result.recorded),
    ):
        before, after = timings[small], timings[large]
        ratio = after.route_ms / before.route_ms
        floor_ratio = after.floor_ms / before.floor_ms
        judged = store != "moto"
        rows.append(
            Row(
                measure=f"{result.name} page of {PAGE}, {small:,} → {large:,} {result.what}; "
                f"store: {store}",
                trips=f"{trips(counts[0])} → {trips(counts[1])}",
                calls=f"{_ops(counts[0])} → {_ops(counts[1])}",
                items=f"{items(counts[0])} → {items(counts[1])}",
                median=f"{before.route_ms:.2f} → {after.route_ms:.2f} ms",
                floor=f"{before.floor_ms:.2f} → {after.floor_ms:.2f} ms (x{floor_ratio:.2f})",
                ratio=f"{ratio:.2f}",
                target=f"ratio ≤ {MAX_PAGE_RATIO}" if judged else "— (moto's growth)",
                result=("pass" if ratio <= MAX_PAGE_RATIO else "miss") if judged else "—",
            )
        )
    return rows
