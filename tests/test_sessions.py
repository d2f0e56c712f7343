"""Browser sessions, access tokens and CSRF through HTTP (docs/API.md sections 1, 4 and 6).

Every test goes through ``chalice.test.Client`` on moto. Forged access tokens
are test setup: they are signed with the test ``SESSION_SECRET`` that
``tests/conftest.py`` puts in the environment, starting from the claims of a
token the service really issued, so each forgery differs from a valid token in
exactly one respect (a control test shows the unchanged re-signed token passes).
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from typing import Any

import pytest
from chalice.test import Client
from joserfc import jwt
from joserfc.jwk import OctKey

from bench import environment, harness
from chalicelib import key_format
from chalicelib.storage.models import ApiKey
from tests.conftest import Account, assert_error

API = "/api/v1"
CSRF = "csrf-token-for-tests"
SESSION_SECRET = environment.ENVIRON["SESSION_SECRET"]  # the secret the tests run with


# -- helpers ---------------------------------------------------------------


def set_cookies(response: Any) -> list[str]:
    """The ``Set-Cookie`` values of a response."""
    raw = response.headers.get("Set-Cookie") or response.headers.get("set-cookie") or []
    return [raw] if isinstance(raw, str) else list(raw)


def set_cookie(response: Any, name: str) -> str | None:
    """The ``Set-Cookie`` value that sets cookie ``name``, if any."""
    found = [c for c in set_cookies(response) if c.split("=", 1)[0] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def attributes(cookie: str) -> set[str]:
    """The attributes of a ``Set-Cookie`` value, e.g. ``{"HttpOnly", "Path=/api/v1"}``."""
    return {part.strip() for part in cookie.split(";")[1:]}


def value_of(cookie: str) -> str:
    return cookie.split(";", 1)[0].split("=", 1)[1]


def cookie_header(session: str | None = None, csrf: str | None = CSRF) -> dict[str, str]:
    jar = {"session": session, "_csrf_token": csrf}
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items() if v is not None)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_apikey_login(client: Client, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.http.post(
        f"{API}/login/apikey", headers={"Content-Type": "application/json", **headers}, body=raw
    )


def login(client: Client, account: Account) -> str:
    """Log in with the account's API key; returns the ``session`` cookie value."""
    response = post_apikey_login(client, {"api-key": account.key})
    assert response.status_code == 200, response.body
    cookie = set_cookie(response, "session")
    assert cookie is not None
    return value_of(cookie)


def post_token(client: Client, session: str | None, csrf: str | None = CSRF, **headers: str) -> Any:
    """POST /login/token with the given cookies; the CSRF header echoes ``csrf``
    unless ``headers`` say otherwise."""
    sent = {**cookie_header(session, csrf)}
    if csrf is not None:
        sent["X-CSRF-Token"] = csrf
    sent.update(headers)
    if not sent.get("Cookie"):
        sent.pop("Cookie")
    return client.http.post(f"{API}/login/token", headers=sent)


def access_token(client: Client, session: str) -> str:
    response = post_token(client, session)
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def get_me(client: Client, token: str) -> Any:
    return client.http.get(f"{API}/user/me", headers=bearer(token))


def logout(client: Client, session: str) -> Any:
    return client.http.post(
        f"{API}/logout", headers={**cookie_header(session), "X-CSRF-Token": CSRF}
    )


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token the service issued, checked with the test secret."""
    return dict(jwt.decode(token, OctKey.import_key(SESSION_SECRET), algorithms=["HS256"]).claims)


def forge(
    claims: dict[str, Any],
    key: OctKey | None = None,
    header: dict[str, Any] | None = None,
    algorithm: str = "HS256",
) -> str:
    """Sign ``claims``; by default as the service would (HS256, the test secret)."""
    return jwt.encode(
        header or {"alg": algorithm, "typ": "at+jwt"},
        claims,
        key or OctKey.import_key(SESSION_SECRET),
        algorithms=[algorithm],
    )


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def member(make_user: Any) -> Account:
    """A user without permissions."""
    account: Account = make_user(name="Member")
    return account


@pytest.fixture
def session(client: Client, member: Account) -> str:
    """A live session of ``member``: the ``session`` cookie value."""
    return login(client, member)


@pytest.fixture
def real_claims(client: Client, session: str) -> dict[str, Any]:
    """The claims of an access token the service issued for ``session``."""
    return claims_of(access_token(client, session))


# -- POST /login/apikey ----------------------------------------------------


def test_login_with_api_key_returns_200_and_sets_session_cookie(
    client: Client, member: Account
) -> None:
    response = post_apikey_login(client, {"api-key": member.key})
    assert response.status_code == 200, response.body
    cookie = set_cookie(response, "session")
    assert cookie is not None and value_of(cookie)


def test_login_with_api_key_and_api_user_field_returns_200_and_sets_session_cookie(
    client: Client, member: Account
) -> None:
    response = post_apikey_login(client, {"api-key": member.key, "api-user": "whoever"})
    assert response.status_code == 200, response.body
    cookie = set_cookie(response, "session")
    assert cookie is not None and value_of(cookie)


@pytest.mark.parametrize("api_user", [None, 7, 1.5, True, {"id": "x"}, ["x"], ""])
def test_login_with_api_key_ignores_api_user_whatever_its_type(
    client: Client, member: Account, api_user: Any
) -> None:
    response = post_apikey_login(client, {"api-key": member.key, "api-user": api_user})
    assert response.status_code == 200, response.body
    assert set_cookie(response, "session") is not None


def test_session_from_api_key_login_belongs_to_the_keys_owner(
    client: Client, member: Account
) -> None:
    token = access_token(client, login(client, member))
    me = get_me(client, token)
    assert me.status_code == 200, me.body
    assert me.json_body["user"]["id"] == member.id


def test_session_cookie_is_httponly_samesite_lax_under_api_path_and_not_secure_locally(
    client: Client, member: Account
) -> None:
    cookie = set_cookie(post_apikey_login(client, {"api-key": member.key}), "session")
    assert cookie is not None
    attrs = attributes(cookie)
    assert "HttpOnly" in attrs
    assert "SameSite=Lax" in attrs
    assert "Path=/api/v1" in attrs
    assert "Secure" not in attrs  # stage `test` counts as local development


@pytest.mark.parametrize(
    "bad_key",
    ["wrong-secret", "not-an-api-key", "revoked"],
)
def test_login_with_bad_api_key_returns_401_and_no_session(
    client: Client, make_user: Any, member: Account, bad_key: str
) -> None:
    if bad_key == "wrong-secret":
        key = member.key[:-4] + ("AAAA" if not member.key.endswith("AAAA") else "BBBB")
    elif bad_key == "revoked":
        key = member.key
        replaced = client.http.post(f"{API}/user/{member.id}/apikey", headers=member.headers)
        assert replaced.status_code == 201, replaced.body
    else:
        key = bad_key
    response = post_apikey_login(client, {"api-key": key})
    assert_error(response, 401, "InvalidCredentials")
    assert set_cookie(response, "session") is None


@pytest.mark.parametrize("body", ["not json", "", '["api-key"]'], ids=["text", "empty", "array"])
def test_login_with_api_key_and_body_not_a_json_object_returns_400(
    client: Client, body: str
) -> None:
    response = post_apikey_login(client, body)
    assert response.status_code == 400, response.body
    assert set_cookie(response, "session") is None


def test_login_with_api_key_from_cookie_holder_without_csrf_header_returns_403(
    client: Client, member: Account, session: str
) -> None:
    response = post_apikey_login(client, {"api-key": member.key}, **cookie_header(session))
    assert_error(response, 403, "CsrfTokenMismatch")


def test_login_with_api_key_from_cookie_holder_with_csrf_header_returns_200(
    client: Client, member: Account, session: str
) -> None:
    response = post_apikey_login(
        client, {"api-key": member.key}, **cookie_header(session), **{"X-CSRF-Token": CSRF}
    )
    assert response.status_code == 200, response.body


# -- POST /login/token and CSRF --------------------------------------------


@pytest.mark.parametrize("csrf_cookie", [CSRF, None], ids=["with-csrf-cookie", "no-csrf-cookie"])
def test_token_request_without_csrf_header_returns_403(
    client: Client, session: str, csrf_cookie: str | None
) -> None:
    response = client.http.post(f"{API}/login/token", headers=cookie_header(session, csrf_cookie))
    assert_error(response, 403, "CsrfTokenMismatch")


def test_token_request_with_csrf_header_not_matching_cookie_returns_403(
    client: Client, session: str
) -> None:
    response = post_token(client, session, **{"X-CSRF-Token": "something-else"})
    assert_error(response, 403, "CsrfTokenMismatch")


def test_token_request_with_matching_csrf_header_returns_token_living_at_most_15_minutes(
    client: Client, session: str
) -> None:
    response = post_token(client, session)
    assert response.status_code == 200, response.body
    body = response.json_body
    assert set(body) == {"token", "expires_in"}
    assert isinstance(body["token"], str) and body["token"]
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 900


def test_issued_token_claims_are_complete_and_live_at_most_15_minutes(
    real_claims: dict[str, Any], member: Account
) -> None:
    assert {"iss", "aud", "exp", "iat", "sub", "sid"} <= set(real_claims)
    assert real_claims["sub"] == member.id
    assert 0 < real_claims["exp"] - real_claims["iat"] <= 900


@pytest.mark.parametrize("cookies", ["none", "csrf-only"])
def test_token_request_without_session_cookie_returns_401(client: Client, cookies: str) -> None:
    csrf = CSRF if cookies == "csrf-only" else None
    response = post_token(client, None, csrf)
    assert_error(response, 401, "InvalidCredentials")


def test_token_request_with_unknown_session_cookie_returns_401(client: Client) -> None:
    response = post_token(client, "no-such-session-0123456789abcdefghijklmnop")
    assert_error(response, 401, "InvalidCredentials")


def test_issued_token_works_as_bearer_on_user_me(
    client: Client, session: str, member: Account
) -> None:
    response = get_me(client, access_token(client, session))
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == member.id


def test_response_to_request_without_csrf_cookie_sets_readable_csrf_cookie(
    client: Client,
) -> None:
    response = client.http.get(f"{API}/login")
    cookie = set_cookie(response, "_csrf_token")
    assert cookie is not None
    assert value_of(cookie)
    attrs = attributes(cookie)
    assert "HttpOnly" not in attrs
    assert "SameSite=Lax" in attrs


def test_response_to_request_with_csrf_cookie_sets_no_csrf_cookie(client: Client) -> None:
    response = client.http.get(f"{API}/login", headers=cookie_header(csrf=CSRF))
    assert response.status_code == 200
    assert set_cookie(response, "_csrf_token") is None


# -- access tokens the authorizer refuses ------------------------------------


def test_resigned_unchanged_claims_are_accepted(
    client: Client, real_claims: dict[str, Any]
) -> None:
    """Control: the forging in the tests below is right, so each refusal is for its one change."""
    response = get_me(client, forge(real_claims))
    assert response.status_code == 200, response.body


def test_expired_token_returns_401(client: Client, real_claims: dict[str, Any]) -> None:
    now = int(time.time())
    token = forge({**real_claims, "iat": now - 600, "exp": now - 120})
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_token_living_longer_than_15_minutes_returns_401(
    client: Client, real_claims: dict[str, Any]
) -> None:
    now = int(time.time())
    token = forge({**real_claims, "iat": now, "exp": now + 3600})
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_token_with_alg_none_returns_401(client: Client, real_claims: dict[str, Any]) -> None:
    token = f"{b64url({'alg': 'none', 'typ': 'at+jwt'})}.{b64url(real_claims)}."
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_tampered_token_with_original_signature_returns_401(
    client: Client, session: str, admin: Account
) -> None:
    token = access_token(client, session)
    header, _, signature = token.split(".")
    claims = claims_of(token)
    tampered = f"{header}.{b64url({**claims, 'sub': admin.id})}.{signature}"
    assert_error(get_me(client, tampered), 401, "InvalidCredentials")


def test_token_signed_with_another_key_returns_401(
    client: Client, real_claims: dict[str, Any]
) -> None:
    other = OctKey.import_key("another-secret-of-the-same-length-0123")
    assert_error(get_me(client, forge(real_claims, key=other)), 401, "InvalidCredentials")


def test_token_signed_with_another_hmac_algorithm_returns_401(
    client: Client, real_claims: dict[str, Any]
) -> None:
    token = forge(real_claims, algorithm="HS512")
    assert_error(get_me(client, token), 401, "InvalidCredentials")


@pytest.mark.parametrize("claim", ["sid", "sub", "iss", "aud", "exp", "iat"])
def test_token_missing_a_required_claim_returns_401(
    client: Client, real_claims: dict[str, Any], claim: str
) -> None:
    claims = {k: v for k, v in real_claims.items() if k != claim}
    assert_error(get_me(client, forge(claims)), 401, "InvalidCredentials")


@pytest.mark.parametrize("claim", ["iss", "aud"])
def test_token_with_wrong_issuer_or_audience_returns_401(
    client: Client, real_claims: dict[str, Any], claim: str
) -> None:
    token = forge({**real_claims, claim: "https://someone-else.example"})
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_token_naming_another_users_id_in_sub_returns_401(
    client: Client, real_claims: dict[str, Any], admin: Account
) -> None:
    """Even correctly signed, a token whose ``sub`` is not its session's user is refused."""
    token = forge({**real_claims, "sub": admin.id})
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_session_cookie_alone_is_not_accepted_by_the_authorizer(
    client: Client, session: str
) -> None:
    # Without an Authorization header the gateway answers 401 itself, with its own body.
    response = client.http.get(f"{API}/user/me", headers=cookie_header(session))
    assert response.status_code == 401, response.body


def test_session_cookie_value_as_bearer_token_returns_401(client: Client, session: str) -> None:
    assert_error(get_me(client, session), 401, "InvalidCredentials")


# -- POST /logout ------------------------------------------------------------


def test_logout_with_csrf_header_returns_204_and_clears_session_cookie(
    client: Client, session: str
) -> None:
    response = logout(client, session)
    assert response.status_code == 204, response.body
    cleared = set_cookie(response, "session")
    assert cleared is not None
    assert value_of(cleared) == ""
    assert "Max-Age=0" in attributes(cleared)
    assert "Path=/api/v1" in attributes(cleared)


def test_saved_session_cookie_after_logout_returns_401(client: Client, session: str) -> None:
    assert logout(client, session).status_code == 204
    assert_error(post_token(client, session), 401, "InvalidCredentials")


def test_access_token_issued_before_logout_returns_401(client: Client, session: str) -> None:
    token = access_token(client, session)
    assert get_me(client, token).status_code == 200
    assert logout(client, session).status_code == 204
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_logout_from_cookie_holder_without_csrf_header_returns_403_and_keeps_session(
    client: Client, session: str
) -> None:
    response = client.http.post(f"{API}/logout", headers=cookie_header(session))
    assert_error(response, 403, "CsrfTokenMismatch")
    assert post_token(client, session).status_code == 200


def test_logout_ends_only_its_own_session(client: Client, member: Account, session: str) -> None:
    other = login(client, member)
    assert logout(client, session).status_code == 204
    assert post_token(client, other).status_code == 200


# -- deleted users -----------------------------------------------------------


def test_session_of_deleted_user_returns_401(
    client: Client, admin: Account, member: Account, session: str
) -> None:
    deleted = client.http.delete(f"{API}/user/{member.id}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.body
    assert_error(post_token(client, session), 401, "InvalidCredentials")


def test_access_token_of_deleted_user_returns_401(
    client: Client, admin: Account, member: Account, session: str
) -> None:
    token = access_token(client, session)
    deleted = client.http.delete(f"{API}/user/{member.id}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.body
    assert_error(get_me(client, token), 401, "InvalidCredentials")


# -- sessions made with an API key live no longer than the key -----------------


def key_id_of(account: Account) -> str:
    parts = key_format.parse(account.key, "uk")
    assert parts is not None
    return parts.key_id


def test_session_made_with_a_revoked_key_gives_no_token(client: Client, member: Account) -> None:
    session = login(client, member)
    response = client.http.delete(
        f"{API}/user/{member.id}/apikeys/{key_id_of(member)}", headers=member.headers
    )
    assert response.status_code == 204, response.body
    assert_error(post_token(client, session), 401, "InvalidCredentials")


def test_session_made_with_a_replaced_key_gives_no_token(client: Client, member: Account) -> None:
    session = login(client, member)
    response = client.http.post(f"{API}/user/{member.id}/apikey", headers=member.headers)
    assert response.status_code == 201, response.body
    assert_error(post_token(client, session), 401, "InvalidCredentials")


def test_session_made_with_an_expired_key_gives_no_token(client: Client, member: Account) -> None:
    session = login(client, member)
    ApiKey(user_id=member.id, key_id=key_id_of(member)).update(
        actions=[ApiKey.expires.set("2020-01-01T00:00:00Z")]
    )
    assert_error(post_token(client, session), 401, "InvalidCredentials")


def test_access_token_of_a_key_session_stops_working_when_the_key_is_revoked(
    client: Client, member: Account
) -> None:
    token = access_token(client, login(client, member))
    assert get_me(client, token).status_code == 200
    response = client.http.delete(
        f"{API}/user/{member.id}/apikeys/{key_id_of(member)}", headers=member.headers
    )
    assert response.status_code == 204, response.body
    assert_error(get_me(client, token), 401, "InvalidCredentials")


def test_session_made_with_another_key_of_the_user_outlives_a_revoked_key(
    client: Client, member: Account
) -> None:
    second = client.http.post(f"{API}/user/{member.id}/apikeys", headers=member.headers)
    session = login(client, Account(member.id, second.json_body["key"], member.email))
    client.http.delete(
        f"{API}/user/{member.id}/apikeys/{key_id_of(member)}", headers=member.headers
    )
    assert post_token(client, session).status_code == 200


def test_key_session_cookie_stripped_of_its_key_id_names_no_session(
    client: Client, member: Account
) -> None:
    session = login(client, member)
    user_id, _, secret = session.split(".")
    assert_error(post_token(client, f"{user_id}.{secret}"), 401, "InvalidCredentials")


def test_token_for_a_key_session_reads_session_user_and_key_in_one_round_trip(
    client: Client, member: Account
) -> None:
    session = login(client, member)
    with harness.counting() as counted:
        assert post_token(client, session).status_code == 200
    assert counted.operations() == Counter({"BatchGetItem": 1})
    assert counted.items_read == 3


# -- at most 20 live sessions per user (docs/API.md section 6) -------------------------------


def test_the_21st_session_of_a_user_ends_the_oldest(client: Client, make_user: Any) -> None:
    owner, other = make_user(), make_user()
    bystander = login(client, other)
    opened = [login(client, owner) for _ in range(21)]
    assert_error(post_token(client, opened[0]), 401, "InvalidCredentials")
    for session in opened[1:]:
        assert post_token(client, session).status_code == 200
    assert post_token(client, bystander).status_code == 200


def test_sessions_ended_or_expired_do_not_count_towards_the_cap(
    client: Client, make_user: Any
) -> None:
    owner = make_user()
    first = login(client, owner)
    for _ in range(25):
        assert logout(client, login(client, owner)).status_code == 204
    opened = [login(client, owner) for _ in range(19)]
    for session in [first, *opened]:
        assert post_token(client, session).status_code == 200
