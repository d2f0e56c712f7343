"""Personal data and the account's life (docs/API.md section 10): suspension, erasure, export.

Logins at a real OpenID Provider (suspended login, DELETE /user/me after a
recent sign-in) are in ``test_account_oidc.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from chalice.test import Client

from chalicelib.http import container
from chalicelib.identity import identities, sessions
from chalicelib.records import erasure, export, user_sessions
from chalicelib.storage import models
from chalicelib.storage.models import Session
from ops import invariants
from ops.cli import main
from tests.conftest import (
    ALL_PERMISSIONS,
    Account,
    assert_error,
    restore_items,
    saved_items,
    stored_items,
)
from tests.faults import THROTTLING, inject_faults
from tests.test_import import IMPORTED, RECORDS, SAMPLE

API = "/api/v1"
CSRF = "csrf-token-for-tests"


def call(
    client: Client, account: Account | str, method: str, path: str, body: Any = None, **headers: str
) -> Any:
    """Send a request as ``account`` (or with the bearer token ``account``)."""
    token = account.key if isinstance(account, Account) else account
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
    raw = json.dumps(body) if body is not None else None
    return getattr(client.http, method)(f"{API}{path}", headers=sent, body=raw)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.body
    return response.json_body


def apikey_login(client: Client, key: str) -> Any:
    return client.http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"api-key": key}),
    )


def cookie_of(response: Any, name: str) -> str:
    raw = response.headers.get("Set-Cookie") or []
    for cookie in [raw] if isinstance(raw, str) else raw:
        if cookie.startswith(f"{name}="):
            return str(cookie.split(";", 1)[0].split("=", 1)[1])
    raise AssertionError(f"no {name} cookie in {raw!r}")


def token_for(client: Client, cookie: str) -> Any:
    """POST /login/token for the session ``cookie``."""
    return client.http.post(
        f"{API}/login/token",
        headers={"Cookie": f"session={cookie}; _csrf_token={CSRF}", "X-CSRF-Token": CSRF},
    )


def provider_session(user_id: str) -> str:
    """A session as an OpenID Connect login at ``local`` starts it; its cookie."""
    return sessions.start_session(user_id, provider="local").cookie


def holding(values: list[str]) -> list[tuple[str, str]]:
    """The (table, value) pairs where an item holds one of ``values``, case-insensitively."""
    hits = []
    for table, items in stored_items().items():
        for item in items:
            text = json.dumps(json.loads(item), ensure_ascii=False).casefold()
            hits += [(table, v) for v in values if v.casefold() in text]
    return hits


# -- suspension ------------------------------------------------------------------


def suspend(client: Client, manager: Account, user: Account, flag: bool = True) -> Any:
    return call(client, manager, "patch", f"/user/{user.id}", {"user": {"suspended": flag}})


def test_suspending_a_user_is_logged_and_shown_on_the_record(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    record = ok(suspend(client, admin, member))["user"]
    assert record["suspended"] is True
    last = ok(call(client, admin, "get", f"/user/{member.id}/log"))["logs"][-1]
    assert (last["action"], last["user"], last["data"]) == ("edit", admin.id, {"suspended": True})


def test_suspended_users_api_key_gets_401_and_works_again_when_lifted(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    ok(suspend(client, admin, member))
    assert_error(call(client, member, "get", "/user/me"), 401, "InvalidCredentials")
    ok(suspend(client, admin, member, False))
    ok(call(client, member, "get", "/user/me"))
    assert ok(call(client, admin, "get", f"/user/{member.id}/apikeys"))["apikeys"]


def test_suspended_users_access_token_and_session_end(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    cookie = provider_session(member.id)
    token = ok(token_for(client, cookie))["token"]
    ok(call(client, token, "get", "/user/me"))
    ok(suspend(client, admin, member))
    assert_error(call(client, token, "get", "/user/me"), 401, "InvalidCredentials")
    assert_error(token_for(client, cookie), 401, "InvalidCredentials")
    assert user_sessions.user_sessions(member.id) == []
    ok(suspend(client, admin, member, False))
    assert_error(token_for(client, cookie), 401, "InvalidCredentials")  # ended, not paused


def test_suspended_users_key_session_and_its_tokens_end(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    cookie = cookie_of(ok_login := apikey_login(client, member.key), "session")
    assert ok_login.status_code == 200
    token = ok(token_for(client, cookie))["token"]
    ok(suspend(client, admin, member))
    assert_error(call(client, token, "get", "/user/me"), 401, "InvalidCredentials")
    assert_error(token_for(client, cookie), 401, "InvalidCredentials")


def test_suspended_user_cannot_log_in_with_an_api_key(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    ok(suspend(client, admin, member))
    assert_error(apikey_login(client, member.key), 401, "InvalidCredentials")
    assert user_sessions.user_sessions(member.id) == []


def test_the_last_user_manager_cannot_be_suspended(client: Client, admin: Account) -> None:
    assert_error(suspend(client, admin, admin), 409, "LastUserManager")
    assert ok(call(client, admin, "get", "/user/me"))["user"]["suspended"] is False


def test_a_suspended_manager_no_longer_counts_as_the_last_one(
    client: Client, admin: Account, make_user: Any
) -> None:
    other = make_user(permissions=["USER_MANAGEMENT"])
    ok(suspend(client, admin, other))
    assert_error(suspend(client, admin, admin), 409, "LastUserManager")
    assert_error(
        call(client, admin, "patch", f"/user/{admin.id}", {"user": {"permissions": []}}),
        409,
        "LastUserManager",
    )
    ok(suspend(client, admin, other, False))
    ok(suspend(client, other, admin))
    assert invariants.check() == []


def test_only_a_manager_may_suspend(client: Client, make_user: Any, admin: Account) -> None:
    member = make_user()
    body = {"user": {"suspended": True}}
    assert_error(call(client, member, "patch", "/user/me", body), 403, "FieldNotWritable")
    assert_error(call(client, member, "patch", f"/user/{admin.id}", body), 403, "PermissionDenied")


def test_listing_suspended_users_shows_only_them_to_a_manager(
    client: Client, admin: Account, make_user: Any
) -> None:
    suspended, active = make_user(), make_user()
    ok(suspend(client, admin, suspended))
    listed = ok(call(client, admin, "get", "/user?suspended=true&limit=1000"))["users"]
    assert [user["id"] for user in listed] == [suspended.id]
    others = ok(call(client, admin, "get", "/user?suspended=false&limit=1000"))["users"]
    assert {user["id"] for user in others} == {admin.id, active.id}


def test_a_search_by_name_keeps_only_the_suspended_when_asked(
    client: Client, admin: Account, make_user: Any
) -> None:
    suspended, active = make_user(name="Quirina Held"), make_user(name="Quirina Free")
    ok(suspend(client, admin, suspended))
    found = ok(call(client, admin, "get", "/user?q=quirina&suspended=true"))["users"]
    assert [user["id"] for user in found] == [suspended.id]
    found = ok(call(client, admin, "get", "/user?q=quirina&suspended=false"))["users"]
    assert [user["id"] for user in found] == [active.id]


def test_listing_suspended_users_needs_user_management(client: Client, make_user: Any) -> None:
    searcher = make_user(permissions=["USER_SEARCH"])
    assert_error(call(client, searcher, "get", "/user?suspended=true"), 403, "PermissionDenied")


def test_listing_with_a_suspended_value_other_than_true_or_false_is_400(
    client: Client, admin: Account
) -> None:
    assert_error(call(client, admin, "get", "/user?suspended=yes"), 400, "InvalidInput")


def test_repair_ends_the_sessions_a_suspension_left(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    ok(suspend(client, admin, member))
    sessions.start_session(member.id)  # as if ending it had failed
    found = invariants.check()
    assert [v.kind for v in found] == [invariants.SESSION_OF_SUSPENDED]
    assert invariants.repair(found) == found
    assert invariants.check() == []


# -- erasure ---------------------------------------------------------------------


@dataclass
class Person:
    """A user made through the API, and every value of theirs the service stored."""

    account: Account
    values: list[str] = field(default_factory=list)


def create(client: Client, actor: Account, body: dict[str, Any], key: str) -> str:
    response = call(client, actor, "post", "/user", {"user": body}, **{"Idempotency-Key": key})
    return str(ok(response, 201)["id"])


def fill(client: Client, admin: Account, tag: str) -> Person:
    """A manager with every table holding something of theirs: a profile edited by
    themselves and by the admin, two keys (one revoked), a key session and a
    provider session, a linked identity, an idempotent create of theirs and one
    they made."""
    email = f"{tag}.person@example.org"
    name = f"{tag.title()} Lovelace-Person"
    body = {"email": email, "name": name, "permissions": ["USER_MANAGEMENT"]}
    user_id = create(client, admin, body, f"create-{tag}")
    key = ok(
        call(client, admin, "post", f"/user/{user_id}/apikeys", {"name": f"{tag}-laptop"}), 201
    )
    account = Account(user_id, key["key"], email)
    profile = {
        "affiliation": f"{tag} Institute of Analytical Engines",
        "contact": f"{tag} street 12",
        "orcid": "0000-0002-1825-0097",
        "url": f"https://example.org/{tag}",
    }
    ok(call(client, account, "patch", "/user/me", {"user": profile}))
    ok(call(client, admin, "patch", f"/user/{user_id}", {"user": {"name": f"{name} Jr"}}))
    old = ok(call(client, account, "post", f"/user/{user_id}/apikeys", {"name": f"{tag}-old"}), 201)
    ok(call(client, account, "delete", f"/user/{user_id}/apikeys/{old['id']}"), 204)
    identity = f"{tag}-sub-4711::local"
    identities.link_identity(user_id, identity)
    assert apikey_login(client, account.key).status_code == 200
    provider_session(user_id)
    made = {"email": f"{tag}.made@example.org", "name": "Made By Them"}
    create(client, account, made, f"made-by-{tag}")
    values = [
        email,
        name,
        *profile.values(),
        f"{tag}-laptop",
        f"{tag}-old",
        f"{tag}-sub-4711",
    ]
    values.remove("0000-0002-1825-0097")  # shared by both people; checked below on its own
    return Person(account, values)


@pytest.fixture
def two(client: Client, admin: Account) -> tuple[Person, Person]:
    ada, bob = fill(client, admin, "ada"), fill(client, admin, "bob")
    # Each acts on the other's record.
    ok(
        call(
            client,
            ada.account,
            "patch",
            f"/user/{bob.account.id}",
            {"user": {"contact": "via ada"}},
        )
    )
    ok(call(client, bob.account, "patch", f"/user/{ada.account.id}", {"user": {"url": ""}}))
    return ada, bob


def test_erasure_leaves_none_of_the_persons_values_in_any_table(
    client: Client, admin: Account, two: tuple[Person, Person]
) -> None:
    ada, bob = two
    assert holding(ada.values) != []  # the scan sees them before
    version = ok(call(client, admin, "get", f"/user/{ada.account.id}"))["user"]["version"]
    ok(call(client, admin, "delete", f"/user/{ada.account.id}", **{"If-Match": str(version)}), 204)
    assert holding(ada.values) == []
    assert {v for _, v in holding(bob.values)} == set(bob.values)
    answering = [r.user_id for r in models.IdempotentRequest.scan()]
    assert ada.account.id not in answering and bob.account.id in answering
    assert invariants.check() == []


def test_erasure_keeps_the_entries_and_says_who_erased(
    client: Client, admin: Account, two: tuple[Person, Person]
) -> None:
    ada, _ = two
    before = ok(call(client, admin, "get", f"/user/{ada.account.id}/log"))["logs"]
    ok(call(client, admin, "delete", f"/user/{ada.account.id}"), 204)
    after = ok(call(client, admin, "get", f"/user/{ada.account.id}/log"))["logs"]
    assert [(e["id"], e["action"], e["user"]) for e in after[:-1]] == [
        (e["id"], e["action"], e["user"]) for e in before
    ]
    assert (after[-1]["action"], after[-1]["user"], after[-1]["data"]) == ("delete", admin.id, {})
    added = after[0]["data"]
    assert added["email"] == added["name"] == added["auth_ids"] == erasure.ERASED
    assert added["id"] == ada.account.id and added["permissions"] == ["USER_MANAGEMENT"]
    edits = [set(e["data"]) for e in after if e["action"] == "edit"]
    assert {"affiliation", "contact", "orcid", "url"} in edits  # which fields, still said
    linked = [e for e in after if "linked" in e["comment"]]
    assert linked and all("sub-4711" not in e["comment"] for e in linked)


def test_the_other_persons_history_still_reads_right(
    client: Client, admin: Account, two: tuple[Person, Person]
) -> None:
    ada, bob = two
    before = ok(call(client, admin, "get", f"/user/{bob.account.id}/log"))["logs"]
    ok(call(client, admin, "delete", f"/user/{ada.account.id}"), 204)
    after = ok(call(client, admin, "get", f"/user/{bob.account.id}/log"))["logs"]
    assert after == before
    by_ada = [e for e in after if e["user"] == ada.account.id]
    assert [e["data"] for e in by_ada] == [{"contact": "via ada"}]
    ok(call(client, bob.account, "get", "/user/me"))
    assert ok(call(client, bob.account, "get", f"/user/{bob.account.id}/actions"))["logs"]


def test_erased_users_key_and_sessions_stop_and_email_and_identity_are_free(
    client: Client, admin: Account, two: tuple[Person, Person]
) -> None:
    ada, _ = two
    cookie = provider_session(ada.account.id)
    ok(call(client, admin, "delete", f"/user/{ada.account.id}"), 204)
    assert_error(call(client, ada.account, "get", "/user/me"), 401, "InvalidCredentials")
    assert_error(token_for(client, cookie), 401, "InvalidCredentials")
    assert user_sessions.user_sessions(ada.account.id) == []
    assert list(models.ApiKey.query(ada.account.id)) == []  # their last use and address too
    again = create(client, admin, {"email": ada.account.email}, "again")
    identities.link_identity(again, "ada-sub-4711::local")


def test_erasing_the_last_user_manager_is_409_and_erases_nothing(
    client: Client, admin: Account
) -> None:
    assert_error(call(client, admin, "delete", f"/user/{admin.id}"), 409, "LastUserManager")
    assert ok(call(client, admin, "get", "/user/me"))["user"]["name"] == "Admin"


def test_erasing_an_erased_user_again_is_404(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    ok(call(client, admin, "delete", f"/user/{member.id}"), 204)
    assert_error(call(client, admin, "delete", f"/user/{member.id}"), 404, "UserNotFound")


def test_a_user_deleted_before_erasure_existed_is_reported_and_repaired(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user(name="Old Timer")
    ok(call(client, admin, "delete", f"/user/{member.id}"), 204)
    entry = models.LogEntry.get(member.id, 1)
    entry.update(actions=[models.LogEntry.data.set({**entry.data, "name": "Old Timer"})])
    found = invariants.check()
    assert [v.kind for v in found] == [invariants.PERSONAL_VALUE_LEFT]
    invariants.repair(found)
    assert invariants.check() == []
    assert holding(["Old Timer"]) == []


def erasure_requests(client: Client, admin: Account, person: Person) -> int:
    """How many DynamoDB requests erasing ``person`` sends (the authorizer's read aside)."""
    with inject_faults(share=0.0, kinds=(THROTTLING,), spare=("BatchGetItem",)) as seen:
        ok(call(client, admin, "delete", f"/user/{person.account.id}"), 204)
    return sum(count for op, count in seen.attempts.items() if op != "BatchGetItem")


def test_an_erasure_that_fails_at_any_step_is_finished_by_a_retry_or_a_repair(
    client: Client, make_user: Any
) -> None:
    admin = make_user(permissions=ALL_PERMISSIONS, name="Admin")
    person = fill(client, admin, "person")
    filled = saved_items()
    steps = erasure_requests(client, admin, person)
    assert steps > 5
    path = f"/user/{person.account.id}"
    for step in range(steps):
        # Each step erases the same person from the same tables as the count did.
        restore_items(filled)
        with inject_faults(
            share=1.0, kinds=(THROTTLING,), spare=("BatchGetItem",), skip=step
        ) as injected:
            response = call(client, admin, "delete", path)
        assert injected.total > 0
        assert_error(response, 503, "StorageUnavailable")
        left = invariants.check()
        assert {v.kind for v in left} <= set(invariants.ERASURE_KINDS), (step, left)
        if step % 2:
            ok(call(client, admin, "delete", path), 204)
        elif left:
            invariants.repair(left)
        else:
            ok(call(client, admin, "delete", path), 204)  # nothing landed: erase anew
        assert invariants.check() == [], step
        assert holding(person.values) == [], step


def test_a_fault_at_removing_the_idempotency_records_is_reported_and_repaired(
    client: Client, admin: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    person = fill(client, admin, "idem")
    path = f"/user/{person.account.id}"
    # The Scan that finds the person's idempotency records is the erasure's only one.
    with inject_faults(share=1.0, kinds=(THROTTLING,), only=("Scan",)) as injected:
        response = call(client, admin, "delete", path)
    assert injected.total > 0
    assert_error(response, 503, "StorageUnavailable")
    answering = [r.user_id for r in models.IdempotentRequest.scan()]
    assert person.account.id in answering
    kinds = {v.kind for v in invariants.check()}
    assert invariants.IDEMPOTENCY_ORPHANED in kinds <= set(invariants.ERASURE_KINDS)
    capsys.readouterr()
    assert main(["check-invariants", "--repair"]) == 0
    repaired = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {
        "kind": invariants.IDEMPOTENCY_ORPHANED,
        "key": {"user_id": person.account.id},
        "detail": "an idempotency record answers with a user that was deleted",
        "repaired": True,
    } in repaired
    assert person.account.id not in [r.user_id for r in models.IdempotentRequest.scan()]
    assert invariants.check() == []
    assert holding(person.values) == []


def test_a_leftover_idempotency_record_of_a_deleted_user_is_reported_and_removed(
    client: Client, admin: Account
) -> None:
    user_id = create(client, admin, {"email": "left@example.org"}, "left-over")
    (record,) = models.IdempotentRequest.scan()
    ok(call(client, admin, "delete", f"/user/{user_id}"), 204)
    assert invariants.check() == []
    record.save()  # as a version of the service that kept the record would have
    found = invariants.check()
    assert [(v.kind, dict(v.key)) for v in found] == [
        (invariants.IDEMPOTENCY_ORPHANED, {"user_id": user_id})
    ]
    assert invariants.repair(found) == found
    assert list(models.IdempotentRequest.scan()) == []
    assert invariants.check() == []


# -- export ----------------------------------------------------------------------


def export_schema(client: Client) -> dict[str, Any]:
    document = ok(client.http.get(f"{API}/openapi.json"))
    return {"$ref": "#/components/schemas/UserExport", "components": document["components"]}


def test_export_of_oneself_matches_its_schema_and_holds_everything(
    client: Client, admin: Account, two: tuple[Person, Person]
) -> None:
    ada, bob = two
    response = call(client, ada.account, "get", "/user/me/export")
    document = ok(response)
    jsonschema.validate(document, export_schema(client))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert ada.account.id in disposition
    assert document["format"] == "users-service-export/1"
    assert document["user"]["id"] == ada.account.id
    assert document["user"]["effective_permissions"] == [
        "USER_ADD",
        "USER_MANAGEMENT",
        "USER_SEARCH",
    ]
    assert document["identities"] == [
        {"identity": "ada-sub-4711::local", "sub": "ada-sub-4711", "provider": "local"}
    ]
    [key] = document["apikeys"]
    assert key["name"] == "ada-laptop"
    assert key["permissions"] is None and key["read_only"] is False  # its scope
    assert key["expires"] > key["created"]
    assert key["last_used"] and key["last_used_ip"] == "127.0.0.1"  # the key was used
    assert sorted(s["kind"] for s in document["sessions"]) == ["apikey", "oidc"]
    assert [s.get("provider") for s in document["sessions"] if s["kind"] == "oidc"] == ["local"]
    log = ok(call(client, admin, "get", f"/user/{ada.account.id}/log"))["logs"]
    assert document["log"] == log
    actions = ok(call(client, admin, "get", f"/user/{ada.account.id}/actions"))["logs"]
    assert document["actions"] == actions
    assert document["log_next"] is None and document["actions_next"] is None
    text = json.dumps(document)
    assert bob.account.email not in text and "Bob" not in text  # others only by id
    assert "secret_hash" not in text and ada.account.key not in text


def test_a_manager_exports_anyone_and_others_may_not(
    client: Client, admin: Account, make_user: Any
) -> None:
    member, other = make_user(), make_user()
    document = ok(call(client, admin, "get", f"/user/{member.id}/export"))
    jsonschema.validate(document, export_schema(client))
    assert document["user"]["email"] == member.email
    assert_error(call(client, other, "get", f"/user/{member.id}/export"), 403, "PermissionDenied")
    assert ok(call(client, member, "get", f"/user/{member.id}/export"))["user"]["id"] == member.id
    unknown = "0" * 32
    assert_error(call(client, admin, "get", f"/user/{unknown}/export"), 404, "UserNotFound")


def test_an_export_larger_than_its_budget_pages_on_with_the_log_routes_cursors(
    client: Client, admin: Account, make_user: Any
) -> None:
    member = make_user()
    for number in range(30):
        body = {"user": {"contact": f"room {number} " + "x" * 300}}
        ok(call(client, member, "patch", "/user/me", body))
    max_days = container.settings().api_key_max_days
    document = export.export_user(member.id, max_days, max_bytes=8_000)
    jsonschema.validate(document, export_schema(client))
    assert document["log_next"] is not None and document["actions_next"] is not None
    assert len(json.dumps(document, separators=(",", ":"))) <= 8_000
    log = list(document["log"])
    cursor = document["log_next"]
    while cursor:
        page = ok(call(client, admin, "get", f"/user/{member.id}/log?cursor={cursor}"))
        log += page["logs"]
        cursor = page["next"]
    whole = ok(call(client, admin, "get", f"/user/{member.id}/log?limit=1000"))["logs"]
    assert log == whole
    actions = list(document["actions"])
    cursor = document["actions_next"]
    while cursor:
        page = ok(call(client, admin, "get", f"/user/{member.id}/actions?cursor={cursor}"))
        actions += page["logs"]
        cursor = page["next"]
    assert len(actions) == 30


def test_an_erased_user_has_no_export(client: Client, admin: Account, make_user: Any) -> None:
    member = make_user()
    ok(call(client, admin, "delete", f"/user/{member.id}"), 204)
    assert_error(call(client, admin, "get", f"/user/{member.id}/export"), 404, "UserNotFound")


def test_sessions_past_their_expiry_are_not_exported(client: Client, make_user: Any) -> None:
    member = make_user()
    provider_session(member.id)
    stale = user_sessions.user_sessions(member.id)[0]
    stale.update(actions=[Session.expires_at.set(datetime.now(UTC) - timedelta(minutes=1))])
    assert ok(call(client, member, "get", "/user/me/export"))["sessions"] == []


def test_export_needs_no_more_than_the_full_permissions_list(
    client: Client, admin: Account
) -> None:
    document = ok(call(client, admin, "get", "/user/me/export"))
    assert document["user"]["effective_permissions"] == sorted(ALL_PERMISSIONS)
    reasons = {r["name"]: r["because"] for r in document["user"]["permission_reasons"]}
    assert {"granted": True} in reasons["USER_ADD"]
    assert {"implied_by": "USER_MANAGEMENT"} in reasons["USER_ADD"]


# -- imported users ------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 4])  # a UUID id, a MongoDB ObjectId id
def test_an_imported_user_is_exported_and_erased_like_any_other(
    client: Client, admin: Account, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    assert main(["import-users", str(SAMPLE)]) == 1  # the sample holds rejected records too
    capsys.readouterr()
    record, user_id = RECORDS[index], IMPORTED[index]
    document = ok(call(client, admin, "get", f"/user/{user_id}/export"))
    jsonschema.validate(document, export_schema(client))
    assert document["user"]["email"] == record["email"]
    assert [entry["action"] for entry in document["log"]] == ["add"]
    values = [record["email"], *record.get("auth_ids", [])]
    values += [
        record[name] for name in ("name", "affiliation", "contact", "url") if record.get(name)
    ]
    assert holding(values) != []
    ok(call(client, admin, "delete", f"/user/{user_id}"), 204)
    assert holding(values) == []
    assert invariants.check() == []
