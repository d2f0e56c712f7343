"""API keys through HTTP: making, listing, revoking, using them (docs/API.md sections 1, 4, 8).

Every test goes through ``chalice.test.Client`` on moto. The only direct store
access is test setup (back-dating a key's expiry) and checks of what is stored
(no secret in key items or log entries).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import key_format
from chalicelib.storage.models import ApiKey, LogEntry
from tests.conftest import assert_error

API = "/api/v1"
KEY_FIELDS = {
    "id",
    "name",
    "created",
    "expires",
    "last_used",
    "last_used_ip",
    "permissions",
    "read_only",
}
PREFIX = "uk_"
USE = ("last_used", "last_used_ip")  # written after the answer of the request that used a key


# -- helpers ---------------------------------------------------------------


def bearer(key: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {key}"}


def json_headers(key: str) -> dict[str, str]:
    return {**bearer(key), "Content-Type": "application/json"}


def secret_of(key: str) -> str:
    """The secret a key carries (hex), as the service reads it."""
    parts = key_format.parse(key, "uk")
    assert parts is not None, key
    return parts.secret


def without_use(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in key.items() if name not in USE} for key in keys]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_key(client: Client, caller_key: str, owner: str, **body: Any) -> dict[str, str]:
    """POST /user/{owner}/apikeys; returns {"key", "id"}."""
    response = client.http.post(
        f"{API}/user/{owner}/apikeys", headers=json_headers(caller_key), body=json.dumps(body)
    )
    assert response.status_code == 201, response.body
    return response.json_body


def replace_key(client: Client, caller_key: str, owner: str) -> dict[str, str]:
    """POST /user/{owner}/apikey; returns {"key", "id"}."""
    response = client.http.post(f"{API}/user/{owner}/apikey", headers=bearer(caller_key))
    assert response.status_code == 201, response.body
    return response.json_body


def list_keys(client: Client, caller_key: str, owner: str) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user/{owner}/apikeys", headers=bearer(caller_key))
    assert response.status_code == 200, response.body
    return response.json_body["apikeys"]


def revoke(client: Client, caller_key: str, owner: str, key_id: str) -> Any:
    return client.http.delete(f"{API}/user/{owner}/apikeys/{key_id}", headers=bearer(caller_key))


def me(client: Client, key: str, scheme: str = "Bearer") -> Any:
    return client.http.get(f"{API}/user/me", headers=bearer(key, scheme))


def log_of(client: Client, admin_key: str, owner: str) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user/{owner}/log?limit=1000", headers=bearer(admin_key))
    assert response.status_code == 200, response.body
    return response.json_body["logs"]


def version_of(client: Client, admin_key: str, owner: str) -> int:
    response = client.http.get(f"{API}/user/{owner}", headers=bearer(admin_key))
    assert response.status_code == 200, response.body
    return int(response.json_body["user"]["version"])


def key_id_of(client: Client, account: Any) -> str:
    """The id of the only key an account holds."""
    (listed,) = list_keys(client, account.key, account.id)
    return str(listed["id"])


def parse_time(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0), stamp
    return parsed


@pytest.fixture
def owner(make_user: Any) -> Any:
    """A user without any permission: may manage only their own keys."""
    return make_user(name="Owner")


@pytest.fixture
def stranger(make_user: Any) -> Any:
    """Another user with permissions, but not USER_MANAGEMENT."""
    return make_user(permissions=["DATA_EDIT"], name="Stranger")


@pytest.fixture
def manager(make_user: Any) -> Any:
    return make_user(permissions=["USER_MANAGEMENT"], name="Manager")


# The four key routes, called by `caller` on the keys of `owner_id`.
def _call(client: Client, route: str, caller_key: str, owner_id: str, key_id: str) -> Any:
    if route == "replace":
        return client.http.post(f"{API}/user/{owner_id}/apikey", headers=bearer(caller_key))
    if route == "list":
        return client.http.get(f"{API}/user/{owner_id}/apikeys", headers=bearer(caller_key))
    if route == "add":
        return client.http.post(
            f"{API}/user/{owner_id}/apikeys",
            headers=json_headers(caller_key),
            body=json.dumps({"name": "x"}),
        )
    return revoke(client, caller_key, owner_id, key_id)


ROUTES = ("replace", "list", "add", "revoke")
SUCCESS = {"replace": 201, "list": 200, "add": 201, "revoke": 204}


# -- permissions -----------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_user_may_manage_own_keys(client: Client, owner: Any, route: str) -> None:
    response = _call(client, route, owner.key, owner.id, key_id_of(client, owner))
    assert response.status_code == SUCCESS[route], response.body


@pytest.mark.parametrize("route", ROUTES)
def test_other_user_without_user_management_gets_403(
    client: Client, owner: Any, stranger: Any, route: str
) -> None:
    response = _call(client, route, stranger.key, owner.id, key_id_of(client, owner))
    assert_error(response, 403, "PermissionDenied")


@pytest.mark.parametrize("route", [route for route in ROUTES if route != "list"])
def test_denied_key_change_leaves_owner_keys_unchanged(
    client: Client, owner: Any, stranger: Any, route: str
) -> None:
    before = list_keys(client, owner.key, owner.id)
    response = _call(client, route, stranger.key, owner.id, key_id_of(client, owner))
    assert_error(response, 403, "PermissionDenied")
    assert without_use(list_keys(client, owner.key, owner.id)) == without_use(before)
    assert me(client, owner.key).status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_manager_may_manage_other_users_keys(
    client: Client, owner: Any, manager: Any, route: str
) -> None:
    response = _call(client, route, manager.key, owner.id, key_id_of(client, owner))
    assert response.status_code == SUCCESS[route], response.body


@pytest.mark.parametrize("route", ROUTES)
def test_manager_gets_404_for_unknown_user(client: Client, manager: Any, route: str) -> None:
    response = _call(client, route, manager.key, "0" * 32, "0" * 16)
    assert_error(response, 404, "UserNotFound")


def test_key_made_by_manager_authenticates_as_owner(
    client: Client, owner: Any, manager: Any
) -> None:
    made = add_key(client, manager.key, owner.id)
    response = me(client, made["key"])
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == owner.id


def test_key_route_without_authorization_header_returns_401(client: Client, owner: Any) -> None:
    response = client.http.get(f"{API}/user/{owner.id}/apikeys")
    assert response.status_code == 401, response.body


def test_key_route_with_other_scheme_returns_401(client: Client, owner: Any) -> None:
    response = me(client, owner.key, "Basic")
    assert_error(response, 401, "InvalidCredentials")


# -- the key itself --------------------------------------------------------


def test_new_key_starts_with_documented_prefix(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    assert made["key"].startswith(PREFIX)
    parts = key_format.parse(made["key"], "uk")
    assert parts is not None and (parts.user_id, parts.key_id) == (owner.id, made["id"])


def test_replacement_key_starts_with_documented_prefix(client: Client, owner: Any) -> None:
    assert replace_key(client, owner.key, owner.id)["key"].startswith(PREFIX)


def test_new_key_works_right_away(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    response = me(client, made["key"])
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == owner.id


def test_replacement_key_works_right_away(client: Client, owner: Any) -> None:
    made = replace_key(client, owner.key, owner.id)
    response = me(client, made["key"])
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == owner.id


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_name_is_case_insensitive(client: Client, owner: Any, scheme: str) -> None:
    response = me(client, owner.key, scheme)
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == owner.id


def test_key_with_one_character_changed_returns_401(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    key = made["key"]
    cut = len(key) - 20
    tampered = key[:cut] + ("A" if key[cut] != "A" else "B") + key[cut + 1 :]
    assert_error(me(client, tampered), 401, "InvalidCredentials")


def test_expired_key_returns_401(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id, expires_in_days=1)
    assert me(client, made["key"]).status_code == 200
    stored = ApiKey.get(owner.id, made["id"], consistent_read=True)
    stored.update(actions=[ApiKey.expires.set("2000-01-01T00:00:00Z")])
    assert_error(me(client, made["key"]), 401, "InvalidCredentials")


def test_deleted_users_keys_return_401(client: Client, owner: Any, admin: Any) -> None:
    second = add_key(client, owner.key, owner.id, name="second")
    deleted = client.http.delete(f"{API}/user/{owner.id}", headers=bearer(admin.key))
    assert deleted.status_code == 204, deleted.body
    assert_error(me(client, owner.key), 401, "InvalidCredentials")
    assert_error(me(client, second["key"]), 401, "InvalidCredentials")


def test_stored_key_holds_sha256_hash_and_no_secret(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id, name="stored")
    secret = secret_of(made["key"])
    stored = ApiKey.get(owner.id, made["id"], consistent_read=True)
    assert stored.secret_hash == sha256(secret)
    for item in ApiKey.scan(consistent_read=True):
        for value in item.attribute_values.values():
            assert secret not in str(value)


def test_last_used_is_set_after_key_is_used(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    (fresh,) = [k for k in list_keys(client, owner.key, owner.id) if k["id"] == made["id"]]
    assert fresh["last_used"] is None
    assert me(client, made["key"]).status_code == 200
    (used,) = [k for k in list_keys(client, owner.key, owner.id) if k["id"] == made["id"]]
    assert used["last_used"] is not None
    assert parse_time(used["last_used"]) >= parse_time(used["created"])


# -- POST /user/{id}/apikey: replace all keys ------------------------------


def test_replacing_key_revokes_previous_keys(client: Client, owner: Any) -> None:
    named = add_key(client, owner.key, owner.id, name="named")
    replace_key(client, owner.key, owner.id)
    assert_error(me(client, owner.key), 401, "InvalidCredentials")
    assert_error(me(client, named["key"]), 401, "InvalidCredentials")


def test_replacing_key_leaves_only_the_new_key_listed(client: Client, owner: Any) -> None:
    add_key(client, owner.key, owner.id, name="named")
    made = replace_key(client, owner.key, owner.id)
    assert [k["id"] for k in list_keys(client, made["key"], owner.id)] == [made["id"]]


# -- GET /user/{id}/apikeys ------------------------------------------------


def test_listing_keys_shows_only_metadata_fields(client: Client, owner: Any) -> None:
    add_key(client, owner.key, owner.id, name="ci", expires_in_days=7)
    listed = list_keys(client, owner.key, owner.id)
    assert len(listed) == 2
    for key in listed:
        assert set(key) == KEY_FIELDS, key


def test_listing_keys_never_shows_key_or_hash(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id, name="ci")
    response = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=bearer(owner.key))
    text = response.body.decode()
    for key in (owner.key, made["key"]):
        secret = secret_of(key)
        for material in (key, secret, sha256(secret), sha256(key)):
            assert material not in text


def test_listing_keys_shows_name_created_and_expiry(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id, name="ci", expires_in_days=7)
    (listed,) = [k for k in list_keys(client, owner.key, owner.id) if k["id"] == made["id"]]
    assert listed["name"] == "ci"
    created = parse_time(listed["created"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)
    assert abs(parse_time(listed["expires"]) - created - timedelta(days=7)) < timedelta(minutes=1)


# -- POST /user/{id}/apikeys: one more key ---------------------------------


def test_adding_key_without_body_makes_key_expiring_in_the_default_days(
    client: Client, owner: Any
) -> None:
    response = client.http.post(f"{API}/user/{owner.id}/apikeys", headers=bearer(owner.key))
    assert response.status_code == 201, response.body
    made = response.json_body
    assert set(made) == {"key", "id", "expires"}
    (listed,) = [k for k in list_keys(client, owner.key, owner.id) if k["id"] == made["id"]]
    assert listed["expires"] == made["expires"]
    lifetime = parse_time(listed["expires"]) - parse_time(listed["created"])
    assert lifetime == timedelta(days=90)


def test_adding_key_keeps_other_keys(client: Client, owner: Any) -> None:
    first_id = key_id_of(client, owner)
    made = add_key(client, owner.key, owner.id, name="second")
    assert me(client, owner.key).status_code == 200
    assert {k["id"] for k in list_keys(client, owner.key, owner.id)} == {first_id, made["id"]}


BAD_KEY_REQUESTS = [
    pytest.param({"name": 5}, id="name-number"),
    pytest.param({"name": ["a"]}, id="name-list"),
    pytest.param({"name": "x" * 10_000}, id="name-too-long"),
    pytest.param({"expires_in_days": 0}, id="days-zero"),
    pytest.param({"expires_in_days": -1}, id="days-negative"),
    pytest.param({"expires_in_days": "7"}, id="days-string"),
    pytest.param({"expires_in_days": 1.5}, id="days-fraction"),
    pytest.param({"expires_in_days": True}, id="days-bool"),
    pytest.param({"expires_in_days": 10**7}, id="days-past-year-9999"),
]


@pytest.mark.parametrize("body", BAD_KEY_REQUESTS)
def test_adding_key_with_bad_value_returns_400(client: Client, owner: Any, body: Any) -> None:
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys", headers=json_headers(owner.key), body=json.dumps(body)
    )
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize("raw", ["[]", '"name"', "{"], ids=["list", "string", "not-json"])
def test_adding_key_with_body_not_an_object_returns_400(
    client: Client, owner: Any, raw: str
) -> None:
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys", headers=json_headers(owner.key), body=raw
    )
    assert_error(response, 400, "InvalidInput")


def test_adding_key_with_unknown_field_returns_400(client: Client, owner: Any) -> None:
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=json_headers(owner.key),
        body=json.dumps({"name": "ci", "scope": "all"}),
    )
    assert_error(response, 400, "UnknownField")


def test_refused_key_request_makes_no_key(client: Client, owner: Any) -> None:
    before = without_use(list_keys(client, owner.key, owner.id))
    client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=json_headers(owner.key),
        body=json.dumps({"expires_in_days": 0}),
    )
    assert without_use(list_keys(client, owner.key, owner.id)) == before


# -- DELETE /user/{id}/apikeys/{key_id} ------------------------------------


def test_revoking_key_returns_204_without_body(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    response = revoke(client, owner.key, owner.id, made["id"])
    assert response.status_code == 204, response.body
    assert not response.body


def test_revoked_key_returns_401(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    assert me(client, made["key"]).status_code == 200
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    assert_error(me(client, made["key"]), 401, "InvalidCredentials")


def test_revoking_key_keeps_other_keys(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    assert me(client, owner.key).status_code == 200
    assert made["id"] not in {k["id"] for k in list_keys(client, owner.key, owner.id)}


def test_revoking_unknown_key_returns_404(client: Client, owner: Any) -> None:
    assert_error(revoke(client, owner.key, owner.id, "0" * 16), 404, "ApiKeyNotFound")


def test_revoking_another_users_key_through_own_path_returns_404(
    client: Client, owner: Any, stranger: Any
) -> None:
    response = revoke(client, owner.key, owner.id, key_id_of(client, stranger))
    assert_error(response, 404, "ApiKeyNotFound")
    assert me(client, stranger.key).status_code == 200


def test_revoking_key_twice_returns_404(client: Client, owner: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    assert_error(revoke(client, owner.key, owner.id, made["id"]), 404, "ApiKeyNotFound")


# -- versions and change logs ----------------------------------------------


def test_adding_key_raises_version_by_one(client: Client, owner: Any, admin: Any) -> None:
    before = version_of(client, admin.key, owner.id)
    add_key(client, owner.key, owner.id)
    assert version_of(client, admin.key, owner.id) == before + 1


def test_replacing_keys_raises_version_by_one(client: Client, owner: Any, admin: Any) -> None:
    add_key(client, owner.key, owner.id)
    before = version_of(client, admin.key, owner.id)
    replace_key(client, owner.key, owner.id)
    assert version_of(client, admin.key, owner.id) == before + 1


def test_revoking_key_raises_version_by_one(client: Client, owner: Any, admin: Any) -> None:
    made = add_key(client, owner.key, owner.id)
    before = version_of(client, admin.key, owner.id)
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    assert version_of(client, admin.key, owner.id) == before + 1


def test_refused_key_change_keeps_version(client: Client, owner: Any, admin: Any) -> None:
    before = version_of(client, admin.key, owner.id)
    revoke(client, owner.key, owner.id, "0" * 16)
    assert version_of(client, admin.key, owner.id) == before


def assert_key_entry(entry: dict[str, Any], actor: str, owner_id: str, key_id: str) -> None:
    """An ``edit`` entry on the owner's record that names the key and holds no more."""
    assert entry["action"] == "edit", entry
    assert entry["entry_id"] == owner_id
    assert entry["data_type"] == "user"
    assert entry["user"] == actor
    assert key_id in entry["comment"], entry
    assert set(entry["data"]) <= {"key_id", "name", "expires"}, entry
    assert entry["data"].get("key_id", key_id) == key_id


def test_adding_key_logs_one_edit_naming_the_key(
    client: Client, owner: Any, manager: Any, admin: Any
) -> None:
    before = log_of(client, admin.key, owner.id)
    made = add_key(client, manager.key, owner.id, name="ci")
    new = log_of(client, admin.key, owner.id)[len(before) :]
    assert len(new) == 1, new
    assert_key_entry(new[0], manager.id, owner.id, made["id"])


def test_replacing_keys_logs_one_edit_naming_new_and_revoked_keys(
    client: Client, owner: Any, admin: Any
) -> None:
    old_id = key_id_of(client, owner)
    before = log_of(client, admin.key, owner.id)
    made = replace_key(client, owner.key, owner.id)
    new = log_of(client, admin.key, owner.id)[len(before) :]
    assert len(new) == 1, new
    assert_key_entry(new[0], owner.id, owner.id, made["id"])
    assert old_id in new[0]["comment"]


def test_revoking_key_logs_one_edit_naming_the_key(client: Client, owner: Any, admin: Any) -> None:
    made = add_key(client, owner.key, owner.id, name="ci")
    before = log_of(client, admin.key, owner.id)
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    new = log_of(client, admin.key, owner.id)[len(before) :]
    assert len(new) == 1, new
    assert_key_entry(new[0], owner.id, owner.id, made["id"])


def test_key_changes_on_others_log_nothing_on_callers_record(
    client: Client, owner: Any, manager: Any, admin: Any
) -> None:
    before = log_of(client, admin.key, manager.id)
    made = add_key(client, manager.key, owner.id)
    assert revoke(client, manager.key, owner.id, made["id"]).status_code == 204
    assert log_of(client, admin.key, manager.id) == before


def test_no_log_entry_contains_key_material(
    client: Client, owner: Any, manager: Any, admin: Any
) -> None:
    keys = [owner.key, manager.key, admin.key]
    keys.append(add_key(client, owner.key, owner.id, name="ci")["key"])
    made = add_key(client, manager.key, owner.id, name="by manager", expires_in_days=3)
    keys.append(made["key"])
    assert revoke(client, owner.key, owner.id, made["id"]).status_code == 204
    keys.append(replace_key(client, owner.key, owner.id)["key"])
    keys.append(replace_key(client, manager.key, manager.id)["key"])
    entries = [json.dumps(e.attribute_values, default=str) for e in LogEntry.scan()]
    assert len(entries) >= 8
    for key in keys:
        secret = secret_of(key)
        for material in (key, secret, sha256(secret), sha256(key)):
            assert not [entry for entry in entries if material in entry], material
