"""OpenID Connect logins at the edges (docs/API.md section 7): the issuer in the
authorization response, claims the record cannot hold, and a provider that is
down. Against the real local OpenID Provider, and a server that never answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.servers import hanging_server
from tests.test_login_oidc import API, Browser, assert_refused, me, set_cookie

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

LONG_SUB = "s" * 3000
ACCOUNTS = [
    {"username": "plain", "password": "plain-password", "sub": "plain-sub",
     "email": "plain@example.org", "email_verified": True, "name": "Plain"},
    {"username": "longsub", "password": "longsub-password", "sub": LONG_SUB,
     "email": "longsub@example.org", "email_verified": True, "name": "Long Sub"},
    {"username": "longname", "password": "longname-password", "sub": "longname-sub",
     "email": "longname@example.org", "email_verified": True, "name": "N" * 401},
    {"username": "control", "password": "control-password", "sub": "control-sub",
     "email": "control@example.org", "email_verified": True, "name": "Eve\u0007"},
    {"username": "filler", "password": "filler-password", "sub": "filler-sub",
     "email": "filler@example.org", "email_verified": True, "name": "\u3164"},
]  # fmt: skip


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    with running_provider({"accounts": ACCOUNTS}) as url:
        yield url


@pytest.fixture
def browser(client: Client, provider_url: str, configure: Any) -> Browser:
    entry = {
        "server_metadata_url": f"{provider_url}/.well-known/openid-configuration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "link_verified_email": True,
    }
    configure(OIDC_PROVIDERS=json.dumps({"local": entry}), ALLOWED_ORIGINS=None)
    return Browser(client, provider_url)


# -- RFC 9207: the issuer in the authorization response ------------------------------


def test_authorization_response_naming_another_issuer_is_refused(browser: Browser) -> None:
    callback = browser.sign_in("plain")
    done = browser.callback(f"{callback}&{urlencode({'iss': 'https://evil.example'})}")
    assert_refused(browser, done.headers["Location"], "invalid_issuer")
    cleared = set_cookie(done, "oidc_login")
    assert cleared is not None and "Max-Age=0" in cleared


def test_authorization_response_naming_the_providers_issuer_signs_in(
    browser: Browser, provider_url: str
) -> None:
    callback = browser.sign_in("plain")
    done = browser.callback(f"{callback}&{urlencode({'iss': provider_url})}")
    assert done.headers["Location"] == "/"
    assert "session" in browser.cookies


# -- claims the record cannot hold -------------------------------------------------------


def test_subject_too_long_to_store_ends_in_invalid_profile_with_the_login_cookie_cleared(
    browser: Browser,
) -> None:
    done = browser.callback(browser.sign_in("longsub"))
    assert done.status_code == 302, done.body
    assert_refused(browser, done.headers["Location"], "invalid_profile")
    cleared = set_cookie(done, "oidc_login")
    assert cleared is not None and "Max-Age=0" in cleared
    assert "oidc_login" not in browser.cookies


@pytest.mark.parametrize("username", ["longname", "control", "filler"])
def test_name_the_record_cannot_hold_is_left_out_and_the_login_goes_on(
    client: Client, browser: Browser, username: str
) -> None:
    assert browser.login(username) == "/"
    user = me(client, browser.cookies["session"])
    assert user["email"] == f"{username}@example.org"
    assert user["name"] == ""


# -- a provider that is down ---------------------------------------------------------------


@pytest.mark.usefixtures("short_provider_wait")
def test_provider_that_never_answers_is_asked_once_and_logins_end_in_provider_unavailable(
    client: Client, configure: Any
) -> None:
    with hanging_server() as server:
        entry = {
            "server_metadata_url": f"{server.url}/.well-known/openid-configuration",
            "client_id": "c",
            "client_secret": "s",
        }
        configure(OIDC_PROVIDERS=json.dumps({"down": entry}), ALLOWED_ORIGINS=None)
        for _ in range(3):
            response = client.http.get(f"{API}/login/oidc/down?origin=/")
            assert response.status_code == 302, response.body
            assert response.headers["Location"] == "/?login_error=provider_unavailable"
        assert server.connections == 1
