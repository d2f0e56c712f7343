"""One structured JSON log line per request, with nothing secret in it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import key_format
from chalicelib.http.requestlog import LOGGER

FIELDS = {"type", "request_id", "method", "route", "status", "latency_ms", "user_id"}


class Lines(logging.Handler):
    """Collects what the request logger writes."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    LOGGER.addHandler(handler)
    yield handler
    LOGGER.removeHandler(handler)


def test_successful_request_writes_one_line_with_every_field(
    client: Client, admin: Any, lines: Lines
) -> None:
    client.http.get("/api/v1/user/me", headers=admin.headers)
    [line] = lines.parsed()
    assert set(line) == FIELDS
    assert line["route"] == "/api/v1/user/me"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["user_id"] == admin.id
    assert line["request_id"]
    assert isinstance(line["latency_ms"], float | int)
    assert line["latency_ms"] >= 0


def test_error_writes_one_line_with_its_status_and_route_template(
    client: Client, admin: Any, lines: Lines
) -> None:
    client.http.get("/api/v1/user/0123456789abcdef0123456789abcdef", headers=admin.headers)
    [line] = lines.parsed()
    assert line["status"] == 404
    assert line["route"] == "/api/v1/user/{user_id}"


def test_refused_credentials_write_a_line_without_a_user(client: Client, lines: Lines) -> None:
    client.http.get("/api/v1/user/me", headers={"Authorization": "Bearer uk_not-a-key"})
    [line] = lines.parsed()
    assert line["status"] == 401
    assert line["user_id"] is None


def test_lines_hold_no_key_token_cookie_or_email(client: Client, admin: Any, lines: Lines) -> None:
    body = json.dumps({"user": {"email": "secret.person@example.org", "name": "S"}})
    client.http.post("/api/v1/user", headers=admin.json_headers(), body=body)
    session = client.http.post(
        "/api/v1/login/apikey",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"api-key": admin.key}),
    )
    [cookie] = [c.split(";")[0] for c in session.headers["Set-Cookie"] if c.startswith("session=")]
    client.http.post(
        "/api/v1/login/token",
        headers={"Cookie": f"{cookie}; _csrf_token=t", "X-CSRF-Token": "t"},
    )
    text = "\n".join(lines.lines)
    assert len(lines.lines) == 3
    parts = key_format.parse(admin.key, "uk")
    assert parts is not None
    secret_part = parts.secret
    for secret in (admin.key, secret_part, admin.email, "secret.person", cookie):
        assert secret not in text
