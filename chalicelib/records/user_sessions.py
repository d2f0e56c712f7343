"""A user's sessions as stored items: listed for an export, ended on suspension and
erasure. Starting, checking and ending one session by its cookie is ``sessions.py``'s."""

from __future__ import annotations

from chalicelib.storage.models import Session, storage_errors


def user_sessions(user_id: str) -> list[Session]:
    """Every stored session of a user, oldest first (those past expiry included)."""
    with storage_errors():
        return list(Session.by_user.query(user_id))


def end_user_sessions(user_id: str) -> int:
    """End every session of a user (suspension, erasure); returns how many."""
    found = user_sessions(user_id)
    with storage_errors():
        for session in found:
            Session(id=session.id).delete()
    return len(found)
