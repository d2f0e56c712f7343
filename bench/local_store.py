"""The local store at scale: ``manage.py import-users`` of a tracker-shaped export into
``make run``'s store, and a page of users and of a log at 20,000 items on DynamoDB
Local beside moto.

``python -m bench.local_store`` measures and prints these rows alone; ``make bench``
writes them into BENCHMARKS.md with the others.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from chalice.test import Client
from moto import mock_aws

from app import app
from bench import environment
from bench.pages import PageSubjects, page_scenarios, seed
from bench.table import Row, _ops, quiet_request_log, table
from bench.timing import time_scenario
from bench.world import PAGE, ROOT, count_scenario, make_world
from chalicelib import config
from chalicelib.http import container
from chalicelib.ids import new_id
from chalicelib.storage import models
from devtools.dynamodb_local import dynamodb_local
from devtools.local_stack import Store, fresh_prefix, manage, service_env

IMPORT_SIZES = (1_000, 10_000)
PAGE_RECORDS = 20_000
PAGE_ROUTES = ("users", "log entries of one user")  # of bench.pages.page_scenarios


# --- import-users into make run's store ----------------------------------------------


def orcid(n: int) -> str:
    """A valid ORCID iD (ISO 7064 MOD 11-2 check digit) made from ``n``."""
    digits = f"{n:015d}"[-15:]
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    body = digits + ("X" if check == 10 else str(check))
    return "-".join(body[i : i + 4] for i in range(0, 16, 4))


def tracker_export(records: int) -> str:
    """``records`` users as the tracker's ``mongoexport`` writes them (JSON lines),
    shaped as ``tests/data/tracker_users.json``: each valid and distinct."""
    lines = []
    for n in range(records):
        lines.append(
            json.dumps(
                {
                    "_id": str(uuid.uuid4()),
                    "email": f"person-{n}@example.org",
                    "name": f"Person {n}",
                    "affiliation": "Example University" if n % 2 else "",
                    "contact": f"Room {n}" if n % 3 else "",
                    "orcid": orcid(n) if n % 4 else "",
                    "url": f"https://example.org/~p{n}" if n % 5 else "",
                    "permissions": ["DATA_EDIT"] if n % 7 == 0 else [],
                    "auth_ids": [f"person-{n}-sub::elixir"] if n % 2 else [],
                }
            )
        )
    return "\n".join(lines) + "\n"


@dataclass
class Imported:
    records: int
    imported: int
    seconds: float
    store_peak_bytes: int


def measure_import(records: int, store: Store, folder: Path) -> Imported:
    """Import ``records`` users with ``manage.py import-users`` into new tables on
    ``store``, timed from start to exit; the store's peak memory after it."""
    env = service_env(store.endpoint, TABLE_PREFIX=fresh_prefix("users-bench-import-"))
    manage(env, "create-tables")
    export = folder / f"tracker-export-{records}.jsonl"
    export.write_text(tracker_export(records), encoding="utf-8")
    started = time.perf_counter()
    # One JSON line per record as it is imported, then the summary.
    summary = json.loads(manage(env, "import-users", str(export)).splitlines()[-1])
    seconds = time.perf_counter() - started
    return Imported(records, int(summary["imported"]), seconds, store.peak_memory())


def import_row(result: Imported) -> Row:
    peak = result.store_peak_bytes / 2**20
    return Row(
        measure=f"manage.py import-users: {result.records:,} users of a tracker-shaped export "
        "into make run's store (DynamoDB Local, data on disk)",
        items=f"{result.imported:,} imported",
        median=f"{result.seconds:.1f} s; store's peak memory {peak:.0f} MiB",
        target="every record imported",
        result="pass" if result.imported == result.records else "miss",
    )


def import_rows(sizes: tuple[int, ...] = IMPORT_SIZES) -> list[Row]:
    """Each size into a DynamoDB Local of its own, as ``make run`` starts it."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        for records in sizes:
            folder = Path(name) / str(records)
            with dynamodb_local(data=folder / "data") as store:
                rows.append(import_row(measure_import(records, store, folder)))
    return rows


# --- pages at 20,000 items: DynamoDB Local beside moto --------------------------------


@contextmanager
def on_moto() -> Iterator[None]:
    with mock_aws():
        container.use(environment.settings(), environment.secrets())
        models.create_tables()
        yield


@contextmanager
def on_dynamodb_local() -> Iterator[None]:
    with dynamodb_local() as store:
        environ = {
            **environment.ENVIRON,
            "SERVICE_ENV": "local",
            "DYNAMODB_ENDPOINT": store.endpoint,
            "TABLE_PREFIX": fresh_prefix("users-bench-pages-"),
        }
        container.use(config.load_settings(environ), config.load_secrets(environ))
        models.create_tables()
        try:
            yield
        finally:
            container.use(environment.settings(), environment.secrets())


STORES: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "moto (in process)": on_moto,
    "DynamoDB Local": on_dynamodb_local,
}


def page_rows(iterations: int, records: int = PAGE_RECORDS) -> list[Row]:
    """A page of ``PAGE`` users and of one user's log with ``records`` of each stored."""
    rows = []
    with quiet_request_log(), Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        for store, running in STORES.items():
            with running():
                world = make_world(client)
                # No actions are seeded: only the users and the log pages are measured.
                subjects = PageSubjects(log_of=new_id(), actor=new_id(), users=2, actions=records)
                seed(subjects, records)
                for what, sc, subject in page_scenarios(subjects):
                    if what not in PAGE_ROUTES:
                        continue
                    world.subject = subject
                    counted = count_scenario(world, sc)
                    timing = time_scenario(world, sc, counted, iterations)
                    rows.append(
                        Row(
                            measure=f"{sc.name} page of {PAGE} at {records:,} {what}; "
                            f"store: {store}",
                            trips=str(counted.total.round_trips),
                            calls=_ops(counted.total),
                            items=str(counted.total.items_read),
                            median=f"{timing.route_ms:.2f} ms",
                            floor=f"{timing.floor_ms:.2f} ms",
                            ratio=f"{timing.ratio:.2f}",
                        )
                    )
    return rows


def rows(
    iterations: int, sizes: tuple[int, ...] = IMPORT_SIZES, records: int = PAGE_RECORDS
) -> list[Row]:
    """Every row of this module."""
    return import_rows(sizes) + page_rows(iterations, records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=15, help="timed requests per page")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(IMPORT_SIZES), help="users per import"
    )
    args = parser.parse_args(argv)
    print(table(rows(args.iterations, tuple(args.sizes))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
