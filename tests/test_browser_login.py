"""Login in a real browser (Chromium), through the local OpenID Provider's form and
``chalice local``: behind a proxy that adds a path prefix, from an app on another
origin of the same site, and, refused by the browser, from an origin not allowed.

One service serves all three: behind the proxy, with the other app's origin allowed.
Each test asserts on what the page's JavaScript saw and on Chromium's console.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.local_stack import Listener, Store
from tests.browser import ALICE, BrowserPage, Service, fill_provider_login, running_service
from tests.servers import page_server, reverse_proxy

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

PREFIX = "/users"
APP_PAGE = "<!doctype html><title>App</title><p>An app beside the users service</p>"

# What a same-origin app does: the links from the API, the CSRF token from its cookie.
SAME_ORIGIN_JOURNEY = """async (api) => {
  const seen = {};
  const csrf = document.cookie.split('; ').find(c => c.startsWith('_csrf_token='))
    ?.split('=')[1];
  seen.csrfFromCookie = Boolean(csrf);
  let r = await fetch(api + '/login/token', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
  seen.tokenStatus = r.status;
  const token = (await r.json()).token;
  r = await fetch(api + '/user/me', {headers: {Authorization: 'Bearer ' + token}});
  seen.meStatus = r.status;
  seen.email = (await r.json()).user.email;
  r = await fetch(api + '/logout', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
  seen.logoutStatus = r.status;
  r = await fetch(api + '/login/token', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
  seen.afterLogout = {status: r.status, body: await r.json()};
  return seen;
}"""

# What an app on another allowed origin does: everything with credentials: 'include'.
CROSS_ORIGIN_JOURNEY = """async (api) => {
  const seen = {};
  let r = await fetch(api + '/login/csrf', {credentials: 'include'});
  seen.csrfStatus = r.status;
  const csrf = (await r.json()).csrf_token;
  seen.csrf = csrf;
  r = await fetch(api + '/login/token', {
    method: 'POST', credentials: 'include', headers: {'X-CSRF-Token': csrf}});
  seen.tokenStatus = r.status;
  const token = (await r.json()).token;
  r = await fetch(api + '/user/me', {headers: {Authorization: 'Bearer ' + token}});
  seen.meStatus = r.status;
  seen.email = (await r.json()).user.email;
  r = await fetch(api + '/user/me', {headers: {Authorization: 'Bearer not-a-token'}});
  seen.unauthorized = {status: r.status, body: await r.json()};
  r = await fetch(api + '/logout', {
    method: 'POST', credentials: 'include', headers: {'X-CSRF-Token': csrf}});
  seen.logoutStatus = r.status;
  return seen;
}"""

# What a page on an origin that is not allowed tries; each fetch should fail.
FOREIGN_ATTEMPTS = """async (api) => {
  const attempt = async (path, init) => {
    try {
      const r = await fetch(api + path, {credentials: 'include', ...init});
      return 'read ' + r.status + ': ' + (await r.text());
    } catch (e) {
      return 'blocked: ' + e.name;
    }
  };
  return {
    permissions: await attempt('/user/permissions', {}),
    csrf: await attempt('/login/csrf', {}),
    token: await attempt('/login/token', {method: 'POST', headers: {'X-CSRF-Token': 'x'}}),
  };
}"""


def unexpected_console_errors(browser_page: BrowserPage, *expected: str) -> list[str]:
    """Console errors other than failed loads with the ``expected`` statuses."""
    return [
        text
        for text in browser_page.console_errors()
        if not any(f"status of {status}" in text for status in expected)
    ]


@pytest.fixture(scope="module")
def sites(local_store: Store) -> Iterator[dict[str, Any]]:
    """The service at http://127.0.0.1:<proxy>/users (PUBLIC_URL) behind a reverse
    proxy, with an app page at /users/app/ on the proxy's origin; an allowed app on
    127.0.0.1:<another port>; a page on a third port, which is not allowed."""
    app_pages: dict[str, str] = {}
    proxy = Listener()
    public_url = f"{proxy.url}{PREFIX}"
    with (
        page_server(app_pages) as app,
        page_server({"/": "<!doctype html><title>Elsewhere</title>"}) as foreign,
        running_service(
            local_store, Listener(), public_url=public_url, allowed_origins=(app,)
        ) as service,
        reverse_proxy(
            service.local, PREFIX, pages={f"{PREFIX}/app/": APP_PAGE}, listener=proxy
        ) as origin,
    ):
        login = f"{service.url}/api/v1/login/oidc/local?origin={app}/"
        app_pages["/"] = f'{APP_PAGE}<a id="login" href="{login}">Sign in</a>'
        yield {"proxied": origin, "app": app, "foreign": foreign, "service": service}


# -- (a) behind a reverse proxy that adds a path prefix ------------------------------


@pytest.fixture
def proxied(sites: dict[str, Any]) -> str:
    """The proxy's origin: the service is at /users, an app page at /users/app/."""
    proxied: str = sites["proxied"]
    return proxied


def test_login_token_me_and_logout_under_a_path_prefix(
    browser_page: BrowserPage, proxied: str
) -> None:
    page = browser_page.page
    api = f"{PREFIX}/api/v1"
    page.goto(f"{proxied}{PREFIX}/app/")
    links = page.evaluate("async (api) => (await fetch(api + '/login/oidc')).json()", api)
    assert links == {"local": f"{api}/login/oidc/local"}

    page.goto(f"{proxied}{links['local']}?origin={PREFIX}/app/")
    fill_provider_login(page, ALICE["username"], ALICE["password"])
    page.wait_for_url(f"{proxied}{PREFIX}/app/")
    cookies = {c["name"]: c for c in browser_page.context.cookies()}
    assert cookies["session"]["path"] == api
    assert cookies["session"]["httpOnly"] is True
    assert cookies["_csrf_token"]["path"] == f"{PREFIX}/"

    seen = page.evaluate(SAME_ORIGIN_JOURNEY, api)
    assert seen == {
        "csrfFromCookie": True,
        "tokenStatus": 200,
        "meStatus": 200,
        "email": ALICE["email"],
        "logoutStatus": 204,
        "afterLogout": {
            "status": 401,
            "body": {"Code": "InvalidCredentials", "Message": "no session: log in first"},
        },
    }
    assert unexpected_console_errors(browser_page, "401") == []


# -- (b) and (c): an app on another origin of the same site, and a foreign page ------


def sign_in_from_app(browser_page: BrowserPage, app: str) -> None:
    """Follow the app's sign-in link, sign in at the provider, land back on the app."""
    page = browser_page.page
    page.goto(f"{app}/")
    page.click("#login")
    fill_provider_login(page, ALICE["username"], ALICE["password"])
    page.wait_for_url(f"{app}/")


def test_app_on_another_origin_logs_in_and_uses_the_session(
    browser_page: BrowserPage, sites: dict[str, Any]
) -> None:
    service: Service = sites["service"]
    sign_in_from_app(browser_page, sites["app"])

    seen = browser_page.page.evaluate(CROSS_ORIGIN_JOURNEY, f"{service.url}/api/v1")
    cookies = {c["name"]: c["value"] for c in browser_page.context.cookies()}
    assert seen["csrf"] == cookies["_csrf_token"]
    assert {k: v for k, v in seen.items() if k != "csrf"} == {
        "csrfStatus": 200,
        "tokenStatus": 200,
        "meStatus": 200,
        "email": ALICE["email"],
        "unauthorized": {
            "status": 401,
            "body": {"Code": "InvalidCredentials", "Message": "invalid access token"},
        },
        "logoutStatus": 204,
    }
    assert unexpected_console_errors(browser_page, "401") == []
    assert not any("CORS" in line for line in browser_page.console_lines())


def test_page_on_an_origin_not_allowed_reads_nothing(
    browser_page: BrowserPage, sites: dict[str, Any]
) -> None:
    service: Service = sites["service"]
    sign_in_from_app(browser_page, sites["app"])  # the browser holds a session

    browser_page.page.goto(f"{sites['foreign']}/")
    seen = browser_page.page.evaluate(FOREIGN_ATTEMPTS, f"{service.url}/api/v1")
    assert seen == {
        "permissions": "blocked: TypeError",
        "csrf": "blocked: TypeError",
        "token": "blocked: TypeError",
    }
    blocked = [text for text in browser_page.console_errors() if "blocked by CORS policy" in text]
    assert len(blocked) == 3, browser_page.console_lines()
    assert all(f"from origin '{sites['foreign']}'" in text for text in blocked)
