"""OpenID Connect login against a real OpenID Provider started on 127.0.0.1
(docs/API.md sections 4, 6 and 7).

The provider is ``oidc-provider-mock`` in a subprocess (``devtools.oidc_provider``);
the browser walks its real authorization form. Forged and tampered ID tokens are
unit tests of the service's validation, in ``test_id_token.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from chalice.test import Client

from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.conftest import Account
from tests.oidc_helpers import deny_at_provider, query_of, submit_login_form

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

API = "/api/v1"
HOST = "127.0.0.1:8000"
CALLBACK_BASE = f"http://{HOST}"
ALLOWED_ORIGIN = "https://app.example.org"
ALICE = "alice@example.org"
BOB = "bob@example.org"


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    with running_provider() as url:
        yield url


@pytest.fixture
def oidc(provider_url: str, configure: Any) -> str:
    """Two providers at the same real OP: ``local`` trusted for linking, ``other`` not."""
    entry = {
        "server_metadata_url": f"{provider_url}/.well-known/openid-configuration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    providers = {"local": {**entry, "link_verified_email": True}, "other": entry}
    configure(OIDC_PROVIDERS=json.dumps(providers), ALLOWED_ORIGINS=ALLOWED_ORIGIN)
    return provider_url


def set_cookies(response: Any) -> list[str]:
    """The ``Set-Cookie`` values of a response."""
    raw = response.headers.get("Set-Cookie") or response.headers.get("set-cookie") or []
    return [raw] if isinstance(raw, str) else list(raw)


def set_cookie(response: Any, name: str) -> str | None:
    """The ``Set-Cookie`` value that sets cookie ``name``, if any."""
    found = [c for c in set_cookies(response) if c.split("=", 1)[0] == name]
    return found[-1] if found else None


def attributes(cookie: str) -> set[str]:
    """The attributes of a ``Set-Cookie`` value, e.g. ``{"HttpOnly", "Path=/api/v1"}``."""
    return {part.strip() for part in cookie.split(";")[1:]}


class Browser:
    """The service as a browser sees it: keeps cookies, follows nothing by itself."""

    def __init__(self, client: Client, provider_url: str = "") -> None:
        self.client = client
        self.provider_url = provider_url
        self.cookies: dict[str, str] = {}

    def get(self, path: str) -> Any:
        headers = {"Host": HOST}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.http.get(path, headers=headers)
        for cookie in set_cookies(response):
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def start(self, provider: str = "local", origin: str | None = "/") -> Any:
        """GET the route that starts a login; the 302 response to the provider."""
        query = f"?{urlencode({'origin': origin})}" if origin is not None else ""
        response = self.get(f"{API}/login/oidc/{provider}{query}")
        assert response.status_code == 302, response.body
        return response

    def callback(self, url: str) -> Any:
        """Follow the provider's redirect back to the service."""
        assert url.startswith(CALLBACK_BASE), url
        return self.get(url[len(CALLBACK_BASE) :])

    def sign_in(self, username: str, provider: str = "local", origin: str | None = "/") -> str:
        """Start a login and sign in at the provider; returns the callback URL."""
        start = self.start(provider, origin)
        return submit_login_form(start.headers["Location"], username, f"{username}-password")

    def login(self, username: str, provider: str = "local", origin: str | None = "/") -> str:
        """Walk the whole login; returns where the service finally sends the browser."""
        callback = self.sign_in(username, provider, origin)
        done = self.callback(callback)
        assert done.status_code == 302, done.body
        return str(done.headers["Location"])


@pytest.fixture
def browser(client: Client, oidc: str) -> Browser:
    """A fresh browser, with the provider configured."""
    return Browser(client, oidc)


def access_token(client: Client, session: str) -> str:
    response = client.http.post(
        f"{API}/login/token",
        headers={"Cookie": f"session={session}; _csrf_token=abc", "X-CSRF-Token": "abc"},
    )
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def me(client: Client, session: str) -> dict[str, Any]:
    """The record of the user a session belongs to."""
    token = access_token(client, session)
    response = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.body
    return dict(response.json_body["user"])


def users_with_email(client: Client, admin: Account, email: str) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user?{urlencode({'email': email})}", headers=admin.headers)
    assert response.status_code == 200, response.body
    return list(response.json_body["users"])


def log_of(client: Client, admin: Account, user_id: str) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user/{user_id}/log", headers=admin.headers)
    assert response.status_code == 200, response.body
    return list(response.json_body["logs"])


def assert_refused(browser: Browser, location: str, code: str, origin: str = "/") -> None:
    """The login ended on ``origin`` with ``login_error=code`` and no session."""
    separator = "&" if "?" in origin else "?"
    assert location == f"{origin}{separator}{urlencode({'login_error': code})}"
    assert "session" not in browser.cookies


# -- discovery of the login routes -------------------------------------------


def test_login_types_are_apikey_and_oidc(client: Client) -> None:
    response = client.http.get(f"{API}/login")
    assert response.status_code == 200
    assert response.json_body == {"types": ["apikey", "oidc"]}


def test_oidc_login_lists_every_configured_provider_with_its_path(
    client: Client, oidc: str
) -> None:
    response = client.http.get(f"{API}/login/oidc")
    assert response.status_code == 200
    assert response.json_body == {
        "local": "/api/v1/login/oidc/local",
        "other": "/api/v1/login/oidc/other",
    }


def test_start_with_unknown_provider_returns_404(client: Client, oidc: str) -> None:
    response = client.http.get(f"{API}/login/oidc/nowhere?origin=/")
    assert response.status_code == 404, response.body
    assert response.json_body["Code"] == "ProviderNotFound"


def test_callback_of_unknown_provider_returns_404(browser: Browser) -> None:
    response = browser.get(f"{API}/login/oidc/nowhere/authorize?code=x&state=y")
    assert response.status_code == 404, response.body
    assert response.json_body["Code"] == "ProviderNotFound"


# -- the redirect to the provider and the cookies ----------------------------


def test_start_redirects_to_provider_with_pkce_s256_state_nonce_and_callback(
    browser: Browser, oidc: str
) -> None:
    location = browser.start("local").headers["Location"]
    discovery = requests.get(f"{oidc}/.well-known/openid-configuration", timeout=10).json()
    assert location.startswith(f"{discovery['authorization_endpoint']}?")
    query = query_of(location)
    assert query["response_type"] == "code"
    assert query["client_id"] == DEFAULT_CLIENT_ID
    assert "openid" in query["scope"].split()
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert len(query["state"]) >= 22
    assert len(query["nonce"]) >= 22
    assert query["redirect_uri"] == f"{CALLBACK_BASE}/api/v1/login/oidc/local/authorize"


def test_each_start_uses_fresh_state_nonce_and_code_challenge(browser: Browser) -> None:
    first = query_of(browser.start("local").headers["Location"])
    second = query_of(browser.start("local").headers["Location"])
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name], name


def test_login_cookie_is_httponly_samesite_lax_and_not_secure_locally(browser: Browser) -> None:
    cookie = set_cookie(browser.start("local"), "oidc_login")
    assert cookie is not None
    attrs = attributes(cookie)
    assert "HttpOnly" in attrs
    assert "SameSite=Lax" in attrs
    assert "Secure" not in attrs  # stage `test` counts as local development


def test_session_cookie_is_httponly_samesite_lax_under_api_path_and_not_secure_locally(
    browser: Browser,
) -> None:
    done = browser.callback(browser.sign_in("alice"))
    cookie = set_cookie(done, "session")
    assert cookie is not None
    attrs = attributes(cookie)
    assert "HttpOnly" in attrs
    assert "SameSite=Lax" in attrs
    assert "Path=/api/v1" in attrs
    assert "Secure" not in attrs  # stage `test` counts as local development


def test_callback_clears_the_login_cookie(browser: Browser) -> None:
    callback = browser.sign_in("alice")
    assert "oidc_login" in browser.cookies
    browser.callback(callback)
    assert "oidc_login" not in browser.cookies


# -- users: create, find, link, refuse ---------------------------------------


def test_first_login_creates_user_and_session(client: Client, browser: Browser) -> None:
    assert browser.login("alice") == "/"
    assert "session" in browser.cookies
    user = me(client, browser.cookies["session"])
    assert user["email"] == ALICE
    assert user["auth_ids"] == ["alice-sub::local"]


def test_first_login_is_logged_as_add_by_system(
    client: Client, browser: Browser, admin: Account
) -> None:
    browser.login("alice")
    user = me(client, browser.cookies["session"])
    logs = log_of(client, admin, user["id"])
    assert [(entry["action"], entry["user"]) for entry in logs] == [("add", "system")]
    assert logs[0]["data"]["auth_ids"] == ["alice-sub::local"]
    assert logs[0]["data"]["email"] == ALICE


def test_second_login_finds_the_same_user_without_new_user_or_log_entry(
    client: Client, browser: Browser, admin: Account
) -> None:
    browser.login("alice")
    first = me(client, browser.cookies["session"])
    log_before = log_of(client, admin, first["id"])

    again = Browser(client, browser.provider_url)
    assert again.login("alice") == "/"
    second = me(client, again.cookies["session"])

    assert second["id"] == first["id"]
    assert [u["id"] for u in users_with_email(client, admin, ALICE)] == [first["id"]]
    assert log_of(client, admin, first["id"]) == log_before


def test_first_login_with_new_unverified_email_creates_user(
    client: Client, browser: Browser
) -> None:
    assert browser.login("bob") == "/"
    user = me(client, browser.cookies["session"])
    assert user["email"] == BOB
    assert user["auth_ids"] == ["bob-sub::local"]


def test_login_after_the_user_was_deleted_creates_a_new_user(
    client: Client, browser: Browser, admin: Account
) -> None:
    browser.login("alice")
    gone = me(client, browser.cookies["session"])["id"]
    deleted = client.http.delete(f"{API}/user/{gone}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.body

    again = Browser(client, browser.provider_url)
    assert again.login("alice") == "/"
    user = me(client, again.cookies["session"])
    assert user["id"] != gone
    assert user["auth_ids"] == ["alice-sub::local"]


def test_verified_email_from_linking_provider_links_identity_to_existing_user(
    client: Client, browser: Browser, make_user: Any
) -> None:
    existing = make_user(email=ALICE)
    assert browser.login("alice", "local") == "/"
    user = me(client, browser.cookies["session"])
    assert user["id"] == existing.id
    assert user["auth_ids"] == [ALICE, "alice-sub::local"]


def test_verified_email_differing_only_in_case_links_identity_to_existing_user(
    client: Client, browser: Browser, make_user: Any
) -> None:
    existing = make_user(email="Alice@Example.ORG")
    assert browser.login("alice", "local") == "/"
    assert me(client, browser.cookies["session"])["id"] == existing.id


def test_linking_an_identity_writes_one_edit_entry_by_system(
    client: Client, browser: Browser, make_user: Any, admin: Account
) -> None:
    existing = make_user(email=ALICE)
    before = log_of(client, admin, existing.id)
    browser.login("alice", "local")
    after = log_of(client, admin, existing.id)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert [(entry["action"], entry["user"]) for entry in new] == [("edit", "system")]
    assert new[0]["data"] == {"auth_ids": [ALICE, "alice-sub::local"]}


def test_unverified_email_colliding_with_existing_user_is_refused(
    client: Client, browser: Browser, make_user: Any, admin: Account
) -> None:
    existing = make_user(email=BOB)
    assert_refused(browser, browser.login("bob", "local"), "email_in_use")
    assert users_with_email(client, admin, BOB)[0]["auth_ids"] == [BOB]
    assert [u["id"] for u in users_with_email(client, admin, BOB)] == [existing.id]


def test_email_from_provider_not_trusted_for_linking_colliding_with_existing_user_is_refused(
    client: Client, browser: Browser, make_user: Any, admin: Account
) -> None:
    existing = make_user(email=ALICE)
    assert_refused(browser, browser.login("alice", "other"), "email_in_use")
    assert [u["id"] for u in users_with_email(client, admin, ALICE)] == [existing.id]
    assert users_with_email(client, admin, ALICE)[0]["auth_ids"] == [ALICE]


# -- state, replay and the ID token ------------------------------------------


def test_callback_with_tampered_state_is_refused_as_invalid_state(
    browser: Browser, client: Client, admin: Account
) -> None:
    callback = browser.sign_in("alice")
    state = query_of(callback)["state"]
    tampered = callback.replace(f"state={state}", "state=forged-state-value")
    assert tampered != callback
    done = browser.callback(tampered)
    assert done.status_code == 302
    assert_refused(browser, done.headers["Location"], "invalid_state")
    assert users_with_email(client, admin, ALICE) == []


def test_callback_without_login_cookie_is_refused_as_invalid_state(browser: Browser) -> None:
    callback = browser.sign_in("alice")
    browser.cookies.pop("oidc_login")
    done = browser.callback(callback)
    assert done.status_code == 302
    assert_refused(browser, done.headers["Location"], "invalid_state")


def test_callback_on_another_provider_than_the_one_started_is_refused_as_invalid_state(
    browser: Browser,
) -> None:
    callback = browser.sign_in("alice", "local")
    crossed = callback.replace("/login/oidc/local/authorize", "/login/oidc/other/authorize")
    done = browser.callback(crossed)
    assert done.status_code == 302
    assert_refused(browser, done.headers["Location"], "invalid_state")


def test_replayed_callback_with_saved_login_cookie_is_refused(
    client: Client, browser: Browser
) -> None:
    callback = browser.sign_in("alice")
    saved = dict(browser.cookies)
    assert browser.callback(callback).headers["Location"] == "/"

    replay = Browser(client)
    replay.cookies = saved
    done = replay.callback(callback)
    assert done.status_code == 302
    assert done.headers["Location"].startswith("/?login_error=")
    assert "session" not in replay.cookies


def test_replayed_callback_in_the_same_browser_is_refused(browser: Browser) -> None:
    callback = browser.sign_in("alice")
    assert browser.callback(callback).headers["Location"] == "/"
    browser.cookies.pop("session")
    done = browser.callback(callback)
    assert done.status_code == 302
    assert done.headers["Location"].startswith("/?login_error=")
    assert "session" not in browser.cookies


def test_provider_error_is_refused_as_provider_error(browser: Browser) -> None:
    start = browser.start("local", "/")
    callback = deny_at_provider(start.headers["Location"])
    # The mock leaves ``state`` out of its error redirect (RFC 6749 section 4.1.2.1
    # wants it); the service refuses on ``error`` alone.
    assert query_of(callback)["error"] == "access_denied"
    done = browser.callback(callback)
    assert done.status_code == 302
    assert_refused(browser, done.headers["Location"], "provider_error")


# -- where the browser lands ---------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "https://evil.example/after",
        "https://app.example.org.evil.example/after",
        "https://app.example.org@evil.example/after",
        "http://app.example.org/after",
        "javascript:alert(1)",
        "/after\r\nSet-Cookie: x=1",
        "/a b",
        "/a\tb",
        "/a\x00b",
        "/\u00e9t\u00e9",
        "/a\u2028b",
        "https://app.example.org/\u00e9",
    ],
)
def test_origin_off_site_and_not_allowed_falls_back_to_root(browser: Browser, origin: str) -> None:
    assert browser.login("alice", origin=origin) == "/"


# The web UI's pages live in the fragment: it comes back to its sign-in page with the
# page asked for (`#/?next=...`), or to the page a link began on (`#/profile`).
@pytest.mark.parametrize(
    "origin",
    [
        "/dashboard?x=1",
        f"{ALLOWED_ORIGIN}/after",
        "/#/?next=/users/u1?tab%3Dlog",
        "/users/#/profile",
    ],
)
def test_origin_on_site_or_allowed_is_kept(browser: Browser, origin: str) -> None:
    assert browser.login("alice", origin=origin) == origin


def test_failure_lands_on_origin_with_login_error_query(browser: Browser) -> None:
    start = browser.start("local", "/dashboard")
    done = browser.callback(deny_at_provider(start.headers["Location"]))
    assert done.headers["Location"] == "/dashboard?login_error=provider_error"


def test_failure_on_origin_with_query_appends_login_error(browser: Browser) -> None:
    start = browser.start("local", "/dashboard?x=1")
    done = browser.callback(deny_at_provider(start.headers["Location"]))
    assert done.headers["Location"] == "/dashboard?x=1&login_error=provider_error"


@pytest.mark.parametrize(
    ("origin", "landing"),
    [
        ("/#/?next=/keys", "/#/?next=/keys&login_error=provider_error"),
        ("/users/#/profile", "/users/#/profile?login_error=provider_error"),
    ],
)
def test_failure_on_a_web_ui_page_puts_login_error_in_its_query(
    browser: Browser, origin: str, landing: str
) -> None:
    start = browser.start("local", origin)
    done = browser.callback(deny_at_provider(start.headers["Location"]))
    assert done.headers["Location"] == landing


def test_failure_with_off_site_origin_lands_on_root(browser: Browser) -> None:
    start = browser.start("local", "https://evil.example")
    done = browser.callback(deny_at_provider(start.headers["Location"]))
    assert done.headers["Location"] == "/?login_error=provider_error"
