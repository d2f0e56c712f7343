"""A real browser for tests: Debian's headless Chromium driven by Playwright.

Loaded as a pytest plugin (``pytest_plugins`` in ``tests/conftest.py``), it gives
every test the ``browser_page`` fixture: one page in a browser context of the
test's own (Chromium's incognito-like profile: no cookie, storage or cache
shared with another test) of a Chromium started once per test process, with
everything the page logged to its console collected. When the test fails, a
screenshot of the page is kept in ``test-artifacts/<test name>.png``.

Playwright's own browser download cannot be used here, so Chromium is the one
Debian installs at ``/usr/bin/chromium-headless-shell`` (``make test`` installs it
when it can): Chromium's headless shell, the build Playwright itself runs headless
tests on. The full browser in headless mode costs about three times the CPU: it
starts browser-window machinery (each new context's address-bar pop-up is a page
of its own) that no test looks at. It reaches 127.0.0.1 only: every other host
name fails to resolve.

Use::

    def test_something(browser_page: BrowserPage, local_store: Store) -> None:
        with running_service(local_store, Listener()) as service:
            page = browser_page.page
            page.goto(f"{service.url}/api/v1/login/oidc/local?origin=/")
            fill_provider_login(page, ALICE["username"], ALICE["password"])
            ...
        assert not browser_page.console_errors()
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    sync_playwright,
)

from devtools.local_stack import (
    Listener,
    Store,
    chalice_local,
    fresh_prefix,
    manage,
    provider_settings,
    service_env,
)
from devtools.oidc_provider import ALICE, login_subject, running_provider

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium-headless-shell")
INSTALL_HINT = (
    "Chromium's headless shell is missing: install it with"
    " `apt-get install -y chromium-headless-shell` (as root)"
)
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Nothing but 127.0.0.1 resolves: a page cannot reach any other host.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
TIMEOUT_MS = 30_000
CLIENT_ID = "users-service"


@dataclass
class BrowserPage:
    """One page of Chromium in a browser context of its own, and what its console said."""

    page: Page
    context: BrowserContext
    console: list[ConsoleMessage] = field(default_factory=list)
    in_flight: set[Request] = field(default_factory=set)

    def record(self, message: ConsoleMessage) -> None:
        """Keep one console message (the page's ``console`` event handler)."""
        self.console.append(message)

    def sent(self, request: Request) -> None:
        """Note a request the page made (its ``request`` event handler)."""
        self.in_flight.add(request)

    def ended(self, request: Request) -> None:
        """Note a request answered or failed (``requestfinished``, ``requestfailed``)."""
        self.in_flight.discard(request)

    def settle(self) -> None:
        """Wait until none of the page's requests is in flight.

        Playwright's ``wait_for_load_state("networkidle")`` is the document's own
        load: after a navigation inside the web UI it returns at once, while the
        new page's sections are still fetching what they show.
        """
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while self.in_flight:
            assert time.monotonic() < deadline, [r.url for r in self.in_flight]
            self.page.wait_for_timeout(10)  # Playwright delivers the page's events meanwhile

    def console_lines(self) -> list[str]:
        """Every console message as ``<type>: <text>``."""
        return [f"{message.type}: {message.text}" for message in self.console]

    def console_errors(self) -> list[str]:
        """The text of the console's error messages (a blocked request logs one), less
        the failed loads of a ``favicon.ico``, which Chromium asks every site for."""
        return [
            message.text
            for message in self.console
            if message.type == "error"
            and not message.location.get("url", "").endswith("/favicon.ico")
        ]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Chromium, started once per test process (each pytest-xdist worker starts its
    own, when a test first asks), as starting it takes seconds; each test gets a
    browser context of its own (``browser_page``)."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def fill_provider_login(page: Page, username: str, password: str) -> None:
    """Sign in on the OpenID Provider's login form shown in ``page``.

    The only place that knows the provider's HTML: its form asks for the
    account's subject (``sub``), which the provider's accounts map from the
    user name and password, and is sent with its "Authorize" button.
    """
    issuer = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    subject = login_subject(issuer, username, password)
    field = page.locator("input[name=sub]").first
    field.wait_for()
    field.fill(subject)
    page.get_by_role("button", name="Authorize", exact=True).click()


@dataclass(frozen=True)
class Service:
    """The service running on this machine for a browser test."""

    url: str  # where browsers reach it: PUBLIC_URL, or chalice local's own URL
    local: str  # chalice local's own URL
    issuer: str  # the OpenID Provider, configured as the login provider ``local``


@contextmanager
def running_service(
    store: Store,
    listener: Listener,
    public_url: str | None = None,
    allowed_origins: tuple[str, ...] = (),
    accounts: tuple[Mapping[str, Any], ...] = (ALICE,),
    table_prefix: str = "users-browser-",
) -> Iterator[Service]:
    """Tables of their own on ``store``, the local OpenID Provider and ``chalice local``
    on ``listener``.

    ``public_url`` (PUBLIC_URL) is where browsers reach the service when a proxy
    stands in front; the provider accepts exactly the callback under it.
    """
    url = public_url or listener.url
    secret = secrets.token_urlsafe(24)
    client = {
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "redirect_uris": [f"{url}/api/v1/login/oidc/local/authorize"],
    }
    config = {"clients": [client], "accounts": [dict(account) for account in accounts]}
    with running_provider(config) as issuer:
        settings = {
            "TABLE_PREFIX": fresh_prefix(table_prefix),
            "OIDC_PROVIDERS": provider_settings(issuer, CLIENT_ID, secret),
            "ALLOWED_ORIGINS": ",".join(allowed_origins),
        }
        if public_url:
            settings["PUBLIC_URL"] = public_url
        env = service_env(store.endpoint, **settings)
        if not public_url:
            env.pop("PUBLIC_URL", None)
        manage(env, "create-tables")
        with chalice_local(env, listener=listener) as local:
            yield Service(url=url, local=local, issuer=issuer)


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, for the screenshot on failure."""
    report = yield
    setattr(item, f"browser_report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """One page of a browser context of its own (no cookie, storage or cache of any
    other test's); a screenshot in test-artifacts/ if the test fails."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        opened = BrowserPage(page=page, context=context)
        page.on("console", opened.record)
        page.on("request", opened.sent)
        page.on("requestfinished", opened.ended)
        page.on("requestfailed", opened.ended)
        yield opened
        report = getattr(request.node, "browser_report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            path = ARTIFACTS / f"{_artifact_name(request.node.nodeid)}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception as exc:  # the page may be gone; the failure matters more
                print(f"no screenshot of the failed page: {exc}")
            else:
                print(f"screenshot of the failed page: {path}")
            (ARTIFACTS / f"{_artifact_name(request.node.nodeid)}.console.txt").write_text(
                "\n".join(opened.console_lines()) + "\n"
            )
    finally:
        context.close()
