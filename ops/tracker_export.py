"""The research-data tracker's export, read: its records and their ids
(``mongoexport``'s JSON array or JSON lines; ids as ``u-<uuid>``, UUIDs or ObjectIds)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib import errors

TRACKER_ID_RE = re.compile(
    r"u-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
UUID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.IGNORECASE
)
OBJECT_ID_RE = re.compile(r"[0-9a-f]{24}", re.IGNORECASE)


@dataclass(frozen=True)
class Unparsed:
    """A line of a JSON-lines export that is not JSON; rejected at its position."""

    reason: str


def read_export(text: str) -> list[Any]:
    """The records of an export: a JSON array, one JSON object, or JSON lines.

    A JSON line that does not parse becomes an ``Unparsed`` record, rejected at
    its position. Raises ValueError for a JSON array that does not parse, and
    for JSON nested deeper than Python's reader goes (no user record nests).
    """
    try:
        return _read(text)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply to be a users export") from exc


def _read(text: str) -> list[Any]:
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


def record_id(record: Any) -> str:
    """The normalised id of a record; raises InvalidInput."""
    if isinstance(record, Unparsed):
        raise errors.InvalidInput(record.reason)
    if not isinstance(record, dict):
        raise errors.InvalidInput("the record is not a JSON object")
    if record.get("_id") is None:
        raise errors.InvalidInput("_id is required")
    return normalise_id(record["_id"])
