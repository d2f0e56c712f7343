"""Walk the local OpenID Provider's authorization form, as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from devtools.oidc_provider import press, submit_login_form

__all__ = ["deny_at_provider", "query_of", "submit_login_form"]


def submit_subject(authorize_url: str, sub: str) -> str:
    """Open the provider's form at ``authorize_url`` and sign in as the subject
    ``sub`` (an account the test gave the provider at run time)."""
    return press(authorize_url, {"sub": sub})


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
    return press(authorize_url, {"action": "deny"})


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
