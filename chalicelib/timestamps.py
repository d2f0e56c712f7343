"""The one timestamp format of the service: ISO 8601 in UTC with a ``Z``, e.g.
``2026-11-29T15:04:05Z``; to the microsecond where the order of changes needs
it (records and log entries), to the second elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(moment: datetime, timespec: str = "seconds") -> str:
    """``moment``, a UTC datetime, as the service writes it."""
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def now() -> str:
    """The current time, to the microsecond."""
    return stamp(datetime.now(UTC), "microseconds")


def parse(text: str) -> datetime:
    """A timestamp the service wrote, as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
