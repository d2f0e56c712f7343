"""Search: the items one ``GET /user?q=`` page reads, at two table sizes (API.md section 4).

Users are written straight to the tables, each with those of its search items
(as the service writes them) that the queries below read: a Query reads one
partition, so the items of prefixes nobody queries change no figure and are
left out to keep seeding 20,000 users quick. Users are named from a small list
of first and last names so that short prefixes match thousands of them. Each
query's page is 20 users; "about one page" means the search items of that page
and the users they name, not the table: the target is at most three pages'
worth of items.

``python -m bench.search`` prints just these rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from chalice.test import Client
from moto import mock_aws

from bench.harness import counting
from bench.table import Row, _ops, quiet_request_log, table
from bench.world import API, PAGE, ROOT
from chalicelib import apikeys, container, models, search
from chalicelib.ids import SYSTEM, new_id
from chalicelib.models import SearchEntry, User
from chalicelib.users import NewUser, create_user
from chalicelib.validation import MANAGER_FIELDS

LIMIT = 20
FIRST = ("Ada", "Alan", "Grace", "Margaret", "Katherine", "Barbara", "Edsger", "Donald", "Anna")
LAST = ("Lovelace", "Turing", "Hopper", "Hamilton", "Johnson", "Liskov", "Dijkstra", "Knuth")
# What people type: a common short prefix, a surname, an accented name, a whole
# address, and an address's start longer than the search items' prefixes.
QUERIES = ("an", "hopper", "dijkstrá", "margaret.hamilton.77@example.org", "margaret.ham")
QUERIED = {search.fold(q)[: search.PREFIX_LENGTH] for q in QUERIES}


def people(start: int, stop: int) -> Iterator[tuple[str, str]]:
    names = itertools.cycle(itertools.product(FIRST, LAST))
    for n, (first, last) in enumerate(itertools.islice(names, stop), start=0):
        if n >= start:
            yield f"{first} {last}", f"{first}.{last}.{n}@example.org".lower()


def seed(start: int, stop: int) -> None:
    """Users ``start`` to ``stop`` with their search items, by batch writes."""
    with User.batch_write() as users, SearchEntry.batch_write() as entries:
        for name, email in people(start, stop):
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
                if entry.prefix in QUERIED:
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
        seeded = 0
        for size in sizes:
            seed(seeded, size)
            seeded = size
            for q in QUERIES:
                with counting() as counts:
                    reply = client.http.get(f"{API}/user?q={q}&limit={LIMIT}", headers=headers)
                assert reply.status_code == 200, reply.body
                found = len(reply.json_body["users"])
                items = counts.items_read
                route = counts.part(False).items_read
                rows.append(
                    Row(
                        f"GET /user?q={q} at {size} users ({found} found, page of {LIMIT})",
                        trips=f"{counts.round_trips} = {counts.part(True).round_trips} + "
                        f"{counts.part(False).round_trips}",
                        calls=_ops(counts),
                        items=f"{items} = {items - route} + {route}",
                        target=f"route reads ≤ {3 * LIMIT} items",
                        result="ok" if route <= 3 * LIMIT else "over",
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
