"""What ``manage.py`` runs: create-tables, create-user, import-users, check-invariants,
migrate-identities, rebuild-search.

``main`` reads the settings from the environment and binds the tables to them
before a command runs: ``manage.py --help`` works without any settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from chalicelib import errors
from chalicelib.config import ConfigError, load_settings
from chalicelib.ids import SYSTEM
from chalicelib.records import apikeys, search, users
from chalicelib.records.record import MANAGER_FIELDS
from chalicelib.storage import models
from ops import importer, migration, tracker_export
from ops.invariants import check as check_tables
from ops.invariants import repair as repair_tables


def create_tables(_: argparse.Namespace) -> int:
    """Create the service's tables at the configured endpoint."""
    created = models.create_tables()
    print(json.dumps({"created": created}))
    return 0


def create_user(args: argparse.Namespace) -> int:
    """Create a user, logged as done by ``system``, and print ``{"id", "key"}``."""
    body: dict[str, object] = {"email": args.email}
    if args.name is not None:
        body["name"] = args.name
    body["permissions"] = [p.strip() for p in (args.permissions or "").split(",") if p.strip()]
    user = users.create_user(SYSTEM, users.NewUser(body, MANAGER_FIELDS))
    result = {"id": user.id}
    if args.api_key:
        request = apikeys.KeyRequest(name="created by manage.py")
        result["key"] = apikeys.make_api_key(SYSTEM, user.id, args.settings, request)["key"]
    print(json.dumps(result))
    return 0


class ProgressBar:
    """Progress on a stream: a bar redrawn in place on a terminal, else a line
    per 100 records (none for a short file)."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            filled = self.WIDTH * done // total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {done}/{total}" + ("\n" if done == total else ""))
        elif done % 100 == 0:
            self.stream.write(f"import-users: {done}/{total} records\n")
        else:
            return
        self.stream.flush()


def import_users(args: argparse.Namespace) -> int:
    """Import users from the research-data tracker's export: each record's outcome as
    a JSON line the moment it is known (to ``--report FILE``, else standard output),
    then the JSON summary on standard output.

    Exit 0 when no record was rejected, 1 when some were (the others are
    imported) or a storage fault stopped the run (the report has every record
    done before it), 2 when the file could not be read.
    """
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8-sig")
        records = tracker_export.read_export(text)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        print(f"import-users: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        lines = sys.stdout
        if args.report is not None:
            lines = stack.enter_context(Path(args.report).open("w", encoding="utf-8"))

        def report(outcome: dict[str, object]) -> None:
            lines.write(json.dumps(outcome) + "\n")
            lines.flush()  # a run killed now still leaves this line

        summary = importer.import_users(records, args.dry_run, ProgressBar(sys.stderr), report)
    print(json.dumps(summary.as_dict()))
    return 1 if summary.rejections else 0


def check_invariants(args: argparse.Namespace) -> int:
    """Check the invariants across the tables; print each violation as a JSON line.

    With ``--repair``, finish unfinished erasures and end suspended users' sessions
    first (each printed with ``"repaired": true``), then check again. Exit 0 when
    no violation is left, 1 when some are, 2 when the tables could not be read.
    """
    try:
        violations = check_tables()
        if args.repair:
            for violation in repair_tables(violations):
                print(json.dumps({**violation.as_dict(), "repaired": True}, sort_keys=True))
            violations = check_tables()
    except errors.StorageUnavailable as exc:
        print(f"check-invariants: {storage_problem(exc) or exc}", file=sys.stderr)
        return 2
    for violation in violations:
        print(json.dumps(violation.as_dict(), sort_keys=True))
    print(f"check-invariants: {len(violations)} violation(s)", file=sys.stderr)
    return 1 if violations else 0


def migrate_identities(args: argparse.Namespace) -> int:
    """Link the identities of provider ``--from`` to their successors at ``--to``;
    print one JSON line per identity, then a summary.

    Exit 0 when nothing was skipped because another user holds it, 1 when
    something was, 2 when the map could not be read.
    """
    mapping = None
    if args.map is not None:
        try:
            with open(args.map, encoding="utf-8-sig", newline="") as stream:
                mapping = migration.read_map(stream)
        except (OSError, ValueError) as exc:  # MapError and UnicodeDecodeError too
            print(f"migrate-identities: cannot read {args.map}: {exc}", file=sys.stderr)
            return 2
    counts: dict[str, int] = {}
    for line in migration.migrate(args.old, args.new, mapping, args.dry_run):
        print(json.dumps(line, sort_keys=True), flush=True)
        key = line.get("reason", line["action"])
        counts[key] = counts.get(key, 0) + 1
    print(json.dumps({"summary": counts, "dry_run": args.dry_run}, sort_keys=True))
    return 1 if counts.get("another user holds it") else 0


def rebuild_search(_: argparse.Namespace) -> int:
    """Rewrite each user's search items as its email and name give them now, delete
    those of users that no longer exist, and print how many users were ``rewritten``,
    ``unchanged`` and ``orphaned``; a second run rewrites nothing."""
    done = search.rebuild()
    print(json.dumps({kind: done[kind] for kind in ("rewritten", "unchanged", "orphaned")}))
    return 0


def storage_problem(exc: BaseException) -> str | None:
    """What a person can do about a storage failure, when its cause tells: no
    credentials, an endpoint that does not answer, a missing table."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return (
                "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(any values for a local DynamoDB) or AWS_PROFILE"
            )
        if isinstance(cause, EndpointConnectionError | ConnectTimeoutError):
            endpoint = cause.kwargs.get("endpoint_url", "the DynamoDB endpoint")
            return f"cannot reach DynamoDB at {endpoint}: is it running? (DYNAMODB_ENDPOINT)"
        if isinstance(cause, ClientError) and (
            cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
        ):
            return (
                "a table does not exist: run `manage.py create-tables` with the same "
                "TABLE_PREFIX and DYNAMODB_ENDPOINT"
            )
        cause = cause.__cause__ or cause.__context__
    return None


def parser() -> argparse.ArgumentParser:
    """The command line of manage.py."""
    root = argparse.ArgumentParser(prog="manage.py", description="Manage the users service.")
    commands = root.add_subparsers(dest="command", required=True)
    tables = commands.add_parser("create-tables", help="create the tables")
    tables.set_defaults(run=create_tables)
    user = commands.add_parser("create-user", help="create a user")
    user.add_argument("--email", required=True)
    user.add_argument("--name")
    user.add_argument("--permissions", help="comma-separated permission names")
    user.add_argument("--api-key", action="store_true", help="also make and print an API key")
    user.set_defaults(run=create_user)
    imports = commands.add_parser(
        "import-users",
        help="import users from the research-data tracker's JSON export",
        description="Import the research-data tracker's users export (a JSON array or JSON "
        "lines); users already imported are skipped. Writes each record's outcome as a JSON "
        "line as it happens, then prints a JSON summary; exit 1 when a record was rejected or "
        "storage failed, 2 when the file cannot be read.",
    )
    imports.add_argument("file", help="the export file, or - for standard input")
    imports.add_argument(
        "--dry-run", action="store_true", help="check every record and write nothing"
    )
    imports.add_argument(
        "--report",
        metavar="FILE",
        help="write each record's outcome as a JSON line to FILE (default: standard output)",
    )
    imports.set_defaults(run=import_users)
    invariants = commands.add_parser(
        "check-invariants",
        help="check the invariants across the tables (scans them)",
        description="Scan the tables and print each broken invariant as a JSON line; "
        "exit 1 when there is any.",
    )
    invariants.add_argument(
        "--repair",
        action="store_true",
        help="finish unfinished erasures and end suspended users' sessions, then check again",
    )
    invariants.set_defaults(run=check_invariants)
    migrate = commands.add_parser(
        "migrate-identities",
        help="link each identity of a replaced provider to its successor at the new one",
        description="For each user holding <sub>::OLD, link <new sub>::NEW (the new sub from "
        "--map, else the same sub), logged as done by system. Prints one JSON line per "
        "identity and a summary; what another user holds is skipped (exit 1).",
    )
    migrate.add_argument("--from", dest="old", required=True, help="the old provider's name")
    migrate.add_argument("--to", dest="new", required=True, help="the new provider's name")
    migrate.add_argument("--map", help="a CSV file of old_sub,new_sub lines")
    migrate.add_argument("--dry-run", action="store_true", help="print what it would link")
    migrate.set_defaults(run=migrate_identities)
    rebuild = commands.add_parser(
        "rebuild-search",
        help="rewrite every user's search items (after an upgrade; scans the tables)",
        description="Make each user's items in the search table those of its email and "
        "name now (users stored before there were search items, or after the way they "
        "are kept changed), and delete the items of users that no longer exist. Prints "
        '{"rewritten", "unchanged", "orphaned"}; run twice, the second run rewrites nothing.',
    )
    rebuild.set_defaults(run=rebuild_search)
    return root


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; a domain error is printed as its code and message (a storage
    failure with its cause, when known), exit 1; missing or bad settings are
    printed, exit 2."""
    args = parser().parse_args(argv)
    try:
        args.settings = load_settings(os.environ if environ is None else environ)
        models.bind(args.settings)
        return int(args.run(args))
    except ConfigError as exc:
        print(f"manage.py: {exc}", file=sys.stderr)
        return 2
    except errors.DOMAIN_ERRORS as exc:
        problem = storage_problem(exc) if isinstance(exc, errors.StorageUnavailable) else None
        print(f"{type(exc).__name__}: {problem or exc}", file=sys.stderr)
        return 1
