"""Import users from the research-data tracker's export (``manage.py import-users``).

The export is the tracker's ``users`` collection as ``mongoexport`` writes it:
a JSON array, or one JSON object per line. Each record becomes a user made by
``users.create_user`` as ``system``, keeping the record's id (the tracker's
``u-<uuid4>``, or an older UUID or ObjectId), so a second run finds what the
first made and skips it. An optional field whose value today's rules refuse
(an ORCID failing its check digit, a URL that is not http(s), an unknown
permission) is cleared, and the summary lists each such change; a record that
cannot be stored at all (no valid email, no id) is rejected and listed. Each
record's outcome is reported the moment it is known (``Outcome``), so a run
that is killed or stopped by a storage fault still leaves what it did.
The tracker's ``api_key`` and ``api_salt`` hold key hashes that cannot carry
over: they are never read, copied, printed or logged; imported users make new
keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib import errors
from chalicelib.ids import SYSTEM
from chalicelib.permissions import PERMISSIONS
from chalicelib.records import guards
from chalicelib.records.record import CLEAR, DROP_UNKNOWN, MANAGER_FIELDS, REJECT, SERVICE, USER
from chalicelib.records.users import NewUser, create_user
from chalicelib.records.validation import MAX_SHORT
from chalicelib.storage.models import Guard, LogEntry, User, storage_errors
from chalicelib.text import is_clean
from ops.tracker_export import record_id

COMMENT = "imported from the research-data tracker export"
# The record's own rules (chalicelib/records/record.py) say what is imported and how; the
# login identities, which no request may write, go to create_user beside the body.
FIELDS = tuple(f.name for f in USER.fields if f.on_import != SERVICE and not f.read_only)
REQUIRED = tuple(f.name for f in USER.fields if f.on_import == REJECT)
OPTIONAL = tuple(f.name for f in USER.fields if f.on_import == CLEAR and not f.read_only)
DROPPING = tuple(f.name for f in USER.fields if f.on_import == DROP_UNKNOWN)
# A record that breaks a rule or collides with another is rejected; a storage fault stops the run.
REJECTING = (
    errors.InvalidInput,
    errors.UnknownField,
    errors.FieldNotWritable,
    errors.EmailTaken,
    errors.UserExists,
    errors.AuthIdTaken,
    errors.EditConflict,
)

Progress = Callable[[int, int], None]
Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Rejection:
    """A record that was not imported: its position (from 0), its id if known, why."""

    index: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class Skip:
    """A record imported before, or whose user was deleted since: its position, id, why."""

    index: int
    id: str
    reason: str


@dataclass(frozen=True)
class Change:
    """A value of an imported record that today's rules refuse, cleared on import."""

    index: int
    id: str
    field: str
    reason: str


@dataclass
class Summary:
    """What a run did, or with ``dry_run`` would do."""

    dry_run: bool
    imported: int = 0
    skipped: int = 0
    skips: list[Skip] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary ``import-users`` prints."""
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "rejected": len(self.rejections),
            "changed": len(self.changes),
            "dry_run": self.dry_run,
            "skips": [asdict(skip) for skip in self.skips],
            "rejections": [asdict(rejection) for rejection in self.rejections],
            "changes": [asdict(change) for change in self.changes],
        }


@dataclass(frozen=True)
class _Candidate:
    """A record that passed the service's rules: what ``create_user`` gets."""

    id: str
    body: dict[str, Any]
    auth_ids: list[str] | None

    @property
    def guard_keys(self) -> list[str]:
        """The unique values the new user would hold, in ``create_user``'s order."""
        email = self.body["email"]
        return guards.user_keys(email, self.auth_ids or [email])


def _shown_id(record: Any) -> str | None:
    """The ``_id`` of a record whose id could not be normalised, as text, if it has one."""
    raw = record.get("_id") if isinstance(record, dict) else None
    return None if raw is None else (raw if isinstance(raw, str) else json.dumps(raw))[:100]


def _candidate(record: dict[str, Any], user_id: str) -> tuple[_Candidate, list[tuple[str, str]]]:
    """Check a record with the service's own rules: the candidate, and the
    ``(field, reason)`` of each value cleared. Raises InvalidInput when the
    email, which the user cannot do without, breaks them.

    Missing, null or empty fields are left out: ``create_user`` stores "" for
    them, and an empty ``name`` is not refused.
    """
    body = {name: record[name] for name in FIELDS if record.get(name) not in (None, "")}
    for name in REQUIRED:
        if name not in body:
            raise errors.InvalidInput(f"{name} is required")
        USER.by_name[name].check(body[name])
    cleared: list[tuple[str, str]] = []
    for name in OPTIONAL:
        if name in body:
            try:
                USER.by_name[name].check(body[name])
            except errors.InvalidInput as exc:
                del body[name]
                cleared.append((name, f"cleared: {exc}"))
    for name in DROPPING:
        if name in body:
            given = body[name]
            kept = [
                p
                for p in dict.fromkeys(given if isinstance(given, list) else [])
                if p in PERMISSIONS
            ]
            if kept != given:
                dropped = (
                    given if not isinstance(given, list) else [p for p in given if p not in kept]
                )
                cleared.append((name, f"dropped what no permission is called: {dropped!r}"))
                body[name] = kept
    auth_ids = record.get("auth_ids")
    if not (isinstance(auth_ids, list) and auth_ids and all(isinstance(a, str) for a in auth_ids)):
        auth_ids = None
    elif not all(0 < len(a) <= MAX_SHORT and is_clean(a) for a in auth_ids):
        cleared.append(("auth_ids", "cleared: holds an empty, overlong or unprintable entry"))
        auth_ids = None
    return _Candidate(user_id, body, auth_ids), cleared


def _taken_in_file(key: str, index: int) -> Exception:
    if key.startswith(guards.EMAIL_PREFIX):
        return errors.EmailTaken(f"record {index} of this file has the same email")
    return errors.AuthIdTaken(f"record {index} of this file holds the same login identity")


def _create(candidate: _Candidate) -> str | None:
    """Create the user; the reason to skip it when a user with its id exists already
    or existed (a user deleted after its import stays deleted), else None."""
    try:
        auth_ids = tuple(candidate.auth_ids) if candidate.auth_ids is not None else None
        new = NewUser(
            candidate.body, MANAGER_FIELDS, auth_ids, user_id=candidate.id, comment=COMMENT
        )
        create_user(SYSTEM, new)
    except errors.UserExists as exc:
        return str(exc)
    return None


def _check_table(candidate: _Candidate) -> str | None:
    """What ``_create`` would do, read only: the reason to skip when the id exists or
    existed; raises EmailTaken or AuthIdTaken as ``create_user`` would."""
    with storage_errors():
        if _exists(User, candidate.id):
            return f"a user with id {candidate.id!r} exists already"
        if _has_log(candidate.id):
            return f"a user with id {candidate.id!r} existed and was deleted; ids are not reused"
        email, *auth_keys = candidate.guard_keys
        if _exists(Guard, email):
            raise errors.EmailTaken(f"another user has the email {candidate.body['email']!r}")
        if any(_exists(Guard, key) for key in auth_keys):
            raise errors.AuthIdTaken("another user holds this login identity")
    return None


def _exists(model: type[User] | type[Guard], key: str) -> bool:
    try:
        model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return False
    return True


def _has_log(user_id: str) -> bool:
    return any(True for _ in LogEntry.query(user_id, limit=1, consistent_read=True))


def import_users(
    records: Sequence[Any],
    dry_run: bool = False,
    progress: Progress | None = None,
    report: Report | None = None,
) -> Summary:
    """Import the records in order; with ``dry_run`` check them and write nothing.

    Values of optional fields that break today's rules are cleared, each listed
    in ``summary.changes``. A record whose id exists already, or existed (a user deleted since), is
    skipped as imported before, with the reason. A record that breaks the rules, repeats an
    earlier record's id, or has an email or login identity that an earlier
    record of the file or another user holds, is rejected. ``report(outcome)``
    gets each record's outcome as soon as it is known (``imported``,
    ``skipped``, ``rejected``, or ``stopped`` for the record a storage fault
    stopped the run at); ``progress(done, total)`` is called after each record.
    Raises StorageUnavailable when the storage fails; running again is safe.
    """
    summary = Summary(dry_run)
    ids: dict[str, int] = {}  # id -> the first record that has it
    claimed: dict[str, int] = {}  # guard key -> the record that holds it
    tell: Report = report or (lambda outcome: None)
    for index, record in enumerate(records):
        user_id: str | None = None
        try:
            user_id = record_id(record)
            if user_id in ids:
                raise errors.InvalidInput(f"_id repeats record {ids[user_id]} of this file")
            ids[user_id] = index
            candidate, cleared = _candidate(record, user_id)
            for key in candidate.guard_keys:
                if key in claimed:
                    raise _taken_in_file(key, claimed[key])
            skip = _check_table(candidate) if dry_run else _create(candidate)
            if skip is None:
                summary.imported += 1
                changes = [Change(index, user_id, name, why) for name, why in cleared]
                summary.changes += changes
                tell(_outcome(index, user_id, "imported", changes=changes))
            else:
                summary.skipped += 1
                summary.skips.append(Skip(index, user_id, skip))
                tell(_outcome(index, user_id, "skipped", skip))
            for key in candidate.guard_keys:
                claimed.setdefault(key, index)
        except REJECTING as exc:
            shown = user_id if user_id is not None else _shown_id(record)
            reason = f"{type(exc).__name__}: {exc}"
            summary.rejections.append(Rejection(index, shown, reason))
            tell(_outcome(index, shown, "rejected", reason))
        except errors.StorageUnavailable as exc:
            shown = user_id if user_id is not None else _shown_id(record)
            tell(_outcome(index, shown, "stopped", f"{type(exc).__name__}: {exc}"))
            raise
        if progress is not None:
            progress(index + 1, len(records))
    return summary


def _outcome(
    index: int, user_id: str | None, outcome: str, reason: str = "", changes: Sequence[Change] = ()
) -> dict[str, Any]:
    """One record's line of the report."""
    line: dict[str, Any] = {"index": index, "id": user_id, "outcome": outcome}
    if reason:
        line["reason"] = reason
    if changes:
        line["changes"] = [{"field": c.field, "reason": c.reason} for c in changes]
    return line
