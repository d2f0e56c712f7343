"""The base path (docs/API.md sections 6 and 7): where browsers see the service decides
cookie paths, the OIDC redirect_uri and the login links; in AWS never a client header."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from bench import environment
from chalicelib import config, errors
from chalicelib.http import urls
from chalicelib.identity import oidc
from devtools.local_stack import provider_settings
from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.oidc_helpers import query_of

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

API = "/api/v1"
EXECUTE_API = "abc123.execute-api.eu-north-1.amazonaws.com"
FORGED = {
    "host": "evil.example",
    "x-forwarded-host": "evil.example",
    "x-forwarded-proto": "https",
    "x-forwarded-prefix": "/evil",
}


def settings(**changes: Any) -> config.Settings:
    return dataclasses.replace(environment.settings(), **changes)


# -- the rules, one request at a time -------------------------------------------


def test_public_url_gives_origin_and_prefix_whatever_the_headers() -> None:
    base = urls.request_base(settings(public_url="https://example.org/users"), FORGED, {})
    assert base == urls.Base("https://example.org", "/users", secure=False)  # test: not Secure
    assert oidc.redirect_uri(base, "local") == (
        "https://example.org/users/api/v1/login/oidc/local/authorize"
    )


def test_public_url_without_path_has_no_prefix() -> None:
    base = urls.request_base(settings(public_url="https://users.example.org"), FORGED, {})
    assert base == urls.Base("https://users.example.org", "", secure=False)
    assert base.api_path == "/api/v1"


def test_in_aws_execute_api_host_adds_the_stage_and_ignores_client_headers() -> None:
    context = {"domainName": EXECUTE_API, "stage": "api"}
    base = urls.request_base(settings(environment="aws", public_url=None), FORGED, context)
    assert base == urls.Base(f"https://{EXECUTE_API}", "/api")
    assert oidc.redirect_uri(base, "elixir") == (
        f"https://{EXECUTE_API}/api/api/v1/login/oidc/elixir/authorize"
    )


def test_in_aws_custom_domain_has_no_stage_prefix() -> None:
    context = {"domainName": "users.example.org", "stage": "api"}
    base = urls.request_base(settings(environment="aws", public_url=None), FORGED, context)
    assert base == urls.Base("https://users.example.org", "")


def test_in_aws_without_public_url_or_domain_in_context_is_misconfigured() -> None:
    with pytest.raises(errors.ServiceMisconfigured, match="PUBLIC_URL"):
        urls.request_base(settings(environment="aws", public_url=None), FORGED, {})


def test_locally_the_host_header_is_used_and_forwarded_headers_are_not() -> None:
    base = urls.request_base(settings(public_url=None), FORGED, {"stage": "api"})
    assert base == urls.Base("http://evil.example", "", secure=False)


@pytest.mark.parametrize("host", ["", "a b", "host/path", "x@y", "h:port"])
def test_locally_a_malformed_host_falls_back_to_localhost(host: str) -> None:
    base = urls.request_base(settings(public_url=None), {"host": host}, {})
    assert base.origin == "http://localhost"


def test_cookie_paths_and_links_carry_the_prefix() -> None:
    base = urls.Base("https://example.org", "/users")
    assert base.api_path == "/users/api/v1"
    assert base.site_path == "/users/"
    assert base.path("/login/oidc/local") == "/users/api/v1/login/oidc/local"
    assert urls.Base("http://127.0.0.1:8000").site_path == "/"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.org/users/", "https://example.org/users"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_public_url_setting_drops_a_trailing_slash(configure: Any, raw: str, expected: str) -> None:
    assert configure(PUBLIC_URL=raw).public_url == expected


@pytest.mark.parametrize(
    "raw",
    ["example.org/users", "ftp://example.org", "https://u:p@example.org", "https://e.org/?a=1"],
)
def test_public_url_setting_must_be_a_plain_http_url(raw: str) -> None:
    with pytest.raises(config.ConfigError, match="PUBLIC_URL"):
        config.load_settings({**environment.ENVIRON, "PUBLIC_URL": raw})


# -- through the service, under PUBLIC_URL with a path -------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with running_provider() as issuer:
        yield issuer


@pytest.fixture
def prefixed(client: Client, configure: Any, provider: str) -> Client:
    """The service under https://example.org/users, with the local provider."""
    configure(
        PUBLIC_URL="https://example.org/users",
        OIDC_PROVIDERS=provider_settings(provider, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    return client


def set_cookies(response: Any) -> dict[str, str]:
    raw = response.headers.get("Set-Cookie") or []
    return {c.split("=", 1)[0]: c for c in ([raw] if isinstance(raw, str) else raw)}


def test_oidc_links_carry_the_prefix(prefixed: Client) -> None:
    response = prefixed.http.get(f"{API}/login/oidc")
    assert response.json_body == {"local": "/users/api/v1/login/oidc/local"}


def test_login_start_sends_the_prefixed_callback_and_scopes_its_cookie(prefixed: Client) -> None:
    query = urlencode({"origin": "/users/"})
    response = prefixed.http.get(f"{API}/login/oidc/local?{query}", headers=FORGED)
    assert response.status_code == 302, response.body
    sent = query_of(response.headers["Location"])
    assert sent["redirect_uri"] == "https://example.org/users/api/v1/login/oidc/local/authorize"
    login_cookie = set_cookies(response)["oidc_login"]
    assert "Path=/users/api/v1/login/oidc" in login_cookie.split("; ")
    assert "Secure" not in login_cookie.split("; ")  # local development


def test_session_and_csrf_cookies_carry_the_prefix(prefixed: Client, make_user: Any) -> None:
    account = make_user()
    response = prefixed.http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body=f'{{"api-key": "{account.key}"}}',
    )
    assert response.status_code == 200, response.body
    cookies = set_cookies(response)
    assert "Path=/users/api/v1" in cookies["session"].split("; ")
    assert "Path=/users/" in cookies["_csrf_token"].split("; ")


def test_logout_clears_the_session_cookie_under_the_prefix(prefixed: Client) -> None:
    response = prefixed.http.post(f"{API}/logout")
    assert response.status_code == 204
    cleared = set_cookies(response)["session"].split("; ")
    assert "Path=/users/api/v1" in cleared and "Max-Age=0" in cleared


def test_without_public_url_the_local_callback_follows_the_host(
    client: Client, configure: Any, provider: str
) -> None:
    configure(
        PUBLIC_URL=None,
        OIDC_PROVIDERS=provider_settings(provider, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    headers = {"Host": "127.0.0.1:8123", "X-Forwarded-Proto": "https"}
    response = client.http.get(f"{API}/login/oidc/local", headers=headers)
    sent = query_of(response.headers["Location"])
    assert sent["redirect_uri"] == "http://127.0.0.1:8123/api/v1/login/oidc/local/authorize"
    assert "Path=/api/v1/login/oidc" in set_cookies(response)["oidc_login"].split("; ")
