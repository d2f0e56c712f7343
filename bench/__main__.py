"""``make bench``: every measure, one table, written to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from chalice.test import Client
from moto import mock_aws

from app import app
from bench import coldstart, cost, decided, local_store, search, webui_size
from bench.authorizer import authorizer_cpu, authorizer_rows
from bench.export import measure_exports
from bench.key_use import key_use_rows
from bench.pages import PageSubjects, measure_pages, page_rows, seed
from bench.routes import route_row
from bench.table import Row, quiet_request_log, report
from bench.timing import time_scenario
from bench.world import PAGE, ROOT, count_scenario, make_world, scenarios
from chalicelib.ids import new_id
from chalicelib.storage import models
from devtools.dynamodb_local import dynamodb_local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=25, help="timed requests per route")
    parser.add_argument("--page-iterations", type=int, default=15, help="per page size")
    parser.add_argument("--records", type=int, default=20_000, help="the large page size")
    parser.add_argument("--cold-runs", type=int, default=15, help="cold starts per handler")
    parser.add_argument(
        "--package", type=Path, default=ROOT / "out" / "deployment.zip", help="make package's zip"
    )
    parser.add_argument("--export-iterations", type=int, default=5, help="timed exports per size")
    parser.add_argument("--cpu-calls", type=int, default=2000, help="decisions per CPU batch")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with coldstart.workspace() as folder:
        # First, while this process is small and idle.
        cold = coldstart.measure(args.package, folder, args.cold_runs)
    rows: list[Row] = []
    sizes = (PAGE, args.records)
    with quiet_request_log(), Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        with mock_aws():
            models.create_tables()
            world = make_world(client)
            seed(PageSubjects(log_of=new_id(), actor=new_id(), users=2), PAGE)
            for sc in scenarios():
                counted = count_scenario(world, sc)
                timing = time_scenario(world, sc, counted, args.iterations)
                rows.append(route_row(sc, counted, timing))
            rows += decided.rows(world, args.iterations)
            cpu = authorizer_cpu(world, args.cpu_calls)
            rows += authorizer_rows(world, args.iterations, cpu)
            rows += key_use_rows()
        pages = measure_pages(client, sizes, args.page_iterations)
        exports = measure_exports(client, args.export_iterations)
        searches = search.measure(client, sizes)
    rows += [row for result in pages for row in page_rows(result, sizes)]
    rows += exports
    rows += searches
    rows += local_store.rows(args.page_iterations, records=args.records)
    with dynamodb_local() as store:
        rows += cost.rows(store.endpoint, args.iterations)
    rows += coldstart.rows(cold)
    rows.append(webui_size.row(webui_size.first_page()))

    text = report(rows, args, time.perf_counter() - started, cold.runtime_versions)
    print(text)
    args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
