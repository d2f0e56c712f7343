"""An export (``GET /user/{id}/export``) of a record with 100 and with 5,000 log entries.

``python -m bench.export`` measures only these rows and prints them.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from chalice.test import Client
from moto import mock_aws

from app import app
from bench.table import Row, _ms, _ops, quiet_request_log, table
from bench.timing import time_scenario
from bench.world import ROOT, Scenario, _get, count_scenario, make_world, managed_user, send
from chalicelib.ids import SYSTEM, new_id
from chalicelib.records.export import MAX_BYTES
from chalicelib.storage import models
from chalicelib.storage.models import LogEntry

SIZES = (100, 5_000)


def seed_history(user_id: str, entries: int) -> None:
    """Give the user's record ``entries`` log entries in all (its ``add`` is the first),
    each an edit of ``contact`` by ``system``."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with LogEntry.batch_write() as batch:
        for version in range(2, entries + 1):
            stamp = (start + timedelta(seconds=version)).isoformat().replace("+00:00", "Z")
            batch.save(
                LogEntry(
                    entry_id=user_id,
                    version=version,
                    id=new_id(),
                    action="edit",
                    user=SYSTEM,
                    timestamp=stamp,
                    data={"contact": f"Room {version}, Building of Analytical Engines"},
                )
            )


def measure_exports(client: Client, iterations: int) -> list[Row]:
    """One row per size: round trips, items read, the answer's size and its latency."""
    export = Scenario("GET /user/{id}/export", "read", _get("/user/{id}/export"), 200)
    rows = []
    with mock_aws():
        models.create_tables()
        world = make_world(client)
        for size in SIZES:
            world.subject = managed_user(world.admin.id)
            seed_history(world.subject.id, size)
            counted = count_scenario(world, export)
            answer = send(world, export.request(world, world.subject), export.status).body
            timing = time_scenario(world, export, counted, iterations)
            authorizer, route = counted.authorizer, counted.route
            fits = len(answer) <= MAX_BYTES
            rows.append(
                Row(
                    measure=f"{export.name}, {size:,} log entries "
                    f"({len(answer) / 1024:,.0f} KiB answer)",
                    trips=f"{counted.total.round_trips} = {authorizer.round_trips} + "
                    f"{route.round_trips}",
                    calls=_ops(counted.total),
                    items=f"{counted.total.items_read} = {authorizer.items_read} + "
                    f"{route.items_read}",
                    median=_ms(timing.route_ms),
                    floor=_ms(timing.floor_ms),
                    ratio=f"{timing.ratio:.2f}",
                    target=f"answer ≤ {MAX_BYTES // 2**20} MiB",
                    result="pass" if fits else "miss",
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=5, help="timed exports per size")
    args = parser.parse_args(argv)
    with quiet_request_log(), Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        print(table(measure_exports(client, args.iterations)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
