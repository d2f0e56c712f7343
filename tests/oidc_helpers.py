"""Walk the local OpenID Provider's authorization form, as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from devtools.oidc_provider import press, submit_login_form

__all__ = ["deny_at_provider", "query_of", "submit_login_form"]


def deny_at_provider(authorize_url: str) -> str:
    """Open the provider's form at ``authorize_url`` and press Deny; returns where
    the provider redirects the browser to."""
    return press(authorize_url, {"action": "deny"})


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
