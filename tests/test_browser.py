"""The browser harness itself: Chromium starts, reaches 127.0.0.1 only, reports its
console, and signs in on the local OpenID Provider's form."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import requests

from devtools.local_stack import Listener
from devtools.oidc_provider import running_provider
from tests.browser import BrowserPage, fill_provider_login
from tests.oidc_helpers import query_of
from tests.servers import page_server

ACCOUNT = {
    "username": "carol",
    "password": "carol-password",
    "sub": "carol-sub",
    "email": "carol@example.org",
    "email_verified": True,
    "name": "Carol Example",
}


def test_page_console_is_collected(browser_page: BrowserPage) -> None:
    page = "<script src='/app.js'></script>"
    script = "console.log('hello'); console.error('it broke');"
    pages = {"/": page, "/app.js": script}
    with page_server(pages) as origin:
        browser_page.page.goto(f"{origin}/")
        browser_page.page.wait_for_load_state("load")
    assert "log: hello" in browser_page.console_lines()
    assert browser_page.console_errors() == ["it broke"]


def test_hosts_other_than_127_0_0_1_do_not_resolve(browser_page: BrowserPage) -> None:
    with page_server({"/": "<p>here</p>"}) as origin:
        browser_page.page.goto(f"{origin}/")
        seen = browser_page.page.evaluate(
            "fetch('http://example.org/').then(() => 'reached', e => 'failed: ' + e.message)"
        )
    assert seen.startswith("failed"), seen


def test_provider_login_form_is_filled_and_returns_a_code(browser_page: BrowserPage) -> None:
    callback = Listener()
    redirect_uri = f"{callback.url}/callback"
    client = {"client_id": "harness", "client_secret": secrets.token_urlsafe(16)}
    config = {"clients": [{**client, "redirect_uris": [redirect_uri]}], "accounts": [ACCOUNT]}
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": "harness",
        "redirect_uri": redirect_uri,
        "scope": "openid email",
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    with (
        running_provider(config) as issuer,
        page_server({"/callback": "<p>back</p>"}, listener=callback),
    ):
        discovery = f"{issuer}/.well-known/openid-configuration"
        authorize = requests.get(discovery, timeout=10).json()["authorization_endpoint"]
        browser_page.page.goto(f"{authorize}?{urlencode(query)}")
        fill_provider_login(browser_page.page, "carol", "carol-password")
        browser_page.page.wait_for_url(f"{redirect_uri}?**")
        landed = query_of(browser_page.page.url)
    assert landed["state"] == state
    assert landed["code"]
