"""``GET /user?q=``: users found by the start of their email or of a word of their name
(API.md section 4, ``chalicelib/search.py``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from chalicelib import search
from chalicelib.ids import SYSTEM
from chalicelib.users import NewUser, create_user
from tests.conftest import Account, assert_error

API = "/api/v1"


def find(client: Client, caller: Account, q: str, **params: Any) -> Any:
    return client.http.get(f"{API}/user?{urlencode({'q': q, **params})}", headers=caller.headers)


def names(client: Client, caller: Account, q: str) -> list[str]:
    response = find(client, caller, q)
    assert response.status_code == 200, response.body
    return [user["name"] for user in response.json_body["users"]]


def test_a_word_of_the_name_is_found_by_its_start_in_any_case_and_accent(
    client: Client, admin: Account, make_user: Any
) -> None:
    make_user(name="Ada Lovelace", email="countess@example.org")
    make_user(name="Émile Zola", email="ez@example.org")
    assert names(client, admin, "LOVE") == ["Ada Lovelace"]
    assert names(client, admin, "ádá") == ["Ada Lovelace"]
    assert names(client, admin, "emil") == ["Émile Zola"]
    assert names(client, admin, "zolá") == ["Émile Zola"]


def test_the_middle_of_a_word_finds_nobody(client: Client, admin: Account, make_user: Any) -> None:
    make_user(name="Ada Lovelace", email="countess@example.org")
    assert names(client, admin, "velace") == []
    assert names(client, admin, "example") == []


def test_the_email_is_found_by_its_start(client: Client, admin: Account, make_user: Any) -> None:
    make_user(name="Ada Lovelace", email="Researcher01@Example.org")
    make_user(name="Bob", email="researcher02@example.org")
    assert names(client, admin, "researcher01") == ["Ada Lovelace"]
    assert names(client, admin, "RESEARCHER0") == ["Ada Lovelace", "Bob"]
    assert names(client, admin, "researcher01@example.org") == ["Ada Lovelace"]


def test_a_query_of_several_words_matches_the_name_from_a_word_on(
    client: Client, admin: Account, make_user: Any
) -> None:
    make_user(name="Augusta Ada King-Noel")
    make_user(name="Augusta Adams")
    assert names(client, admin, "augusta ada k") == ["Augusta Ada King-Noel"]
    assert names(client, admin, "ada king") == ["Augusta Ada King-Noel"]
    assert names(client, admin, "noel") == ["Augusta Ada King-Noel"]
    assert names(client, admin, "augusta  ada") == ["Augusta Ada King-Noel", "Augusta Adams"]
    assert names(client, admin, "augusta adz") == []


def test_users_come_in_name_order(client: Client, admin: Account, make_user: Any) -> None:
    for name in ("Zed Otis", "otto Ant", "Ota Byron", "Ota", "Ótto Szabó"):
        make_user(name=name)
    assert names(client, admin, "ot") == ["Ota", "Ota Byron", "otto Ant", "Ótto Szabó", "Zed Otis"]


def test_users_without_a_name_come_after_the_named(
    client: Client, admin: Account, make_user: Any
) -> None:
    create_user(SYSTEM, NewUser({"email": "ab@example.org"}))
    make_user(name="Abel", email="x@example.org")
    assert [u["email"] for u in find(client, admin, "ab").json_body["users"]] == [
        "x@example.org",
        "ab@example.org",
    ]


def test_pages_walk_every_match_once(client: Client, admin: Account, make_user: Any) -> None:
    wanted = [f"Pagewalker {n:02}" for n in range(7)]
    for name in reversed(wanted):
        make_user(name=name)
    for q in ("pa", "pagewalker"):  # one prefix short enough to be a key, one not
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            response = find(client, admin, q, **params)
            assert response.status_code == 200, response.body
            seen += [user["name"] for user in response.json_body["users"]]
            cursor = response.json_body["next"]
            if cursor is None:
                break
        assert seen == wanted


def test_a_renamed_user_is_found_by_the_new_name_only(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = make_user(name="Old Name", email="renamed@example.org")
    response = client.http.patch(
        f"{API}/user/{user.id}",
        headers=admin.json_headers(),
        body='{"user": {"name": "Fresh Name", "email": "moved@example.org"}}',
    )
    assert response.status_code == 200, response.body
    assert names(client, admin, "old") == []
    assert names(client, admin, "renamed") == []
    assert names(client, admin, "fresh") == ["Fresh Name"]
    assert names(client, admin, "moved@") == ["Fresh Name"]


def test_a_deleted_user_is_not_found(client: Client, admin: Account, make_user: Any) -> None:
    user = make_user(name="Gone Soon")
    assert client.http.delete(f"{API}/user/{user.id}", headers=admin.headers).status_code == 204
    assert names(client, admin, "gone") == []


def test_without_user_management_only_public_fields_show(client: Client, make_user: Any) -> None:
    searcher = make_user(permissions=["USER_SEARCH"], name="Searcher")
    make_user(name="Ada Lovelace")
    [found] = find(client, searcher, "ada").json_body["users"]
    assert set(found) == {"id", "name", "email", "affiliation", "contact", "orcid", "url"}


def test_search_needs_user_search(client: Client, make_user: Any) -> None:
    nobody = make_user(name="Nobody")
    assert_error(find(client, nobody, "no"), 403, "PermissionDenied")


def test_a_query_of_the_wrong_length_is_refused(client: Client, admin: Account) -> None:
    assert_error(find(client, admin, "a"), 400, "InvalidInput")
    assert find(client, admin, "  a ").json_body == {"users": [], "next": None}
    assert_error(find(client, admin, "a" * 101), 400, "InvalidInput")
    assert find(client, admin, "a" * 100).status_code == 200


def test_q_with_email_is_refused(client: Client, admin: Account) -> None:
    assert_error(find(client, admin, "ad", email=admin.email), 400, "InvalidInput")


def test_a_cursor_of_another_query_is_refused(
    client: Client, admin: Account, make_user: Any
) -> None:
    for n in range(3):
        make_user(name=f"Cursor {n}")
    cursor = find(client, admin, "cursor", limit=1).json_body["next"]
    assert cursor is not None
    assert_error(find(client, admin, "other", cursor=cursor), 400, "InvalidCursor")


def test_a_long_name_stays_within_one_transaction() -> None:
    words = " ".join(f"word{n:03}" for n in range(100))
    prefixes = search.prefixes(search.texts("someone@example.org", words))
    assert len(prefixes) == search.MAX_ITEMS
    assert "so" in prefixes and "wo" in prefixes


def test_a_user_with_a_very_long_name_is_created_and_found(
    client: Client, admin: Account, make_user: Any
) -> None:
    make_user(name=" ".join(f"Wd{n:02}" for n in range(60)))
    assert len(names(client, admin, "wd0")) == 1
    assert len(names(client, admin, "wd5")) == 1  # a later word: by shorter prefixes only
