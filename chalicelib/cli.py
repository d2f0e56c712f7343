"""What ``manage.py`` runs: create-tables, create-user."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from chalice.app import ChaliceViewError

from chalicelib import auth, models, users
from chalicelib.changes import SYSTEM


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
    user = users.create_user(SYSTEM, body, may_set_permissions=True)
    result = {"id": user.id}
    if args.api_key:
        result["key"] = auth.make_api_key(SYSTEM, user.id, name="created by manage.py")["key"]
    print(json.dumps(result))
    return 0


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
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a domain error is printed as its code and message, exit 1."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ChaliceViewError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
