"""``manage.py migrate-identities``: the identities of a replaced provider linked, in
bulk, to their successors at the new one (docs/API.md section 12).

Each user holding ``<old sub>::<OLD>`` gets ``<new sub>::<NEW>``, the new ``sub``
read from a map (``old_sub,new_sub`` lines) or, without one, the same ``sub``.
An identity another user holds is skipped; the guard item written with each
link keeps one identity to one user even against a concurrent login.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import IO, Any

from chalicelib import errors
from chalicelib.identity.identities import link_identity
from chalicelib.records import guards
from chalicelib.storage.models import Guard, storage_errors

HEADER = ["old_sub", "new_sub"]


class MapError(ValueError):
    """The map file is malformed; the message says where."""


def read_map(stream: IO[str]) -> dict[str, str]:
    """``old_sub,new_sub`` rows (a first row of those names is a header).

    Raises MapError for a row of another shape, an empty or ``::``-holding sub,
    or an old sub mapped twice.
    """
    mapping: dict[str, str] = {}
    for number, row in enumerate(csv.reader(stream), start=1):
        if not row or (number == 1 and [cell.strip() for cell in row] == HEADER):
            continue
        if len(row) != 2:
            raise MapError(f"line {number}: expected old_sub,new_sub")
        old, new = (cell.strip() for cell in row)
        if not old or not new or guards.IDENTITY_SEPARATOR in old + new:
            raise MapError(f"line {number}: a sub must be non-empty and hold no '::'")
        if old in mapping:
            raise MapError(f"line {number}: {old!r} is mapped twice")
        mapping[old] = new
    return mapping


def _held(provider: str) -> Iterator[tuple[str, str]]:
    """Each identity at ``provider`` and the user holding it, from the guard items."""
    suffix = f"{guards.IDENTITY_SEPARATOR}{provider}"
    with storage_errors():
        for guard in Guard.scan(Guard.key.startswith(guards.IDENTITY_PREFIX)):
            parsed = guards.parse(guard.key)
            if parsed and parsed[0] == "identity" and parsed[1].endswith(suffix) and guard.user_id:
                yield parsed[1], guard.user_id


def _owner(identity: str) -> str | None:
    with storage_errors():
        try:
            return Guard.get(guards.identity_key(identity), consistent_read=True).user_id
        except Guard.DoesNotExist:
            return None


def migrate(
    old: str, new: str, mapping: Mapping[str, str] | None = None, dry_run: bool = False
) -> Iterator[dict[str, Any]]:
    """Link each identity at ``old`` to its successor at ``new``; yields one line per
    identity: ``{"action": "linked" | "would link" | "skipped", "user", "from", "to",
    "reason"?}``."""
    planned: set[str] = set()
    for old_identity, user_id in sorted(_held(old)):
        old_sub = old_identity[: -len(f"{guards.IDENTITY_SEPARATOR}{old}")]
        line: dict[str, Any] = {"user": user_id, "from": old_identity}
        new_sub = old_sub if mapping is None else mapping.get(old_sub)
        if new_sub is None:
            yield {**line, "action": "skipped", "reason": "not in the map"}
            continue
        new_identity = guards.identity(new_sub, new)
        line["to"] = new_identity
        owner = _owner(new_identity)
        if owner == user_id:
            yield {**line, "action": "skipped", "reason": "linked already"}
        elif owner is not None or new_identity in planned:
            yield {**line, "action": "skipped", "reason": "another user holds it"}
        elif dry_run:
            planned.add(new_identity)
            yield {**line, "action": "would link"}
        else:
            comment = f"identity {new_identity} linked: succeeds {old_identity} (migrated)"
            try:
                link_identity(user_id, new_identity, comment=comment)
            except errors.AuthIdTaken:
                yield {**line, "action": "skipped", "reason": "another user holds it"}
            except errors.UserNotFound:
                yield {**line, "action": "skipped", "reason": "the user was deleted"}
            else:
                yield {**line, "action": "linked"}
