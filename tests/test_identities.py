"""Identities linked while signed in, unlinked, and carried over an issuer change
(docs/API.md sections 4, 7 and 12), against real local OpenID Providers.

One provider serves ``local`` and ``partner``; a second one, at another issuer,
plays the new provider ``lslogin`` that replaced ``elixir`` (the first issuer
again), naming each account's old ``sub`` in its ``elixir_sub`` claim.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from app import app
from chalicelib.identity import sessions
from devtools.local_stack import demo_provider_settings
from devtools.oidc_provider import (
    ALICE,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    running_provider,
)
from ops import cli
from tests.conftest import ROOT, Account, assert_error
from tests.faults import serialized_storage
from tests.oidc_helpers import submit_login_form, submit_subject
from tests.test_login_oidc import API, Browser, log_of, me
from tests.threads import ThreadSafeClient

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

ELIXIR_SUB = "0123abcd@elixir-europe.org"


def account(username: str, sub: str, email: str, **claims: Any) -> dict[str, Any]:
    return {
        "username": username,
        "password": f"{username}-password",
        "sub": sub,
        "email": email,
        "email_verified": True,
        "name": username.title(),
        **claims,
    }


OLD_ACCOUNTS = [
    account("ada", ELIXIR_SUB, "ada@example.org"),
    account("sam", "sam-sub", "sam@example.org"),
    account("kim", "kim-sub", "kim@example.org"),
]
NEW_ACCOUNTS = [
    # A new address: only the old-identity claim can find Ada's user.
    account("ada", "ada-ls", "ada@lifescience.example", elixir_sub=ELIXIR_SUB),
    account("nobody", "nobody-ls", "nobody@example.org", elixir_sub="never-seen@elixir"),
    account("plain", "plain-ls", "plain@example.org"),
]


@pytest.fixture(scope="module")
def issuers() -> Iterator[tuple[str, str]]:
    with (
        running_provider({"accounts": OLD_ACCOUNTS}) as old,
        running_provider({"accounts": NEW_ACCOUNTS}) as new,
    ):
        yield old, new


def entry(issuer: str, **more: Any) -> dict[str, Any]:
    return {
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        **more,
    }


@pytest.fixture
def browsers(client: Client, issuers: tuple[str, str], configure: Any) -> Callable[[], Browser]:
    old, new = issuers
    providers = {
        "local": entry(old),
        "partner": entry(old),
        "elixir": entry(old),
        "lslogin": entry(new, previous={"provider": "elixir", "claim": "elixir_sub"}),
    }
    configure(OIDC_PROVIDERS=json.dumps(providers), ALLOWED_ORIGINS=None)
    return lambda: Browser(client, old)


def signed_in(browsers: Callable[[], Browser], user: Account) -> Browser:
    """A browser holding a session of ``user``."""
    browser = browsers()
    browser.cookies["session"] = sessions.start_session(user.id).cookie
    return browser


def start_link(browser: Browser, provider: str, query: str = "link=1&origin=%2Fprofile") -> Any:
    return browser.get(f"{API}/login/oidc/{provider}?{query}")


def link(browser: Browser, provider: str, username: str) -> str:
    """Link the account ``username`` at ``provider``; where the browser lands."""
    start = start_link(browser, provider)
    assert start.status_code == 302, start.body
    callback = submit_login_form(start.headers["Location"], username, f"{username}-password")
    done = browser.callback(callback)
    assert done.status_code == 302, done.body
    return str(done.headers["Location"])


def record(client: Client, admin: Account, user_id: str) -> dict[str, Any]:
    response = client.http.get(f"{API}/user/{user_id}", headers=admin.headers)
    assert response.status_code == 200, response.body
    return dict(response.json_body["user"])


def unlink(client: Client, caller: Account, user_id: str, identity: str) -> Any:
    path = f"{API}/user/{user_id}/identities/{quote(identity, safe='')}"
    return client.http.delete(path, headers=caller.headers)


# -- linking while signed in ----------------------------------------------------


def test_signed_in_browser_links_another_providers_identity_to_its_user(
    client: Client, browsers: Any, make_user: Any, admin: Account
) -> None:
    user = make_user()
    browser = signed_in(browsers, user)
    session = browser.cookies["session"]
    assert link(browser, "partner", "sam") == "/profile"
    assert browser.cookies["session"] == session  # the browser's own session, kept
    assert record(client, admin, user.id)["auth_ids"] == [user.email, "sam-sub::partner"]
    entry = log_of(client, admin, user.id)[-1]
    assert (entry["action"], entry["user"]) == ("edit", user.id)
    assert entry["data"] == {"auth_ids": [user.email, "sam-sub::partner"]}


def test_a_linked_identity_signs_in_as_the_user_it_was_linked_to(
    client: Client, browsers: Any, make_user: Any
) -> None:
    user = make_user()
    link(signed_in(browsers, user), "partner", "sam")
    browser = browsers()
    assert browser.login("sam", "partner") == "/"
    assert me(client, browser.cookies["session"])["id"] == user.id


def test_linking_an_identity_another_user_holds_lands_with_identity_taken(
    client: Client, browsers: Any, make_user: Any, admin: Account
) -> None:
    holder = browsers()
    holder.login("kim", "partner")
    holder_id = me(client, holder.cookies["session"])["id"]
    user = make_user()
    browser = signed_in(browsers, user)
    before = log_of(client, admin, user.id)
    assert link(browser, "partner", "kim") == "/profile?login_error=identity_taken"
    assert record(client, admin, user.id)["auth_ids"] == [user.email]
    assert log_of(client, admin, user.id) == before
    assert record(client, admin, holder_id)["auth_ids"] == ["kim-sub::partner"]


def test_linking_an_identity_the_user_holds_already_changes_nothing(
    client: Client, browsers: Any, admin: Account
) -> None:
    browser = browsers()
    browser.login("sam", "local")
    user_id = me(client, browser.cookies["session"])["id"]
    before = log_of(client, admin, user_id)
    assert link(browser, "local", "sam") == "/profile"
    assert log_of(client, admin, user_id) == before


def test_link_without_a_session_lands_with_not_signed_in(browsers: Any) -> None:
    browser = browsers()
    start = start_link(browser, "partner")
    assert start.status_code == 302
    assert start.headers["Location"] == "/profile?login_error=not_signed_in"


def test_link_whose_session_ended_before_the_callback_links_nothing(
    client: Client, browsers: Any, make_user: Any, admin: Account
) -> None:
    user = make_user()
    browser = signed_in(browsers, user)
    start = start_link(browser, "partner")
    callback = submit_login_form(start.headers["Location"], "sam", "sam-password")
    sessions.end_session(browser.cookies["session"])
    done = browser.callback(callback)
    assert done.headers["Location"] == "/profile?login_error=not_signed_in"
    assert record(client, admin, user.id)["auth_ids"] == [user.email]


def test_link_with_another_value_than_1_is_refused_with_400(browsers: Any, make_user: Any) -> None:
    browser = signed_in(browsers, make_user())
    assert_error(start_link(browser, "partner", "link=yes"), 400, "InvalidInput")


def test_two_users_linking_one_identity_at_once_one_wins(
    client: Client, browsers: Any, make_user: Any, admin: Account
) -> None:
    first, second = make_user(), make_user()
    callbacks = []
    browsers_of = [signed_in(browsers, first), signed_in(browsers, second)]
    for browser in browsers_of:
        start = start_link(browser, "partner")
        callbacks.append(submit_login_form(start.headers["Location"], "sam", "sam-password"))
    # The callbacks race through a client that serves requests from threads at once.
    racing = ThreadSafeClient(app, "test", str(ROOT))
    for browser in browsers_of:
        browser.client = racing
    barrier = threading.Barrier(2, timeout=60)

    def finish(index: int) -> str:
        barrier.wait()
        return str(browsers_of[index].callback(callbacks[index]).headers["Location"])

    with serialized_storage(), ThreadPoolExecutor(max_workers=2) as pool:
        landed = list(pool.map(finish, [0, 1]))

    assert sorted(landed) == ["/profile", "/profile?login_error=identity_taken"]
    holders = [
        user.id
        for user in (first, second)
        if "sam-sub::partner" in record(client, admin, user.id)["auth_ids"]
    ]
    assert len(holders) == 1
    assert cli.main(["check-invariants"]) == 0


# -- unlinking -----------------------------------------------------------------


def test_user_unlinks_its_own_identity_logged_and_freed(
    client: Client, browsers: Any, make_user: Any, admin: Account
) -> None:
    user = make_user()
    link(signed_in(browsers, user), "partner", "sam")
    assert unlink(client, user, user.id, "sam-sub::partner").status_code == 204
    assert record(client, admin, user.id)["auth_ids"] == [user.email]
    entry = log_of(client, admin, user.id)[-1]
    assert (entry["action"], entry["user"]) == ("edit", user.id)
    assert entry["data"] == {"auth_ids": [user.email]}
    assert "sam-sub::partner" in entry["comment"]
    # Free again: the next login with it makes a user of its own.
    browser = browsers()
    assert browser.login("sam", "partner") == "/"
    assert me(client, browser.cookies["session"])["id"] != user.id


def test_manager_unlinks_another_users_identity(
    client: Client, browsers: Any, admin: Account
) -> None:
    browser = browsers()
    browser.login("sam", "local")
    user_id = me(client, browser.cookies["session"])["id"]
    link(browser, "partner", "sam")
    assert unlink(client, admin, user_id, "sam-sub::local").status_code == 204
    assert record(client, admin, user_id)["auth_ids"] == ["sam-sub::partner"]
    assert log_of(client, admin, user_id)[-1]["user"] == admin.id


def test_the_last_identity_may_be_unlinked_and_the_user_signs_in_with_a_key(
    client: Client, browsers: Any, admin: Account
) -> None:
    browser = browsers()
    browser.login("kim", "local")
    user_id = me(client, browser.cookies["session"])["id"]
    made = client.http.post(f"{API}/user/{user_id}/apikey", headers=admin.headers)
    key = Account(user_id, made.json_body["key"], "kim@example.org")
    assert unlink(client, key, user_id, "kim-sub::local").status_code == 204
    assert record(client, admin, user_id)["auth_ids"] == []
    assert client.http.get(f"{API}/user/me", headers=key.headers).status_code == 200
    assert cli.main(["check-invariants"]) == 0


def test_unlinking_another_users_identity_without_user_management_returns_403(
    client: Client, browsers: Any, make_user: Any
) -> None:
    owner, stranger = make_user(), make_user()
    link(signed_in(browsers, owner), "partner", "sam")
    assert_error(unlink(client, stranger, owner.id, "sam-sub::partner"), 403, "PermissionDenied")


@pytest.mark.parametrize("identity", ["nobody::partner", "sam-sub::local", "sam-sub"])
def test_unlinking_an_identity_the_user_does_not_hold_returns_404(
    client: Client, browsers: Any, make_user: Any, identity: str
) -> None:
    user = make_user()
    link(signed_in(browsers, user), "partner", "sam")
    assert_error(unlink(client, user, user.id, identity), 404, "IdentityNotFound")


def test_the_email_in_auth_ids_is_not_an_identity_to_unlink(client: Client, make_user: Any) -> None:
    user = make_user()
    assert_error(unlink(client, user, user.id, user.email), 404, "IdentityNotFound")


def test_unlinking_from_an_unknown_user_returns_404(client: Client, admin: Account) -> None:
    assert_error(unlink(client, admin, "0" * 32, "sam-sub::local"), 404, "UserNotFound")


# -- an issuer change: the predecessor's identity ------------------------------


def test_first_login_at_the_new_provider_links_into_the_user_of_the_old_identity(
    client: Client, browsers: Any, admin: Account
) -> None:
    old = browsers()
    old.login("ada", "elixir")
    user_id = me(client, old.cookies["session"])["id"]
    new = browsers()
    assert new.login("ada", "lslogin") == "/"
    user = me(client, new.cookies["session"])
    assert user["id"] == user_id
    assert user["auth_ids"] == [f"{ELIXIR_SUB}::elixir", "ada-ls::lslogin"]
    assert user["email"] == "ada@example.org"
    entry = log_of(client, admin, user_id)[-1]
    assert (entry["action"], entry["user"]) == ("edit", "system")
    assert f"succeeds {ELIXIR_SUB}::elixir" in entry["comment"]


def test_a_new_identity_whose_old_identity_nobody_holds_makes_a_user(
    client: Client, browsers: Any
) -> None:
    browser = browsers()
    assert browser.login("nobody", "lslogin") == "/"
    assert me(client, browser.cookies["session"])["auth_ids"] == ["nobody-ls::lslogin"]


def test_a_new_identity_without_the_old_identity_claim_makes_a_user(
    client: Client, browsers: Any
) -> None:
    browser = browsers()
    assert browser.login("plain", "lslogin") == "/"
    assert me(client, browser.cookies["session"])["auth_ids"] == ["plain-ls::lslogin"]


# -- migrate-identities ----------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def holders_of(client: Client, admin: Account, *user_ids: str) -> dict[str, list[str]]:
    return {user_id: record(client, admin, user_id)["auth_ids"] for user_id in user_ids}


def users_at(client: Client, browsers: Any, provider: str) -> list[str]:
    """Three users signed in at ``provider`` (on the first issuer): ada, sam and kim."""
    ids = []
    for username in ("ada", "sam", "kim"):
        browser = browsers()
        browser.login(username, provider)
        ids.append(me(client, browser.cookies["session"])["id"])
    return ids


@pytest.fixture
def old_users(client: Client, browsers: Any) -> list[str]:
    return users_at(client, browsers, "local")


def test_migrate_identities_links_the_same_sub_at_the_new_provider(
    client: Client, admin: Account, old_users: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run_cli(capsys, "migrate-identities", "--from", "local", "--to", "partner")
    assert code == 0
    linked = {line["to"]: line["user"] for line in lines if line.get("action") == "linked"}
    assert linked == {
        f"{ELIXIR_SUB}::partner": old_users[0],
        "sam-sub::partner": old_users[1],
        "kim-sub::partner": old_users[2],
    }
    assert lines[-1] == {"summary": {"linked": 3}, "dry_run": False}
    assert holders_of(client, admin, old_users[1])[old_users[1]] == [
        "sam-sub::local",
        "sam-sub::partner",
    ]
    assert log_of(client, admin, old_users[1])[-1]["user"] == "system"
    # Run again: everything is linked already, nothing twice.
    code, again = run_cli(capsys, "migrate-identities", "--from", "local", "--to", "partner")
    assert code == 0
    assert again[-1] == {"summary": {"linked already": 3}, "dry_run": False}
    assert cli.main(["check-invariants"]) == 0


def test_migrate_identities_from_another_issuer_with_a_map_skips_what_is_taken(
    client: Client,
    admin: Account,
    browsers: Any,
    make_user: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_users = users_at(client, browsers, "elixir")
    taker = make_user().id
    link(signed_in(browsers, Account(taker, "", "")), "lslogin", "plain")  # plain-ls is taken
    mapping = tmp_path / "map.csv"
    # ada and sam both map to ada-ls: one identity is never linked to two users.
    mapping.write_text(f"old_sub,new_sub\n{ELIXIR_SUB},ada-ls\nsam-sub,ada-ls\nkim-sub,plain-ls\n")
    argv = ("migrate-identities", "--from", "elixir", "--to", "lslogin", "--map", str(mapping))
    code, planned = run_cli(capsys, *argv, "--dry-run")
    assert code == 1
    assert [(line["from"], line["action"]) for line in planned[:-1]] == [
        (f"{ELIXIR_SUB}::elixir", "would link"),
        ("kim-sub::elixir", "skipped"),
        ("sam-sub::elixir", "skipped"),
    ]
    assert holders_of(client, admin, *old_users) == {
        old_users[0]: [f"{ELIXIR_SUB}::elixir"],
        old_users[1]: ["sam-sub::elixir"],
        old_users[2]: ["kim-sub::elixir"],
    }
    code, done = run_cli(capsys, *argv)
    assert code == 1
    assert done[-1]["summary"] == {"linked": 1, "another user holds it": 2}
    assert holders_of(client, admin, *old_users) == {
        old_users[0]: [f"{ELIXIR_SUB}::elixir", "ada-ls::lslogin"],
        old_users[1]: ["sam-sub::elixir"],
        old_users[2]: ["kim-sub::elixir"],
    }
    assert record(client, admin, taker)["auth_ids"][1:] == ["plain-ls::lslogin"]
    assert "(migrated)" in log_of(client, admin, old_users[0])[-1]["comment"]
    assert cli.main(["check-invariants"]) == 0
    # Ada's first sign-in at the new issuer lands in her old user.
    browser = browsers()
    assert browser.login("ada", "lslogin") == "/"
    assert me(client, browser.cookies["session"])["id"] == old_users[0]


def test_migrate_identities_with_a_malformed_map_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], client: Client
) -> None:
    mapping = tmp_path / "map.csv"
    mapping.write_text("a,b,c\n")
    code = cli.main(["migrate-identities", "--from", "a", "--to", "b", "--map", str(mapping)])
    assert code == 2
    assert "line 1" in capsys.readouterr().err


# -- make run's local provider ------------------------------------------------------


def test_make_runs_provider_shows_a_rule_and_a_predecessor_at_work(
    client: Client, configure: Any
) -> None:
    with running_provider() as issuer:
        configure(
            OIDC_PROVIDERS=demo_provider_settings(issuer, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            ALLOWED_ORIGINS=None,
        )
        old = Browser(client, issuer)
        start = old.start("elixir")
        old.callback(submit_subject(start.headers["Location"], ALICE["elixir_id"]))
        old_user = me(client, old.cookies["session"])
        alice = Browser(client, issuer)
        assert alice.login("alice", "local") == "/"
        user = me(client, alice.cookies["session"])
    assert user["id"] == old_user["id"]
    assert user["auth_ids"] == [f"{ALICE['elixir_id']}::elixir", "alice-sub::local"]
    assert [g["permission"] for g in user["rule_permissions"]] == ["DATA_EDIT"]
    assert "DATA_EDIT" in user["effective_permissions"]
