"""Walk the local OpenID Provider's authorization form, as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from devtools.oidc_provider import login_subject


def submit_login_form(authorize_url: str, username: str, password: str) -> str:
    """Open the provider's form at ``authorize_url``, sign in as the account
    ``username`` (its ``sub`` entered, as the form asks) and return the ``Location``
    the provider redirects the browser to."""
    return _press(authorize_url, {"sub": login_subject(_issuer(authorize_url), username, password)})


def submit_subject(authorize_url: str, sub: str) -> str:
    """Open the provider's form at ``authorize_url`` and sign in as the subject
    ``sub`` (an account the test gave the provider at run time)."""
    return _press(authorize_url, {"sub": sub})


def set_claims(issuer: str, sub: str, claims: dict[str, object]) -> None:
    """Give the provider at ``issuer`` an account ``sub`` with these claims (replacing
    any it had): the mock's ``PUT /users/<sub>``."""
    reply = requests.put(
        f"{issuer}/users/{sub}", json=claims, timeout=10, headers={"Connection": "close"}
    )
    assert reply.status_code == 204, reply.text[:500]


def deny_at_provider(authorize_url: str) -> str:
    """Open the provider's form at ``authorize_url`` and press Deny; returns where
    the provider redirects the browser to."""
    return _press(authorize_url, {"action": "deny"})


def _issuer(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _press(authorize_url: str, fields: dict[str, str]) -> str:
    browser = requests.Session()
    headers = {"Connection": "close"}
    page = browser.get(authorize_url, timeout=10, headers=headers)
    page.raise_for_status()
    assert 'name="sub"' in page.text, page.text[:500]
    # The form has no action: it posts back to the page's own URL.
    reply = browser.post(
        authorize_url, data=fields, allow_redirects=False, timeout=10, headers=headers
    )
    assert reply.status_code in (302, 303), reply.text[:500]
    return str(reply.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
