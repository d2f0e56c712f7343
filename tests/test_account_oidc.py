"""The account's life at a real OpenID Provider (docs/API.md sections 4 and 10): a
suspended user's login, and erasing one's own account after a recent sign-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import timestamps
from chalicelib.records import user_sessions
from chalicelib.storage.models import Session
from tests import test_login_oidc as login
from tests.conftest import Account, assert_error
from tests.test_login_oidc import (
    ALICE,
    Browser,
    access_token,
    assert_refused,
    me,
    users_with_email,
)
from tests.test_personal_data import apikey_login, cookie_of, holding, token_for

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

API = "/api/v1"

# The real provider and its configuration, as the login tests have them.
provider_url = login.provider_url
oidc = login.oidc


@pytest.fixture
def browser(client: Client, oidc: str) -> Browser:
    """A fresh browser, with the provider configured."""
    return Browser(client, oidc)


def as_token(
    client: Client, token: str, method: str, path: str, body: Any = None, **headers: str
) -> Any:
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}
    raw = json.dumps(body) if body is not None else None
    return getattr(client.http, method)(f"{API}{path}", headers=sent, body=raw)


def signed_in(
    client: Client, browser: Browser, username: str = "alice"
) -> tuple[str, dict[str, Any]]:
    """Sign in at the provider; an access token of the new session, and the record."""
    assert browser.login(username) == "/"
    session = browser.cookies["session"]
    return access_token(client, session), me(client, session)


def test_suspended_users_provider_login_lands_with_login_error_suspended(
    client: Client, browser: Browser, admin: Account
) -> None:
    _, user = signed_in(client, browser)
    body = json.dumps({"user": {"suspended": True}})
    response = client.http.patch(
        f"{API}/user/{user['id']}", headers=admin.json_headers(), body=body
    )
    assert response.status_code == 200, response.body
    again = Browser(client, browser.provider_url)
    assert_refused(again, again.login("alice"), "suspended")
    assert user_sessions.user_sessions(user["id"]) == []


def test_deleting_oneself_after_a_fresh_sign_in_erases_the_account(
    client: Client, browser: Browser, admin: Account
) -> None:
    token, user = signed_in(client, browser)
    version = str(user["version"])
    response = as_token(client, token, "delete", "/user/me", **{"If-Match": version})
    assert response.status_code == 204, response.body
    assert users_with_email(client, admin, ALICE) == []
    assert holding([ALICE, "alice-sub"]) == []
    assert_error(token_for(client, browser.cookies["session"]), 401, "InvalidCredentials")
    log = client.http.get(f"{API}/user/{user['id']}/log", headers=admin.headers).json_body["logs"]
    assert (log[-1]["action"], log[-1]["user"]) == ("delete", user["id"])


def test_deleting_oneself_without_if_match_is_428(client: Client, browser: Browser) -> None:
    token, _ = signed_in(client, browser)
    assert_error(as_token(client, token, "delete", "/user/me"), 428, "IfMatchRequired")


def test_deleting_oneself_with_a_stale_if_match_is_412(client: Client, browser: Browser) -> None:
    token, user = signed_in(client, browser)
    stale = str(user["version"] + 1)
    response = as_token(client, token, "delete", "/user/me", **{"If-Match": stale})
    assert_error(response, 412, "VersionMismatch")


def test_deleting_oneself_after_a_sign_in_over_ten_minutes_ago_is_403(
    client: Client, browser: Browser
) -> None:
    token, user = signed_in(client, browser)
    (session,) = user_sessions.user_sessions(user["id"])
    earlier = timestamps.stamp(datetime.now(UTC) - timedelta(minutes=11))
    session.update(actions=[Session.created.set(earlier)])
    response = as_token(client, token, "delete", "/user/me", **{"If-Match": str(user["version"])})
    assert_error(response, 403, "RecentLoginRequired")


def test_deleting_oneself_with_a_key_or_a_key_session_is_403(
    client: Client, make_user: Any
) -> None:
    member = make_user()
    headers = {"If-Match": "2"}  # the record's version after its key was made
    assert_error(
        as_token(client, member.key, "delete", "/user/me", **headers), 403, "RecentLoginRequired"
    )
    cookie = cookie_of(apikey_login(client, member.key), "session")
    token = token_for(client, cookie).json_body["token"]
    assert_error(
        as_token(client, token, "delete", "/user/me", **headers), 403, "RecentLoginRequired"
    )


def test_the_last_user_manager_deleting_oneself_is_409(
    client: Client, browser: Browser, admin: Account
) -> None:
    token, user = signed_in(client, browser)
    grant = json.dumps({"user": {"permissions": ["USER_MANAGEMENT"]}})
    response = client.http.patch(
        f"{API}/user/{user['id']}", headers=admin.json_headers(), body=grant
    )
    assert response.status_code == 200, response.body
    take = {"user": {"permissions": []}}
    assert as_token(client, token, "patch", f"/user/{admin.id}", take).status_code == 200
    version = str(response.json_body["user"]["version"])
    response = as_token(client, token, "delete", "/user/me", **{"If-Match": version})
    assert_error(response, 409, "LastUserManager")
