"""``make admin-key``: a new API key for ``make run``'s admin, printed once; the
admin's earlier keys are revoked in the same change (they were shown once, when
made, and may be lost).

It works on the store of the ``make run`` that is running (``run/store.json``
names it), else on the data ``make run`` keeps (``run/dynamodb-local/``), with a
DynamoDB Local of its own for the moment.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devtools.dynamodb_local import StoreMissing, dynamodb_local
from devtools.local_stack import service_env
from devtools.run_local import ADMIN_EMAIL, DATA, STORE_FILE, admin_id, table_prefix


class NoAdmin(RuntimeError):
    """``make run`` has not made its admin in the store at hand."""


def main() -> int:
    """Make and print the key; a missing admin, Java or jar is one line on stderr, exit 2."""
    try:
        with admin_store() as env:
            made = new_key(env)
    except (NoAdmin, StoreMissing) as exc:
        print(f"make admin-key: {exc}", file=sys.stderr)
        return 2
    print(f"Admin user id:    {made['user_id']}")
    print(f"Admin API key:    {made['key']}  (shown once; the admin's earlier keys are revoked)")
    return 0


def new_key(env: Mapping[str, str]) -> dict[str, str]:
    """A new API key for the admin in the store ``env`` names, its other keys revoked:
    ``{"user_id", "key", "id"}``. Raises NoAdmin."""
    from chalicelib.config import load_settings
    from chalicelib.ids import SYSTEM
    from chalicelib.records import apikeys

    user_id = admin_id(env)
    if user_id is None:
        raise NoAdmin(f"no user {ADMIN_EMAIL} in the store: make run makes it")
    request = apikeys.KeyRequest(name="made by make admin-key")
    made = apikeys.make_api_key(SYSTEM, user_id, load_settings(env), request, replace=True)
    return {"user_id": user_id, "key": made["key"], "id": made["id"]}


@contextmanager
def admin_store() -> Iterator[dict[str, str]]:
    """The environment naming the store and tables of ``make run``: the running one's,
    else its kept data served by a DynamoDB Local started for the block."""
    running = running_store()
    if running is not None:
        yield service_env(running["DYNAMODB_ENDPOINT"], TABLE_PREFIX=running["TABLE_PREFIX"])
        return
    if not DATA.is_dir():
        raise NoAdmin(f"no data kept in {DATA.name}/ yet: make run makes the admin")
    with dynamodb_local(data=DATA) as store:
        yield service_env(store.endpoint, TABLE_PREFIX=table_prefix(os.environ))


def running_store(record: Path = STORE_FILE) -> dict[str, str] | None:
    """What ``record`` (``run/store.json``) says, when a store answers there; None
    otherwise (no ``make run``, or one killed before it could remove the file)."""
    try:
        recorded = dict(json.loads(record.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    try:
        urllib.request.urlopen(recorded["DYNAMODB_ENDPOINT"], timeout=2).close()
    except urllib.error.HTTPError:
        return recorded  # DynamoDB Local answers GET / with a 400
    except (OSError, ValueError, KeyError):
        return None
    return recorded


if __name__ == "__main__":
    sys.exit(main())
