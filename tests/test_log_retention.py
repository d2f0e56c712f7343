"""Logs kept for security (docs/API.md sections 9 and 10): how long the log groups keep
their lines, and that no line the service writes holds an email, a name, a key or
a token. The packaged template's log groups are checked in ``test_package.py``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import yaml
from chalice.test import Client

from chalicelib import config
from chalicelib.records import user_sessions
from deploy import retention
from tests.conftest import Account
from tests.faults import THROTTLING, inject_faults
from tests.test_personal_data import apikey_login, cookie_of, provider_session, token_for

API = "/api/v1"
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Access": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 90}},
        "Handler": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    }
}


def test_log_retention_defaults_to_180_days() -> None:
    assert config.log_retention_days({}) == 180


@pytest.mark.parametrize("value", ["0", "13", "-1", "forever", "180d", "99999", "١٨٠", "³⁶⁵"])
def test_log_retention_that_cloudwatch_refuses_is_a_config_error(value: str) -> None:
    with pytest.raises(config.ConfigError, match="LOG_RETENTION_DAYS"):
        config.log_retention_days({"LOG_RETENTION_DAYS": value})


def test_retention_is_written_into_every_log_group_and_nothing_else(tmp_path: Any) -> None:
    path = tmp_path / "sam.yaml"
    path.write_text(json.dumps(TEMPLATE))
    assert retention.main([str(path)], {"LOG_RETENTION_DAYS": "365"}) == 0
    written = yaml.safe_load(path.read_text())["Resources"]
    assert written["Access"]["Properties"]["RetentionInDays"] == 365
    assert written["Handler"]["Properties"]["RetentionInDays"] == 365
    assert written["Table"]["Properties"] == {}


def test_retention_refuses_a_bad_setting_and_leaves_the_template(tmp_path: Any) -> None:
    path = tmp_path / "sam.yaml"
    path.write_text(json.dumps(TEMPLATE))
    assert retention.main([str(path)], {"LOG_RETENTION_DAYS": "12"}) == 2
    assert json.loads(path.read_text()) == TEMPLATE


def test_no_log_line_holds_an_email_a_name_a_key_or_a_token(
    client: Client,
    admin: Account,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A run through every kind of request, refused ones and storage faults
    included, with every logger at DEBUG; then each line it wrote is searched."""
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [admin.key]
    http = client.http

    def send(method: str, path: str, body: Any = None, token: str = admin.key) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        raw = json.dumps(body) if body is not None else None
        return getattr(http, method)(f"{API}{path}", headers=headers, body=raw)

    email, name = "grace.hopper@example.org", "Grace Brewster Hopper"
    user_id = send("post", "/user", {"user": {"email": email, "name": name}}).json_body["id"]
    assert send("post", "/user", {"user": {"email": email}}).status_code == 409
    assert send("get", f"/user?email={email}").status_code == 200
    key = send("post", f"/user/{user_id}/apikeys", {"name": "grace-laptop"}).json_body["key"]
    secrets += [key, key.split(".")[-1]]
    send("patch", "/user/me", {"user": {"affiliation": "Navy Lab"}}, token=key)
    login = apikey_login(client, key)
    cookie = cookie_of(login, "session")
    token = token_for(client, cookie).json_body["token"]
    oidc_cookie = provider_session(user_id)
    secrets += [cookie, token, oidc_cookie, cookie.split(".")[-1]]
    send("get", "/user/me", token=token)
    send("get", "/user/me", token=key[:-3] + "abc")
    send("get", "/user/me", token=token[:-3] + "abc")
    send("get", f"/user/{user_id}/export")
    with inject_faults(share=1.0, kinds=(THROTTLING,), limit=6):
        send("get", "/user/me", token=key)
        send("patch", f"/user/{user_id}", {"user": {"name": "Amazing Grace"}})
    send("patch", f"/user/{user_id}", {"user": {"suspended": True}})
    send("get", "/user/me", token=token)
    send("delete", f"/user/{user_id}")
    assert user_sessions.user_sessions(user_id) == []

    captured = capfd.readouterr()
    lines = [*caplog.messages, *caplog.text.splitlines(), *captured.out.splitlines()]
    lines += captured.err.splitlines()
    assert any(user_id in line for line in lines)  # the run was logged, by id
    personal = [email, "grace.hopper", name, "Hopper", "Amazing Grace", "grace-laptop", "Navy"]
    for line in lines:
        for value in [*personal, *secrets]:
            assert value.casefold() not in line.casefold(), line
