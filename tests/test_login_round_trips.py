"""An OpenID Connect login's storage round trips before its session starts: the
guards in one read, the user to log in as or link into read once (a suspended
user's login is refused), one transaction. (Starting the session is
``sessions.start_session``'s: its cap's read and the new item.)"""

from __future__ import annotations

from typing import Any

from bench.harness import counting
from chalicelib.identity import identities
from chalicelib.ids import SYSTEM
from chalicelib.records.users import NewUser, create_user


def login(identity: str, email: str) -> Any:
    """Which user one login is, counted."""
    with counting() as counts:
        identities.login_identity(identity, email, True, "Someone", True)
    return counts


def test_login_linking_into_an_existing_user_takes_three_round_trips(aws: None) -> None:
    create_user(SYSTEM, NewUser({"email": "owner@example.org"}))
    counts = login("owner-sub::local", "owner@example.org")
    assert counts.operations() == {"BatchGetItem": 1, "GetItem": 1, "TransactWriteItems": 1}


def test_first_login_making_a_user_takes_two_round_trips(aws: None) -> None:
    counts = login("new-sub::local", "new@example.org")
    assert counts.operations() == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_login_with_a_known_identity_takes_two_round_trips(aws: None) -> None:
    login("known-sub::local", "known@example.org")
    counts = login("known-sub::local", "known@example.org")
    assert counts.operations() == {"BatchGetItem": 1, "GetItem": 1}
