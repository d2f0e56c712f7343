"""The local OpenID Provider of ``make run`` and the tests: PyPI's
``oidc-provider-mock`` (built on Authlib), each provider a process of its own on
127.0.0.1 (``devtools/oidc_mock.py``).

What the mock does: the authorization code flow, RS256 ID tokens signed with a
key published at ``/jwks``, claims filtered by the granted scope (``email`` and
``email_verified`` for ``email``, ``name`` for ``profile``), a code redeemable
once, and ``access_denied`` when its form's Deny button is pressed. Its
authorization form asks for a subject (``sub``) only, with one button per
account given here. What it does not do: check passwords, client secrets,
redirect URIs or PKCE verifiers (it accepts any client), or tamper with an ID
token; the service's own checks of ID tokens are unit tests of
``chalicelib.identity.id_tokens.validate_id_token``.

Configuration (keys not given fall back to :func:`default_config`)::

    {"clients": [{"client_id", "client_secret", "redirect_uris"?}],
     "accounts": [{"username", "password", "sub", "email", "email_verified"?, "name"}]}

An account's claims are every key but ``username`` and ``password``; a key left
out is a claim the ID token does not carry. Any other claim (an entitlement, the
old identity of a replaced provider) is one more key. ``username`` and ``password`` serve
:func:`login_subject`, which tests use to fill in the form as a person would.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import urlsplit

import requests

from devtools.local_stack import PortInUse, port_is_free

DEFAULT_CLIENT_ID = "users-service-local"
DEFAULT_CLIENT_SECRET = "local-dev-secret-not-for-production"
STARTUP_TIMEOUT = 30.0
CONFIG_KEYS = {"clients", "accounts", "testing"}  # ``testing``: accepted, without effect

# Group memberships as research AAIs assert them (AARC-G069 entitlements); make run's
# permission rule grants DATA_EDIT to the tracker's editors.
EDITORS_ENTITLEMENT = "urn:geant:example.org:group:tracker-editors#local"
ALICE: dict[str, Any] = {
    "username": "alice",
    "password": "alice-password",
    "sub": "alice-sub",
    "email": "alice@example.org",
    "email_verified": True,
    "name": "Alice Example",
    "eduperson_entitlement": [EDITORS_ENTITLEMENT],
    # Alice's identity at the provider ``local`` replaced (make run's ``elixir``).
    "elixir_id": "alice-elixir@elixir-europe.org",
}
BOB: dict[str, Any] = {
    "username": "bob",
    "password": "bob-password",
    "sub": "bob-sub",
    "email": "bob@example.org",
    "email_verified": False,
    "name": "Bob Example",
}
_DEFAULT_CONFIG: dict[str, Any] = {
    "clients": [{"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}],
    "accounts": [ALICE, BOB],
}
_accounts: dict[str, list[dict[str, Any]]] = {}  # issuer -> accounts, while it runs


def default_config() -> dict[str, Any]:
    """A fresh copy of the default configuration: one client, alice and bob."""
    return copy.deepcopy(_DEFAULT_CONFIG)


def claims_of(account: Mapping[str, Any]) -> dict[str, Any]:
    """The claims the provider gives for ``account``: all but its username and password."""
    if not isinstance(account.get("sub"), str) or not account["sub"]:
        raise ValueError(f"an account needs a non-empty sub: {account!r}")
    return {name: value for name, value in account.items() if name not in ("username", "password")}


def login_subject(issuer: str, username: str, password: str) -> str:
    """The ``sub`` to enter on the form of the provider at ``issuer`` for the account
    ``username`` with ``password``; LookupError when no account matches."""
    for account in _accounts.get(issuer, []):
        if account.get("username") == username and account.get("password") == password:
            return str(account["sub"])
    raise LookupError(f"no account {username!r} with that password at {issuer}")


def submit_login_form(authorize_url: str, username: str, password: str) -> str:
    """Open the provider's form at ``authorize_url``, sign in as the account
    ``username`` (its ``sub`` entered, as the form asks) and return the ``Location``
    the provider redirects the browser to."""
    return press(authorize_url, {"sub": login_subject(_issuer(authorize_url), username, password)})


def _issuer(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def press(authorize_url: str, fields: dict[str, str]) -> str:
    """Open the provider's form at ``authorize_url``, post ``fields`` as its buttons
    do, and return the ``Location`` the provider redirects the browser to."""
    browser = requests.Session()
    headers = {"Connection": "close"}
    page = browser.get(authorize_url, timeout=10, headers=headers)
    page.raise_for_status()
    if 'name="sub"' not in page.text:
        raise RuntimeError(f"no login form at {authorize_url}: {page.text[:500]}")
    # The form has no action: it posts back to the page's own URL.
    reply = browser.post(
        authorize_url, data=fields, allow_redirects=False, timeout=10, headers=headers
    )
    if reply.status_code not in (302, 303):
        raise RuntimeError(f"the form answered {reply.status_code}: {reply.text[:500]}")
    return str(reply.headers["Location"])


@contextmanager
def running_provider(
    config: Mapping[str, Any] | None = None, port: int | None = None
) -> Iterator[str]:
    """Run the provider on 127.0.0.1 (``port``, or a free one) and yield its issuer URL.

    ``config`` is laid (shallowly) over :func:`default_config`. Raises PortInUse when
    ``port`` is taken; the provider is stopped on exit.
    """
    merged = default_config()
    merged.update(config or {})
    unknown = set(merged) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown provider settings: {sorted(unknown)}")
    accounts = list(merged["accounts"])
    claims = [claims_of(account) for account in accounts]
    if port is not None and not port_is_free(port):
        raise PortInUse(port, "OIDC_PORT")
    process, issuer = _start(claims, port)
    _accounts[issuer] = accounts
    try:
        yield issuer
    finally:
        _accounts.pop(issuer, None)
        process.terminate()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


# Each provider is a process forked from one that imported the mock once (its
# imports cost most of a start), started the first time a provider is.
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["devtools.oidc_mock"])


def _start(claims: list[dict[str, Any]], port: int | None) -> tuple[BaseProcess, str]:
    """Start the provider and wait until it serves its discovery document."""
    reports, report = _FORKS.Pipe(duplex=False)
    process = _FORKS.Process(target=_serve, args=(port or 0, claims, report), daemon=True)
    process.start()
    report.close()
    try:
        if not reports.poll(STARTUP_TIMEOUT):
            raise RuntimeError(f"the OpenID Provider did not start within {STARTUP_TIMEOUT} s")
        try:
            outcome, said = reports.recv()
        except EOFError:  # it ended first, its traceback on stderr
            process.join(5)
            outcome, said = "failed", f"it ended with exit code {process.exitcode}"
        if outcome != "listening":
            raise RuntimeError(f"the OpenID Provider did not start: {said}")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(said):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID Provider at {said} does not answer")
            time.sleep(0.1)
    except BaseException:
        process.kill()
        process.join()
        raise
    finally:
        reports.close()
    return process, said


def _serve(port: int, claims: list[dict[str, Any]], report: Connection) -> None:
    """In the forked process: serve the mock (imported there already)."""
    from devtools import oidc_mock

    oidc_mock.serve(port, claims, report)


def _answers(issuer: str) -> bool:
    """True when the provider at ``issuer`` serves its discovery document."""
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(json.load(reply).get("issuer") == issuer)
    except (OSError, ValueError):
        return False
