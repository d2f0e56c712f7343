"""Permissions from a provider's rules, their lapse and withdrawal, and why a user has
each permission (docs/API.md sections 2, 3, 4 and 12), against a real local OpenID Provider
whose accounts' claims each test sets, on a clock the test controls.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import config, timestamps
from chalicelib.http import container
from chalicelib.permissions import DESCRIPTIONS
from devtools.oidc_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_provider
from tests.conftest import Account, assert_error
from tests.oidc_helpers import set_claims, submit_subject
from tests.test_apikey_scopes import session_token
from tests.test_login_oidc import API, Browser, log_of, me

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

ADMINS = "urn:geant:lifescience-ri.eu:group:tracker-admins#*"
ADMIN_VALUE = "urn:geant:lifescience-ri.eu:group:tracker-admins#aai.lifescience-ri.eu"
OTHER_VALUE = "urn:geant:lifescience-ri.eu:group:other#aai.lifescience-ri.eu"
MAX_AGE_DAYS = 10
RULES = [
    {"claim": "eduperson_entitlement", "match": ADMINS, "grant": ["USER_MANAGEMENT"]},
    {"claim": "groups", "match": "data-*", "grant": ["DATA_EDIT"]},
]


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider({"accounts": []}) as url:
        yield url


def providers(issuer: str, **more: Any) -> str:
    entry = {
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "permission_rules": RULES,
        "rules_max_age_days": MAX_AGE_DAYS,
        **more,
    }
    return json.dumps({"aai": entry})


@pytest.fixture
def clock(client: Client, issuer: str, configure: Any) -> Iterator[Clock]:
    """The provider ``aai`` with RULES configured; the service on a test clock."""
    configure(OIDC_PROVIDERS=providers(issuer), ALLOWED_ORIGINS=None)
    moved = Clock()
    container.use_clock(moved)
    yield moved
    container.use_clock(None)


class Person:
    """An account at the provider, whose claims the test sets, and its browser."""

    def __init__(self, client: Client, issuer: str, **claims: Any) -> None:
        self.client = client
        self.issuer = issuer
        self.sub = f"sub-{secrets.token_hex(4)}"
        self.email = f"{self.sub}@example.org"
        self.claims(**claims)
        self.browser = Browser(client, issuer)

    def claims(self, **claims: Any) -> None:
        set_claims(self.issuer, self.sub, {"email": self.email, "name": "Ruled", **claims})

    def login(self) -> dict[str, Any]:
        """Sign in at ``aai``; the user's record as it sees it."""
        start = self.browser.start("aai")
        done = self.browser.callback(submit_subject(start.headers["Location"], self.sub))
        assert done.headers["Location"] == "/", done.headers["Location"]
        return me(self.client, self.browser.cookies["session"])


def grant(permission: str, claim: str, value: str, asserted: datetime) -> dict[str, str]:
    return {
        "permission": permission,
        "provider": "aai",
        "claim": claim,
        "value": value,
        "asserted": timestamps.stamp(asserted),
    }


def record(client: Client, admin: Account, user_id: str) -> dict[str, Any]:
    response = client.http.get(f"{API}/user/{user_id}", headers=admin.headers)
    assert response.status_code == 200, response.body
    return dict(response.json_body["user"])


def key_of(client: Client, admin: Account, user_id: str) -> Account:
    made = client.http.post(f"{API}/user/{user_id}/apikey", headers=admin.headers)
    assert made.status_code == 201, made.body
    return Account(user_id, made.json_body["key"], "")


def explained(client: Client, caller: Account, user_id: str) -> Any:
    return client.http.get(f"{API}/user/{user_id}/permissions", headers=caller.headers)


# -- granted at login -------------------------------------------------------------


def test_a_list_claim_value_matching_a_glob_grants_the_rules_permissions(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, eduperson_entitlement=[OTHER_VALUE, ADMIN_VALUE])
    user = person.login()
    assert user["rule_permissions"] == [
        grant("USER_MANAGEMENT", "eduperson_entitlement", ADMIN_VALUE, clock.now)
    ]
    assert user["effective_permissions"] == ["USER_ADD", "USER_MANAGEMENT", "USER_SEARCH"]
    assert record(client, admin, user["id"])["permissions"] == []  # no grant by hand
    entry = log_of(client, admin, user["id"])[-1]
    assert (entry["action"], entry["user"]) == ("edit", "system")
    assert entry["data"] == {"rule_permissions": user["rule_permissions"]}
    assert f"eduperson_entitlement matching {ADMINS!r}" in entry["comment"]


def test_a_string_claim_matching_a_glob_grants_the_rules_permissions(
    client: Client, issuer: str, clock: Clock
) -> None:
    user = Person(client, issuer, groups="data-curators").login()
    assert user["rule_permissions"] == [grant("DATA_EDIT", "groups", "data-curators", clock.now)]
    assert user["effective_permissions"] == ["DATA_EDIT", "USER_ADD", "USER_SEARCH"]


@pytest.mark.parametrize(
    "claims",
    [
        {"eduperson_entitlement": OTHER_VALUE, "groups": ["curators", "x-data-1"]},
        {"eduperson_entitlement": ADMINS.upper()},  # globs compare case-sensitively
        {"eduperson_entitlement": {"value": ADMIN_VALUE}},  # neither a string nor a list
        {"groups": [1, None]},
        {},
    ],
)
def test_claims_matching_no_rule_grant_nothing_and_write_nothing(
    client: Client, issuer: str, clock: Clock, admin: Account, claims: dict[str, Any]
) -> None:
    user = Person(client, issuer, **claims).login()
    assert user["rule_permissions"] == []
    assert user["effective_permissions"] == []
    assert [entry["action"] for entry in log_of(client, admin, user["id"])] == ["add"]


# -- recomputed at each login -------------------------------------------------------


def test_a_withdrawn_entitlement_is_dropped_at_the_next_login_and_logged(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, eduperson_entitlement=[ADMIN_VALUE], groups="data-x")
    person.login()
    person.claims(groups="data-x")
    clock.advance(hours=1)
    user = person.login()
    assert [g["permission"] for g in user["rule_permissions"]] == ["DATA_EDIT"]
    assert user["effective_permissions"] == ["DATA_EDIT", "USER_ADD", "USER_SEARCH"]
    entry = log_of(client, admin, user["id"])[-1]
    assert entry["user"] == "system"
    assert "dropped USER_MANAGEMENT" in entry["comment"]


def test_a_login_within_a_day_writes_nothing_and_a_later_one_renews_the_grant(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, groups="data-x")
    first = person.login()
    entries = len(log_of(client, admin, first["id"]))
    clock.advance(hours=20)
    assert person.login()["rule_permissions"] == first["rule_permissions"]
    assert len(log_of(client, admin, first["id"])) == entries
    clock.advance(hours=5)
    renewed = person.login()
    assert renewed["rule_permissions"] == [grant("DATA_EDIT", "groups", "data-x", clock.now)]
    assert "renewed DATA_EDIT" in log_of(client, admin, first["id"])[-1]["comment"]


def test_rules_never_touch_grants_by_hand(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, groups="data-x")
    user = person.login()
    patched = client.http.patch(
        f"{API}/user/{user['id']}",
        headers=admin.json_headers(),
        body=json.dumps({"user": {"permissions": ["DATA_EDIT", "OWNERS_READ"]}}),
    )
    assert patched.status_code == 200, patched.body
    person.claims()
    user = person.login()
    assert user["rule_permissions"] == []
    assert record(client, admin, user["id"])["permissions"] == ["DATA_EDIT", "OWNERS_READ"]


# -- lapse and configuration -------------------------------------------------------


def test_a_grant_lapses_after_max_age_without_a_login_and_so_do_the_keys(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    user = Person(client, issuer, eduperson_entitlement=ADMIN_VALUE).login()
    key = key_of(client, admin, user["id"])
    assert client.http.get(f"{API}/user", headers=key.headers).status_code == 200
    clock.advance(days=MAX_AGE_DAYS, seconds=-1)
    assert client.http.get(f"{API}/user", headers=key.headers).status_code == 200
    clock.advance(seconds=1)
    assert_error(client.http.get(f"{API}/user", headers=key.headers), 403, "PermissionDenied")
    shown = record(client, admin, user["id"])
    assert shown["effective_permissions"] == []
    assert shown["rule_permissions"] == user["rule_permissions"]  # kept, but lapsed
    assert explained(client, key, user["id"]).json_body == {"permissions": []}


def test_a_scoped_key_and_its_session_hold_a_rule_permission_until_it_lapses(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    user = Person(client, issuer, eduperson_entitlement=ADMIN_VALUE).login()
    made = client.http.post(
        f"{API}/user/{user['id']}/apikeys",
        headers=admin.json_headers(),
        body=json.dumps({"permissions": ["USER_SEARCH"]}),
    )
    assert made.status_code == 201, made.body
    key = Account(user["id"], made.json_body["key"], "")
    token = Account(user["id"], session_token(client, key.key), "")
    for caller in (key, token):
        assert client.http.get(f"{API}/user", headers=caller.headers).status_code == 200
        denied = client.http.get(f"{API}/user/{admin.id}", headers=caller.headers)
        assert_error(denied, 403, "PermissionDenied")  # the owner may; the key may not
    clock.advance(days=MAX_AGE_DAYS)
    for caller in (key, token):
        lapsed = client.http.get(f"{API}/user", headers=caller.headers)
        assert_error(lapsed, 403, "PermissionDenied")


def test_a_grant_whose_rule_left_the_configuration_no_longer_counts(
    client: Client, issuer: str, clock: Clock, admin: Account, configure: Any
) -> None:
    user = Person(client, issuer, eduperson_entitlement=ADMIN_VALUE).login()
    key = key_of(client, admin, user["id"])
    configure(OIDC_PROVIDERS=providers(issuer, permission_rules=RULES[1:]))
    assert_error(client.http.get(f"{API}/user", headers=key.headers), 403, "PermissionDenied")
    assert record(client, admin, user["id"])["effective_permissions"] == []


def test_the_last_user_manager_guard_counts_grants_by_hand_only(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    ruled = Person(client, issuer, eduperson_entitlement=ADMIN_VALUE).login()
    assert "USER_MANAGEMENT" in ruled["effective_permissions"]
    response = client.http.patch(
        f"{API}/user/{admin.id}",
        headers=admin.json_headers(),
        body=json.dumps({"user": {"permissions": ["DATA_EDIT"]}}),
    )
    assert_error(response, 409, "LastUserManager")


def test_unlinking_the_providers_last_identity_drops_its_grants(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, groups="data-x")
    user = person.login()
    identity = f"{person.sub}::aai"
    deleted = client.http.delete(
        f"{API}/user/{user['id']}/identities/{identity.replace(':', '%3A')}",
        headers=admin.headers,
    )
    assert deleted.status_code == 204, deleted.body
    shown = record(client, admin, user["id"])
    assert (shown["rule_permissions"], shown["effective_permissions"]) == ([], [])
    assert log_of(client, admin, user["id"])[-1]["data"] == {"auth_ids": [], "rule_permissions": []}


# -- GET /user/{id}/permissions ------------------------------------------------------


def test_explain_names_every_source_of_each_effective_permission(
    client: Client, issuer: str, clock: Clock, admin: Account
) -> None:
    person = Person(client, issuer, eduperson_entitlement=[ADMIN_VALUE], groups=["data-x"])
    user = person.login()
    patched = client.http.patch(
        f"{API}/user/{user['id']}",
        headers=admin.json_headers(),
        body=json.dumps({"user": {"permissions": ["OWNERS_READ", "DATA_EDIT"]}}),
    )
    assert patched.status_code == 200, patched.body
    until = timestamps.stamp(clock.now + timedelta(days=MAX_AGE_DAYS))
    asserted = timestamps.stamp(clock.now)

    def rule(claim: str, value: str) -> dict[str, Any]:
        return {
            "rule": {
                "provider": "aai",
                "claim": claim,
                "value": value,
                "asserted": asserted,
                "until": until,
            }
        }

    implied = [{"implied_by": "DATA_EDIT"}, {"implied_by": "USER_MANAGEMENT"}]
    response = explained(client, admin, user["id"])
    assert response.status_code == 200, response.body
    assert response.json_body == {
        "permissions": [
            {"name": "DATA_EDIT", "because": [{"granted": True}, rule("groups", "data-x")]},
            {"name": "OWNERS_READ", "because": [{"granted": True}]},
            {"name": "USER_ADD", "because": implied},
            {
                "name": "USER_MANAGEMENT",
                "because": [rule("eduperson_entitlement", ADMIN_VALUE)],
            },
            {"name": "USER_SEARCH", "because": implied},
        ]
    }


def test_explain_of_a_transitive_grant_by_hand_names_the_permission_in_between(
    client: Client, make_user: Any
) -> None:
    user = make_user(permissions=["DATA_MANAGEMENT"])
    reasons = {
        p["name"]: p["because"] for p in explained(client, user, user.id).json_body["permissions"]
    }
    assert reasons == {
        "DATA_MANAGEMENT": [{"granted": True}],
        "DATA_EDIT": [{"implied_by": "DATA_MANAGEMENT"}],
        "OWNERS_READ": [{"implied_by": "DATA_MANAGEMENT"}],
        "USER_ADD": [{"implied_by": "DATA_EDIT"}],
        "USER_SEARCH": [{"implied_by": "DATA_EDIT"}],
    }


def test_explain_of_another_user_without_user_management_returns_403(
    client: Client, make_user: Any
) -> None:
    user, other = make_user(permissions=["DATA_EDIT"]), make_user()
    assert_error(explained(client, user, other.id), 403, "PermissionDenied")


def test_explain_of_an_unknown_user_returns_404(client: Client, admin: Account) -> None:
    assert_error(explained(client, admin, "0" * 32), 404, "UserNotFound")


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"permission_rules": [{"claim": "x", "match": "*", "grant": ["USER_MANAGMENT"]}]},
        {"permission_rules": [{"claim": "x", "match": "*", "grant": []}]},
        {"permission_rules": [{"claim": "x", "match": "*"}]},
        {"permission_rules": {"claim": "x"}},
        {"rules_max_age_days": 0},
        {"rules_max_age_days": "30"},
        {"previous": "elixir"},
        {"previous": {"claim": "elixir_sub"}},
        {"previous": {"provider": "no spaces", "claim": "x"}},
    ],
)
def test_malformed_rules_or_predecessor_are_refused_naming_the_provider(
    entry: dict[str, Any],
) -> None:
    base = {"server_metadata_url": "https://x.example/", "client_id": "c", "client_secret": "s"}
    environ = {"SESSION_SECRET": "s" * 32, "OIDC_PROVIDERS": json.dumps({"aai": {**base, **entry}})}
    with pytest.raises(config.ConfigError, match="aai"):
        config.load_secrets(environ, read_parameter=lambda name: "")


def test_openapi_document_describes_each_permission(client: Client) -> None:
    schema = client.http.get(f"{API}/openapi.json").json_body["components"]["schemas"]
    described = {c["const"]: c["description"] for c in schema["Permission"]["oneOf"]}
    assert described == DESCRIPTIONS
    assert schema["PermissionList"]["properties"]["permissions"]["items"] == {
        "$ref": "#/components/schemas/Permission"
    }
