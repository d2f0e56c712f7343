"""Import users from the research-data tracker's export (``manage.py import-users``).

The export is the tracker's ``users`` collection as ``mongoexport`` writes it:
a JSON array, or one JSON object per line. Each record becomes a user made by
``users.create_user`` as ``system``, keeping the record's id (the tracker's
``u-<uuid4>``, or an older UUID or ObjectId), so a second run finds what the
first made and skips it. An optional field whose value today's rules refuse
(an ORCID failing its check digit, a URL that is not http(s), an unknown
permission) is cleared, and the summary lists each such change; a record that
cannot be stored at all (no valid email, no id) is rejected and listed.
The tracker's ``api_key`` and ``api_salt`` hold key hashes that cannot carry
over: they are never read, copied, printed or logged; imported users make new
keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib import errors, guards
from chalicelib.changes import SYSTEM
from chalicelib.models import Guard, LogEntry, User, storage_errors
from chalicelib.permissions import PERMISSIONS
from chalicelib.text import is_clean
from chalicelib.users import create_user
from chalicelib.validation import CREATOR_FIELDS, MAX_SHORT, USER

COMMENT = "imported from the research-data tracker export"
FIELDS = (*CREATOR_FIELDS, "permissions")
TRACKER_ID_RE = re.compile(
    r"u-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
OPTIONAL = ("name", "affiliation", "contact", "orcid", "url")
UUID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.IGNORECASE
)
OBJECT_ID_RE = re.compile(r"[0-9a-f]{24}", re.IGNORECASE)
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


@dataclass(frozen=True)
class Unparsed:
    """A line of a JSON-lines export that is not JSON; rejected at its position."""

    reason: str


@dataclass(frozen=True)
class Rejection:
    """A record that was not imported: its position (from 0), its id if known, why."""

    index: int
    id: str | None
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


def read_export(text: str) -> list[Any]:
    """The records of an export: a JSON array, one JSON object, or JSON lines.

    A JSON line that does not parse becomes an ``Unparsed`` record, rejected at
    its position. Raises ValueError for a JSON array that does not parse.
    """
    if text.lstrip().startswith("["):
        array: list[Any] = json.loads(text)  # a JSON text starting with [ is an array
        return array
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass  # more than one value: JSON lines, as mongoexport writes by default
    records: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            # The position only: the line may hold key material.
            records.append(Unparsed(f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return records


def normalise_id(raw: Any) -> str:
    """The new record's id for a tracker ``_id``; raises InvalidInput.

    The tracker's own ``u-<uuid>`` is kept as it is (lower-cased). A UUID (a
    string with or without dashes, ``{"$uuid"}``, or ``{"$binary"}``
    of subtype 4, or 3 as pymongo's legacy UUIDs in standard byte order) gives
    its 32 lower-case hex digits; an ``{"$oid"}`` keeps its 24.
    """
    if isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("$uuid"), str):
        raw = raw["$uuid"]
    if isinstance(raw, str) and TRACKER_ID_RE.fullmatch(raw):
        return raw.lower()
    if isinstance(raw, str) and UUID_RE.fullmatch(raw):
        return raw.replace("-", "").lower()
    oid = raw.get("$oid") if isinstance(raw, dict) and len(raw) == 1 else None
    if isinstance(oid, str) and OBJECT_ID_RE.fullmatch(oid):
        return oid.lower()
    if isinstance(raw, dict) and (uuid_hex := _binary_uuid(raw)) is not None:
        return uuid_hex
    raise errors.InvalidInput("_id is not u-<uuid>, a UUID or an ObjectId")


def _binary_uuid(raw: dict[str, Any]) -> str | None:
    """The hex of a ``{"$binary": {"base64", "subType"}}`` (or, from older
    exports, ``{"$binary", "$type"}``) that holds a UUID, else None."""
    data: Any = raw.get("$binary")
    subtype = raw.get("$type") if len(raw) == 2 else None
    if isinstance(data, dict) and len(raw) == 1:
        data, subtype = data.get("base64"), data.get("subType")
    if not isinstance(data, str) or subtype not in ("03", "04", "3", "4"):
        return None
    try:
        decoded = base64.b64decode(data, validate=True)
    except binascii.Error:
        return None
    return decoded.hex() if len(decoded) == 16 else None


def _record_id(record: Any) -> str:
    """The normalised id of a record; raises InvalidInput."""
    if isinstance(record, Unparsed):
        raise errors.InvalidInput(record.reason)
    if not isinstance(record, dict):
        raise errors.InvalidInput("the record is not a JSON object")
    if record.get("_id") is None:
        raise errors.InvalidInput("_id is required")
    return normalise_id(record["_id"])


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
    if "email" not in body:
        raise errors.InvalidInput("email is required")
    USER.by_name["email"].check(body["email"])
    cleared: list[tuple[str, str]] = []
    for name in OPTIONAL:
        if name in body:
            try:
                USER.by_name[name].check(body[name])
            except errors.InvalidInput as exc:
                del body[name]
                cleared.append((name, f"cleared: {exc}"))
    if "permissions" in body:
        given = body["permissions"]
        kept = [
            p for p in dict.fromkeys(given if isinstance(given, list) else []) if p in PERMISSIONS
        ]
        if kept != given:
            dropped = given if not isinstance(given, list) else [p for p in given if p not in kept]
            cleared.append(("permissions", f"dropped what no permission is called: {dropped!r}"))
            body["permissions"] = kept
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


def _create(candidate: _Candidate) -> bool:
    """Create the user; False when a user with its id exists already or existed
    (a user deleted after its import stays deleted)."""
    try:
        create_user(
            SYSTEM,
            candidate.body,
            may_set_permissions=True,
            auth_ids=candidate.auth_ids,
            comment=COMMENT,
            user_id=candidate.id,
        )
    except errors.UserExists:
        return False
    return True


def _check_table(candidate: _Candidate) -> bool:
    """What ``_create`` would do, read only: False when the id exists or existed;
    raises EmailTaken or AuthIdTaken as ``create_user`` would."""
    with storage_errors():
        if _exists(User, candidate.id) or _has_log(candidate.id):
            return False
        email, *auth_keys = candidate.guard_keys
        if _exists(Guard, email):
            raise errors.EmailTaken(f"another user has the email {candidate.body['email']!r}")
        if any(_exists(Guard, key) for key in auth_keys):
            raise errors.AuthIdTaken("another user holds this login identity")
    return True


def _exists(model: type[User] | type[Guard], key: str) -> bool:
    try:
        model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return False
    return True


def _has_log(user_id: str) -> bool:
    return any(True for _ in LogEntry.query(user_id, limit=1, consistent_read=True))


def import_users(
    records: Sequence[Any], dry_run: bool = False, progress: Progress | None = None
) -> Summary:
    """Import the records in order; with ``dry_run`` check them and write nothing.

    Values of optional fields that break today's rules are cleared, each listed
    in ``summary.changes``. A record whose id exists already, or existed (a user deleted since), is
    skipped as imported before. A record that breaks the rules, repeats an
    earlier record's id, or has an email or login identity that an earlier
    record of the file or another user holds, is rejected. ``progress(done,
    total)`` is called after each record. Raises StorageUnavailable when the
    storage fails; running again is safe.
    """
    summary = Summary(dry_run)
    ids: dict[str, int] = {}  # id -> the first record that has it
    claimed: dict[str, int] = {}  # guard key -> the record that holds it
    for index, record in enumerate(records):
        user_id: str | None = None
        try:
            user_id = _record_id(record)
            if user_id in ids:
                raise errors.InvalidInput(f"_id repeats record {ids[user_id]} of this file")
            ids[user_id] = index
            candidate, cleared = _candidate(record, user_id)
            for key in candidate.guard_keys:
                if key in claimed:
                    raise _taken_in_file(key, claimed[key])
            if _check_table(candidate) if dry_run else _create(candidate):
                summary.imported += 1
                summary.changes += [Change(index, user_id, name, why) for name, why in cleared]
            else:
                summary.skipped += 1
            for key in candidate.guard_keys:
                claimed.setdefault(key, index)
        except REJECTING as exc:
            shown = user_id if user_id is not None else _shown_id(record)
            summary.rejections.append(Rejection(index, shown, f"{type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(index + 1, len(records))
    return summary
