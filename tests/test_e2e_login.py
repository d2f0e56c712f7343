"""End to end over real HTTP: a browser-like, cookie-keeping client logs in
through ``chalice local`` at the local OpenID Provider's own login form."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import requests

from devtools.local_stack import (
    Store,
    chalice_local,
    fresh_prefix,
    manage,
    provider_settings,
    service_env,
)
from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.oidc_helpers import submit_login_form

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)


def _fresh_connections(session: requests.Session, response: requests.Response, **_: object) -> None:
    """Read the answer, then drop the session's connections (it keeps its cookies).

    chalice local closes each connection without saying so in its answer, so a
    pooled connection could be reused just after the server closed it.
    """
    response.content  # noqa: B018 - read before the connection goes
    session.close()


@pytest.fixture(scope="module")
def service(local_store: Store) -> Iterator[str]:
    with running_provider() as issuer:
        env = service_env(
            local_store.endpoint,
            TABLE_PREFIX=fresh_prefix("users-e2e-login-"),
            OIDC_PROVIDERS=provider_settings(issuer, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        )
        manage(env, "create-tables")
        with chalice_local(env) as base:
            yield f"{base}/api/v1"


def test_browser_logs_in_gets_token_and_logs_out(service: str) -> None:
    browser = requests.Session()
    browser.headers["Connection"] = "close"
    browser.hooks["response"].append(functools.partial(_fresh_connections, browser))
    start = browser.get(
        f"{service}/login/oidc/local", params={"origin": "/home"}, allow_redirects=False
    )
    assert start.status_code == 302
    callback = submit_login_form(start.headers["Location"], "alice", "alice-password")
    landed = browser.get(callback, allow_redirects=False)
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/home"
    assert browser.cookies.get("session")

    csrf = {"X-CSRF-Token": browser.cookies["_csrf_token"]}
    token = browser.post(f"{service}/login/token", headers=csrf)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    me = requests.get(f"{service}/user/me", headers={**bearer, "Connection": "close"}, timeout=30)
    assert me.json()["user"]["email"] == "alice@example.org"

    assert browser.post(f"{service}/logout", headers=csrf).status_code == 204
    after = requests.get(
        f"{service}/user/me", headers={**bearer, "Connection": "close"}, timeout=30
    )
    assert after.status_code == 401
