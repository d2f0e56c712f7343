"""Search: the items one ``GET /user?q=`` page reads, at two table sizes (docs/API.md section 4).

Users are named "Researcher 01234" with addresses researcher01234@example.org,
numbered in name order, so that every query below shares its first
characters with thousands of users at 20,000, and the matches of
"researcher0199" and of the whole last address come last in name order
(where reading a shorter prefix's partition and filtering it would read
nearly all of it). Users are written straight to the tables, each with those
of its search items (as the service writes them) that the queries below
read: a Query reads one partition, so the items of prefixes nobody queries
change no figure and are left out to keep seeding 20,000 users quick.

The figure is the route's items: the search items read, then the users they
name (one ``BatchGetItem``); the target is a page of search items plus one
(``search.py``'s bound for queries of up to 16 characters, which the
address's 27 also meets here) plus the page's users.

``python -m bench.search`` prints just these rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chalice.test import Client
from moto import mock_aws

from bench.harness import counting
from bench.table import Row, _ops, quiet_request_log, table
from bench.world import API, PAGE, ROOT
from chalicelib.http import container
from chalicelib.ids import SYSTEM, new_id
from chalicelib.records import apikeys, search
from chalicelib.records.record import MANAGER_FIELDS
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage import models
from chalicelib.storage.models import SearchEntry, User

LIMIT = 20
# A short query, one of SHORT characters, longer ones by address and by name,
# and a whole address.
QUERIES = (
    "re",
    "res",
    "research",
    "researcher012",
    "researcher0199",
    "researcher 0199",
    "researcher19999@example.org",
)


def person(n: int) -> tuple[str, str]:
    """The name and email of user number ``n``."""
    return f"Researcher {n:05}", f"researcher{n:05}@example.org"


def partitions(queries: Iterable[str]) -> set[str]:
    """The search partitions ``queries`` read."""
    return {prefix for q in queries for prefix in search.partitions(search.fold(q))}


def seed(people: Iterator[tuple[str, str]], queries: Iterable[str]) -> None:
    """Users of ``people`` (name, email) with their search items in the partitions that
    ``queries`` read, by batch writes."""
    read = partitions(queries)
    with User.batch_write() as users, SearchEntry.batch_write() as entries:
        for name, email in people:
            user = User(
                id=new_id(),
                email=email,
                email_lower=email,
                name=name,
                permissions=[],
                auth_ids=[email],
                version=1,
                created="2024-01-01T00:00:00Z",
                updated="2024-01-01T00:00:00Z",
            )
            users.save(user)
            for entry in search.entries(user):
                if entry.prefix in read:
                    entries.save(entry)


def measure(client: Client, sizes: tuple[int, ...]) -> list[Row]:
    """A row per query and size: round trips and items read by one page of results."""
    rows = []
    with mock_aws():
        models.create_tables()
        body = {"email": "bench@example.org", "permissions": ["USER_SEARCH"]}
        admin = create_user(SYSTEM, NewUser(body, MANAGER_FIELDS)).id
        key = apikeys.make_api_key(SYSTEM, admin, container.settings())["key"]
        headers = {"Authorization": f"Bearer {key}"}
        seeded: set[int] = set()
        for size in sizes:
            # Numbers spread over 0 to 19,999 at every size, the last one included.
            step = 20_000 // size
            numbers = {n * step + step - 1 for n in range(size)} - seeded
            seed((person(n) for n in sorted(numbers)), QUERIES)
            seeded |= numbers
            for q in QUERIES:
                with counting() as counts:
                    reply = client.http.get(f"{API}/user?q={q}&limit={LIMIT}", headers=headers)
                assert reply.status_code == 200, reply.body
                found = len(reply.json_body["users"])
                route = counts.part(False)
                searched = sum(c.items_read for c in route.calls if c.operation == "Query")
                target = LIMIT + 1 + found
                rows.append(
                    Row(
                        f"GET /user?q={q} ({len(q)} chars) at {size} users "
                        f"({found} found, page of {LIMIT})",
                        trips=f"{counts.round_trips} = {counts.part(True).round_trips} + "
                        f"{route.round_trips}",
                        calls=_ops(counts),
                        items=f"{counts.items_read} = {counts.part(True).items_read} + "
                        f"{route.items_read} ({searched} search items, then users)",
                        target=f"route reads ≤ {LIMIT} + 1 + found",
                        result="ok" if route.items_read <= target else "over",
                    )
                )
    return rows


def main() -> int:
    with (
        quiet_request_log(),
        Client(__import__("app").app, stage_name="test", project_dir=str(ROOT)) as client,
    ):
        print(table(measure(client, (PAGE, 20_000))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
