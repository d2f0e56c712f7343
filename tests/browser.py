"""A real browser for tests: Debian's Chromium driven by Playwright.

Loaded as a pytest plugin (``pytest_plugins`` in ``tests/conftest.py``), it gives
every test the ``browser_page`` fixture: a fresh Chromium (its own user-data
directory) showing one page, with everything the page logged to its console
collected. When the test fails, a screenshot of the page is kept in
``test-artifacts/<test name>.png``.

Playwright's own browser download cannot be used here, so Chromium is the one
Debian installs at ``/usr/bin/chromium`` (``make test`` installs it when it can).
It reaches 127.0.0.1 only: every other host name fails to resolve.

Use::

    def test_something(browser_page: BrowserPage) -> None:
        browser_page.page.goto("http://127.0.0.1:8000/")
        fill_provider_login(browser_page.page, "alice", "alice-password")
        assert not browser_page.console_errors()
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "Chromium is missing: install it with `apt-get install -y chromium` (as root)"
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


@dataclass
class BrowserPage:
    """One page of a fresh Chromium, and what its console said."""

    page: Page
    context: BrowserContext
    console: list[ConsoleMessage] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        """Keep one console message (the page's ``console`` event handler)."""
        self.console.append(message)

    def console_lines(self) -> list[str]:
        """Every console message as ``<type>: <text>``."""
        return [f"{message.type}: {message.text}" for message in self.console]

    def console_errors(self) -> list[str]:
        """The text of the console's error messages (a blocked request logs one)."""
        return [message.text for message in self.console if message.type == "error"]


@contextmanager
def launch_chromium() -> Iterator[BrowserContext]:
    """A fresh Chromium with its own, temporary user-data directory."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    user_data = tempfile.mkdtemp(prefix="chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                user_data,
                executable_path=str(CHROMIUM),
                headless=True,
                args=LAUNCH_ARGS,
            )
            context.set_default_timeout(TIMEOUT_MS)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(user_data, ignore_errors=True)


def fill_provider_login(page: Page, username: str, password: str) -> None:
    """Sign in on the OpenID Provider's login form shown in ``page``.

    The only place that knows the provider's HTML: the form holding a password
    field, its first text field for the user name, submitted as pressing Enter
    in the password field does.
    """
    form = page.locator("form", has=page.locator("input[type=password]")).first
    form.wait_for()
    user_field = form.locator(
        "input:not([type]), input[type=text], input[type=email], input[name=username]"
    ).first
    user_field.fill(username)
    password_field = form.locator("input[type=password]").first
    password_field.fill(password)
    password_field.press("Enter")


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, for the screenshot on failure."""
    report = yield
    setattr(item, f"browser_report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """One page of a fresh Chromium; a screenshot in test-artifacts/ if the test fails."""
    with launch_chromium() as context:
        page = context.pages[0] if context.pages else context.new_page()
        opened = BrowserPage(page=page, context=context)
        page.on("console", opened.record)
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
