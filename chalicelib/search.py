"""Finding users by the start of their email or of a word of their name (API.md section 4).

Each user has search items in the ``search`` table, written in the same
transaction as the record (``users.py``): one per distinct prefix, of
``MIN_QUERY`` to ``PREFIX_LENGTH`` characters, of the user's search texts. The
texts are the email and the name from each of its words on ("ada lovelace",
"lovelace"), both folded (``fold``: accents dropped, case-folded, whitespace
collapsed). An item's key is ``(prefix, sort)``, ``sort`` being the name
folded to its words, then the id: one Query of the prefix reads the matching
users in name order, a page at a time. A query longer than ``PREFIX_LENGTH``
reads the items of its first ``PREFIX_LENGTH`` characters and keeps those
whose texts start with it, which each item carries.

A user gets at most ``MAX_ITEMS`` items, shorter prefixes first, so that a
change that rewrites them all (a new name) fits in one transaction beside
the record, its guards and its log entry.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Iterator

from chalicelib import errors
from chalicelib.batch import get_many
from chalicelib.cursors import decode_cursor, encode_cursor
from chalicelib.models import SearchEntry, User, storage_errors
from chalicelib.transactions import Transaction
from chalicelib.validation import Page

MIN_QUERY = 2
MAX_QUERY = 100
PREFIX_LENGTH = 8
MAX_ITEMS = 40
# The name's words in an item's sort key: enough to order any real name, and
# short enough for a DynamoDB sort key and a cursor.
SORT_CHARS = 200
# Users without a name sort after every named one whose name starts in the
# Latin script (folded names of other scripts sort after it).
NAMELESS = "~"
# The words of a sort key are joined by "!", which sorts before every letter
# and digit, and end with " " before the id, which sorts before "!": so
# "ada" < "ada lovelace" < "adam".
WORD_JOIN = "!"
ID_JOIN = " "


def fold(text: str) -> str:
    """``text`` as search compares it: accents dropped, case-folded, whitespace runs
    one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    folded = unicodedata.normalize("NFKC", bare.casefold())
    return " ".join(folded.split())


def _word_starts(folded: str) -> list[int]:
    """Where each word (a run of letters and digits) starts."""
    return [
        i
        for i, char in enumerate(folded)
        if char.isalnum() and (i == 0 or not folded[i - 1].isalnum())
    ]


def _words(folded: str) -> list[str]:
    return ["".join(run) for alnum, run in itertools.groupby(folded, str.isalnum) if alnum]


def texts(email: str, name: str) -> list[str]:
    """What a query may start: the folded email, and the folded name from each word on."""
    folded = fold(name)
    return [fold(email), *(folded[start:] for start in _word_starts(folded))]


def sort_key(user: User) -> str:
    """The user's place in name order: the name's folded words, then the id."""
    order = WORD_JOIN.join(_words(fold(user.name)))
    if not order:
        order = NAMELESS + WORD_JOIN.join(_words(fold(user.email)))
    return f"{order[:SORT_CHARS]}{ID_JOIN}{user.id}"


def prefixes(user_texts: Iterable[str]) -> list[str]:
    """The distinct prefixes a user is found by, shorter ones first, at most ``MAX_ITEMS``."""
    all_texts = list(user_texts)
    found: dict[str, None] = {}
    for length in range(MIN_QUERY, PREFIX_LENGTH + 1):
        for text in all_texts:
            prefix = text[:length]
            if len(prefix) == length and not prefix.endswith(" "):
                found.setdefault(prefix)
    return list(found)[:MAX_ITEMS]


def entries(user: User) -> list[SearchEntry]:
    """The search items of ``user`` as it is now."""
    user_texts = texts(user.email, user.name)
    sort = sort_key(user)
    return [
        SearchEntry(prefix=prefix, sort=sort, user_id=user.id, texts=user_texts)
        for prefix in prefixes(user_texts)
    ]


def _key(entry: SearchEntry) -> tuple[str, str]:
    return (entry.prefix, entry.sort)


def write_entries(transaction: Transaction, before: User | None, after: User | None) -> None:
    """Add to ``transaction`` what turns the search items of ``before`` (None for a new
    user) into those of ``after`` (None for a deleted one). Nothing when the name and
    email stay."""
    old = entries(before) if before is not None else []
    new = entries(after) if after is not None else []
    if [(_key(e), e.texts) for e in old] == [(_key(e), e.texts) for e in new]:
        return
    kept = {_key(entry) for entry in new}
    for entry in old:
        if _key(entry) not in kept:
            transaction.delete(entry)
    for entry in new:
        transaction.put(entry)


def check_query(query: str) -> str:
    """The folded query; InvalidInput unless it is 2 to 100 characters."""
    if not MIN_QUERY <= len(query) <= MAX_QUERY:
        raise errors.InvalidInput(f"q must be {MIN_QUERY} to {MAX_QUERY} characters")
    return fold(query)


def _matches(entry: SearchEntry, folded: str) -> bool:
    return any(text.startswith(folded) for text in entry.texts)


def search(query: str, page: Page) -> tuple[list[User], str | None]:
    """One page of the users ``query`` finds, in name order, and the next page's cursor.

    Raises InvalidInput for a query of the wrong length, InvalidCursor.
    """
    folded = check_query(query)
    if len(folded) < MIN_QUERY:
        return [], None  # spaces, or marks that fold away: no item has so short a prefix
    prefix = folded[:PREFIX_LENGTH].rstrip(" ")  # no key ends with a space
    start = decode_cursor(page.cursor, {"prefix": "S", "sort": "S"})
    if start is not None and start["prefix"]["S"] != prefix:
        raise errors.InvalidCursor("cursor belongs to another query")
    with storage_errors():
        results = SearchEntry.query(prefix, last_evaluated_key=start, page_size=page.limit)
        found = list(_first(_matching(results, folded), page.limit))
        next_page = encode_cursor(results.last_evaluated_key)
        users = _users([entry.user_id for entry in found])
    return users, next_page


def _matching(results: Iterable[SearchEntry], folded: str) -> Iterator[SearchEntry]:
    return (entry for entry in results if _matches(entry, folded))


def _first(entries: Iterator[SearchEntry], count: int) -> Iterator[SearchEntry]:
    for n, entry in enumerate(entries, start=1):
        yield entry
        if n == count:
            return


def _users(ids: list[str]) -> list[User]:
    """The users of ``ids`` in that order, read in batches; one deleted meanwhile is left out."""
    users: list[User] = []
    for start in range(0, len(ids), 100):
        batch = get_many([(User, {"id": user_id}) for user_id in ids[start : start + 100]])
        users += [user for user in batch if isinstance(user, User)]
    return users
