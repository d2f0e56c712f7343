"""Other origins (docs/API.md section 6): CORS headers on every answer for the allowed
origins only, preflights on every path, and GET /login/csrf."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.http import cors
from tests.conftest import Account, assert_error

API = "/api/v1"
APP = "https://app.example.org"
OTHER_APP = "http://127.0.0.1:8081"
ALLOW_HEADERS = "Authorization, Content-Type, X-CSRF-Token, Idempotency-Key, If-Match"


@pytest.fixture
def cors_client(client: Client, configure: Any) -> Client:
    """The test client with two allowed origins."""
    configure(ALLOWED_ORIGINS=f"{APP},{OTHER_APP}")
    return client


def header(response: Any, name: str) -> Any:
    """A response header by name, whatever its case."""
    found = {k.lower(): v for k, v in response.headers.items()}
    return found.get(name.lower())


def cors_headers(response: Any) -> dict[str, Any]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def set_cookies(response: Any) -> list[str]:
    raw = header(response, "Set-Cookie") or []
    return [raw] if isinstance(raw, str) else list(raw)


def assert_allowed(response: Any, origin: str) -> None:
    assert header(response, "Access-Control-Allow-Origin") == origin
    assert header(response, "Access-Control-Allow-Credentials") == "true"
    assert "Origin" in header(response, "Vary")


@pytest.mark.parametrize("origin", [APP, OTHER_APP])
def test_allowed_origin_may_read_a_success(cors_client: Client, origin: str) -> None:
    response = cors_client.http.get(f"{API}/user/permissions", headers={"Origin": origin})
    assert response.status_code == 200
    assert_allowed(response, origin)


def test_allowed_origin_may_read_a_401_and_its_error_body(cors_client: Client) -> None:
    headers = {"Origin": APP, "Authorization": "Bearer not-a-token"}
    response = cors_client.http.get(f"{API}/user/me", headers=headers)
    assert_error(response, 401, "InvalidCredentials")
    assert_allowed(response, APP)


def test_allowed_origin_may_read_a_403_for_a_missing_csrf_token(cors_client: Client) -> None:
    headers = {"Origin": APP, "Cookie": "_csrf_token=abc"}
    response = cors_client.http.post(f"{API}/login/token", headers=headers)
    assert_error(response, 403, "CsrfTokenMismatch")
    assert_allowed(response, APP)


def test_allowed_origin_may_read_a_404(cors_client: Client, admin: Account) -> None:
    headers = {**admin.headers, "Origin": APP}
    response = cors_client.http.get(f"{API}/user/{'0' * 32}", headers=headers)
    assert_error(response, 404, "UserNotFound")
    assert_allowed(response, APP)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.org",
        "http://app.example.org",  # another scheme
        "https://app.example.org:8443",  # another port
        "https://app.example.org.evil.example",  # the allowed one as a prefix
        "http://127.0.0.1:8082",
        "null",
        "*",
    ],
)
def test_other_origin_gets_no_access_control_header(cors_client: Client, origin: str) -> None:
    for response in (
        cors_client.http.get(f"{API}/user/permissions", headers={"Origin": origin}),
        cors_client.http.get(
            f"{API}/user/me", headers={"Origin": origin, "Authorization": "Bearer bad"}
        ),
        cors_client.http.request(
            "OPTIONS",
            f"{API}/login/token",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        ),
    ):
        assert cors_headers(response) == {}, response.headers
        assert "Origin" in header(response, "Vary")


def test_request_without_origin_gets_no_access_control_header(cors_client: Client) -> None:
    response = cors_client.http.get(f"{API}/user/permissions")
    assert cors_headers(response) == {}


def test_no_origin_is_allowed_when_none_is_configured(client: Client, configure: Any) -> None:
    configure(ALLOWED_ORIGINS=None)
    response = client.http.get(f"{API}/user/permissions", headers={"Origin": APP})
    assert cors_headers(response) == {}


def preflight(client: Client, path: str, method: str, origin: str = APP) -> Any:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return client.http.request("OPTIONS", path, headers=headers)


def test_preflight_lists_the_paths_methods_and_the_request_headers(cors_client: Client) -> None:
    response = preflight(cors_client, f"{API}/user/{'0' * 32}", "PATCH")
    assert response.status_code == 204
    assert_allowed(response, APP)
    assert header(response, "Access-Control-Allow-Methods") == "DELETE, GET, OPTIONS, PATCH"
    assert header(response, "Access-Control-Allow-Headers") == ALLOW_HEADERS
    assert int(header(response, "Access-Control-Max-Age")) > 0
    assert response.body in (b"", "", None)


def test_preflight_on_a_route_behind_the_authorizer_needs_no_credentials(
    cors_client: Client,
) -> None:
    response = preflight(cors_client, f"{API}/user/me", "GET")
    assert response.status_code == 204
    assert header(response, "Access-Control-Allow-Methods") == "DELETE, GET, OPTIONS, PATCH"


def test_preflight_for_login_token_allows_post(cors_client: Client) -> None:
    response = preflight(cors_client, f"{API}/login/token", "POST", OTHER_APP)
    assert response.status_code == 204
    assert_allowed(response, OTHER_APP)
    assert header(response, "Access-Control-Allow-Methods") == "OPTIONS, POST"


def test_every_api_path_answers_preflights_without_the_authorizer() -> None:
    for path, methods in app.routes.items():
        if path.startswith(API):
            assert "OPTIONS" in methods, path
            assert methods["OPTIONS"].authorizer is None, path


def test_options_without_a_requested_method_is_no_preflight(cors_client: Client) -> None:
    response = cors_client.http.request("OPTIONS", f"{API}/user", headers={"Origin": APP})
    assert response.status_code == 204
    assert header(response, "Allow") == "GET, OPTIONS, POST"
    assert header(response, "Access-Control-Allow-Methods") is None


def test_star_is_never_sent(cors_client: Client) -> None:
    answers = [
        cors_client.http.get(f"{API}/user/permissions", headers={"Origin": "*"}),
        preflight(cors_client, f"{API}/user", "POST"),
        cors_client.http.get(f"{API}/user/permissions", headers={"Origin": APP}),
    ]
    for response in answers:
        assert "*" not in json.dumps(cors_headers(response))


def test_vary_keeps_what_the_route_named() -> None:
    assert cors.add_vary("Accept-Encoding") == "Accept-Encoding, Origin"
    assert cors.add_vary("origin") == "origin"
    assert cors.add_vary(None) == "Origin"


# -- GET /login/csrf ------------------------------------------------------------


def csrf_cookie_values(response: Any) -> list[str]:
    return [
        c.split(";", 1)[0].split("=", 1)[1]
        for c in set_cookies(response)
        if c.startswith("_csrf_token=")
    ]


def test_csrf_token_without_cookie_is_set_as_cookie_and_returned(cors_client: Client) -> None:
    response = cors_client.http.get(f"{API}/login/csrf", headers={"Origin": APP})
    assert response.status_code == 200
    token = response.json_body["csrf_token"]
    assert len(token) >= 32
    assert csrf_cookie_values(response) == [token]
    assert_allowed(response, APP)


def test_csrf_token_with_cookie_is_the_cookies_value_and_sets_nothing(client: Client) -> None:
    response = client.http.get(f"{API}/login/csrf", headers={"Cookie": "_csrf_token=abc123"})
    assert response.status_code == 200
    assert response.json_body == {"csrf_token": "abc123"}
    assert csrf_cookie_values(response) == []


def test_csrf_token_is_the_one_post_login_token_expects(client: Client, make_user: Any) -> None:
    account = make_user()
    first = client.http.get(f"{API}/login/csrf")
    token = first.json_body["csrf_token"]
    login = client.http.post(
        f"{API}/login/apikey",
        headers={
            "Content-Type": "application/json",
            "Cookie": f"_csrf_token={token}",
            "X-CSRF-Token": token,
        },
        body=json.dumps({"api-key": account.key}),
    )
    assert login.status_code == 200, login.body
    session = next(c for c in set_cookies(login) if c.startswith("session="))
    cookie = f"_csrf_token={token}; {session.split(';', 1)[0]}"
    answer = client.http.post(
        f"{API}/login/token", headers={"Cookie": cookie, "X-CSRF-Token": token}
    )
    assert answer.status_code == 200, answer.body
    assert answer.json_body["token"]
