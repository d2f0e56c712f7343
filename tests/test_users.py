"""The /api/v1/user routes through the real entry point (docs/API.md sections 1-4 and 8).

Every request goes through ``chalice.test.Client`` and the custom authorizer,
on moto tables made fresh for each test. The API-key routes are covered elsewhere.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.identity.identities import link_identity
from chalicelib.ids import SYSTEM
from chalicelib.records.users import NewUser
from chalicelib.records.users import create_user as create_user_record
from tests.conftest import ALL_PERMISSIONS, Account, assert_error

API = "/api/v1"
PUBLIC_FIELDS = {"id", "name", "email", "affiliation", "contact", "orcid", "url"}
FULL_FIELDS = PUBLIC_FIELDS | {
    "email_verified",
    "permissions",
    "effective_permissions",
    "rule_permissions",
    "auth_ids",
    "suspended",
    "version",
    "created",
    "updated",
}
LOG_FIELDS = {
    "id",
    "action",
    "comment",
    "data_type",
    "entry_id",
    "user",
    "timestamp",
    "data",
    "old",
}
ACTION_FIELDS = LOG_FIELDS - {"data", "user"}
PROFILE_FIELDS = ("name", "affiliation", "contact", "orcid", "url")
MAX_BODY = 64 * 1024
SIX_PERMISSIONS = [
    "DATA_EDIT",
    "OWNERS_READ",
    "USER_ADD",
    "USER_SEARCH",
    "USER_MANAGEMENT",
    "DATA_MANAGEMENT",
]

MakeUser = Callable[..., Account]

# Stored permissions of each role, and what they expand to (docs/API.md section 2).
ROLES: dict[str, tuple[list[str], list[str]]] = {
    "none": ([], []),
    "DATA_EDIT": (["DATA_EDIT"], ["DATA_EDIT", "USER_ADD", "USER_SEARCH"]),
    "OWNERS_READ": (["OWNERS_READ"], ["OWNERS_READ"]),
    "USER_ADD": (["USER_ADD"], ["USER_ADD"]),
    "USER_SEARCH": (["USER_SEARCH"], ["USER_SEARCH"]),
    "USER_MANAGEMENT": (["USER_MANAGEMENT"], ["USER_ADD", "USER_MANAGEMENT", "USER_SEARCH"]),
    "DATA_MANAGEMENT": (
        ["DATA_MANAGEMENT"],
        ["DATA_EDIT", "DATA_MANAGEMENT", "OWNERS_READ", "USER_ADD", "USER_SEARCH"],
    ),
    "all six": (ALL_PERMISSIONS, sorted(ALL_PERMISSIONS)),
}


def roles(predicate: Callable[[set[str]], bool] = lambda _: True) -> list[Any]:
    """The role names whose expanded permissions satisfy ``predicate``, as pytest params."""
    return [pytest.param(name, id=name) for name, (_, exp) in ROLES.items() if predicate(set(exp))]


def with_perm(permission: str) -> list[Any]:
    return roles(lambda expanded: permission in expanded)


def without_perm(permission: str) -> list[Any]:
    return roles(lambda expanded: permission not in expanded)


# --- helpers ---------------------------------------------------------------------------


def new_email() -> str:
    return f"{secrets.token_hex(6)}@example.org"


def user_body(**fields: Any) -> str:
    return json.dumps({"user": fields})


def create_user(
    client: Client, caller: Account, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    return client.http.post(
        f"{API}/user",
        headers={**caller.json_headers(), **(headers or {})},
        body=user_body(**fields),
    )


def patch_user(
    client: Client,
    caller: Account,
    user_id: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    return client.http.patch(
        f"{API}/user/{user_id}",
        headers={**caller.json_headers(), **(headers or {})},
        body=user_body(**fields),
    )


def patch_me(client: Client, caller: Account, **fields: Any) -> Any:
    return client.http.patch(
        f"{API}/user/me", headers=caller.json_headers(), body=user_body(**fields)
    )


def get(client: Client, caller: Account, path: str, **params: Any) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    return client.http.get(f"{API}{path}{query}", headers=caller.headers)


def record(client: Client, manager: Account, user_id: str) -> dict[str, Any]:
    """The full stored record of a user, as a manager sees it."""
    response = get(client, manager, f"/user/{user_id}")
    assert response.status_code == 200, response.body
    return response.json_body["user"]


def log_of(client: Client, caller: Account, user_id: str, kind: str = "log") -> list[Any]:
    """Every entry of a user's /log (or /actions), walking all pages."""
    entries: list[Any] = []
    params: dict[str, Any] = {}
    for _ in range(50):
        response = get(client, caller, f"/user/{user_id}/{kind}", **params)
        assert response.status_code == 200, response.body
        entries.extend(response.json_body["logs"])
        if response.json_body["next"] is None:
            return entries
        params = {"cursor": response.json_body["next"]}
    raise AssertionError("the log never ended")


def created_id(response: Any) -> str:
    assert response.status_code == 201, response.body
    assert set(response.json_body) == {"id"}
    return response.json_body["id"]


def tampered(key: str) -> str:
    """The same API key with its secret's last character changed."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


@pytest.fixture
def role_user(make_user: MakeUser) -> Callable[[str], Account]:
    """Factory: ``role_user(role name) -> Account`` holding that role's stored permissions."""

    def make(role: str) -> Account:
        return make_user(permissions=list(ROLES[role][0]))

    return make


# --- GET /user/permissions ---------------------------------------------------------------


def test_list_permissions_without_credentials_returns_the_six_names(client: Client) -> None:
    response = client.http.get(f"{API}/user/permissions")
    assert response.status_code == 200, response.body
    assert set(response.json_body) == {"permissions"}
    assert sorted(response.json_body["permissions"]) == sorted(SIX_PERMISSIONS)


# --- credentials (section 1) -----------------------------------------------------------

AUTH_ROUTES = [
    pytest.param("GET", "/user", id="GET /user"),
    pytest.param("POST", "/user", id="POST /user"),
    pytest.param("GET", "/user/me", id="GET /user/me"),
    pytest.param("PATCH", "/user/me", id="PATCH /user/me"),
    pytest.param("GET", "/user/{id}", id="GET /user/{id}"),
    pytest.param("PATCH", "/user/{id}", id="PATCH /user/{id}"),
    pytest.param("DELETE", "/user/{id}", id="DELETE /user/{id}"),
    pytest.param("GET", "/user/{id}/log", id="GET /user/{id}/log"),
    pytest.param("GET", "/user/{id}/actions", id="GET /user/{id}/actions"),
]


def call(client: Client, method: str, path: str, target: Account, headers: dict[str, str]) -> Any:
    """Call an auth route on ``target`` with a body that would be valid."""
    path = API + path.replace("{id}", target.id)
    if method == "POST":
        body = user_body(email=new_email())
    elif method == "PATCH":
        body = user_body(name="Renamed")
    else:
        body = None
    headers = {**headers, "Content-Type": "application/json"} if body else headers
    return client.http.request(method, path, headers=headers, body=body or b"")


@pytest.mark.parametrize(("method", "path"), AUTH_ROUTES)
def test_auth_route_without_authorization_header_returns_401(
    client: Client, admin: Account, method: str, path: str
) -> None:
    # The local gateway answers this one itself, with its own body.
    response = call(client, method, path, admin, {})
    assert response.status_code == 401, response.body
    assert record(client, admin, admin.id)["name"] == "Admin"


BAD_CREDENTIALS: list[Any] = [
    pytest.param(lambda key: "Basic x", id="basic scheme"),
    pytest.param(lambda key: f"Basic {key}", id="basic scheme with key"),
    pytest.param(lambda key: "Bearer", id="bearer without token"),
    pytest.param(lambda key: "Bearer garbage", id="bearer garbage"),
    pytest.param(lambda key: key, id="key without scheme"),
    pytest.param(lambda key: f"Bearer {tampered(key)}", id="wrong secret"),
    pytest.param(
        lambda key: f"Bearer uk_{'0' * 32}.{'0' * 16}.{'A' * 43}", id="unknown well-formed key"
    ),
]


@pytest.mark.parametrize("authorization", BAD_CREDENTIALS)
@pytest.mark.parametrize(("method", "path"), AUTH_ROUTES)
def test_auth_route_with_bad_credentials_returns_401(
    client: Client,
    admin: Account,
    method: str,
    path: str,
    authorization: Callable[[str], str],
) -> None:
    response = call(client, method, path, admin, {"Authorization": authorization(admin.key)})
    assert_error(response, 401, "InvalidCredentials")
    assert record(client, admin, admin.id)["name"] == "Admin"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(client: Client, admin: Account, scheme: str) -> None:
    response = client.http.get(f"{API}/user/me", headers={"Authorization": f"{scheme} {admin.key}"})
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == admin.id


# --- permissions per role (sections 2 and 4) --------------------------------------------


@pytest.mark.parametrize("role", with_perm("USER_SEARCH"))
def test_list_users_with_user_search_returns_200(
    client: Client, role_user: Callable[[str], Account], role: str
) -> None:
    caller = role_user(role)
    response = get(client, caller, "/user")
    assert response.status_code == 200, response.body
    assert set(response.json_body) == {"users", "next"}
    assert caller.id in {user["id"] for user in response.json_body["users"]}


@pytest.mark.parametrize("role", without_perm("USER_SEARCH"))
def test_list_users_without_user_search_returns_403(
    client: Client, role_user: Callable[[str], Account], role: str
) -> None:
    assert_error(get(client, role_user(role), "/user"), 403, "PermissionDenied")


@pytest.mark.parametrize("role", roles(lambda p: "USER_SEARCH" in p and "USER_MANAGEMENT" not in p))
def test_list_users_without_user_management_shows_only_public_fields(
    client: Client, role_user: Callable[[str], Account], make_user: MakeUser, role: str
) -> None:
    caller = role_user(role)
    make_user(permissions=["DATA_EDIT"], affiliation="Uni", orcid="0000-0002-1825-0097")
    response = get(client, caller, "/user")
    assert response.status_code == 200, response.body
    assert len(response.json_body["users"]) == 2
    for user in response.json_body["users"]:
        assert set(user) == PUBLIC_FIELDS


@pytest.mark.parametrize("role", with_perm("USER_MANAGEMENT"))
def test_list_users_with_user_management_shows_full_records(
    client: Client, role_user: Callable[[str], Account], make_user: MakeUser, role: str
) -> None:
    caller = role_user(role)
    other = make_user(permissions=["DATA_EDIT"])
    response = get(client, caller, "/user")
    assert response.status_code == 200, response.body
    shown = {user["id"]: user for user in response.json_body["users"]}
    assert set(shown) == {caller.id, other.id}
    for user in shown.values():
        assert set(user) == FULL_FIELDS
    assert shown[other.id]["permissions"] == ["DATA_EDIT"]


@pytest.mark.parametrize("role", with_perm("USER_ADD"))
def test_create_user_with_user_add_returns_201(
    client: Client, role_user: Callable[[str], Account], admin: Account, role: str
) -> None:
    email = new_email()
    user_id = created_id(create_user(client, role_user(role), email=email, name="New"))
    created = record(client, admin, user_id)
    assert created["email"] == email
    assert created["name"] == "New"
    assert created["permissions"] == []


@pytest.mark.parametrize("role", without_perm("USER_ADD"))
def test_create_user_without_user_add_returns_403(
    client: Client, role_user: Callable[[str], Account], admin: Account, role: str
) -> None:
    email = new_email()
    assert_error(create_user(client, role_user(role), email=email), 403, "PermissionDenied")
    assert get(client, admin, "/user", email=email).json_body["users"] == []


@pytest.mark.parametrize("role", roles(lambda p: "USER_ADD" in p and "USER_MANAGEMENT" not in p))
def test_create_user_with_permissions_without_user_management_returns_403(
    client: Client, role_user: Callable[[str], Account], admin: Account, role: str
) -> None:
    email = new_email()
    response = create_user(client, role_user(role), email=email, permissions=["DATA_EDIT"])
    assert_error(response, 403, "FieldNotWritable")
    assert get(client, admin, "/user", email=email).json_body["users"] == []


@pytest.mark.parametrize("role", with_perm("USER_MANAGEMENT"))
def test_create_user_with_permissions_by_user_manager_stores_them_unexpanded(
    client: Client, role_user: Callable[[str], Account], admin: Account, role: str
) -> None:
    response = create_user(
        client, role_user(role), email=new_email(), permissions=["DATA_MANAGEMENT", "USER_ADD"]
    )
    user_id = created_id(response)
    assert record(client, admin, user_id)["permissions"] == ["DATA_MANAGEMENT", "USER_ADD"]


@pytest.mark.parametrize("role", roles())
def test_get_me_returns_full_record_with_expanded_sorted_permissions(
    client: Client, role_user: Callable[[str], Account], role: str
) -> None:
    caller = role_user(role)
    response = get(client, caller, "/user/me")
    assert response.status_code == 200, response.body
    user = response.json_body["user"]
    assert set(user) == FULL_FIELDS
    assert user["id"] == caller.id
    assert user["email"] == caller.email
    assert user["permissions"] == ROLES[role][1]


@pytest.mark.parametrize("role", roles())
def test_patch_me_by_any_role_changes_own_name(
    client: Client, role_user: Callable[[str], Account], role: str
) -> None:
    caller = role_user(role)
    response = patch_me(client, caller, name="My New Name")
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["name"] == "My New Name"
    assert response.json_body["user"]["permissions"] == ROLES[role][1]
    assert get(client, caller, "/user/me").json_body["user"]["name"] == "My New Name"


MANAGER_ROUTES = [
    pytest.param("GET", 200, id="GET"),
    pytest.param("PATCH", 200, id="PATCH"),
    pytest.param("DELETE", 204, id="DELETE"),
]


def manager_call(client: Client, method: str, caller: Account, target: Account) -> Any:
    if method == "GET":
        return get(client, caller, f"/user/{target.id}")
    if method == "PATCH":
        return patch_user(client, caller, target.id, name="Changed")
    return client.http.delete(f"{API}/user/{target.id}", headers=caller.headers)


@pytest.mark.parametrize(("method", "status"), MANAGER_ROUTES)
@pytest.mark.parametrize("role", with_perm("USER_MANAGEMENT"))
def test_user_route_with_user_management_succeeds(
    client: Client,
    role_user: Callable[[str], Account],
    make_user: MakeUser,
    role: str,
    method: str,
    status: int,
) -> None:
    target = make_user()
    response = manager_call(client, method, role_user(role), target)
    assert response.status_code == status, response.body


@pytest.mark.parametrize(("method", "status"), MANAGER_ROUTES)
@pytest.mark.parametrize("role", without_perm("USER_MANAGEMENT"))
def test_user_route_without_user_management_returns_403_and_changes_nothing(
    client: Client,
    role_user: Callable[[str], Account],
    make_user: MakeUser,
    admin: Account,
    role: str,
    method: str,
    status: int,
) -> None:
    target = make_user(name="Target")
    before = record(client, admin, target.id)
    assert_error(manager_call(client, method, role_user(role), target), 403, "PermissionDenied")
    assert record(client, admin, target.id) == before


@pytest.mark.parametrize(("method", "status"), MANAGER_ROUTES)
@pytest.mark.parametrize("role", without_perm("USER_MANAGEMENT"))
def test_user_route_on_own_id_without_user_management_returns_403(
    client: Client, role_user: Callable[[str], Account], role: str, method: str, status: int
) -> None:
    caller = role_user(role)
    assert_error(manager_call(client, method, caller, caller), 403, "PermissionDenied")


@pytest.mark.parametrize("kind", ["log", "actions"])
@pytest.mark.parametrize("role", roles())
def test_own_log_and_actions_are_readable_by_any_role(
    client: Client, role_user: Callable[[str], Account], role: str, kind: str
) -> None:
    caller = role_user(role)
    response = get(client, caller, f"/user/{caller.id}/{kind}")
    assert response.status_code == 200, response.body


@pytest.mark.parametrize("kind", ["log", "actions"])
@pytest.mark.parametrize("role", without_perm("USER_MANAGEMENT"))
def test_other_users_log_and_actions_without_user_management_return_403(
    client: Client, role_user: Callable[[str], Account], make_user: MakeUser, role: str, kind: str
) -> None:
    other = make_user()
    assert_error(get(client, role_user(role), f"/user/{other.id}/{kind}"), 403, "PermissionDenied")


@pytest.mark.parametrize("kind", ["log", "actions"])
@pytest.mark.parametrize("role", with_perm("USER_MANAGEMENT"))
def test_other_users_log_and_actions_with_user_management_return_200(
    client: Client, role_user: Callable[[str], Account], make_user: MakeUser, role: str, kind: str
) -> None:
    other = make_user()
    response = get(client, role_user(role), f"/user/{other.id}/{kind}")
    assert response.status_code == 200, response.body


# --- GET /user/{id} ------------------------------------------------------------------------


def test_get_user_returns_full_record_with_stored_permissions(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(permissions=["DATA_MANAGEMENT"], name="Target", affiliation="Uni")
    response = get(client, admin, f"/user/{target.id}")
    assert response.status_code == 200, response.body
    user = response.json_body["user"]
    assert set(user) == FULL_FIELDS
    assert user["id"] == target.id
    assert user["permissions"] == ["DATA_MANAGEMENT"]
    assert user["affiliation"] == "Uni"
    assert user["auth_ids"] == [target.email]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_user_route_on_unknown_id_returns_404(client: Client, admin: Account, method: str) -> None:
    unknown = Account("0" * 32, admin.key, "x@example.org")
    response = manager_call(client, method, admin, unknown)
    assert_error(response, 404, "UserNotFound")


# --- POST /user ---------------------------------------------------------------------------


def test_create_user_returns_id_and_full_record(client: Client, admin: Account) -> None:
    email = new_email()
    user_id = created_id(
        create_user(
            client,
            admin,
            email=email,
            name="Ada",
            affiliation="Uni",
            contact="Room 1",
            orcid="0000-0002-1825-0097",
            url="https://example.org/ada",
        )
    )
    user = record(client, admin, user_id)
    assert user == {
        "id": user_id,
        "email": email,
        "name": "Ada",
        "affiliation": "Uni",
        "contact": "Room 1",
        "orcid": "0000-0002-1825-0097",
        "url": "https://example.org/ada",
        "email_verified": True,
        "permissions": [],
        "effective_permissions": [],
        "rule_permissions": [],
        "auth_ids": [email],
        "suspended": False,
        "version": 1,
        "created": user["created"],
        "updated": user["created"],
    }
    assert datetime.fromisoformat(user["created"]).utcoffset().total_seconds() == 0


def test_create_user_sets_auth_ids_to_the_email(client: Client, admin: Account) -> None:
    local = f"Mixed.Case.{secrets.token_hex(3)}"
    user_id = created_id(create_user(client, admin, email=f"{local}@Example.org"))
    # stored as email-validator normalises it: the local part kept, the domain an A-label
    assert record(client, admin, user_id)["auth_ids"] == [f"{local}@example.org"]


def test_create_user_without_email_returns_400(client: Client, admin: Account) -> None:
    assert_error(create_user(client, admin, name="No Mail"), 400, "InvalidInput")


def test_create_user_with_taken_email_returns_409(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    existing = make_user()
    assert_error(create_user(client, admin, email=existing.email), 409, "EmailTaken")


def test_create_user_with_taken_email_in_other_case_returns_409(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    existing = make_user(email="Taken.Person@Example.org")
    response = create_user(client, admin, email="taken.person@EXAMPLE.ORG")
    assert_error(response, 409, "EmailTaken")
    users_with_email = get(client, admin, "/user", email=existing.email).json_body["users"]
    assert [user["id"] for user in users_with_email] == [existing.id]


@pytest.mark.parametrize("field", ["id", "version", "created", "updated", "auth_ids"])
def test_create_user_with_service_field_returns_403(
    client: Client, admin: Account, field: str
) -> None:
    value: Any = {
        "id": "f" * 32,
        "version": 7,
        "created": "2020-01-01T00:00:00Z",
        "updated": "2020-01-01T00:00:00Z",
        "auth_ids": ["sub::provider"],
    }[field]
    email = new_email()
    response = create_user(client, admin, email=email, **{field: value})
    assert_error(response, 403, "FieldNotWritable")
    assert get(client, admin, "/user", email=email).json_body["users"] == []


# --- validation (section 3), on create and on PATCH /user/{id} ---------------------------

INVALID_VALUES = [
    pytest.param("email", "not-an-email", id="email without at"),
    pytest.param("email", "a@b", id="email without domain dot"),
    pytest.param("email", "two words@example.org", id="email with space"),
    pytest.param("email", "", id="email empty"),
    pytest.param("email", 42, id="email not a string"),
    pytest.param("email", "a" * 390 + "@example.org", id="email over 400"),
    pytest.param("name", "", id="name empty"),
    pytest.param("name", "x" * 401, id="name over 400"),
    pytest.param("name", 42, id="name not a string"),
    pytest.param("name", None, id="name null"),
    pytest.param("affiliation", "x" * 401, id="affiliation over 400"),
    pytest.param("contact", "x" * 401, id="contact over 400"),
    pytest.param("contact", ["x"], id="contact not a string"),
    pytest.param("orcid", "0000-0002-1825-0098", id="orcid wrong check digit"),
    pytest.param("orcid", "0000-0002-1694-2330", id="orcid digit where X is due"),
    pytest.param("orcid", "0000-0002-1825-009X", id="orcid X where digit is due"),
    pytest.param("orcid", "0000000218250097", id="orcid without dashes"),
    pytest.param("orcid", "0000-0002-1825-009", id="orcid too short"),
    pytest.param("orcid", "0000-0002-1825-00977", id="orcid too long"),
    pytest.param("orcid", "X000-0002-1825-0097", id="orcid X not last"),
    pytest.param("orcid", "https://orcid.org/0000-0002-1825-0097", id="orcid as url"),
    pytest.param("url", "ftp://example.org", id="url ftp"),
    pytest.param("url", "example.org", id="url without scheme"),
    pytest.param("url", "javascript:alert(1)", id="url javascript"),
    pytest.param("url", "http://", id="url without host"),
    pytest.param("url", "https://example.org/" + "x" * 5000, id="url very long"),
    pytest.param("permissions", ["NO_SUCH_PERMISSION"], id="permissions unknown name"),
    pytest.param("permissions", ["DATA_EDIT", "DATA_EDIT"], id="permissions duplicate"),
    pytest.param("permissions", "DATA_EDIT", id="permissions not a list"),
    pytest.param("permissions", [1], id="permissions not strings"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_VALUES)
def test_create_user_with_invalid_value_returns_400(
    client: Client, admin: Account, field: str, value: Any
) -> None:
    fields = {"email": new_email(), field: value}
    assert_error(create_user(client, admin, **fields), 400, "InvalidInput")
    assert len(get(client, admin, "/user").json_body["users"]) == 1


@pytest.mark.parametrize(("field", "value"), INVALID_VALUES)
def test_patch_user_with_invalid_value_returns_400_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser, field: str, value: Any
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    assert_error(patch_user(client, admin, target.id, **{field: value}), 400, "InvalidInput")
    assert record(client, admin, target.id) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [param for param in INVALID_VALUES if param.values[0] in PROFILE_FIELDS],
)
def test_patch_me_with_invalid_value_returns_400(
    client: Client, make_user: MakeUser, field: str, value: Any
) -> None:
    caller = make_user()
    assert_error(patch_me(client, caller, **{field: value}), 400, "InvalidInput")


VALID_VALUES = [
    pytest.param("orcid", "0000-0002-1825-0097", id="orcid 0097"),
    pytest.param("orcid", "0000-0001-5109-3700", id="orcid 3700"),
    pytest.param("orcid", "0000-0002-1694-233X", id="orcid with X"),
    pytest.param("orcid", "", id="orcid empty"),
    pytest.param("url", "http://example.org", id="url http"),
    pytest.param("url", "https://example.org/path?q=1#x", id="url https"),
    pytest.param("url", "", id="url empty"),
    pytest.param("name", "x" * 400, id="name at 400"),
    pytest.param("affiliation", "x" * 400, id="affiliation at 400"),
    pytest.param("contact", "x" * 400, id="contact at 400"),
    pytest.param("affiliation", "", id="affiliation empty"),
    pytest.param("email", "first.last+tag@sub.example.org", id="email with plus"),
    pytest.param("permissions", [], id="permissions empty"),
    pytest.param("permissions", list(ALL_PERMISSIONS), id="permissions all six"),
]


@pytest.mark.parametrize(("field", "value"), VALID_VALUES)
def test_create_user_with_valid_value_stores_it(
    client: Client, admin: Account, field: str, value: Any
) -> None:
    fields = {"email": new_email(), field: value}
    user_id = created_id(create_user(client, admin, **fields))
    assert record(client, admin, user_id)[field] == value


@pytest.mark.parametrize(("field", "value"), VALID_VALUES)
def test_patch_user_with_valid_value_stores_it(
    client: Client, admin: Account, make_user: MakeUser, field: str, value: Any
) -> None:
    target = make_user(
        orcid="0000-0001-5109-3700",
        url="https://old.example.org",
        affiliation="Old",
        permissions=["OWNERS_READ"],
    )
    response = patch_user(client, admin, target.id, **{field: value})
    assert response.status_code == 200, response.body
    assert response.json_body["user"][field] == value
    assert record(client, admin, target.id)[field] == value


@pytest.mark.parametrize("route", ["POST /user", "PATCH /user/{id}", "PATCH /user/me"])
def test_unknown_field_returns_400(
    client: Client, admin: Account, make_user: MakeUser, route: str
) -> None:
    target = make_user()
    if route == "POST /user":
        response = create_user(client, admin, email=new_email(), nickname="x")
    elif route == "PATCH /user/{id}":
        response = patch_user(client, admin, target.id, nickname="x")
    else:
        response = patch_me(client, target, nickname="x")
    assert_error(response, 400, "UnknownField")


# --- request bodies ---------------------------------------------------------------------

BODY_ROUTES = ["POST /user", "PATCH /user/{id}", "PATCH /user/me"]


def send(
    client: Client,
    route: str,
    admin: Account,
    target: Account,
    body: str,
    content_type: str | None = "application/json",
) -> Any:
    """Send ``body`` to a body route: as ``target`` on /user/me, else as ``admin``."""
    method, path = route.split(" ")
    caller = target if path == "/user/me" else admin
    headers = {**caller.headers, **({"Content-Type": content_type} if content_type else {})}
    return client.http.request(
        method, API + path.replace("{id}", target.id), headers=headers, body=body
    )


def valid_body(route: str, **extra: Any) -> str:
    """A body the route would accept."""
    if route.startswith("POST"):
        return user_body(email=new_email(), name="N", **extra)
    return user_body(name="N", **extra)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("{not json", id="not json"),
        pytest.param("[]", id="list"),
        pytest.param('"text"', id="string"),
        pytest.param("null", id="null"),
        pytest.param('{"email": "a@example.org", "name": "A"}', id="not wrapped"),
        pytest.param('{"user": "a@example.org"}', id="user not an object"),
        pytest.param('{"user": ["x"]}', id="user a list"),
        pytest.param('{"user": {"name": "A"}, "extra": 1}', id="extra top-level key"),
        pytest.param("{}", id="empty object"),
    ],
)
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_malformed_body_returns_400_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser, route: str, body: str
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    assert_error(send(client, route, admin, target, body), 400, "InvalidInput")
    assert record(client, admin, target.id) == before
    assert len(get(client, admin, "/user").json_body["users"]) == 2


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_body_without_content_type_returns_400(
    client: Client, admin: Account, make_user: MakeUser, route: str
) -> None:
    target = make_user()
    response = send(client, route, admin, target, valid_body(route), content_type=None)
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_body_with_non_json_content_type_is_refused_as_unsupported_media_type(
    client: Client, admin: Account, make_user: MakeUser, route: str
) -> None:
    # Chalice refuses a content type the route does not declare before the route
    # runs, with 415 and the same error body shape (the contract is silent on the status).
    target = make_user()
    before = record(client, admin, target.id)
    response = send(client, route, admin, target, valid_body(route), content_type="text/plain")
    assert_error(response, 415, "UnsupportedMediaType")
    assert record(client, admin, target.id) == before


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_json_content_type_with_charset_is_accepted(
    client: Client, admin: Account, make_user: MakeUser, route: str
) -> None:
    target = make_user()
    content_type = "application/json; charset=utf-8"
    response = send(client, route, admin, target, valid_body(route), content_type=content_type)
    assert response.status_code == (201 if route == "POST /user" else 200), response.body


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_body_over_64_kib_returns_413_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser, route: str
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    body = valid_body(route, contact="x" * MAX_BODY)
    assert len(body.encode()) > MAX_BODY
    assert_error(send(client, route, admin, target, body), 413, "RequestTooLarge")
    assert record(client, admin, target.id) == before
    assert len(get(client, admin, "/user").json_body["users"]) == 2


# --- PATCH /user/{id} ---------------------------------------------------------------------


def test_patch_user_returns_new_record_with_next_version(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    response = patch_user(client, admin, target.id, name="Renamed", permissions=["DATA_EDIT"])
    assert response.status_code == 200, response.body
    after = response.json_body["user"]
    assert after["name"] == "Renamed"
    assert after["permissions"] == ["DATA_EDIT"]
    assert after["version"] == before["version"] + 1
    assert after["created"] == before["created"]
    stored = record(client, admin, target.id)
    assert stored["updated"] > before["updated"]
    assert after == stored


def test_patch_user_writes_only_changed_fields_to_the_log(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(name="Old", affiliation="Same")
    response = patch_user(client, admin, target.id, name="New", affiliation="Same")
    assert response.status_code == 200, response.body
    entries = log_of(client, admin, target.id)
    assert entries[-1]["action"] == "edit"
    assert entries[-1]["data"] == {"name": "New"}
    assert entries[-1]["user"] == admin.id


def test_patch_user_with_current_values_keeps_version_and_writes_no_log_entry(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(name="Same", affiliation="Uni", permissions=["DATA_EDIT"])
    before = record(client, admin, target.id)
    log_before = log_of(client, admin, target.id)
    response = patch_user(
        client,
        admin,
        target.id,
        name="Same",
        affiliation="Uni",
        email=target.email,
        permissions=["DATA_EDIT"],
    )
    assert response.status_code == 200, response.body
    assert response.json_body["user"] == before
    assert record(client, admin, target.id) == before
    assert log_of(client, admin, target.id) == log_before


def test_patch_user_with_whole_record_unchanged_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(permissions=["DATA_MANAGEMENT"])
    before = record(client, admin, target.id)
    log_before = log_of(client, admin, target.id)
    response = patch_user(client, admin, target.id, **before)
    assert response.status_code == 200, response.body
    assert record(client, admin, target.id) == before
    assert log_of(client, admin, target.id) == log_before


@pytest.mark.parametrize("field", ["id", "version", "created", "updated", "auth_ids"])
def test_patch_user_changing_service_field_returns_403_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser, field: str
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    value: Any = {
        "id": "f" * 32,
        "version": before["version"] + 5,
        "created": "2020-01-01T00:00:00Z",
        "updated": "2020-01-01T00:00:00Z",
        "auth_ids": ["sub::provider"],
    }[field]
    response = patch_user(client, admin, target.id, name="Changed", **{field: value})
    assert_error(response, 403, "FieldNotWritable")
    assert record(client, admin, target.id) == before


@pytest.mark.parametrize("field", ["id", "version", "created", "updated", "auth_ids"])
def test_patch_user_with_service_field_at_current_value_is_accepted(
    client: Client, admin: Account, make_user: MakeUser, field: str
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    response = patch_user(client, admin, target.id, name="Changed", **{field: before[field]})
    assert response.status_code == 200, response.body
    assert record(client, admin, target.id)["name"] == "Changed"


def test_patch_user_with_stale_if_match_returns_412_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    log_before = log_of(client, admin, target.id)
    stale = str(before["version"] - 1)
    response = patch_user(client, admin, target.id, {"If-Match": stale}, name="Changed")
    assert_error(response, 412, "VersionMismatch")
    assert record(client, admin, target.id) == before
    assert log_of(client, admin, target.id) == log_before


def test_patch_user_with_future_if_match_returns_412(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    version = record(client, admin, target.id)["version"]
    response = patch_user(client, admin, target.id, {"If-Match": str(version + 1)}, name="X")
    assert_error(response, 412, "VersionMismatch")


def test_patch_user_with_current_if_match_returns_200(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    version = record(client, admin, target.id)["version"]
    response = patch_user(client, admin, target.id, {"If-Match": str(version)}, name="Changed")
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["version"] == version + 1
    assert record(client, admin, target.id)["name"] == "Changed"


def test_patch_user_email_to_taken_email_in_other_case_returns_409_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    make_user(email="Holder@Example.org")
    target = make_user()
    before = record(client, admin, target.id)
    response = patch_user(client, admin, target.id, email="holder@example.ORG")
    assert_error(response, 409, "EmailTaken")
    assert record(client, admin, target.id) == before


def test_patch_user_email_case_only_change_is_allowed(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="case.only@example.org")
    response = patch_user(client, admin, target.id, email="Case.Only@Example.org")
    assert response.status_code == 200, response.body
    # the domain stored as its A-label, lower case
    assert record(client, admin, target.id)["email"] == "Case.Only@example.org"
    found = get(client, admin, "/user", email="case.only@example.org").json_body["users"]
    assert [user["id"] for user in found] == [target.id]
    assert_error(create_user(client, admin, email="case.only@example.org"), 409, "EmailTaken")


def test_patch_user_email_takes_the_new_email(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="old.address@example.org")
    response = patch_user(client, admin, target.id, email="new.address@example.org")
    assert response.status_code == 200, response.body
    assert_error(create_user(client, admin, email="NEW.address@example.org"), 409, "EmailTaken")


def test_patch_user_email_frees_the_old_email_for_another_email_change(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="old.address@example.org")
    other = make_user(email="someone@example.org")
    response = patch_user(client, admin, target.id, email="new.address@example.org")
    assert response.status_code == 200, response.body
    response = patch_user(client, admin, other.id, email="OLD.address@example.org")
    assert response.status_code == 200, response.body


def test_new_user_may_take_the_address_a_manager_changed_away_from(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="old.address@example.org")
    patch_user(client, admin, target.id, email="new.address@example.org")
    response = create_user(client, admin, email="old.address@example.org")
    assert response.status_code == 201, response.body


def test_patch_user_email_moves_auth_ids_to_the_new_email(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="login.id@example.org")
    patch_user(client, admin, target.id, email="changed@example.org")
    assert record(client, admin, target.id)["auth_ids"] == ["changed@example.org"]


# --- PATCH /user/me -------------------------------------------------------------------------

PROFILE_VALUES = {
    "name": "Grace",
    "affiliation": "Navy",
    "contact": "Room 2",
    "orcid": "0000-0002-1694-233X",
    "url": "https://example.org/grace",
}


@pytest.mark.parametrize("field", PROFILE_FIELDS)
def test_patch_me_changes_profile_field(
    client: Client, admin: Account, make_user: MakeUser, field: str
) -> None:
    caller = make_user()
    response = patch_me(client, caller, **{field: PROFILE_VALUES[field]})
    assert response.status_code == 200, response.body
    assert response.json_body["user"][field] == PROFILE_VALUES[field]
    assert record(client, admin, caller.id)[field] == PROFILE_VALUES[field]


def test_patch_me_logs_the_change_as_made_by_self(client: Client, make_user: MakeUser) -> None:
    caller = make_user()
    patch_me(client, caller, name="Self Made", contact="here")
    last = log_of(client, caller, caller.id)[-1]
    assert last["action"] == "edit"
    assert last["user"] == caller.id
    assert last["data"] == {"name": "Self Made", "contact": "here"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("email", "other@example.org", id="email"),
        pytest.param("permissions", ["USER_MANAGEMENT"], id="permissions"),
        pytest.param("auth_ids", ["sub::provider"], id="auth_ids"),
        pytest.param("id", "f" * 32, id="id"),
        pytest.param("version", 99, id="version"),
        pytest.param("created", "2020-01-01T00:00:00Z", id="created"),
        pytest.param("updated", "2020-01-01T00:00:00Z", id="updated"),
    ],
)
def test_patch_me_changing_non_profile_field_returns_403_and_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser, field: str, value: Any
) -> None:
    caller = make_user(permissions=["DATA_EDIT"])
    before = record(client, admin, caller.id)
    response = patch_me(client, caller, name="Changed", **{field: value})
    assert_error(response, 403, "FieldNotWritable")
    assert record(client, admin, caller.id) == before


def test_patch_me_by_user_manager_cannot_change_own_permissions(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    before = record(client, admin, admin.id)
    response = patch_me(client, admin, permissions=["USER_MANAGEMENT"])
    assert_error(response, 403, "FieldNotWritable")
    assert record(client, admin, admin.id) == before


@pytest.mark.parametrize("role", roles())
def test_patch_me_with_expanded_permissions_sent_back_changes_nothing(
    client: Client, admin: Account, role_user: Callable[[str], Account], role: str
) -> None:
    caller = role_user(role)
    me = get(client, caller, "/user/me").json_body["user"]
    before = record(client, admin, caller.id)
    log_before = log_of(client, admin, caller.id)
    response = patch_me(client, caller, permissions=me["permissions"], email=me["email"])
    assert response.status_code == 200, response.body
    assert response.json_body["user"] == me
    assert record(client, admin, caller.id) == before
    assert log_of(client, admin, caller.id) == log_before


def test_patch_me_with_own_record_sent_back_changes_nothing(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    caller = make_user(permissions=["DATA_MANAGEMENT"])
    me = get(client, caller, "/user/me").json_body["user"]
    log_before = log_of(client, admin, caller.id)
    response = patch_me(client, caller, **me)
    assert response.status_code == 200, response.body
    assert get(client, caller, "/user/me").json_body["user"] == me
    assert log_of(client, admin, caller.id) == log_before


# --- the last user manager ----------------------------------------------------------------


def test_delete_of_last_user_manager_returns_409_and_keeps_them(
    client: Client, admin: Account
) -> None:
    response = client.http.delete(f"{API}/user/{admin.id}", headers=admin.headers)
    assert_error(response, 409, "LastUserManager")
    assert record(client, admin, admin.id)["permissions"] == ALL_PERMISSIONS


@pytest.mark.parametrize(
    "permissions", [[], ["DATA_MANAGEMENT", "USER_ADD", "USER_SEARCH"]], ids=["none", "others"]
)
def test_removing_user_management_from_last_holder_returns_409_and_changes_nothing(
    client: Client, admin: Account, permissions: list[str]
) -> None:
    before = record(client, admin, admin.id)
    response = patch_user(client, admin, admin.id, permissions=permissions)
    assert_error(response, 409, "LastUserManager")
    assert record(client, admin, admin.id) == before


def test_delete_with_two_user_managers_works_once(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    other = make_user(permissions=["USER_MANAGEMENT"])
    response = client.http.delete(f"{API}/user/{other.id}", headers=admin.headers)
    assert response.status_code == 204, response.body
    response = client.http.delete(f"{API}/user/{admin.id}", headers=admin.headers)
    assert_error(response, 409, "LastUserManager")


def test_user_manager_may_delete_self_while_another_remains(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    other = make_user(permissions=["USER_MANAGEMENT"])
    response = client.http.delete(f"{API}/user/{admin.id}", headers=admin.headers)
    assert response.status_code == 204, response.body
    response = client.http.delete(f"{API}/user/{other.id}", headers=other.headers)
    assert_error(response, 409, "LastUserManager")


def test_removing_user_management_with_two_holders_works_once(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    other = make_user(permissions=["USER_MANAGEMENT"])
    response = patch_user(client, admin, other.id, permissions=["DATA_EDIT"])
    assert response.status_code == 200, response.body
    response = patch_user(client, admin, admin.id, permissions=["DATA_MANAGEMENT"])
    assert_error(response, 409, "LastUserManager")
    assert record(client, admin, admin.id)["permissions"] == ALL_PERMISSIONS


def test_granting_user_management_counts_the_new_holder(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    other = make_user()
    response = patch_user(client, admin, other.id, permissions=["USER_MANAGEMENT"])
    assert response.status_code == 200, response.body
    response = client.http.delete(f"{API}/user/{admin.id}", headers=admin.headers)
    assert response.status_code == 204, response.body
    response = client.http.delete(f"{API}/user/{other.id}", headers=other.headers)
    assert_error(response, 409, "LastUserManager")


# --- DELETE /user/{id} ----------------------------------------------------------------------


def test_delete_user_returns_204_then_get_returns_404(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    response = client.http.delete(f"{API}/user/{target.id}", headers=admin.headers)
    assert response.status_code == 204, response.body
    assert not response.body
    assert_error(get(client, admin, f"/user/{target.id}"), 404, "UserNotFound")
    assert target.id not in {user["id"] for user in get(client, admin, "/user").json_body["users"]}


def test_delete_user_twice_returns_404(client: Client, admin: Account, make_user: MakeUser) -> None:
    target = make_user()
    client.http.delete(f"{API}/user/{target.id}", headers=admin.headers)
    response = client.http.delete(f"{API}/user/{target.id}", headers=admin.headers)
    assert_error(response, 404, "UserNotFound")


def test_delete_user_frees_the_email(client: Client, admin: Account, make_user: MakeUser) -> None:
    target = make_user(email="Reused@Example.org")
    client.http.delete(f"{API}/user/{target.id}", headers=admin.headers)
    new_id = created_id(create_user(client, admin, email="reused@example.org"))
    assert new_id != target.id
    assert record(client, admin, new_id)["auth_ids"] == ["reused@example.org"]


def test_delete_user_stops_their_api_key(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(permissions=["USER_MANAGEMENT"])
    assert get(client, target, "/user/me").status_code == 200
    client.http.delete(f"{API}/user/{target.id}", headers=admin.headers)
    assert_error(get(client, target, "/user/me"), 401, "InvalidCredentials")
    assert_error(get(client, target, "/user"), 401, "InvalidCredentials")


def test_delete_user_keeps_the_change_log_with_a_delete_entry(
    client: Client, admin: Account
) -> None:
    user_id = created_id(create_user(client, admin, email=new_email(), name="Gone"))
    patch_user(client, admin, user_id, name="Going")
    client.http.delete(f"{API}/user/{user_id}", headers=admin.headers)
    entries = log_of(client, admin, user_id)
    assert [entry["action"] for entry in entries] == ["add", "edit", "delete"]
    assert entries[-1]["data"] == {}
    assert entries[-1]["user"] == admin.id
    assert entries[-1]["entry_id"] == user_id


def test_delete_user_with_stale_if_match_returns_412_and_keeps_user(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    before = record(client, admin, target.id)
    response = client.http.delete(
        f"{API}/user/{target.id}",
        headers={**admin.headers, "If-Match": str(before["version"] - 1)},
    )
    assert_error(response, 412, "VersionMismatch")
    assert record(client, admin, target.id) == before


def test_delete_user_with_current_if_match_returns_204(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    version = record(client, admin, target.id)["version"]
    response = client.http.delete(
        f"{API}/user/{target.id}", headers={**admin.headers, "If-Match": str(version)}
    )
    assert response.status_code == 204, response.body
    assert_error(get(client, admin, f"/user/{target.id}"), 404, "UserNotFound")


# --- GET /user: pagination and ?email= ----------------------------------------------------


def test_list_users_walks_every_page_returning_each_user_once(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    made = {make_user().id for _ in range(24)} | {admin.id}
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10}
    pages = 0
    while True:
        response = get(client, admin, "/user", **params)
        assert response.status_code == 200, response.body
        page = response.json_body["users"]
        assert len(page) <= 10
        seen.extend(user["id"] for user in page)
        pages += 1
        assert pages <= 5
        if response.json_body["next"] is None:
            break
        params = {"limit": 10, "cursor": response.json_body["next"]}
    assert pages >= 3
    assert sorted(seen) == sorted(made)

    everything = get(client, admin, "/user")
    assert everything.status_code == 200, everything.body
    assert {user["id"] for user in everything.json_body["users"]} == made
    assert everything.json_body["next"] is None


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_list_users_with_limit_in_bounds_returns_200(
    client: Client, admin: Account, limit: str
) -> None:
    response = get(client, admin, "/user", limit=limit)
    assert response.status_code == 200, response.body
    assert len(response.json_body["users"]) == 1


def test_list_users_with_limit_one_returns_one_user_and_a_cursor(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    make_user()
    response = get(client, admin, "/user", limit=1)
    assert len(response.json_body["users"]) == 1
    assert isinstance(response.json_body["next"], str)


PAGED_ROUTES = ["/user", "/user/{id}/log", "/user/{id}/actions"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": "0"}, id="limit 0"),
        pytest.param({"limit": "1001"}, id="limit 1001"),
        pytest.param({"limit": "abc"}, id="limit abc"),
        pytest.param({"limit": "-1"}, id="limit -1"),
        pytest.param({"limit": ""}, id="limit empty"),
        pytest.param({"limit": "1.5"}, id="limit fraction"),
        pytest.param({"page": "2"}, id="unknown parameter"),
        pytest.param({"limit": "10", "sort": "name"}, id="unknown beside limit"),
    ],
)
@pytest.mark.parametrize("path", PAGED_ROUTES)
def test_paginated_route_with_bad_query_returns_400(
    client: Client, admin: Account, path: str, params: dict[str, str]
) -> None:
    response = get(client, admin, path.replace("{id}", admin.id), **params)
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("!!!", id="not base64"),
        pytest.param("eyJpZCI6IDV9", id="base64 of wrong key"),
        pytest.param("bnVsbA", id="base64 of null"),
    ],
)
@pytest.mark.parametrize("path", PAGED_ROUTES)
def test_paginated_route_with_garbage_cursor_returns_400(
    client: Client, admin: Account, path: str, cursor: str
) -> None:
    response = get(client, admin, path.replace("{id}", admin.id), cursor=cursor)
    assert_error(response, 400, "InvalidCursor")


def test_email_cursor_of_another_query_returns_400(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    make_user()
    first = get(client, admin, "/user", limit=1).json_body["next"]
    assert first is not None
    response = get(client, admin, "/user", email=admin.email, cursor=first)
    assert_error(response, 400, "InvalidCursor")


def test_list_users_by_email_matches_exactly_and_case_insensitively(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    alice = make_user(email="Alice@Example.org")
    make_user(email="alice2@example.org")
    make_user(email="xalice@example.org")
    response = get(client, admin, "/user", email="aLICE@example.ORG")
    assert response.status_code == 200, response.body
    assert [user["id"] for user in response.json_body["users"]] == [alice.id]
    assert response.json_body["users"][0]["email"] == "Alice@example.org"  # A-label domain


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("alice@example", id="prefix"),
        pytest.param("alice", id="local part"),
        pytest.param("nobody@example.org", id="other address"),
        pytest.param("a" * 3000 + "@example.org", id="over the length limit"),
    ],
)
def test_list_users_by_non_matching_email_returns_no_users(
    client: Client, admin: Account, make_user: MakeUser, email: str
) -> None:
    make_user(email="alice@example.org")
    response = get(client, admin, "/user", email=email)
    assert response.status_code == 200, response.body
    assert response.json_body == {"users": [], "next": None}


def test_list_users_by_empty_email_returns_no_users(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    # No user has the empty address, so the exact match finds nobody.
    make_user(email="alice@example.org")
    response = get(client, admin, "/user", email="")
    assert response.status_code == 200, response.body
    assert response.json_body == {"users": [], "next": None}


def test_list_users_by_email_without_user_management_shows_public_fields(
    client: Client, make_user: MakeUser
) -> None:
    caller = make_user(permissions=["DATA_EDIT"])
    bob = make_user(email="bob@example.org")
    response = get(client, caller, "/user", email="BOB@example.org")
    assert response.status_code == 200, response.body
    assert [set(user) for user in response.json_body["users"]] == [PUBLIC_FIELDS]
    assert response.json_body["users"][0]["id"] == bob.id


# --- change logs (section 7) --------------------------------------------------------------


def test_create_user_writes_one_add_entry_holding_the_new_record(
    client: Client, admin: Account
) -> None:
    user_id = created_id(
        create_user(client, admin, email=new_email(), name="Logged", permissions=["DATA_EDIT"])
    )
    response = get(client, admin, f"/user/{user_id}/log")
    assert response.status_code == 200, response.body
    assert response.json_body["entry_id"] == user_id
    assert response.json_body["data_type"] == "user"
    assert response.json_body["next"] is None
    [entry] = response.json_body["logs"]
    assert set(entry) == LOG_FIELDS
    assert entry["action"] == "add"
    assert entry["data_type"] == "user"
    assert entry["entry_id"] == user_id
    assert entry["user"] == admin.id
    shown = record(client, admin, user_id)
    assert shown.pop("effective_permissions") == ["DATA_EDIT", "USER_ADD", "USER_SEARCH"]
    assert entry["data"] == shown
    assert entry["old"] == {}
    assert datetime.fromisoformat(entry["timestamp"]).utcoffset().total_seconds() == 0


def test_edit_writes_one_edit_entry_with_only_the_changed_fields(
    client: Client, admin: Account
) -> None:
    user_id = created_id(create_user(client, admin, email=new_email(), name="Before"))
    patch_user(
        client,
        admin,
        user_id,
        name="After",
        url="https://example.org",
        contact="",
        permissions=["OWNERS_READ"],
    )
    entries = log_of(client, admin, user_id)
    assert [entry["action"] for entry in entries] == ["add", "edit"]
    edit = entries[1]
    assert set(edit) == LOG_FIELDS
    assert edit["data"] == {
        "name": "After",
        "url": "https://example.org",
        "permissions": ["OWNERS_READ"],
    }
    assert edit["old"] == {"name": "Before", "url": "", "permissions": []}
    assert edit["user"] == admin.id
    assert edit["entry_id"] == user_id


def test_delete_writes_a_delete_entry_with_empty_data(client: Client, admin: Account) -> None:
    user_id = created_id(create_user(client, admin, email=new_email()))
    client.http.delete(f"{API}/user/{user_id}", headers=admin.headers)
    entries = log_of(client, admin, user_id)
    assert [entry["action"] for entry in entries] == ["add", "delete"]
    assert set(entries[1]) == LOG_FIELDS
    assert entries[1]["data"] == {}
    assert entries[1]["old"] == {}
    assert entries[1]["user"] == admin.id


def test_log_lists_entries_oldest_first(client: Client, admin: Account) -> None:
    user_id = created_id(create_user(client, admin, email=new_email(), name="v1"))
    for name in ("v2", "v3", "v4"):
        assert patch_user(client, admin, user_id, name=name).status_code == 200
    entries = log_of(client, admin, user_id)
    assert [entry["action"] for entry in entries] == ["add", "edit", "edit", "edit"]
    assert [entry["data"]["name"] for entry in entries] == ["v1", "v2", "v3", "v4"]
    stamps = [entry["timestamp"] for entry in entries]
    assert stamps == sorted(stamps)
    assert len({entry["id"] for entry in entries}) == 4


def test_log_pages_return_the_entries_in_order(client: Client, admin: Account) -> None:
    user_id = created_id(create_user(client, admin, email=new_email(), name="v1"))
    for name in ("v2", "v3"):
        patch_user(client, admin, user_id, name=name)
    whole = get(client, admin, f"/user/{user_id}/log").json_body["logs"]
    paged: list[Any] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = get(client, admin, f"/user/{user_id}/log", **params)
        assert response.status_code == 200, response.body
        assert len(response.json_body["logs"]) <= 1
        paged.extend(response.json_body["logs"])
        cursor = response.json_body["next"]
        if cursor is None:
            break
    assert paged == whole
    assert len(whole) == 3


def test_log_of_unknown_user_returns_404(client: Client, admin: Account) -> None:
    assert_error(get(client, admin, f"/user/{'0' * 32}/log"), 404, "UserNotFound")


def test_actions_list_the_callers_changes_oldest_first_without_data_and_user(
    client: Client, admin: Account
) -> None:
    first = created_id(create_user(client, admin, email=new_email()))
    patch_user(client, admin, first, name="Edited")
    second = created_id(create_user(client, admin, email=new_email()))
    client.http.delete(f"{API}/user/{first}", headers=admin.headers)
    response = get(client, admin, f"/user/{admin.id}/actions")
    assert response.status_code == 200, response.body
    assert set(response.json_body) == {"logs", "records", "next"}
    logs = response.json_body["logs"]
    assert [(entry["action"], entry["entry_id"]) for entry in logs] == [
        ("add", first),
        ("edit", first),
        ("add", second),
        ("delete", first),
    ]
    for entry in logs:
        assert set(entry) == ACTION_FIELDS
        assert entry["data_type"] == "user"
    stamps = [entry["timestamp"] for entry in logs]
    assert stamps == sorted(stamps)


def test_actions_ids_match_the_log_entries(client: Client, admin: Account) -> None:
    user_id = created_id(create_user(client, admin, email=new_email()))
    patch_user(client, admin, user_id, name="Edited")
    log_ids = [entry["id"] for entry in log_of(client, admin, user_id)]
    action_ids = [entry["id"] for entry in log_of(client, admin, admin.id, "actions")]
    assert action_ids == log_ids


def test_actions_of_user_who_changed_nothing_are_empty(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user()
    response = get(client, admin, f"/user/{target.id}/actions")
    assert response.status_code == 200, response.body
    assert response.json_body == {"logs": [], "records": {}, "next": None}


def test_self_edit_appears_in_own_actions(client: Client, make_user: MakeUser) -> None:
    caller = make_user()
    patch_me(client, caller, affiliation="Somewhere")
    logs = get(client, caller, f"/user/{caller.id}/actions").json_body["logs"]
    assert [(entry["action"], entry["entry_id"]) for entry in logs] == [("edit", caller.id)]


def test_actions_pages_return_the_entries_in_order(client: Client, admin: Account) -> None:
    for _ in range(3):
        created_id(create_user(client, admin, email=new_email()))
    whole = get(client, admin, f"/user/{admin.id}/actions").json_body["logs"]
    paged: list[Any] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = get(client, admin, f"/user/{admin.id}/actions", **params)
        assert response.status_code == 200, response.body
        paged.extend(response.json_body["logs"])
        cursor = response.json_body["next"]
        if cursor is None:
            break
    assert paged == whole
    assert len(whole) == 3


# --- email addresses: one rule, one normal form, one namespace ----------------------------


@pytest.mark.parametrize(
    "email",
    [
        "a@example.org\n",
        "a@example.org\r\n",
        " a@example.org",
        "a b@example.org",
        "a\u200b@example.org",
        "a\u00ad@example.org",
        "a@example.org\u200b",
        "hash@elixir-europe.org::elixir",
        "a::b@example.org",
        "a@@example.org",
        "a@example",
        "@example.org",
        "a@.example.org",
        "a@exa mple.org",
    ],
)
def test_create_user_with_an_address_no_mail_system_takes_returns_400(
    client: Client, admin: Account, email: str
) -> None:
    assert_error(create_user(client, admin, email=email), 400, "InvalidInput")


@pytest.mark.parametrize(
    "variant",
    [
        "ALICE.SMITH@EXAMPLE.ORG",
        "\uff41lice.smith@example.org",  # fullwidth a
        "alice.smith@\uff45xample.org",  # fullwidth e in the domain
        "Alice.Smith@Example.Org",
    ],
)
def test_create_user_with_a_lookalike_of_a_taken_address_returns_409(
    client: Client, admin: Account, make_user: MakeUser, variant: str
) -> None:
    make_user(email="alice.smith@example.org")
    assert_error(create_user(client, admin, email=variant), 409, "EmailTaken")


def test_list_users_by_email_finds_a_lookalike_spelling(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="grace@example.org")
    found = get(client, admin, "/user", email="\uff27RACE@example.org").json_body["users"]
    assert [user["id"] for user in found] == [target.id]


def test_address_shaped_like_an_unlinked_identity_cannot_squat_it(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    """An ELIXIR sub is an address: taking it as an email holds no identity guard."""
    holder = created_id(create_user(client, admin, email="0a1b2c@elixir-europe.org"))
    owner = make_user(email="owner@example.org")
    link_identity(owner.id, "0a1b2c@elixir-europe.org::elixir")
    assert record(client, admin, owner.id)["auth_ids"][-1] == "0a1b2c@elixir-europe.org::elixir"
    assert record(client, admin, holder)["auth_ids"] == ["0a1b2c@elixir-europe.org"]


def test_create_user_never_answers_that_an_identity_exists(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    owner = make_user(email="someone@example.org")
    link_identity(owner.id, "taken@example.org::elixir")
    assert create_user(client, admin, email="taken@example.org").status_code == 201


def test_patch_user_email_frees_the_old_address_for_another_user(
    client: Client, admin: Account, make_user: MakeUser
) -> None:
    target = make_user(email="first@example.org")
    patch_user(client, admin, target.id, email="second@example.org")
    other = created_id(create_user(client, admin, email="FIRST@example.org"))
    assert record(client, admin, other)["auth_ids"] == ["FIRST@example.org"]
    assert_error(create_user(client, admin, email="second@example.org"), 409, "EmailTaken")


def test_patch_user_email_by_a_manager_vouches_for_it(client: Client, admin: Account) -> None:
    unvouched = create_user_record(
        SYSTEM,
        NewUser({"email": "unproven@example.org"}, auth_ids=("s::other",), email_verified=False),
    )
    assert record(client, admin, unvouched.id)["email_verified"] is False
    patch_user(client, admin, unvouched.id, email="proven@example.org")
    shown = record(client, admin, unvouched.id)
    assert shown["email_verified"] is True
    assert shown["auth_ids"] == ["s::other"]
