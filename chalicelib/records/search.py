"""Finding users by the start of their email or of a word of their name (docs/API.md section 4).

Each user has search items in the ``search`` table, written in the same
transaction as the record (``users.py``, ``changes.py``). The user's search
texts are the email and the name from each of its words on ("ada lovelace",
"lovelace"), all folded (``fold``: accents dropped, case-folded, whitespace
collapsed). An item's key is ``(prefix, sort)``, ``sort`` being the name
folded to its words, then the id: one Query of a prefix reads the users it
finds in name order, a page at a time, and a query reads the partition of
its own first characters.

Which prefixes a user has items for:

- a user whose items fit ``MAX_ITEMS`` has one per distinct prefix of a text
  at each length of ``LENGTHS``: every length from ``MIN_QUERY`` to
  ``EVERY_LENGTH``, then a few longer ones;
- a user whose texts are too many or too long for that (a name of four or
  more words beside a long email) has the prefixes shorter than ``SHORT``,
  and the ``SHORT``-character start of each text under ``OVERFLOW`` + prefix:
  the email's and the whole name's first, then the later words', shorter
  ones first, at most ``MAX_ITEMS``. So in a name of more than about six
  words the last words are found by their shorter prefixes only.

A query of ``L`` characters reads the partition of its first ``l``
characters, ``l`` the longest length of ``LENGTHS`` up to ``L`` at which that
prefix does not end with a space (``l = L`` up to ``EVERY_LENGTH``), and,
when ``L >= SHORT``, the overflow partition of its first ``SHORT``
characters; both in name order, ``n + 1`` items a Query for a page of ``n``,
merged, keeping the items whose texts (each item carries them) start with the
whole query. It stops one match after the page, so that ``next`` is null on
the last page.

The bound: a page of ``n`` users reads at most ``n + 1`` matching items of
each partition (the overflow one holds only users over the item budget), and
besides them only (a) for ``L > EVERY_LENGTH``, users that share the query's
first ``l >= EVERY_LENGTH - 1`` characters but not all of it, and (b) for
``L >= SHORT``, users over the item budget that share the query's first
``SHORT`` characters but not all of it; each counted up to the last match
read (all of them on the last page). So a query of up to ``EVERY_LENGTH``
characters reads ``n + 1`` items, plus what users with names of many words
add to (b); then the ``n`` users (one ``BatchGetItem``).

A user has at most ``MAX_ITEMS`` items so that a change rewriting them all (a
new name: every old item deleted, every new one put) fits in one transaction
of 100 actions beside the record, its two email guards, the user-manager
counter and the log entry. ``rebuild`` rewrites every user's items
(``manage.py rebuild-search``) after this scheme changes, or for users stored
before there were items.
"""

from __future__ import annotations

import heapq
import itertools
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

from chalicelib import errors
from chalicelib.records.validation import Page
from chalicelib.storage.batch import get_many
from chalicelib.storage.cursors import decode_cursor, encode_cursor
from chalicelib.storage.models import SearchEntry, User, storage_errors
from chalicelib.storage.transactions import ConcurrentChange, Transaction
from chalicelib.storage.versions import MAX_ATTEMPTS, StaleVersion

MIN_QUERY = 2
MAX_QUERY = 100
EVERY_LENGTH = 16
LENGTHS = (*range(MIN_QUERY, EVERY_LENGTH + 1), 20, 24, 32)
SHORT = 8
# Before an overflow item's prefix: no search text starts with a space (``fold``).
OVERFLOW = " "
MAX_ITEMS = 45
# Actions of one transaction (DynamoDB's limit), for ``rebuild``.
MAX_ACTIONS = 100
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


def _starts(all_texts: Sequence[str], lengths: Iterable[int]) -> dict[str, None]:
    """The distinct prefixes of ``all_texts`` at ``lengths``, shorter ones first; none
    ends with a space (a query never does)."""
    found: dict[str, None] = {}
    for length in lengths:
        for text in all_texts:
            prefix = text[:length]
            if len(prefix) == length and not prefix.endswith(" "):
                found.setdefault(prefix)
    return found


def prefixes(user_texts: Iterable[str]) -> list[str]:
    """The partitions a user has items in: every prefix at ``LENGTHS`` when they fit
    ``MAX_ITEMS``; else those shorter than ``SHORT`` and the overflow ones, the email's
    and the whole name's first, then the later words' shorter ones first, at most
    ``MAX_ITEMS``."""
    all_texts = list(user_texts)
    every = list(_starts(all_texts, LENGTHS))
    if len(every) <= MAX_ITEMS:
        return every
    found: dict[str, None] = {}
    for group in (all_texts[:2], all_texts[2:]):
        found.update(_starts(group, range(MIN_QUERY, SHORT)))
        found.update((OVERFLOW + text[:SHORT], None) for text in group if len(text) >= SHORT)
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


def _changes(
    old: Iterable[SearchEntry], new: Iterable[SearchEntry]
) -> tuple[list[SearchEntry], list[SearchEntry]]:
    """What turns items ``old`` into ``new``: the items to delete, and those to put."""
    had = {_key(entry): list(entry.texts) for entry in old}
    wanted = {_key(entry): entry for entry in new}
    deleted = [SearchEntry(prefix=p, sort=s) for p, s in had if (p, s) not in wanted]
    put = [entry for key, entry in wanted.items() if had.get(key) != list(entry.texts)]
    return deleted, put


def write_entries(transaction: Transaction, before: User | None, after: User | None) -> None:
    """Add to ``transaction`` what turns the search items of ``before`` (None for a new
    user) into those of ``after`` (None for a deleted one). Nothing when the name and
    email stay."""
    deleted, put = _changes(
        entries(before) if before is not None else [],
        entries(after) if after is not None else [],
    )
    for entry in deleted:
        transaction.delete(entry)
    for entry in put:
        transaction.put(entry)


def check_query(query: str) -> str:
    """The folded query; InvalidInput unless it is 2 to 100 characters."""
    if not MIN_QUERY <= len(query) <= MAX_QUERY:
        raise errors.InvalidInput(f"q must be {MIN_QUERY} to {MAX_QUERY} characters")
    return fold(query)


def partitions(folded: str) -> list[str]:
    """The partitions a folded query (2 characters or more) reads: that of its own
    prefix, then, from ``SHORT`` characters on, the overflow one."""
    length = max(n for n in LENGTHS if n <= len(folded) and folded[n - 1] != " ")
    read = [folded[:length]]
    if len(folded) >= SHORT:
        read.append(OVERFLOW + folded[:SHORT])
    return read


def search(query: str, page: Page) -> tuple[list[User], str | None]:
    """One page of the users ``query`` finds, in name order, and the next page's cursor.

    Raises InvalidInput for a query of the wrong length, InvalidCursor.
    """
    folded = check_query(query)
    if len(folded) < MIN_QUERY:
        return [], None  # spaces, or marks that fold away: no item has so short a prefix
    read = partitions(folded)
    start = decode_cursor(page.cursor, {"prefix": "S", "sort": "S"})
    if start is not None and start["prefix"]["S"] != read[0]:
        raise errors.InvalidCursor("cursor belongs to another query")
    after = start["sort"]["S"] if start is not None else None
    with storage_errors():
        streams = [_matching(prefix, folded, after, page.limit + 1) for prefix in read]
        merged = heapq.merge(*streams, key=lambda entry: entry.sort)
        found = list(itertools.islice(merged, page.limit + 1))
        users = _users([entry.user_id for entry in found[: page.limit]])
    next_page = None
    if len(found) > page.limit:
        last = found[page.limit - 1]
        next_page = encode_cursor({"prefix": {"S": read[0]}, "sort": {"S": last.sort}})
    return users, next_page


def _matching(prefix: str, folded: str, after: str | None, page_size: int) -> Iterator[SearchEntry]:
    """The items of partition ``prefix`` after sort key ``after`` whose texts start
    with ``folded``, in name order, read ``page_size`` at a time."""
    condition = SearchEntry.sort > after if after is not None else None
    results = SearchEntry.query(prefix, condition, page_size=page_size)
    return (entry for entry in results if any(t.startswith(folded) for t in entry.texts))


def _users(ids: list[str]) -> list[User]:
    """The users of ``ids`` in that order, read in batches; one deleted meanwhile is left out."""
    users: list[User] = []
    for start in range(0, len(ids), 100):
        batch = get_many([(User, {"id": user_id}) for user_id in ids[start : start + 100]])
        users += [user for user in batch if isinstance(user, User)]
    return users


def rebuild() -> Counter[str]:
    """Make every user's search items those of its email and name now, and delete the
    items of users that no longer exist; idempotent. Returns how many users were
    ``rewritten``, left ``unchanged``, and gone (``orphaned``, their items deleted).

    Raises StorageUnavailable, EditConflict when a user kept changing meanwhile.
    """
    with storage_errors():
        stored: dict[str, list[SearchEntry]] = defaultdict(list)
        for item in SearchEntry.scan(consistent_read=True):
            stored[item.user_id].append(item)
        users = {user.id: user for user in User.scan(consistent_read=True)}
    done: Counter[str] = Counter()
    for user_id in sorted(users.keys() | stored.keys()):
        done[_rebuild_user(user_id, users.get(user_id), stored.get(user_id, []))] += 1
    return done


def _rebuild_user(user_id: str, user: User | None, stored: list[SearchEntry]) -> str:
    """Rewrite one user's items, each transaction on condition that the user is still
    as read (or still gone)."""
    for _ in range(MAX_ATTEMPTS):
        deleted, put = _changes(stored, entries(user) if user is not None else [])
        if not deleted and not put:
            return "unchanged"
        condition = User.id.does_not_exist() if user is None else User.version == user.version
        ops = [(Transaction.delete, entry) for entry in deleted]
        ops += [(Transaction.put, entry) for entry in put]
        try:
            for start in range(0, len(ops), MAX_ACTIONS - 1):
                transaction = Transaction()
                transaction.check(User, user_id, condition, error=StaleVersion)
                for write, entry in ops[start : start + MAX_ACTIONS - 1]:
                    write(transaction, entry)
                transaction.commit()
        except (StaleVersion, ConcurrentChange):
            # The change that got in between wrote the items of the user it left.
            user = _read_user(user_id)
            if user is not None:
                stored = [*stored, *entries(user)]
            continue
        return "rewritten" if user is not None else "orphaned"
    raise errors.EditConflict(f"user {user_id} kept changing; run it again")


def _read_user(user_id: str) -> User | None:
    with storage_errors():
        try:
            return User.get(user_id, consistent_read=True)
        except User.DoesNotExist:
            return None
