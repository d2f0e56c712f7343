"""A record's version: the ``If-Match`` check, and a read-then-write run again when
another change got in between (optimistic concurrency, docs/API.md section 4)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from chalicelib import errors
from chalicelib.storage.transactions import ConcurrentChange

MAX_ATTEMPTS = 5

T = TypeVar("T")


class StaleVersion(Exception):
    """The record changed between read and write; read it again."""


def check_version(version: int, if_match: int | None) -> None:
    """Raise VersionMismatch when ``If-Match`` names another version than ``version``."""
    if if_match is not None and version != if_match:
        raise errors.VersionMismatch(f"the record is at version {version}, not {if_match}")


def stale_error(if_match: int | None) -> Callable[[], Exception]:
    """The error for a record that changed since it was read: VersionMismatch
    when the caller named the version it expected, StaleVersion (retry) otherwise."""
    if if_match is None:
        return StaleVersion
    return functools.partial(
        errors.VersionMismatch, f"the record is no longer at version {if_match}"
    )


def retrying(attempt: Callable[[], T]) -> T:
    """Run a read-then-write until no concurrent change got in between.

    Raises EditConflict when the record keeps changing.
    """
    for _ in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except (StaleVersion, ConcurrentChange):
            continue
    raise errors.EditConflict("the record kept changing; try again")
