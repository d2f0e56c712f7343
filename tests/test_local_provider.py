"""The local OpenID Provider as configured here (``devtools/oidc_provider.py``):
accounts become the claims of its ID tokens, and its form loads nothing from
outside this machine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.oidc_helpers import deny_at_provider, query_of, submit_login_form

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

REDIRECT_URI = "http://127.0.0.1:8000/api/v1/login/oidc/local/authorize"
CAROL = {
    "username": "carol",
    "password": "carol-password",
    "sub": "carol-sub",
    "email": "carol@example.org",
    "name": "Carol Example",
}


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    accounts = [CAROL, {**CAROL, "username": "dan", "sub": "dan-sub", "email_verified": False}]
    with running_provider({"accounts": accounts}) as url:
        yield url


def authorize_url(issuer: str, nonce: str = "n-0123456789") -> str:
    query = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": "s-0123456789",
        "nonce": nonce,
    }
    return f"{issuer}/oauth2/authorize?{urlencode(query)}"


def id_token_claims(issuer: str, username: str, password: str) -> dict[str, Any]:
    """Sign in as ``username`` on the form, redeem the code, verify the ID token."""
    callback = submit_login_form(authorize_url(issuer), username, password)
    assert callback.startswith(f"{REDIRECT_URI}?"), callback
    reply = requests.post(
        f"{issuer}/oauth2/token",
        data={"grant_type": "authorization_code", "code": query_of(callback)["code"]}
        | {"redirect_uri": REDIRECT_URI},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    keys = KeySet.import_key_set(requests.get(f"{issuer}/jwks", timeout=10).json())
    return dict(jwt.decode(reply.json()["id_token"], keys, algorithms=["RS256"]).claims)


def test_account_without_email_verified_gives_an_id_token_without_that_claim(
    issuer: str,
) -> None:
    claims = id_token_claims(issuer, "carol", "carol-password")
    assert claims["sub"] == "carol-sub"
    assert claims["email"] == "carol@example.org"
    assert claims["name"] == "Carol Example"
    assert claims["nonce"] == "n-0123456789"
    assert "email_verified" not in claims


def test_account_with_email_verified_false_gives_that_claim(issuer: str) -> None:
    claims = id_token_claims(issuer, "dan", "carol-password")
    assert (claims["sub"], claims["email_verified"]) == ("dan-sub", False)


def test_wrong_password_finds_no_account(issuer: str) -> None:
    with pytest.raises(LookupError):
        submit_login_form(authorize_url(issuer), "carol", "not-her-password")


def test_deny_on_the_form_redirects_with_access_denied(issuer: str) -> None:
    callback = deny_at_provider(authorize_url(issuer))
    assert callback.startswith(f"{REDIRECT_URI}?")
    assert query_of(callback)["error"] == "access_denied"


def test_form_loads_nothing_from_outside_this_machine(issuer: str) -> None:
    page = requests.get(authorize_url(issuer), timeout=10)
    assert page.status_code == 200
    assert 'name="sub"' in page.text
    assert 'value="carol-sub"' in page.text  # a button per account
    assert not re.search(r"(src|href)=\"https?://", page.text), page.text
