"""What the web UI's journeys share: the running service with its OpenID Provider,
axe-core checks, and screenshots of each page for ``docs/screenshots/``.

``WEBUI_SCREENSHOTS=docs/screenshots`` (``make screenshots``) makes the journeys
save a screenshot of each page they pass through into that folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page

from devtools.local_stack import (
    Listener,
    Store,
    chalice_local,
    fresh_prefix,
    provider_settings,
    service_env,
    tables_and_admin,
)
from devtools.oidc_provider import ALICE, running_provider
from tests.browser import TIMEOUT_MS, BrowserPage
from tests.servers import reverse_proxy

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ACCOUNTS = [
    ALICE,
    {
        "username": "dave",
        "password": "dave-password",
        "sub": "dave-sub",
        "email": "dave@example.org",
        "email_verified": True,
        "name": "Dave Example",
    },
    {
        "username": "erin",
        "password": "erin-password",
        "sub": "erin-sub",
        "email": "erin@example.org",
        "email_verified": True,
        "name": "Erin Example",
    },
    {
        "username": "gwen",
        "password": "gwen-password",
        "sub": "gwen-sub",
        "email": "gwen@example.org",
        "email_verified": True,
        "name": "Gwen Example",
    },
]


@dataclass(frozen=True)
class Stack:
    """The service at ``base`` (its page is ``base + '/'``) and its first manager."""

    base: str
    manager_key: str
    manager_id: str
    env: dict[str, str]

    @property
    def api(self) -> str:
        return f"{self.base}/api/v1"

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """Call the API as a script would (the manager's key unless another is given)."""
        headers = {"Authorization": f"Bearer {key or self.manager_key}", "Connection": "close"}
        return requests.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)


def running_stack(store: Store, table_prefix: str, path_prefix: str = "") -> Iterator[Stack]:
    """Tables of their own on ``store``, the local OpenID Provider and ``chalice local``,
    with one user manager.

    With a ``path_prefix`` (``/users``), a reverse proxy serves the service under it,
    and ``PUBLIC_URL`` says so: the page is at ``<proxy>/users/``.
    """
    service = Listener()
    proxy = Listener()
    local = service.url
    base = f"{proxy.url}{path_prefix}" if path_prefix else local
    client = {
        "client_id": "users-webui",
        "client_secret": secrets.token_urlsafe(24),
        "redirect_uris": [f"{base}/api/v1/login/oidc/local/authorize"],
    }
    config = {"clients": [client], "accounts": ACCOUNTS}
    with running_provider(config) as issuer:
        env = service_env(
            store.endpoint,
            TABLE_PREFIX=fresh_prefix(table_prefix),
            OIDC_PROVIDERS=provider_settings(issuer, client["client_id"], client["client_secret"]),
        )
        if path_prefix:
            env["PUBLIC_URL"] = base
        admin = tables_and_admin(env, "manager@example.org", "Mona Manager")
        with chalice_local(env, listener=service), contextlib.ExitStack() as proxied:
            if path_prefix:
                proxied.enter_context(reverse_proxy(local, path_prefix, listener=proxy))
            else:
                proxy.close()
            yield Stack(base, admin["key"], admin["id"], env)


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol, so the page's CSP does not apply.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            // Only violations are read: axe skips gathering every passing node.
            const result = await window.axe.run(document, {resultTypes: ['violations']})
            return result.violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => ({id: v.id, help: v.help, nodes: v.nodes.map((n) => n.html)}))
        }"""
    )
    return [f"{v['id']}: {v['help']} {v['nodes'][:3]}" for v in found]


CONTROLS = "a[href], button:not([disabled]), input:not([disabled]), textarea, select, summary"


def unreachable_by_keyboard(page: Page) -> list[str]:
    """The visible controls that pressing Tab from the top of the page never focuses."""
    controls = f"Array.from(document.querySelectorAll('{CONTROLS}'))"
    visible = f"{controls}.filter((e) => e.checkVisibility())"
    # Where focus is once each Tab is released, noted by the page itself (a listener
    # that runs before any of the page's own); focus on the body means the walk has
    # gone past the page's last stop.
    page.evaluate(
        """() => window.__noteTab || window.addEventListener('keyup', window.__noteTab = (e) => {
            if (e.key !== 'Tab') return
            if (document.activeElement === document.body) window.__wrapped = true
            else window.__reached.add(document.activeElement)
        }, true)"""
    )
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        # The walk starts at the top: from an element focused before the page's first.
        count: int = page.evaluate(
            f"""() => {{
                const top = document.createElement('div')
                top.tabIndex = -1
                document.body.prepend(top)
                top.focus()
                top.remove()
                window.__reached = new Set()
                window.__wrapped = false
                return (window.__controls = {visible}).length
            }}"""
        )
        # Each Tab reaches one stop at most: press as often as controls are still
        # unreached, until none is or the walk went past the last stop. A page has
        # no more stops than elements: that bounds a walk that never ends.
        stops: int = page.evaluate("document.body.querySelectorAll('*').length + 1")
        left = count
        while left and stops > 0:
            for _ in range(left):
                page.keyboard.press("Tab")
            stops -= left
            left = page.evaluate(
                """window.__wrapped ? 0
                    : window.__controls.filter((e) => !window.__reached.has(e)).length"""
            )
        # A section that finished loading during the walk replaced its elements or
        # added some: the walk is judged only on a page that stayed the same throughout.
        missed: list[str] | None = page.evaluate(
            f"""() => window.__controls.every((e) => e.isConnected)
                && {visible}.length === {count}
                ? {visible}.filter((e) => !window.__reached.has(e))
                    .map((e) => e.outerHTML.slice(0, 120))
                : null"""
        )
        if missed is not None:
            return missed
        assert time.monotonic() < deadline, "the page kept changing during the keyboard walk"


def check_page(browser_page: BrowserPage, name: str) -> None:
    """The page, once none of its requests is in flight, has no serious accessibility
    fault and every control is reachable by keyboard; saved as a screenshot when asked."""
    browser_page.settle()
    page = browser_page.page
    violations = serious_violations(page)
    assert violations == [], (name, violations)
    folder = os.environ.get("WEBUI_SCREENSHOTS")
    if folder:
        target = ROOT / folder
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)
    missed = unreachable_by_keyboard(page)
    assert missed == [], (name, missed)


def csp_violations(console: list[str]) -> list[str]:
    """Console lines in which the browser reports a blocked script, style or request."""
    return [line for line in console if "Content Security Policy" in line]
