"""Cookies from elsewhere on the site, and cookie tossing (docs/API.md section 6).

The ``Cookie`` header is read pair by pair as browsers write it, so a foreign
cookie never hides ours; over HTTPS our cookies carry ``__Host-`` names; two
cookies of one of our names count as none.
"""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.identity import cookies
from tests.conftest import Account, assert_error
from tests.test_sessions import CSRF, attributes, login, set_cookie, set_cookies, value_of

API = "/api/v1"
HTTPS = {"SERVICE_ENV": "aws", "PUBLIC_URL": "https://example.org/users"}

# What other applications on the site leave in the browser: each one made
# SimpleCookie give up on the whole header.
FOREIGN = [
    'prefs={"a":1}',
    "lang=en GB",
    'consent={"analytics":false,"ads":false}',
    'quoted="a b"',
    "name=Zoë",
    "flag",
    "=orphan",
    "a=b=c",
    "x=\\",
]


def post(client: Client, route: str, cookie: str, csrf: str | None = CSRF, **extra: str) -> Any:
    headers = {"Cookie": cookie, **extra}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return client.http.post(f"{API}{route}", headers=headers)


@pytest.fixture
def member(make_user: Any) -> Account:
    account: Account = make_user(name="Member")
    return account


# -- reading the header -------------------------------------------------------------


def test_parse_reads_each_pair_and_ignores_foreign_and_malformed_ones() -> None:
    header = "; ".join([*FOREIGN, "session=S", f"_csrf_token={CSRF}"])
    jar = cookies.parse(header, secure=False)
    assert jar.values == {"session": "S", "_csrf_token": CSRF}
    assert jar.repeated == frozenset()


def test_parse_counts_a_name_sent_twice_as_none_but_remembers_it() -> None:
    jar = cookies.parse("session=A; lang=en GB; session=B; _csrf_token=C", secure=False)
    assert jar.get("session") is None and jar.holds("session")
    assert jar.get("_csrf_token") == "C"


def test_parse_over_https_reads_only_the_host_prefixed_names() -> None:
    jar = cookies.parse("session=plain; __Host-session=prefixed", secure=True)
    assert jar.values == {"session": "prefixed"}
    assert cookies.parse("session=plain", secure=True).values == {}


# -- through the service --------------------------------------------------------------


@pytest.mark.parametrize("foreign", FOREIGN)
def test_logout_beside_a_foreign_cookie_ends_the_session(
    client: Client, member: Account, foreign: str
) -> None:
    session = login(client, member)
    response = post(client, "/logout", f"{foreign}; session={session}; _csrf_token={CSRF}")
    assert response.status_code == 204, response.body
    after = post(client, "/login/token", f"session={session}; _csrf_token={CSRF}")
    assert_error(after, 401, "InvalidCredentials")


@pytest.mark.parametrize("foreign", FOREIGN)
def test_token_request_beside_a_foreign_cookie_keeps_the_session(
    client: Client, member: Account, foreign: str
) -> None:
    session = login(client, member)
    response = post(client, "/login/token", f"session={session}; {foreign}; _csrf_token={CSRF}")
    assert response.status_code == 200, response.body


def test_apikey_login_beside_another_apps_consent_cookie_passes_the_csrf_check(
    client: Client, member: Account
) -> None:
    response = post(
        client,
        "/login/apikey",
        f'consent={{"analytics":false}}; _csrf_token={CSRF}',
        **{"Content-Type": "application/json"},
    )
    assert response.status_code == 400  # no body: the CSRF check passed
    response = client.http.post(
        f"{API}/login/apikey",
        headers={
            "Cookie": f'consent={{"analytics":false}}; _csrf_token={CSRF}',
            "X-CSRF-Token": CSRF,
            "Content-Type": "application/json",
        },
        body=f'{{"api-key": "{member.key}"}}',
    )
    assert response.status_code == 200, response.body


def test_two_session_cookies_give_no_token(client: Client, make_user: Any) -> None:
    victim, attacker = login(client, make_user()), login(client, make_user())
    for pair in (f"session={victim}; session={attacker}", f"session={attacker}; session={victim}"):
        response = post(client, "/login/token", f"{pair}; _csrf_token={CSRF}")
        assert_error(response, 401, "InvalidCredentials")


def test_two_csrf_cookies_fail_the_csrf_check(client: Client, member: Account) -> None:
    session = login(client, member)
    cookie = f"session={session}; _csrf_token={CSRF}; _csrf_token={CSRF}"
    assert_error(post(client, "/login/token", cookie), 403, "CsrfTokenMismatch")
    twice = post(client, "/logout", f"_csrf_token={CSRF}; _csrf_token=x")
    assert_error(twice, 403, "CsrfTokenMismatch")


def test_two_csrf_cookies_get_no_new_one_from_every_answer(client: Client) -> None:
    response = client.http.get(f"{API}/login", headers={"Cookie": "_csrf_token=a; _csrf_token=b"})
    assert set_cookie(response, "_csrf_token") is None


# -- over HTTPS: __Host- names -------------------------------------------------------


def test_over_https_the_session_and_csrf_cookies_are_host_prefixed(
    client: Client, configure: Any, member: Account
) -> None:
    configure(**HTTPS)
    response = client.http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body=f'{{"api-key": "{member.key}"}}',
    )
    assert response.status_code == 200, response.body
    names = {c.split("=", 1)[0] for c in set_cookies(response)}
    assert names == {"__Host-session", "__Host-_csrf_token"}
    for cookie in set_cookies(response):
        assert {"Path=/", "Secure", "SameSite=Lax"} <= attributes(cookie)
        assert not any(a.lower().startswith("domain") for a in attributes(cookie))
    session = set_cookie(response, "__Host-session")
    assert session is not None
    sent = f"__Host-session={value_of(session)}; __Host-_csrf_token={CSRF}"
    assert post(client, "/login/token", sent).status_code == 200


def test_over_https_a_plain_session_cookie_is_not_read(
    client: Client, configure: Any, member: Account
) -> None:
    session = login(client, member)
    configure(**HTTPS)
    response = post(client, "/login/token", f"session={session}; _csrf_token={CSRF}")
    assert_error(response, 401, "InvalidCredentials")


def test_over_https_a_tossed_second_session_cookie_gives_no_token(
    client: Client, configure: Any, make_user: Any
) -> None:
    victim, attacker = login(client, make_user()), login(client, make_user())
    configure(**HTTPS)
    sent = f"__Host-session={victim}; __Host-session={attacker}; __Host-_csrf_token={CSRF}"
    assert_error(post(client, "/login/token", sent), 401, "InvalidCredentials")


def test_over_https_logout_clears_the_host_prefixed_session_cookie(
    client: Client, configure: Any
) -> None:
    configure(**HTTPS)
    response = client.http.post(f"{API}/logout")
    cleared = set_cookie(response, "__Host-session")
    assert cleared is not None and {"Path=/", "Max-Age=0", "Secure"} <= attributes(cleared)
