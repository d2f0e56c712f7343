"""Bad input is a 4xx with the error body, never a 5xx (docs/API.md sections 3 and 4),
and every answer carries the headers of section 4."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import Account, assert_error

API = "/api/v1"


def post_user(client: Client, caller: Account, raw: str) -> Any:
    return client.http.post(f"{API}/user", headers=caller.json_headers(), body=raw)


def patch(client: Client, caller: Account, path: str, user: dict[str, Any], **headers: str) -> Any:
    return client.http.patch(
        f"{API}{path}", headers=caller.json_headers(**headers), body=json.dumps({"user": user})
    )


# -- nesting ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5, 900, 20_000])
def test_body_nested_deeper_than_a_record_returns_400(
    client: Client, admin: Account, depth: int
) -> None:
    raw = '{"user": {"name": ' + "[" * depth + "]" * depth + "}}"
    assert len(raw) < 64 * 1024
    assert_error(post_user(client, admin, raw), 400, "InvalidInput")


def test_body_as_deep_as_a_record_is_read(client: Client, admin: Account) -> None:
    raw = json.dumps({"user": {"email": "deep@example.org", "permissions": ["USER_ADD"]}})
    assert post_user(client, admin, raw).status_code == 201


# -- numbers are ASCII digits ---------------------------------------------------

NOT_ASCII_DIGITS = ["\u00b2", "\u0661\u0660", "\uff11", "1\u00b2", "+5", "-1", "5.0"]


@pytest.mark.parametrize("limit", [*NOT_ASCII_DIGITS, " 5", "5 "])
def test_limit_that_is_not_ascii_digits_returns_400(
    client: Client, admin: Account, limit: str
) -> None:
    response = client.http.get(f"{API}/user?limit={limit}", headers=admin.headers)
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize("version", NOT_ASCII_DIGITS)
def test_if_match_that_is_not_ascii_digits_returns_400_and_changes_nothing(
    client: Client, admin: Account, make_user: Any, version: str
) -> None:
    target = make_user(name="Before")
    response = patch(
        client, admin, f"/user/{target.id}", {"name": "After"}, **{"If-Match": version}
    )
    assert_error(response, 400, "InvalidInput")
    shown = client.http.get(f"{API}/user/{target.id}", headers=admin.headers).json_body["user"]
    assert shown["name"] == "Before"


@pytest.mark.parametrize("version", ["2", '"2"', 'W/"2"'])
def test_if_match_of_ascii_digits_with_optional_quotes_is_read(
    client: Client, admin: Account, make_user: Any, version: str
) -> None:
    target = make_user(name="Before")
    response = patch(
        client, admin, f"/user/{target.id}", {"name": "After"}, **{"If-Match": version}
    )
    assert response.status_code == 200, response.body


def test_cursor_naming_a_non_ascii_number_returns_400(client: Client, admin: Account) -> None:
    import base64

    raw = json.dumps({"entry_id": {"S": admin.id}, "version": {"N": "\u00b2"}})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = client.http.get(f"{API}/user/{admin.id}/log?cursor={cursor}", headers=admin.headers)
    assert_error(response, 400, "InvalidCursor")


# -- strings: no lone surrogates, no control characters -----------------------

BAD_TEXT = ["\ud800", "a\udfffb", "a\x00b", "a\x1bb", "a\u200bb", "a\u2028b", "a\x7fb"]


TEXT_FIELDS = ["name", "affiliation", "contact", "url", "orcid"]


# Each bad text in one field, each field with at least one bad text.
BAD_FIELDS = [(TEXT_FIELDS[i % len(TEXT_FIELDS)], text) for i, text in enumerate(BAD_TEXT)]


@pytest.mark.parametrize(("field", "text"), BAD_FIELDS)
def test_string_with_lone_surrogate_or_control_character_returns_400_and_writes_nothing(
    client: Client, admin: Account, field: str, text: str
) -> None:
    response = patch(client, admin, "/user/me", {field: text})
    assert_error(response, 400, "InvalidInput")
    assert (
        client.http.get(f"{API}/user/me", headers=admin.headers).json_body["user"]["version"] == 2
    )


@pytest.mark.parametrize("field", ["affiliation", "contact"])
def test_newline_and_tab_are_allowed_in_free_text(
    client: Client, admin: Account, field: str
) -> None:
    response = patch(client, admin, "/user/me", {field: "Room 1\n\tBuilding 2"})
    assert response.status_code == 200, response.body
    assert response.json_body["user"][field] == "Room 1\n\tBuilding 2"


@pytest.mark.parametrize("text", ["Ada\nLovelace", "Ada\tLovelace"])
def test_newline_or_tab_in_name_returns_400(client: Client, admin: Account, text: str) -> None:
    assert_error(patch(client, admin, "/user/me", {"name": text}), 400, "InvalidInput")


def test_lone_surrogate_in_the_api_key_login_returns_400(client: Client) -> None:
    response = client.http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body='{"api-key": "uk_\\ud800"}',
    )
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize("text", ["\ud800", "a\x00", "a\u200b"])
def test_email_query_with_lone_surrogate_or_control_character_returns_400(
    client: Client, admin: Account, text: str
) -> None:
    response = client.http.get(f"{API}/user?email={text}", headers=admin.headers)
    assert_error(response, 400, "InvalidInput")


@pytest.mark.parametrize("header", ["\u00e9t\u00e9", "\ud800"])
def test_csrf_header_with_non_ascii_characters_returns_403(client: Client, header: str) -> None:
    response = client.http.post(
        f"{API}/login/token",
        headers={"Cookie": "session=x; _csrf_token=abc", "X-CSRF-Token": header},
    )
    assert_error(response, 403, "CsrfTokenMismatch")


def test_idempotency_key_with_lone_surrogate_returns_400(client: Client, admin: Account) -> None:
    response = client.http.post(
        f"{API}/user",
        headers=admin.json_headers(**{"Idempotency-Key": "k\ud800"}),
        body=json.dumps({"user": {"email": "idem@example.org"}}),
    )
    assert_error(response, 400, "InvalidInput")


def test_create_with_an_idempotency_key_and_a_lone_surrogate_returns_400(
    client: Client, admin: Account
) -> None:
    response = client.http.post(
        f"{API}/user",
        headers=admin.json_headers(**{"Idempotency-Key": "k1"}),
        body=json.dumps({"user": {"email": "idem@example.org", "name": "\ud800"}}),
    )
    assert_error(response, 400, "InvalidInput")


# -- headers on every answer ----------------------------------------------------


def test_api_answer_is_neither_sniffed_nor_stored(client: Client, admin: Account) -> None:
    response = client.http.get(f"{API}/user/me", headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_new_api_key_answer_is_not_stored(client: Client, admin: Account) -> None:
    response = client.http.post(f"{API}/user/{admin.id}/apikeys", headers=admin.headers)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/user/me", 401),
        ("POST", "/login/token", 401),
        ("GET", "/user/permissions", 200),
        ("GET", "/login", 200),
        ("POST", "/logout", 204),
    ],
)
def test_every_api_answer_errors_included_carries_nosniff_and_no_store(
    client: Client, method: str, path: str, status: int
) -> None:
    # A request without Authorization never reaches the service: the gateway answers it
    # (deploy/merge-template.yaml gives those answers the same headers).
    headers = {"Authorization": "Bearer not-a-token"}
    response = client.http.request(method, f"{API}{path}", headers=headers, body=b"")
    assert response.status_code == status, response.body
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_openapi_document_may_be_cached_but_is_not_sniffed(client: Client) -> None:
    response = client.http.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in response.headers
