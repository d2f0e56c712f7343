"""``GET /user?q=``: users found by the start of their email or of a word of their name
(docs/API.md section 4, ``chalicelib/records/search.py``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from bench import harness
from bench import search as bench_search
from chalicelib.ids import SYSTEM, new_id
from chalicelib.records import search
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage.models import SearchEntry, User
from ops import invariants
from ops.cli import main
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


def many_words(first: str) -> dict[str, str]:
    """A name and email too long for every prefix: the user's items overflow."""
    words = f"{first} Augusta Ada Byron King Noel Lovelace"
    return {"name": words, "email": f"{words.replace(' ', '.').lower()}@example.org"}


def test_a_query_reads_one_page_of_items_whatever_its_length_among_a_thousand(
    client: Client, admin: Account
) -> None:
    # A thousand matches are a hundred pages of ten; bench/search.py reads up to 20,000.
    queries = {  # query: the numbers of the users it finds, in name order
        "re": range(1000),
        "research": range(1000),
        "researcher009": range(900, 1000),  # last in name order, among all "research..."
        "researcher 009": range(900, 1000),
        "researcher00999@example.org": [999],
    }
    bench_search.seed((bench_search.person(n) for n in range(1000)), queries)
    for q, numbers in queries.items():
        with harness.counting() as counts:
            response = find(client, admin, q, limit=10)
        assert response.status_code == 200, response.body
        wanted = [bench_search.person(n)[0] for n in numbers]
        assert [user["name"] for user in response.json_body["users"]] == wanted[:10], q
        route = counts.part(False)
        searched = sum(call.items_read for call in route.calls if call.operation == "Query")
        assert searched <= 10 + 1, (q, searched)
        assert route.items_read - searched == len(wanted[:10])


def test_a_user_with_too_many_items_for_every_prefix_is_found_in_name_order(
    client: Client, admin: Account, make_user: Any
) -> None:
    for n in (0, 2, 4):
        make_user(name=f"Pagewalker {n}", email=f"pagewalker.{n}@example.org")
    for first in ("Pagewalker 1", "Pagewalker 3"):
        make_user(**many_words(first))
    overflowing = search.entries(User.get(make_user(**many_words("Other")).id))
    assert len(overflowing) <= search.MAX_ITEMS
    assert any(entry.prefix.startswith(search.OVERFLOW) for entry in overflowing)
    for q in ("pagewalker", "pagewalker.", "Pagewalker "):  # 10 characters, 11, and a name
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = find(client, admin, q, **params)
            assert response.status_code == 200, response.body
            seen += [user["name"].split(" Augusta")[0] for user in response.json_body["users"]]
            cursor = response.json_body["next"]
            if cursor is None:
                break
        assert seen == [f"Pagewalker {n}" for n in range(5)], q
    assert names(client, admin, "pagewalker 3 augusta ada byron k") == [
        "Pagewalker 3 Augusta Ada Byron King Noel Lovelace"
    ]
    assert names(client, admin, "pagewalker.3.augusta.ada.byron.king.noel.lovelace@") == [
        "Pagewalker 3 Augusta Ada Byron King Noel Lovelace"
    ]


def test_a_long_query_ignores_case_and_accents(
    client: Client, admin: Account, make_user: Any
) -> None:
    make_user(name="Émile-Auguste Zolà", email="Emile.Auguste.Zola@Example.ORG")
    make_user(name="Emile-Augustin Zola", email="emile.augustin@example.org")
    assert names(client, admin, "ÉMILE-AUGUSTE Z") == ["Émile-Auguste Zolà"]
    assert names(client, admin, "emile-auguste zola") == ["Émile-Auguste Zolà"]
    assert names(client, admin, "EMILE.AUGUSTÉ.ZOLA@EXAMPLE.ORG") == ["Émile-Auguste Zolà"]
    assert names(client, admin, "émile-august") == ["Émile-Auguste Zolà", "Emile-Augustin Zola"]


def test_a_rename_of_a_user_with_the_most_items_is_one_transaction(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = make_user(**many_words("Firstname Oldname"))
    assert len(search.entries(User.get(user.id))) == search.MAX_ITEMS
    body = {"user": {**many_words("Secondname Newname"), "permissions": ["USER_MANAGEMENT"]}}
    with harness.counting() as counts:
        response = client.http.patch(
            f"{API}/user/{user.id}", headers=admin.json_headers(), body=json.dumps(body)
        )
    assert response.status_code == 200, response.body
    assert counts.operations()["TransactWriteItems"] == 1
    assert names(client, admin, "secondname newname augusta") == [body["user"]["name"]]
    assert names(client, admin, "firstname") == []
    assert names(client, admin, "firstname.oldname.augusta") == []
    assert [v.kind for v in invariants.check() if v.kind.startswith("search")] == []


def legacy_items(user: User) -> None:
    """Replace the user's search items by those of 2 to 8 characters, as they once were."""
    for entry in SearchEntry.scan(SearchEntry.user_id == user.id):
        entry.delete()
    user_texts = search.texts(user.email, user.name)
    for prefix in {t[:n] for t in user_texts for n in range(2, 9) if len(t) >= n}:
        SearchEntry(prefix, search.sort_key(user), user_id=user.id, texts=user_texts).save()


def test_rebuild_search_writes_missing_and_stale_items_and_deletes_orphans(
    client: Client, admin: Account, make_user: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = User.get(make_user(name="Stale Items", email="stale.items.user@example.org").id)
    legacy_items(stale)
    bare = User.get(make_user(name="Imported Before", email="imported@example.org").id)
    for entry in search.entries(bare):
        entry.delete()
    gone = User(id=new_id(), email="gone@example.org", name="Gone User")
    for entry in search.entries(gone):
        entry.save()
    before = {(v.kind, json.dumps(dict(v.key))) for v in invariants.check()}
    assert before == {
        (invariants.SEARCH_STALE, json.dumps({"id": stale.id})),
        (invariants.SEARCH_STALE, json.dumps({"id": bare.id})),
        (invariants.SEARCH_ORPHANED, json.dumps({"user_id": gone.id})),
    }
    assert names(client, admin, "stale.items.u") == []
    capsys.readouterr()

    assert main(["rebuild-search"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rewritten": 2, "unchanged": 1, "orphaned": 1}
    assert invariants.check() == []
    assert names(client, admin, "stale.items.u") == ["Stale Items"]
    assert names(client, admin, "imported") == ["Imported Before"]
    assert names(client, admin, "gone") == []

    assert main(["rebuild-search"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rewritten": 0, "unchanged": 3, "orphaned": 0}


def test_rebuild_search_keeps_a_change_made_while_it_runs(
    client: Client, admin: Account, make_user: Any
) -> None:
    user = User.get(make_user(name="Before Rename", email="before@example.org").id)
    legacy_items(user)
    renamed = client.http.patch(
        f"{API}/user/{user.id}",
        headers=admin.json_headers(),
        body='{"user": {"name": "After Rename"}}',
    )
    assert renamed.status_code == 200, renamed.body
    # What a rebuild that scanned before the rename holds: the old user and its items.
    stored = list(SearchEntry.scan(SearchEntry.user_id == user.id))
    assert search._rebuild_user(user.id, user, stored) == "rewritten"
    assert [v for v in invariants.check() if v.kind.startswith("search")] == []
    assert names(client, admin, "after rename") == ["After Rename"]
    assert names(client, admin, "before rename") == []
