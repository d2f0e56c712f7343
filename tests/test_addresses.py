"""Lookalike addresses (docs/API.md section 3): one stored form, and no address that
looks like another (chalicelib/records/addresses.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import Account, assert_error
from tests.test_users import create_user, created_id, get, record

# Invisible characters email-validator lets through, each hidden in an address
# that reads "admin@example.org".
INVISIBLE = ["\u034f", "\u3164", "\u115f", "\u2800", "\ufe0f", "\U000e0100", "\u180b"]


def message(response: Any) -> str:
    return str(json.loads(response.body)["Message"])


@pytest.mark.parametrize("char", INVISIBLE)
@pytest.mark.parametrize(
    "where", ["ad{}min@example.org", "admin{}@example.org", "admin@exa{}mple.org"]
)
def test_address_with_an_invisible_character_is_refused_naming_the_rule(
    client: Client, admin: Account, char: str, where: str
) -> None:
    response = create_user(client, admin, email=where.format(char))
    assert_error(response, 400, "InvalidInput")
    assert "invisible" in message(response)
    assert f"U+{ord(char):04X}" in message(response)


@pytest.mark.parametrize(
    ("email", "rule"),
    [
        ("\u0430dmin@example.org", "mixes scripts"),  # Cyrillic a
        ("adm\u0131n@example.org", "ASCII lookalike"),  # dotless i
        ("p\u0430ypal@example.org", "mixes scripts"),
        ("\u0251dmin@example.org", "ASCII lookalike"),  # Latin alpha
    ],
)
def test_lookalike_local_part_is_refused_naming_the_rule(
    client: Client, admin: Account, email: str, rule: str
) -> None:
    response = create_user(client, admin, email=email)
    assert_error(response, 400, "InvalidInput")
    assert rule in message(response)


@pytest.mark.parametrize(
    "email",
    [
        "\u043e\u043b\u0435\u0433@example.org",  # all Cyrillic
        "jos\u00e9.m\u00fcller@example.org",  # Latin with diacritics
        "\u5c71\u7530taro@example.jp",  # Han with Latin: highly restrictive
        "\u3084\u307e\u3060\u592a\u90ce@example.jp",  # Hiragana with Han
        "s\u00f8ren.\u0142ukasz@example.org",
    ],
)
def test_address_in_one_script_is_taken(client: Client, admin: Account, email: str) -> None:
    created_id(create_user(client, admin, email=email))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("admin@example.org", "admin@example\u3002org"),  # ideographic full stop
        ("x@ex\u00e4mple.org", "x@xn--exmple-cua.org"),  # Unicode and punycode
        ("x@xn--exmple-cua.org", "X@EX\u00c4MPLE.ORG"),
    ],
)
def test_one_domain_written_two_ways_is_one_address(
    client: Client, admin: Account, first: str, second: str
) -> None:
    created_id(create_user(client, admin, email=first))
    assert_error(create_user(client, admin, email=second), 409, "EmailTaken")


def test_the_stored_address_has_its_domain_as_an_a_label(client: Client, admin: Account) -> None:
    user_id = created_id(create_user(client, admin, email="Ren\u00e9@Ex\u00e4mple\u3002org"))
    assert record(client, admin, user_id)["email"] == "Ren\u00e9@xn--exmple-cua.org"
    found = get(client, admin, "/user", email="ren\u00e9@ex\u00e4mple.org").json_body["users"]
    assert [user["id"] for user in found] == [user_id]


def test_changing_an_email_to_a_lookalike_is_refused(
    client: Client, admin: Account, make_user: Any
) -> None:
    account = make_user()
    response = client.http.patch(
        f"/api/v1/user/{account.id}",
        headers=admin.json_headers(),
        body=json.dumps({"user": {"email": "adm\u0131n@example.org"}}),
    )
    assert_error(response, 400, "InvalidInput")
    assert record(client, admin, account.id)["email"] == account.email
