"""No account pre-hijacking: which logins may link into a user (docs/API.md sections 3 and 7).

Drives the real local OpenID Provider with accounts sharing one address:
``owner`` whose provider asserts ``email_verified``, ``squatter`` whose
provider asserts it false, ``silent`` whose provider leaves the claim out.
``local`` and ``partner`` are trusted for linking; ``other`` is not. Each pair
of logins runs in both orders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.identity import oidc
from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.conftest import Account
from tests.test_login_oidc import Browser, assert_refused, me, users_with_email

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

SHARED = "shared@example.org"
ACCOUNTS = [
    {
        "username": "owner",
        "password": "owner-password",
        "sub": "owner-sub",
        "email": SHARED,
        "email_verified": True,
        "name": "Owner",
    },
    {
        "username": "squatter",
        "password": "squatter-password",
        "sub": "squatter-sub",
        "email": SHARED,
        "email_verified": False,
        "name": "Squatter",
    },
    {  # the shared address in capitals, unverified
        "username": "shouter",
        "password": "shouter-password",
        "sub": "shouter-sub",
        "email": SHARED.upper(),
        "email_verified": False,
        "name": "Shouter",
    },
    {  # no email_verified claim at all
        "username": "silent",
        "password": "silent-password",
        "sub": "silent-sub",
        "email": SHARED,
        "name": "Silent",
    },
]


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    with running_provider({"accounts": ACCOUNTS}) as url:
        yield url


@pytest.fixture
def browsers(client: Client, provider_url: str, configure: Any) -> Any:
    """Factory of fresh browsers, with ``local`` and ``partner`` trusted, ``other`` not."""
    entry = {
        "server_metadata_url": f"{provider_url}/.well-known/openid-configuration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    trusted = {**entry, "link_verified_email": True}
    providers = {"local": trusted, "partner": trusted, "other": entry}
    configure(OIDC_PROVIDERS=json.dumps(providers), ALLOWED_ORIGINS=None)
    return lambda: Browser(client, provider_url)


def holders(client: Client, admin: Account) -> list[dict[str, Any]]:
    """The users holding the shared address, as a manager sees them."""
    return users_with_email(client, admin, SHARED)


def login(browsers: Any, username: str, provider: str) -> tuple[Browser, str]:
    browser = browsers()
    return browser, browser.login(username, provider)


# -- email_verified on the users a login makes ----------------------------------


@pytest.mark.parametrize(
    ("username", "provider", "verified"),
    [
        ("owner", "local", True),
        ("owner", "other", False),
        ("squatter", "local", False),
        ("squatter", "other", False),
        ("silent", "local", False),
    ],
)
def test_first_login_records_whether_a_trusted_provider_vouched_for_the_email(
    client: Client, browsers: Any, username: str, provider: str, verified: bool
) -> None:
    browser, landed = login(browsers, username, provider)
    assert landed == "/"
    assert me(client, browser.cookies["session"])["email_verified"] is verified


# -- an unproven address never receives the owner's identity ---------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("squatter", "local"), ("owner", "local")),  # unverified, then the verified owner
        (("owner", "other"), ("owner", "local")),  # untrusted provider, then trusted
        (("squatter", "other"), ("owner", "local")),
        (("silent", "local"), ("owner", "local")),  # claim absent, then the verified owner
    ],
)
def test_verified_login_is_not_linked_into_a_user_whose_email_nobody_vouched_for(
    client: Client, browsers: Any, admin: Account, first: tuple[str, str], second: tuple[str, str]
) -> None:
    opener, _ = login(browsers, *first)
    opened = me(client, opener.cookies["session"])
    browser, landed = login(browsers, *second)
    assert_refused(browser, landed, "email_in_use")
    assert [user["id"] for user in holders(client, admin)] == [opened["id"]]
    assert me(client, opener.cookies["session"])["auth_ids"] == opened["auth_ids"]


@pytest.mark.parametrize(
    "second",
    [("squatter", "local"), ("squatter", "other"), ("owner", "other"), ("silent", "local")],
)
def test_login_without_a_trusted_verified_email_is_not_linked_into_a_vouched_user(
    client: Client, browsers: Any, admin: Account, second: tuple[str, str]
) -> None:
    owner, _ = login(browsers, "owner", "local")
    before = me(client, owner.cookies["session"])
    assert before["email_verified"] is True
    browser, landed = login(browsers, *second)
    assert_refused(browser, landed, "email_in_use")
    assert me(client, owner.cookies["session"])["auth_ids"] == before["auth_ids"]


def test_verified_login_at_a_trusted_provider_links_into_a_vouched_user(
    client: Client, browsers: Any, admin: Account
) -> None:
    first, _ = login(browsers, "owner", "local")
    second, landed = login(browsers, "owner", "partner")
    assert landed == "/"
    user = me(client, second.cookies["session"])
    assert user["id"] == me(client, first.cookies["session"])["id"]
    assert user["auth_ids"] == ["owner-sub::local", "owner-sub::partner"]


@pytest.mark.parametrize(
    ("username", "provider", "linked"),
    [
        ("owner", "local", True),
        ("owner", "other", False),
        ("squatter", "local", False),
        ("silent", "local", False),
    ],
)
def test_login_links_into_a_user_a_manager_made_only_when_trusted_and_verified(
    client: Client,
    browsers: Any,
    admin: Account,
    make_user: Any,
    username: str,
    provider: str,
    linked: bool,
) -> None:
    made = make_user(email=SHARED)
    browser, landed = login(browsers, username, provider)
    if linked:
        assert me(client, browser.cookies["session"])["id"] == made.id
    else:
        assert_refused(browser, landed, "email_in_use")
    assert [user["id"] for user in holders(client, admin)] == [made.id]


# -- a manager's email change vouches only for a different address ------------------


def change_email(client: Client, admin: Account, user_id: str, email: str) -> dict[str, Any]:
    response = client.http.patch(
        f"/api/v1/user/{user_id}",
        headers=admin.json_headers(),
        body=json.dumps({"user": {"email": email}}),
    )
    assert response.status_code == 200, response.body
    return dict(response.json_body["user"])


@pytest.mark.parametrize("same", [SHARED, SHARED.replace("e", "\uff45", 1), SHARED.title()])
def test_manager_changing_only_the_case_or_form_of_an_email_keeps_it_unverified(
    client: Client, browsers: Any, admin: Account, same: str
) -> None:
    opener, _ = login(browsers, "shouter", "local")
    opened = me(client, opener.cookies["session"])
    assert opened["email_verified"] is False
    changed = change_email(client, admin, opened["id"], json.loads(f'"{same}"'))
    assert changed["email_verified"] is False
    browser, landed = login(browsers, "owner", "local")
    assert_refused(browser, landed, "email_in_use")
    assert me(client, opener.cookies["session"])["auth_ids"] == [
        changed["email"] if "::" not in a else a for a in opened["auth_ids"]
    ]


def test_manager_changing_an_email_to_another_address_vouches_for_it(
    client: Client, browsers: Any, admin: Account
) -> None:
    opener, _ = login(browsers, "shouter", "local")
    opened = me(client, opener.cookies["session"])
    changed = change_email(client, admin, opened["id"], "someone.else@example.org")
    assert changed["email_verified"] is True


# -- what counts as an assertion ---------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "verified"),
    [
        ({"email": SHARED, "email_verified": True}, True),
        ({"email": SHARED, "email_verified": False}, False),
        ({"email": SHARED}, False),  # absent
        ({"email": SHARED, "email_verified": "true"}, False),
        ({"email": SHARED, "email_verified": 1}, False),
    ],
)
def test_only_a_json_true_email_verified_claim_asserts_the_email(
    claims: dict[str, Any], verified: bool
) -> None:
    assert oidc.profile(claims)[1] is verified
