"""The rules that hold across the tables, checked by scanning them: an operator's tool.

Every change writes a record, its guards, the user-manager counter and its log
entry in one transaction (``users.py``, ``changes.py``, docs/API.md section 8), so
these hold at every moment:

- a live user at version ``n`` has exactly the log entries ``1..n``;
- a deleted record (entries but no user item) ends with a ``delete`` entry,
  and a live user's log does not;
- a user's ``email_lower`` (what ``GET /user?email=`` finds) is its email
  NFKC-normalised and case-folded (``guards.normalise_email``);
- a record's log versions run ``1..n`` without a gap;
- each guard (``email#<normalised email>``, ``auth#<sub>::<provider>``; the
  format is ``guards.py``'s) names a live user that still holds that email or
  identity, and each live user holds all of its guards; an ``auth#`` guard
  never holds an email (the two namespaces never meet);
- no two users share an email (compared normalised) or an auth id;
- the ``count#user_managers`` counter equals the live users whose stored
  permissions hold ``USER_MANAGEMENT``;
- a log entry's ``old`` (when it has one: entries written before it was kept
  have none) names only fields its ``data`` names, and is empty for an
  ``add`` or a ``delete``;
- each live user's ``search`` items are exactly those of its email and name
  (``search.entries``), and every search item names a live user;
- every API key belongs to a live user that lists its id in ``api_key_ids``,
  and every id a user lists names a stored key;
- a deleted user is erased (docs/API.md section 10, ``erasure.py``): its ``delete``
  entry's erasure is finished, no entry of its log holds a personal value
  (``data``, ``old``, or quoted in a ``comment``), and no session or
  idempotency record names it;
- a suspended user holds no session.

``check()`` scans every table. ``repair()`` finishes the erasures and ends the
sessions that these last rules find, and nothing else. A Scan is not a
snapshot: on a busy service a change may land between two tables' scans, so
run it again before acting on what it finds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.permissions import USER_MANAGEMENT
from chalicelib.records import erasure, search
from chalicelib.records import guards as guard_keys
from chalicelib.records.changes import counts_as_manager
from chalicelib.records.user_sessions import end_user_sessions
from chalicelib.storage.models import (
    USER_MANAGERS_COUNTER,
    ApiKey,
    Guard,
    IdempotentRequest,
    LogEntry,
    SearchEntry,
    Session,
    User,
    storage_errors,
)

VERSION_MISMATCH = "version_mismatch"
DELETE_NOT_LOGGED = "delete_not_logged"
LIVE_AFTER_DELETE = "live_after_delete"
EMAIL_LOWER_STALE = "email_lower_stale"
LOG_GAP = "log_gap"
GUARD_ORPHANED = "guard_orphaned"
GUARD_STALE = "guard_stale"
GUARD_UNKNOWN = "guard_unknown"
GUARD_MISSING = "guard_missing"
EMAIL_SHARED = "email_shared"
AUTH_ID_SHARED = "auth_id_shared"
MANAGER_COUNT_MISMATCH = "manager_count_mismatch"
APIKEY_ORPHANED = "apikey_orphaned"
APIKEY_UNLISTED = "apikey_unlisted"
APIKEY_MISSING = "apikey_missing"
OLD_UNMATCHED = "old_unmatched"
SEARCH_STALE = "search_stale"
SEARCH_ORPHANED = "search_orphaned"
ERASURE_UNFINISHED = "erasure_unfinished"
PERSONAL_VALUE_LEFT = "personal_value_left"
SESSION_ORPHANED = "session_orphaned"
SESSION_OF_SUSPENDED = "session_of_suspended_user"
IDEMPOTENCY_ORPHANED = "idempotency_orphaned"
ERASURE_KINDS = (ERASURE_UNFINISHED, PERSONAL_VALUE_LEFT, SESSION_ORPHANED, IDEMPOTENCY_ORPHANED)

Key = Mapping[str, str | int]


@dataclass(frozen=True)
class Violation:
    """One broken rule: its kind, the key of the item (or value) it concerns, and why."""

    kind: str
    key: Key
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The violation as a JSON object."""
        return {"kind": self.kind, "key": dict(self.key), "detail": self.detail}


def check() -> list[Violation]:
    """Every violation of the invariants across the tables, in a stable order.

    Raises StorageUnavailable when a table cannot be read.
    """
    with storage_errors():
        users = {user.id: user for user in User.scan(consistent_read=True)}
        guards = {guard.key: guard for guard in Guard.scan(consistent_read=True)}
        logs: dict[str, dict[int, str]] = defaultdict(dict)
        entries: dict[str, list[LogEntry]] = defaultdict(list)
        unmatched: list[Violation] = []
        for entry in LogEntry.scan(consistent_read=True):
            logs[entry.entry_id][int(entry.version)] = entry.action
            entries[entry.entry_id].append(entry)
            unmatched += _old(entry)
        keys = list(ApiKey.scan(consistent_read=True))
        sessions = list(Session.scan(consistent_read=True))
        requests = list(IdempotentRequest.scan(consistent_read=True))
        found_by: dict[str, list[SearchEntry]] = defaultdict(list)
        for item in SearchEntry.scan(consistent_read=True):
            found_by[item.user_id].append(item)
    violations = [
        *_erased(users, entries),
        *_sessions(users, sessions),
        *_idempotency(users, requests),
        *_logs(users, logs),
        *_guards(users, guards),
        *_users_guards(users, guards),
        *_shared(users),
        *_manager_count(users, guards),
        *_api_keys(users, keys),
        *unmatched,
        *_search(users, found_by),
    ]
    return sorted(violations, key=lambda v: (v.kind, json.dumps(dict(v.key), sort_keys=True)))


def _spans(versions: Iterable[int]) -> str:
    """Versions as compact ranges: ``1-3, 5``."""
    spans: list[list[int]] = []
    for version in sorted(versions):
        if spans and version == spans[-1][1] + 1:
            spans[-1][1] = version
        else:
            spans.append([version, version])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "none"


def _logs(users: Mapping[str, User], logs: Mapping[str, Mapping[int, str]]) -> list[Violation]:
    found = []
    for entry_id, actions in logs.items():
        versions = sorted(actions)
        missing = set(range(1, versions[-1] + 1)) - set(versions)
        if missing:
            found.append(
                Violation(
                    LOG_GAP,
                    {"entry_id": entry_id},
                    f"log versions {_spans(versions)} lack {_spans(missing)}",
                )
            )
        if entry_id not in users and actions[versions[-1]] != "delete":
            found.append(
                Violation(
                    DELETE_NOT_LOGGED,
                    {"entry_id": entry_id},
                    f"no user item, but the last log entry (version {versions[-1]}) "
                    f"is {actions[versions[-1]]!r}, not 'delete'",
                )
            )
    for user in users.values():
        version = int(user.version)
        actions = logs.get(user.id, {})
        versions = sorted(actions)
        if versions and actions[versions[-1]] == "delete":
            found.append(
                Violation(
                    LIVE_AFTER_DELETE,
                    {"id": user.id},
                    f"the user exists, but its last log entry (version {versions[-1]}) "
                    "is a 'delete'",
                )
            )
        if user.email_lower != guard_keys.normalise_email(user.email):
            found.append(
                Violation(
                    EMAIL_LOWER_STALE,
                    {"id": user.id},
                    "email_lower is not the email normalised, so ?email= misses it",
                )
            )
        if versions != list(range(1, version + 1)):
            found.append(
                Violation(
                    VERSION_MISMATCH,
                    {"id": user.id},
                    f"the user is at version {version}, its log holds {len(versions)} "
                    f"entries (versions {_spans(versions)})",
                )
            )
    return found


def _guards(users: Mapping[str, User], guards: Mapping[str, Guard]) -> list[Violation]:
    found = []
    for key, guard in guards.items():
        if key == USER_MANAGERS_COUNTER:
            continue
        parsed = guard_keys.parse(key)
        if parsed is None:
            found.append(Violation(GUARD_UNKNOWN, {"key": key}, "not a guard the service writes"))
            continue
        what, value = parsed
        owner = users.get(guard.user_id or "")
        if owner is None:
            found.append(
                Violation(
                    GUARD_ORPHANED,
                    {"key": key},
                    f"the guard names user {guard.user_id!r}, which does not exist",
                )
            )
        elif not (
            guard_keys.normalise_email(owner.email) == value
            if what == "email"
            else value in owner.auth_ids
        ):
            found.append(
                Violation(
                    GUARD_STALE,
                    {"key": key},
                    f"user {owner.id!r} no longer holds this {what}",
                )
            )
    return found


def _users_guards(users: Mapping[str, User], guards: Mapping[str, Guard]) -> list[Violation]:
    found = []
    for user in users.values():
        for key in guard_keys.user_keys(user.email, user.auth_ids):
            guard = guards.get(key)
            if guard is None or guard.user_id != user.id:
                held = "" if guard is None else f" (it names user {guard.user_id!r})"
                found.append(
                    Violation(
                        GUARD_MISSING, {"id": user.id}, f"no guard {key!r} names this user{held}"
                    )
                )
    return found


def _shared(users: Mapping[str, User]) -> list[Violation]:
    by_email: dict[str, set[str]] = defaultdict(set)
    by_auth_id: dict[str, set[str]] = defaultdict(set)
    for user in users.values():
        by_email[guard_keys.normalise_email(user.email)].add(user.id)
        for auth_id in user.auth_ids:
            by_auth_id[auth_id].add(user.id)
    found = []
    for kind, field, owners in (
        (EMAIL_SHARED, "email", by_email),
        (AUTH_ID_SHARED, "auth_id", by_auth_id),
    ):
        for value, ids in owners.items():
            if len(ids) > 1:
                found.append(
                    Violation(kind, {field: value}, "held by users " + ", ".join(sorted(ids)))
                )
    return found


def _manager_count(users: Mapping[str, User], guards: Mapping[str, Guard]) -> list[Violation]:
    managers = sum(
        1 for user in users.values() if counts_as_manager(user.permissions, bool(user.suspended))
    )
    counter = guards.get(USER_MANAGERS_COUNTER)
    total = int(counter.total) if counter is not None and counter.total is not None else 0
    if total == managers:
        return []
    return [
        Violation(
            MANAGER_COUNT_MISMATCH,
            {"key": USER_MANAGERS_COUNTER},
            f"the counter says {total}, {managers} live users hold {USER_MANAGEMENT} "
            "and are not suspended",
        )
    ]


def _api_keys(users: Mapping[str, User], keys: Iterable[ApiKey]) -> list[Violation]:
    found = []
    stored = set()
    for key in keys:
        stored.add((key.user_id, key.key_id))
        owner = users.get(key.user_id)
        if owner is None:
            detail, kind = "the key's user does not exist", APIKEY_ORPHANED
        elif key.key_id not in (owner.api_key_ids or ()):
            detail, kind = "the key's user does not list it in api_key_ids", APIKEY_UNLISTED
        else:
            continue
        found.append(Violation(kind, {"user_id": key.user_id, "key_id": key.key_id}, detail))
    for user in users.values():
        for key_id in sorted(user.api_key_ids or ()):
            if (user.id, key_id) not in stored:
                found.append(
                    Violation(
                        APIKEY_MISSING,
                        {"user_id": user.id, "key_id": key_id},
                        "the user lists a key id in api_key_ids that names no stored key",
                    )
                )
    return found


def _old(entry: LogEntry) -> list[Violation]:
    if entry.old is None:
        return []  # written before ``old`` was kept
    names = set(entry.old)
    if entry.action == "edit" and names <= set(entry.data):
        return []
    if entry.action != "edit" and not names:
        return []
    return [
        Violation(
            OLD_UNMATCHED,
            {"entry_id": entry.entry_id, "version": int(entry.version)},
            f"the {entry.action} entry's old names {sorted(names)}, its data {sorted(entry.data)}",
        )
    ]


def _search(
    users: Mapping[str, User], found_by: Mapping[str, list[SearchEntry]]
) -> list[Violation]:
    found = []
    for user_id, items in found_by.items():
        if user_id not in users:
            found.append(
                Violation(
                    SEARCH_ORPHANED,
                    {"user_id": user_id},
                    f"{len(items)} search items name a user that does not exist "
                    "(manage.py rebuild-search deletes them)",
                )
            )
    for user in users.values():
        stored = sorted((i.prefix, i.sort, list(i.texts)) for i in found_by.get(user.id, []))
        wanted = sorted((i.prefix, i.sort, list(i.texts)) for i in search.entries(user))
        if stored != wanted:
            found.append(
                Violation(
                    SEARCH_STALE,
                    {"id": user.id},
                    "the user's search items are not those of its email and name, "
                    "so ?q= finds it wrongly (manage.py rebuild-search rewrites them)",
                )
            )
    return found


def _erased(users: Mapping[str, User], entries: Mapping[str, list[LogEntry]]) -> list[Violation]:
    """Deleted records whose erasure is unfinished or left a personal value."""
    found = []
    for entry_id, record in entries.items():
        if entry_id in users or not any(entry.action == "delete" for entry in record):
            continue  # live, or a lost record that DELETE_NOT_LOGGED reports
        if any(entry.action == "delete" and entry.erasing for entry in record):
            found.append(
                Violation(ERASURE_UNFINISHED, {"entry_id": entry_id}, "the erasure is unfinished")
            )
        values = erasure.personal_values(record)
        if values:
            holding = [
                int(e.version)
                for e in record
                if erasure.personal_values([e])
                or erasure.scrubbed_comment(e.comment or "", values) != (e.comment or "")
            ]
            found.append(
                Violation(
                    PERSONAL_VALUE_LEFT,
                    {"entry_id": entry_id},
                    f"the deleted user's log entries {_spans(holding)} hold personal values",
                )
            )
    return found


def _sessions(users: Mapping[str, User], sessions: Iterable[Session]) -> list[Violation]:
    found = []
    for session in sessions:
        owner = users.get(session.user_id)
        if owner is None:
            found.append(
                Violation(
                    SESSION_ORPHANED, {"user_id": session.user_id}, "a session of no live user"
                )
            )
        elif owner.suspended:
            found.append(
                Violation(
                    SESSION_OF_SUSPENDED, {"user_id": session.user_id}, "a suspended user's session"
                )
            )
    return list({(v.kind, v.key["user_id"]): v for v in found}.values())


def _idempotency(
    users: Mapping[str, User], requests: Iterable[IdempotentRequest]
) -> list[Violation]:
    orphaned = {request.user_id for request in requests if request.user_id not in users}
    return [
        Violation(
            IDEMPOTENCY_ORPHANED,
            {"user_id": user_id},
            "an idempotency record answers with a user that was deleted",
        )
        for user_id in sorted(orphaned)
    ]


def repair(violations: Iterable[Violation]) -> list[Violation]:
    """Finish the erasures and end the sessions that ``violations`` show; returns the
    violations repaired. Others need a person's judgement and are left alone."""
    repaired = []
    for violation in violations:
        if violation.kind in ERASURE_KINDS:
            erasure.finish(str(violation.key.get("entry_id") or violation.key["user_id"]))
        elif violation.kind == SESSION_OF_SUSPENDED:
            end_user_sessions(str(violation.key["user_id"]))
        else:
            continue
        repaired.append(violation)
    return repaired
