"""API key scopes (docs/API.md section 11): every route under each scope, read-only keys on
every write route, owners losing a permission, sessions made with scoped keys, and
scoped callers making, rotating and listing keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import key_format
from chalicelib.permissions import PERMISSIONS, expand
from tests.conftest import ALL_PERMISSIONS, assert_error

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


def make_key(client: Client, owner: Any, **body: Any) -> str:
    """A key of ``owner`` made by the owner's own (unscoped) key."""
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys", headers=owner.json_headers(), body=json.dumps(body)
    )
    assert response.status_code == 201, response.body
    return str(response.json_body["key"])


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **JSON}


# Each route that needs a permission, called on another user's record (so that
# "self" never applies), with the permission it needs; and the routes anyone
# signed in may call. ``target`` is a fresh user with a key, ``spare`` one of
# its key ids.
Call = Callable[[Client, dict[str, str], Any, str], Any]


def _body(user: dict[str, Any]) -> str:
    return json.dumps({"user": user})


ROUTES: dict[str, tuple[str | None, int, Call]] = {
    "GET /user": ("USER_SEARCH", 200, lambda c, h, t, k: c.http.get(f"{API}/user", headers=h)),
    "POST /user": (
        "USER_ADD",
        201,
        lambda c, h, t, k: c.http.post(
            f"{API}/user", headers=h, body=_body({"email": f"new-{t.id}@example.org"})
        ),
    ),
    "GET /user/{id}": (
        "USER_MANAGEMENT",
        200,
        lambda c, h, t, k: c.http.get(f"{API}/user/{t.id}", headers=h),
    ),
    "PATCH /user/{id}": (
        "USER_MANAGEMENT",
        200,
        lambda c, h, t, k: c.http.patch(f"{API}/user/{t.id}", headers=h, body=_body({"name": "N"})),
    ),
    "DELETE /user/{id}": (
        "USER_MANAGEMENT",
        204,
        lambda c, h, t, k: c.http.delete(f"{API}/user/{t.id}", headers=h),
    ),
    "POST /user/{id}/apikey": (
        "USER_MANAGEMENT",
        201,
        lambda c, h, t, k: c.http.post(f"{API}/user/{t.id}/apikey", headers=h),
    ),
    "GET /user/{id}/apikeys": (
        "USER_MANAGEMENT",
        200,
        lambda c, h, t, k: c.http.get(f"{API}/user/{t.id}/apikeys", headers=h),
    ),
    "POST /user/{id}/apikeys": (
        "USER_MANAGEMENT",
        201,
        lambda c, h, t, k: c.http.post(f"{API}/user/{t.id}/apikeys", headers=h, body="{}"),
    ),
    "DELETE /user/{id}/apikeys/{key_id}": (
        "USER_MANAGEMENT",
        204,
        lambda c, h, t, k: c.http.delete(f"{API}/user/{t.id}/apikeys/{k}", headers=h),
    ),
    "POST /user/{id}/apikeys/{key_id}/rotate": (
        "USER_MANAGEMENT",
        201,
        lambda c, h, t, k: c.http.post(f"{API}/user/{t.id}/apikeys/{k}/rotate", headers=h),
    ),
    "GET /user/{id}/log": (
        "USER_MANAGEMENT",
        200,
        lambda c, h, t, k: c.http.get(f"{API}/user/{t.id}/log", headers=h),
    ),
    "GET /user/{id}/actions": (
        "USER_MANAGEMENT",
        200,
        lambda c, h, t, k: c.http.get(f"{API}/user/{t.id}/actions", headers=h),
    ),
    "GET /user/me": (None, 200, lambda c, h, t, k: c.http.get(f"{API}/user/me", headers=h)),
    "PATCH /user/me": (
        None,
        200,
        lambda c, h, t, k: c.http.patch(f"{API}/user/me", headers=h, body=_body({"name": "Me"})),
    ),
}
# A key's list: none given, an empty one, each permission alone.
SCOPES: list[list[str] | None] = [None, [], *[[p] for p in PERMISSIONS]]


def scope_id(scope: list[str] | None) -> str:
    return "all" if scope is None else "+".join(scope) or "none"


@pytest.mark.parametrize("scope", SCOPES, ids=scope_id)
@pytest.mark.parametrize("route", ROUTES)
def test_key_may_use_exactly_its_scope_of_its_owners_permissions(
    client: Client, make_user: Any, scope: list[str] | None, route: str
) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    target = make_user()
    key = make_key(client, owner) if scope is None else make_key(client, owner, permissions=scope)
    spare = key_format.parse(make_key(client, target), "uk")
    assert spare is not None
    needs, success, call = ROUTES[route]
    allowed = needs is None or needs in (expand(ALL_PERMISSIONS if scope is None else scope))
    response = call(client, auth(key), target, spare.key_id)
    if allowed:
        assert response.status_code == success, response.body
    else:
        assert_error(response, 403, "PermissionDenied")


def write_routes() -> list[tuple[str, str]]:
    """Every route behind the authorizer that is not a GET: derived from the app."""
    return sorted(
        (method, path)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.authorizer is not None and method not in ("GET", "HEAD", "OPTIONS")
    )


@pytest.mark.parametrize(("method", "path"), write_routes())
def test_read_only_key_gets_key_read_only_on_every_write_route(
    client: Client, make_user: Any, method: str, path: str
) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    target = make_user()
    key = make_key(client, owner, read_only=True)
    concrete = path.replace("{user_id}", target.id).replace("{key_id}", "0" * 16)
    for name in ("{identity}", "{provider}"):
        concrete = concrete.replace(name, "x")
    response = client.http.request(method, concrete, headers=auth(key), body=b"{}")
    assert_error(response, 403, "KeyReadOnly")
    assert client.http.get(f"{API}/user/me", headers=target.headers).status_code == 200


def test_read_only_key_may_read(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    key = make_key(client, owner, read_only=True)
    for path in ("/user", "/user/me", f"/user/{owner.id}", f"/user/{owner.id}/apikeys"):
        response = client.http.get(f"{API}{path}", headers=auth(key))
        assert response.status_code == 200, (path, response.body)


def test_key_loses_a_permission_its_owner_loses(client: Client, make_user: Any, admin: Any) -> None:
    owner = make_user(permissions=["USER_SEARCH"])
    scoped = make_key(client, owner, permissions=["USER_SEARCH"])
    unscoped = make_key(client, owner)
    for key in (scoped, unscoped):
        assert client.http.get(f"{API}/user", headers=auth(key)).status_code == 200
    patched = client.http.patch(
        f"{API}/user/{owner.id}", headers=admin.json_headers(), body=_body({"permissions": []})
    )
    assert patched.status_code == 200, patched.body
    for key in (scoped, unscoped):
        assert_error(client.http.get(f"{API}/user", headers=auth(key)), 403, "PermissionDenied")


def test_key_never_gains_what_its_owner_lacks(client: Client, make_user: Any, admin: Any) -> None:
    owner = make_user(permissions=["USER_SEARCH"])
    made = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=admin.json_headers(),
        body=json.dumps({"permissions": ["USER_MANAGEMENT", "USER_SEARCH"]}),
    )
    assert made.status_code == 201, made.body
    key = made.json_body["key"]
    me = client.http.get(f"{API}/user/{owner.id}", headers=auth(key))
    assert_error(me, 403, "PermissionDenied")
    assert client.http.get(f"{API}/user", headers=auth(key)).status_code == 200


def test_key_regains_a_listed_permission_its_owner_regains(
    client: Client, make_user: Any, admin: Any
) -> None:
    owner = make_user(permissions=[])
    made = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=admin.json_headers(),
        body=json.dumps({"permissions": ["USER_SEARCH"]}),
    )
    key = made.json_body["key"]
    assert_error(client.http.get(f"{API}/user", headers=auth(key)), 403, "PermissionDenied")
    client.http.patch(
        f"{API}/user/{owner.id}",
        headers=admin.json_headers(),
        body=_body({"permissions": ["DATA_EDIT"]}),
    )
    assert client.http.get(f"{API}/user", headers=auth(key)).status_code == 200


# -- sessions made with scoped keys ------------------------------------------------


def session_token(client: Client, key: str) -> str:
    login = client.http.post(f"{API}/login/apikey", headers=JSON, body=json.dumps({"api-key": key}))
    assert login.status_code == 200, login.body
    raw = login.headers.get("Set-Cookie") or login.headers.get("set-cookie")
    cookies = [raw] if isinstance(raw, str) else raw
    session = next(c.split(";")[0] for c in cookies if c.startswith("session="))
    token = client.http.post(
        f"{API}/login/token", headers={"Cookie": f"{session}; _csrf_token=t", "X-CSRF-Token": "t"}
    )
    assert token.status_code == 200, token.body
    return str(token.json_body["token"])


def test_session_of_a_scoped_key_carries_its_scope(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    token = session_token(client, make_key(client, owner, permissions=["USER_SEARCH"]))
    assert client.http.get(f"{API}/user", headers=auth(token)).status_code == 200
    denied = client.http.get(f"{API}/user/{owner.id}", headers=auth(token))
    assert_error(denied, 403, "PermissionDenied")
    me = client.http.get(f"{API}/user/me", headers=auth(token))
    assert me.status_code == 200


def test_session_of_a_read_only_key_may_read_but_not_write(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    token = session_token(client, make_key(client, owner, read_only=True))
    assert client.http.get(f"{API}/user/{owner.id}", headers=auth(token)).status_code == 200
    write = client.http.patch(f"{API}/user/me", headers=auth(token), body=_body({"name": "X"}))
    assert_error(write, 403, "KeyReadOnly")


def test_session_of_a_scoped_key_follows_its_owner(
    client: Client, make_user: Any, admin: Any
) -> None:
    owner = make_user(permissions=["USER_SEARCH"])
    token = session_token(client, make_key(client, owner, permissions=["USER_SEARCH"]))
    assert client.http.get(f"{API}/user", headers=auth(token)).status_code == 200
    client.http.patch(
        f"{API}/user/{owner.id}", headers=admin.json_headers(), body=_body({"permissions": []})
    )
    assert_error(client.http.get(f"{API}/user", headers=auth(token)), 403, "PermissionDenied")


# -- scoped callers and keys ---------------------------------------------------------


def test_scoped_caller_may_not_make_a_wider_key(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    key = make_key(client, owner, permissions=["USER_SEARCH"])
    wider = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=auth(key),
        body=json.dumps({"permissions": ["USER_ADD"]}),
    )
    assert_error(wider, 403, "PermissionDenied")


def test_scoped_caller_makes_keys_within_its_scope(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    key = make_key(client, owner, permissions=["DATA_EDIT"])
    narrower = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=auth(key),
        body=json.dumps({"permissions": ["USER_SEARCH"]}),
    )
    assert narrower.status_code == 201, narrower.body


def test_key_made_without_a_list_by_a_scoped_caller_inherits_its_scope(
    client: Client, make_user: Any
) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    key = make_key(client, owner, permissions=["DATA_EDIT"])
    made = client.http.post(f"{API}/user/{owner.id}/apikeys", headers=auth(key), body="{}")
    assert made.status_code == 201, made.body
    listed = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=owner.headers)
    (info,) = [k for k in listed.json_body["apikeys"] if k["id"] == made.json_body["id"]]
    assert info["permissions"] == sorted(expand(["DATA_EDIT"]))
    new = made.json_body["key"]
    assert client.http.get(f"{API}/user", headers=auth(new)).status_code == 200
    assert_error(
        client.http.get(f"{API}/user/{owner.id}", headers=auth(new)), 403, "PermissionDenied"
    )


def test_replacement_key_made_by_a_scoped_caller_inherits_its_scope(
    client: Client, make_user: Any
) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    key = make_key(client, owner, permissions=["USER_SEARCH"])
    made = client.http.post(f"{API}/user/{owner.id}/apikey", headers=auth(key))
    assert made.status_code == 201, made.body
    new = made.json_body["key"]
    assert client.http.get(f"{API}/user", headers=auth(new)).status_code == 200
    assert_error(
        client.http.post(f"{API}/user", headers=auth(new), body=_body({"email": "a@b.org"})),
        403,
        "PermissionDenied",
    )


def test_unscoped_caller_may_not_ask_for_more_than_it_has(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=["USER_SEARCH"])
    asked = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=owner.json_headers(),
        body=json.dumps({"permissions": ["DATA_EDIT"]}),
    )
    assert_error(asked, 403, "PermissionDenied")


def test_scoped_caller_lists_only_keys_within_its_scope(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    narrow = make_key(client, owner, permissions=["USER_SEARCH"])
    make_key(client, owner, permissions=["DATA_EDIT"])
    make_key(client, owner, permissions=["USER_SEARCH"], read_only=True)
    listed = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=auth(narrow))
    assert listed.status_code == 200, listed.body
    scopes = sorted((k["permissions"], k["read_only"]) for k in listed.json_body["apikeys"])
    assert scopes == [(["USER_SEARCH"], False), (["USER_SEARCH"], True)]
    everything = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=owner.headers)
    assert len(everything.json_body["apikeys"]) == 4


def test_scoped_caller_may_not_rotate_a_wider_key(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    narrow = make_key(client, owner, permissions=["USER_SEARCH"])
    make_key(client, owner, permissions=["DATA_EDIT"], name="wide")
    listed = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=owner.headers)
    wide_id = next(k["id"] for k in listed.json_body["apikeys"] if k["name"] == "wide")
    rotated = client.http.post(
        f"{API}/user/{owner.id}/apikeys/{wide_id}/rotate", headers=auth(narrow), body="{}"
    )
    assert_error(rotated, 403, "PermissionDenied")


def test_listing_shows_each_keys_scope(client: Client, make_user: Any) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    make_key(client, owner, permissions=["OWNERS_READ"], read_only=True, name="scoped")
    listed = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=owner.headers)
    by_name = {k["name"]: k for k in listed.json_body["apikeys"]}
    assert (by_name["scoped"]["permissions"], by_name["scoped"]["read_only"]) == (
        ["OWNERS_READ"],
        True,
    )
    assert (by_name[""]["permissions"], by_name[""]["read_only"]) == (None, False)


@pytest.mark.parametrize(
    "body",
    [{"permissions": ["NOPE"]}, {"permissions": "USER_SEARCH"}, {"read_only": "yes"}],
    ids=["unknown", "not-a-list", "read-only-not-bool"],
)
def test_bad_scope_returns_400(client: Client, make_user: Any, body: dict[str, Any]) -> None:
    owner = make_user(permissions=ALL_PERMISSIONS)
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys", headers=owner.json_headers(), body=json.dumps(body)
    )
    assert_error(response, 400, "InvalidInput")
