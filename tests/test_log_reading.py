"""Reading change logs: ``old`` values, ``actors`` and ``records`` with names, and
``?order=desc`` (docs/API.md section 8)."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.http import container
from chalicelib.identity.identities import link_identity
from chalicelib.ids import SYSTEM
from chalicelib.records.apikeys import make_api_key
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage.models import LogEntry
from tests.conftest import Account, assert_error

API = "/api/v1"


def get(client: Client, caller: Account, path: str) -> Any:
    response = client.http.get(f"{API}{path}", headers=caller.headers)
    assert response.status_code == 200, response.body
    return response.json_body


def patch(client: Client, caller: Account, user_id: str, **fields: Any) -> None:
    response = client.http.patch(
        f"{API}/user/{user_id}",
        headers=caller.json_headers(),
        body=json.dumps({"user": fields}),
    )
    assert response.status_code == 200, response.body


def test_an_edit_keeps_the_values_it_replaced(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = make_user(name="Before", contact="line one\nline two")
    patch(client, admin, user.id, name="After", contact="")
    edit = get(client, admin, f"/user/{user.id}/log")["logs"][-1]
    assert edit["data"] == {"name": "After", "contact": ""}
    assert edit["old"] == {"name": "Before", "contact": "line one\nline two"}


def test_a_linked_identity_keeps_the_auth_ids_before(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = make_user()
    link_identity(user.id, "sub-1::local")
    entry = get(client, admin, f"/user/{user.id}/log")["logs"][-1]
    assert entry["old"] == {"auth_ids": [user.email]}
    assert entry["data"] == {"auth_ids": [user.email, "sub-1::local"]}


def test_an_entry_written_before_old_was_kept_shows_none(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = make_user()
    LogEntry.get(user.id, 1).update(actions=[LogEntry.old.remove()])
    first, second = get(client, admin, f"/user/{user.id}/log")["logs"]
    assert "old" not in first
    assert second["old"] == {}  # an API key made: no field of the record changed


def test_log_pages_name_their_actors_but_not_system(
    client: Client, admin: Account, make_user: Any
) -> None:
    editor = make_user(permissions=["USER_MANAGEMENT"], name="Grace Hopper")
    user = make_user()  # added, and given a key, by system
    patch(client, admin, user.id, affiliation="Somewhere")
    patch(client, editor, user.id, affiliation="Elsewhere")
    assert client.http.delete(f"{API}/user/{editor.id}", headers=admin.headers).status_code == 204
    page = get(client, admin, f"/user/{user.id}/log")
    assert [entry["user"] for entry in page["logs"]] == [SYSTEM, SYSTEM, admin.id, editor.id]
    assert page["actors"] == {
        admin.id: {"name": "Admin", "deleted": False},
        editor.id: {"name": None, "deleted": True},
    }


def test_a_nameless_actor_has_a_null_name(client: Client) -> None:
    made = create_user(SYSTEM, NewUser({"email": "nameless@example.org"}))
    nameless = Account(
        made.id, make_api_key(SYSTEM, made.id, container.settings())["key"], made.email
    )
    response = client.http.patch(
        f"{API}/user/me", headers=nameless.json_headers(), body='{"user": {"affiliation": "A"}}'
    )
    assert response.status_code == 200, response.body
    page = get(client, nameless, f"/user/{nameless.id}/log")
    assert page["actors"] == {nameless.id: {"name": None, "deleted": False}}


def test_action_pages_name_the_records_they_changed(
    client: Client, admin: Account, make_user: Any
) -> None:
    kept = make_user(name="Kept")
    gone = make_user(name="Gone")
    patch(client, admin, kept.id, affiliation="A")
    assert client.http.delete(f"{API}/user/{gone.id}", headers=admin.headers).status_code == 204
    page = get(client, admin, f"/user/{admin.id}/actions")
    assert page["records"] == {
        kept.id: {"name": "Kept", "deleted": False},
        gone.id: {"name": None, "deleted": True},
    }
    assert [entry["old"] for entry in page["logs"]] == [{"affiliation": ""}, {}]


def test_order_desc_pages_newest_first(client: Client, admin: Account, make_user: Any) -> None:
    user = make_user()
    for n in range(4):
        patch(client, admin, user.id, affiliation=f"v{n}")
    seen: list[int] = []
    path = f"/user/{user.id}/log?order=desc&limit=2"
    for _ in range(5):
        page = get(client, admin, path)
        seen += [entry["data"].get("affiliation", -1) for entry in page["logs"]]
        if page["next"] is None:
            break
        path = f"/user/{user.id}/log?order=desc&limit=2&cursor={page['next']}"
    assert seen == ["v3", "v2", "v1", "v0", -1, ""]  # the last two: key made, add


def test_order_desc_lists_actions_newest_first(
    client: Client, admin: Account, make_user: Any
) -> None:
    first, second = make_user(), make_user()
    patch(client, admin, first.id, affiliation="1")
    patch(client, admin, second.id, affiliation="2")
    asc = get(client, admin, f"/user/{admin.id}/actions")["logs"]
    desc = get(client, admin, f"/user/{admin.id}/actions?order=desc")["logs"]
    assert [e["entry_id"] for e in asc] == [first.id, second.id]
    assert [e["entry_id"] for e in desc] == [second.id, first.id]


def test_an_unknown_order_is_refused(client: Client, admin: Account) -> None:
    response = client.http.get(f"{API}/user/{admin.id}/log?order=newest", headers=admin.headers)
    assert_error(response, 400, "InvalidInput")


def test_actions_of_an_id_no_user_can_have_is_404(client: Client, admin: Account) -> None:
    response = client.http.get(f"{API}/user/%C2%AC/actions", headers=admin.headers)
    assert response.status_code == 404
    assert response.json_body["Code"] == "UserNotFound"
