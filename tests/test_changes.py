"""changes.edit: a record and a patch in, one whole change out, nothing read or written."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import errors
from chalicelib.records import guards
from chalicelib.records.changes import Change, edit
from chalicelib.records.record import MANAGER_FIELDS, PROFILE_FIELDS
from chalicelib.storage.models import User

STAMP = "2026-01-02T03:04:05Z"


def record(**fields: Any) -> User:
    """A user as read from storage (built here: ``edit`` reads nothing)."""
    values = {
        "id": "0" * 32,
        "email": "Old@Example.org",
        "email_lower": "old@example.org",
        "email_verified": False,
        "permissions": [],
        "auth_ids": ["old@example.org", "sub::elixir"],
        "version": 3,
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:00Z",
        "name": "Old",
        **fields,
    }
    return User(**values)


def change(user: User, patch: dict[str, Any], writable: tuple[str, ...] = MANAGER_FIELDS) -> Any:
    def shown() -> dict[str, Any]:
        raise AssertionError("the view is asked for only when a field is not writable")

    return edit(user, patch, writable, shown, "actor", STAMP)


def test_new_email_sets_its_derived_fields_and_moves_its_guard() -> None:
    made = change(record(), {"email": "new@example.org"})
    assert isinstance(made, Change)
    assert dict(made.values) == {
        "email": "new@example.org",
        "email_lower": "new@example.org",
        "email_verified": True,
        "auth_ids": ["new@example.org", "sub::elixir"],
        "version": 4,
        "updated": STAMP,
    }
    assert [key for key, _ in made.taken] == [guards.email_key("new@example.org")]
    assert made.freed == (guards.email_key("old@example.org"),)
    assert (made.entry.version, made.entry.action, made.entry.data) == (
        4,
        "edit",
        {"email": "new@example.org"},
    )
    assert made.record.email == "new@example.org" and made.record.version == 4


def test_new_spelling_of_the_same_email_keeps_its_guard() -> None:
    made = change(record(), {"email": "OLD@example.org"})
    assert made.taken == () and made.freed == ()


def test_granting_user_management_counts_one_more_manager() -> None:
    assert change(record(), {"permissions": ["USER_MANAGEMENT"]}).managers == 1
    held = record(permissions=["USER_MANAGEMENT"])
    assert change(held, {"permissions": []}).managers == -1
    assert change(held, {"permissions": ["USER_MANAGEMENT", "DATA_EDIT"]}).managers == 0


def test_patch_that_changes_nothing_is_no_change() -> None:
    assert change(record(), {"name": "Old", "email": "Old@Example.org"}) is None


def test_unwritable_field_sent_back_as_shown_is_no_change() -> None:
    user = record()
    made = edit(user, {"version": 3}, PROFILE_FIELDS, lambda: {"version": 3}, "actor", STAMP)
    assert made is None


def test_unwritable_field_with_another_value_is_refused() -> None:
    with pytest.raises(errors.FieldNotWritable):
        edit(
            record(), {"email": "x@example.org"}, PROFILE_FIELDS, lambda: {"email": "o"}, "a", STAMP
        )
