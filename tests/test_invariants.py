"""The invariant checker (``ops/invariants.py``, ``manage.py check-invariants``).

Tables made through the API hold no violation; each test then breaks one rule
by writing items directly with PynamoDB, as a bug or a hand edit would, and
expects the checker to name it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.identity.identities import link_identity
from chalicelib.ids import SYSTEM
from chalicelib.records import search
from chalicelib.records.guards import email_key as email_guard
from chalicelib.records.guards import identity_key as auth_guard
from chalicelib.storage.models import (
    USER_MANAGERS_COUNTER,
    ApiKey,
    Guard,
    LogEntry,
    SearchEntry,
    User,
)
from ops import invariants
from ops.cli import main
from ops.invariants import Violation, check
from tests.conftest import ALL_PERMISSIONS, Account, restore_items, saved_items
from tests.faults import TIMEOUT, inject_faults

API = "/api/v1"


@dataclass
class Tables:
    """Users made through the API: ``edited`` changed its email and permissions,
    ``keyed`` holds API keys, ``deleted`` is gone (its log stays)."""

    admin: Account
    edited: str
    keyed: str
    deleted: str


def _create(client: Client, admin: Account, email: str, **fields: Any) -> str:
    body = json.dumps({"user": {"email": email, **fields}})
    response = client.http.post(f"{API}/user", headers=admin.json_headers(), body=body)
    assert response.status_code == 201, response.body
    return str(response.json_body["id"])


def _patch(client: Client, admin: Account, user_id: str, **fields: Any) -> None:
    body = json.dumps({"user": fields})
    response = client.http.patch(f"{API}/user/{user_id}", headers=admin.json_headers(), body=body)
    assert response.status_code == 200, response.body


# Tables as ``_made_through_the_api`` leaves them: made once per worker, put back
# before each test that asks for them.
_made: list[tuple[dict[str, Any], Tables]] = []


@pytest.fixture
def tables(client: Client, make_user: Any) -> Tables:
    if not _made:
        admin = make_user(permissions=ALL_PERMISSIONS, name="Admin")
        made = _made_through_the_api(client, admin)
        _made.append((saved_items(), made))
    items, made = _made[0]
    restore_items(items)
    return made


def _made_through_the_api(client: Client, admin: Account) -> Tables:
    def email() -> str:
        return f"u-{secrets.token_hex(4)}@Example.org"

    edited = _create(client, admin, email(), name="Edited")
    _patch(client, admin, edited, email=email(), permissions=["USER_MANAGEMENT"])
    _patch(client, admin, edited, affiliation="Somewhere", permissions=["DATA_EDIT"])
    _patch(client, admin, edited, permissions=["USER_MANAGEMENT", "DATA_EDIT"])
    keyed = _create(client, admin, email(), permissions=["USER_MANAGEMENT"])
    for _ in range(2):
        response = client.http.post(
            f"{API}/user/{keyed}/apikeys", headers=admin.json_headers(), body="{}"
        )
        assert response.status_code == 201, response.body
    revoked = response.json_body["id"]
    response = client.http.delete(f"{API}/user/{keyed}/apikeys/{revoked}", headers=admin.headers)
    assert response.status_code == 204, response.body
    response = client.http.post(f"{API}/user/{keyed}/apikey", headers=admin.headers)
    assert response.status_code == 201, response.body
    deleted = _create(client, admin, email(), permissions=["USER_MANAGEMENT"])
    response = client.http.post(
        f"{API}/user/{deleted}/apikeys", headers=admin.json_headers(), body="{}"
    )
    assert response.status_code == 201, response.body
    response = client.http.delete(f"{API}/user/{deleted}", headers=admin.headers)
    assert response.status_code == 204, response.body
    return Tables(admin, edited, keyed, deleted)


def kinds(violations: list[Violation]) -> list[str]:
    return sorted(violation.kind for violation in violations)


def user(user_id: str) -> User:
    return User.get(user_id, consistent_read=True)


# -- sound tables ------------------------------------------------------------


def test_tables_made_through_the_api_have_no_violation(tables: Tables) -> None:
    assert check() == []


def test_empty_tables_have_no_violation(aws: None) -> None:
    assert check() == []


def test_command_on_sound_tables_prints_nothing_and_exits_0(
    tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-invariants"]) == 0
    assert capsys.readouterr().out == ""


def test_command_prints_each_violation_as_a_json_line_and_exits_1(
    tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    Guard(key="email#ghost@example.org", user_id="nobody").save()
    ApiKey(
        user_id="nobody", key_id="0" * 16, secret_hash="x", created="2024-01-01T00:00:00Z"
    ).save()
    assert main(["check-invariants"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {
            "kind": invariants.APIKEY_ORPHANED,
            "key": {"user_id": "nobody", "key_id": "0" * 16},
            "detail": "the key's user does not exist",
        },
        {
            "kind": invariants.GUARD_ORPHANED,
            "key": {"key": "email#ghost@example.org"},
            "detail": "the guard names user 'nobody', which does not exist",
        },
    ]


def test_command_exits_2_when_the_tables_cannot_be_read(
    tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    with inject_faults(share=1.0, kinds=[TIMEOUT]):
        assert main(["check-invariants"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "check-invariants: The storage is unavailable" in captured.err


# -- versions and logs -------------------------------------------------------


def test_user_whose_version_ran_ahead_of_its_log_is_found(tables: Tables) -> None:
    record = user(tables.edited)
    record.update(actions=[User.version.set(int(record.version) + 1)])
    found = check()
    assert kinds(found) == [invariants.VERSION_MISMATCH]
    assert found[0].key == {"id": tables.edited}


def test_user_with_a_log_entry_beyond_its_version_is_found(tables: Tables) -> None:
    record = user(tables.keyed)
    LogEntry(
        entry_id=record.id,
        version=int(record.version) + 1,
        id="e" * 32,
        action="edit",
        user="system",
        timestamp="2024-01-01T00:00:00Z",
    ).save()
    assert kinds(check()) == [invariants.VERSION_MISMATCH]


def test_user_without_any_log_entry_is_found(tables: Tables) -> None:
    for entry in LogEntry.query(tables.keyed):
        entry.delete()
    found = check()
    assert kinds(found) == [invariants.VERSION_MISMATCH]
    assert "holds 0 entries" in found[0].detail


def test_deleted_record_whose_last_entry_is_not_a_delete_is_found(tables: Tables) -> None:
    record = user(tables.keyed)
    record.delete()
    Guard(key=email_guard(record.email)).delete()
    for auth_id in record.auth_ids:
        Guard(key=auth_guard(auth_id)).delete()
    for key in ApiKey.query(record.id):
        key.delete()
    for entry in search.entries(record):
        entry.delete()
    Guard(key=USER_MANAGERS_COUNTER).update(actions=[Guard.total.add(-1)])
    found = check()
    assert kinds(found) == [invariants.DELETE_NOT_LOGGED]
    assert found[0].key == {"entry_id": tables.keyed}


def test_gap_in_a_deleted_records_log_is_found(tables: Tables) -> None:
    LogEntry.get(tables.deleted, 2).delete()
    found = check()
    assert kinds(found) == [invariants.LOG_GAP]
    assert found[0].key == {"entry_id": tables.deleted}
    assert "lack 2" in found[0].detail


def test_gap_in_a_live_users_log_is_found(tables: Tables) -> None:
    LogEntry.get(tables.edited, 2).delete()
    assert kinds(check()) == [invariants.LOG_GAP, invariants.VERSION_MISMATCH]


# -- guards ------------------------------------------------------------------


def test_guard_of_a_user_that_does_not_exist_is_found(tables: Tables) -> None:
    Guard(key="auth#someone::elixir", user_id=tables.deleted).save()
    found = check()
    assert kinds(found) == [invariants.GUARD_ORPHANED]
    assert found[0].key == {"key": "auth#someone::elixir"}


def test_email_guard_of_a_user_with_another_email_is_found(tables: Tables) -> None:
    Guard(key=email_guard("old@example.org"), user_id=tables.keyed).save()
    found = check()
    assert kinds(found) == [invariants.GUARD_STALE]
    assert found[0].key == {"key": "email#old@example.org"}


def test_auth_guard_of_a_user_without_that_auth_id_is_found(tables: Tables) -> None:
    Guard(key=auth_guard("someone::elixir"), user_id=tables.keyed).save()
    assert kinds(check()) == [invariants.GUARD_STALE]


def test_guard_the_service_does_not_write_is_found(tables: Tables) -> None:
    Guard(key="name#Edited", user_id=tables.edited).save()
    assert kinds(check()) == [invariants.GUARD_UNKNOWN]


def test_user_missing_its_email_guard_is_found(tables: Tables) -> None:
    Guard(key=email_guard(user(tables.edited).email)).delete()
    found = check()
    assert kinds(found) == [invariants.GUARD_MISSING]
    assert found[0].key == {"id": tables.edited}


def test_user_missing_an_identity_guard_is_found(tables: Tables) -> None:
    link_identity(tables.edited, "someone::elixir")
    Guard(key=auth_guard("someone::elixir")).delete()
    assert kinds(check()) == [invariants.GUARD_MISSING]


def test_identity_guard_holding_an_email_is_found(tables: Tables) -> None:
    Guard(key=auth_guard(user(tables.keyed).email), user_id=tables.keyed).save()
    assert kinds(check()) == [invariants.GUARD_UNKNOWN]


def test_email_lower_that_is_only_lower_cased_is_found(tables: Tables) -> None:
    record = user(tables.keyed)
    email = "\uff26\uff35\uff2c\uff2c.width@example.org"  # fullwidth FULL
    Guard(key=email_guard(record.email)).delete()
    Guard(key=email_guard(email), user_id=record.id).save()
    record.update(actions=[User.email.set(email), User.email_lower.set(email.lower())])
    # Its search items still hold the email before, too.
    assert kinds(check()) == [invariants.EMAIL_LOWER_STALE, invariants.SEARCH_STALE]


def test_email_changed_without_its_guards_is_found(tables: Tables) -> None:
    record = user(tables.keyed)
    moved = "moved@example.org"
    record.update(actions=[User.email.set(moved), User.email_lower.set(moved)])
    found = kinds(check())
    assert found == [invariants.GUARD_MISSING, invariants.GUARD_STALE, invariants.SEARCH_STALE]


# -- uniqueness --------------------------------------------------------------


def test_two_users_sharing_an_email_in_another_case_is_found(tables: Tables) -> None:
    taken = user(tables.edited).email
    user(tables.keyed).update(actions=[User.email.set(taken.upper())])
    found = check()
    assert invariants.EMAIL_SHARED in kinds(found)
    (shared,) = [v for v in found if v.kind == invariants.EMAIL_SHARED]
    assert shared.key == {"email": taken.lower()}
    assert shared.detail == "held by users " + ", ".join(sorted([tables.edited, tables.keyed]))


def test_two_users_sharing_an_auth_id_is_found(tables: Tables) -> None:
    record = user(tables.keyed)
    taken = user(tables.edited).auth_ids[0]
    record.update(actions=[User.auth_ids.set([*record.auth_ids, taken])])
    found = check()
    assert invariants.AUTH_ID_SHARED in kinds(found)
    (shared,) = [v for v in found if v.kind == invariants.AUTH_ID_SHARED]
    assert shared.key == {"auth_id": taken}


# -- the user-manager counter and API keys ----------------------------------


def test_manager_counter_off_by_one_is_found(tables: Tables) -> None:
    Guard(key=USER_MANAGERS_COUNTER).update(actions=[Guard.total.add(1)])
    found = check()
    assert kinds(found) == [invariants.MANAGER_COUNT_MISMATCH]
    assert found[0].detail == (
        "the counter says 4, 3 live users hold USER_MANAGEMENT and are not suspended"
    )


def test_manager_counter_missing_while_managers_exist_is_found(tables: Tables) -> None:
    Guard(key=USER_MANAGERS_COUNTER).delete()
    assert kinds(check()) == [invariants.MANAGER_COUNT_MISMATCH]


def test_permission_taken_away_without_the_counter_is_found(tables: Tables) -> None:
    user(tables.keyed).update(actions=[User.permissions.set([])])
    assert kinds(check()) == [invariants.MANAGER_COUNT_MISMATCH]


def test_api_key_of_a_deleted_user_is_found(tables: Tables) -> None:
    ApiKey(
        user_id=tables.deleted, key_id="1" * 16, secret_hash="x", created="2024-01-01T00:00:00Z"
    ).save()
    found = check()
    assert kinds(found) == [invariants.APIKEY_ORPHANED]
    assert found[0].key == {"user_id": tables.deleted, "key_id": "1" * 16}


def test_api_key_its_user_does_not_list_is_found(tables: Tables) -> None:
    ApiKey(
        user_id=tables.keyed, key_id="2" * 16, secret_hash="x", created="2024-01-01T00:00:00Z"
    ).save()
    found = check()
    assert kinds(found) == [invariants.APIKEY_UNLISTED]
    assert found[0].key == {"user_id": tables.keyed, "key_id": "2" * 16}


def test_listed_key_id_without_its_key_is_found(tables: Tables) -> None:
    (key,) = ApiKey.query(tables.keyed, consistent_read=True)
    key.delete()
    found = check()
    assert kinds(found) == [invariants.APIKEY_MISSING]
    assert found[0].key == {"user_id": tables.keyed, "key_id": key.key_id}


def test_keys_listed_on_the_user_follow_make_replace_and_revoke(tables: Tables) -> None:
    stored = {key.key_id for key in ApiKey.query(tables.keyed, consistent_read=True)}
    assert len(stored) == 1  # two made, one revoked, then both replaced by one
    assert user(tables.keyed).api_key_ids == stored


def test_live_user_whose_log_ends_with_a_delete_is_found(tables: Tables) -> None:
    edited = user(tables.edited)
    version = int(edited.version) + 1
    LogEntry(
        entry_id=edited.id,
        version=version,
        id="e" * 32,
        action="delete",
        user=SYSTEM,
        timestamp="2030-01-01T00:00:00Z",
        data={},
    ).save()
    edited.update(actions=[User.version.set(version)])
    found = check()
    assert kinds(found) == [invariants.LIVE_AFTER_DELETE]
    assert found[0].key == {"id": tables.edited}


def test_email_lower_that_is_not_the_email_lower_cased_is_found(tables: Tables) -> None:
    user(tables.edited).update(actions=[User.email_lower.set("someone-else@example.org")])
    found = check()
    assert kinds(found) == [invariants.EMAIL_LOWER_STALE]
    assert found[0].key == {"id": tables.edited}


# -- log entries' old values and search items ---------------------------------


def test_edit_entry_whose_old_names_a_field_its_data_does_not_is_found(tables: Tables) -> None:
    entry = next(iter(LogEntry.query(tables.edited, scan_index_forward=False)))
    entry.update(actions=[LogEntry.old.set({"orcid": ""})])
    found = check()
    assert kinds(found) == [invariants.OLD_UNMATCHED]
    assert found[0].key == {"entry_id": tables.edited, "version": int(entry.version)}


def test_add_entry_with_old_values_is_found(tables: Tables) -> None:
    entry = LogEntry.get(tables.keyed, 1)
    entry.update(actions=[LogEntry.old.set({"name": "x"})])
    assert kinds(check()) == [invariants.OLD_UNMATCHED]


def test_entry_written_before_old_was_kept_is_no_violation(tables: Tables) -> None:
    entry = LogEntry.get(tables.keyed, 1)
    entry.update(actions=[LogEntry.old.remove()])
    assert check() == []


def test_user_missing_a_search_item_is_found(tables: Tables) -> None:
    search.entries(user(tables.edited))[0].delete()
    found = check()
    assert kinds(found) == [invariants.SEARCH_STALE]
    assert found[0].key == {"id": tables.edited}


def test_search_item_of_a_deleted_user_is_found(tables: Tables) -> None:
    SearchEntry(prefix="zz", sort=f"zz {tables.deleted}", user_id=tables.deleted).save()
    found = check()
    assert kinds(found) == [invariants.SEARCH_ORPHANED]
    assert found[0].key == {"user_id": tables.deleted}
