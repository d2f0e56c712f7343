"""Protocol-level tests of the local OpenID Provider (devtools.oidc_provider).

One provider subprocess serves the whole module; every test walks the real HTTP flow
with ``requests`` and verifies ID tokens with joserfc against the published JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from devtools.oidc_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    create_app,
    main,
    running_provider,
)

REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"
SCOPE = "openid email profile"
TIMEOUT = 10


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider({"testing": True}) as url:
        yield url


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def jwks(issuer: str) -> KeySet:
    response = requests.get(f"{issuer}/jwks", timeout=TIMEOUT)
    response.raise_for_status()
    return KeySet.import_key_set(response.json())


# ------------------------------------------------------------------------ helpers


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}
        self.hidden: dict[str, str] = {}
        self.error: str | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action")
            self.method = attributes.get("method", "get").lower()
        elif tag == "input" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
            if attributes.get("type") == "hidden":
                self.hidden[attributes["name"]] = attributes.get("value", "")
        elif attributes.get("id") == "error":
            self._in_error = True

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error = (self.error or "") + data

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False


def parse_form(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    assert parser.action is not None, "no login form in the page"
    return parser


@dataclass
class AuthRequest:
    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def params(self, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}


def new_auth_request() -> AuthRequest:
    return AuthRequest(
        state=secrets.token_urlsafe(16),
        nonce=secrets.token_urlsafe(16),
        code_verifier=secrets.token_urlsafe(48),
    )


def open_login_page(
    http: requests.Session, issuer: str, auth: AuthRequest
) -> tuple[str, _FormParser]:
    response = http.get(
        f"{issuer}/authorize", params=auth.params(), allow_redirects=False, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    form = parse_form(response.text)
    assert form.method == "post"
    assert {"username", "password"} <= form.fields.keys()
    return urljoin(response.url, form.action), form


def submit_login(
    http: requests.Session, action: str, form: _FormParser, username: str, password: str
) -> requests.Response:
    data = dict(form.hidden)
    data.update(username=username, password=password, action="login")
    return http.post(action, data=data, allow_redirects=False, timeout=TIMEOUT)


def callback_params(response: requests.Response) -> dict[str, str]:
    """Read the redirect to the client without fetching it."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def log_in(http: requests.Session, issuer: str, auth: AuthRequest, username: str) -> str:
    action, form = open_login_page(http, issuer, auth)
    params = callback_params(submit_login(http, action, form, username, f"{username}-password"))
    assert params["state"] == auth.state
    return params["code"]


def exchange_code(
    issuer: str,
    code: str,
    code_verifier: str | None,
    *,
    client_auth: str = "client_secret_basic",
) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if code_verifier is not None:
        data["code_verifier"] = code_verifier
    auth = None
    if client_auth == "client_secret_basic":
        auth = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    else:
        data.update(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
    return requests.post(f"{issuer}/token", data=data, auth=auth, timeout=TIMEOUT)


def obtain_tokens(http: requests.Session, issuer: str, username: str = "alice") -> dict[str, Any]:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, username)
    response = exchange_code(issuer, code, auth.code_verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    tokens["_nonce"] = auth.nonce
    return tokens


def verify_id_token(
    id_token: str, jwks: KeySet, issuer: str, nonce: str, sub: str = "alice-sub"
) -> dict[str, Any]:
    token = jwt.decode(id_token, jwks, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": DEFAULT_CLIENT_ID},
        sub={"essential": True, "value": sub},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
    )
    registry.validate(token.claims)
    return token.claims


def set_next_id_token(issuer: str, **overrides: Any) -> None:
    response = requests.post(f"{issuer}/testing/next-id-token", json=overrides, timeout=TIMEOUT)
    assert response.status_code == 204, response.text


# -------------------------------------------------------------------------- tests


def test_discovery_document(issuer: str) -> None:
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == issuer
    assert metadata["authorization_endpoint"] == f"{issuer}/authorize"
    assert metadata["token_endpoint"] == f"{issuer}/token"
    assert metadata["userinfo_endpoint"] == f"{issuer}/userinfo"
    assert metadata["jwks_uri"] == f"{issuer}/jwks"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_jwks_publishes_only_a_public_rsa_key(issuer: str) -> None:
    keys = requests.get(f"{issuer}/jwks", timeout=TIMEOUT).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["kid"]
    assert "d" not in keys[0]


def test_full_code_flow_with_pkce(http: requests.Session, issuer: str, jwks: KeySet) -> None:
    auth = new_auth_request()
    action, form = open_login_page(http, issuer, auth)
    # The form carries the whole authorization request along.
    assert form.hidden["state"] == auth.state
    assert form.hidden["nonce"] == auth.nonce
    assert form.hidden["code_challenge"] == auth.code_challenge
    assert form.hidden["redirect_uri"] == REDIRECT_URI

    params = callback_params(submit_login(http, action, form, "alice", "alice-password"))
    assert params["state"] == auth.state
    assert "error" not in params

    response = exchange_code(issuer, params["code"], auth.code_verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["scope"] == SCOPE

    kid = jwt.decode(tokens["id_token"], jwks, algorithms=["RS256"]).header["kid"]
    assert kid == jwks.keys[0].kid
    claims = verify_id_token(tokens["id_token"], jwks, issuer, auth.nonce)
    assert claims["aud"] == DEFAULT_CLIENT_ID
    assert claims["email"] == "alice@example.org"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Example"
    assert claims["iat"] <= claims["exp"]

    userinfo = requests.get(
        f"{issuer}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json() == {
        "sub": "alice-sub",
        "email": "alice@example.org",
        "email_verified": True,
        "name": "Alice Example",
    }


def test_client_secret_post_and_unverified_email(
    http: requests.Session, issuer: str, jwks: KeySet
) -> None:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, "bob")
    response = exchange_code(issuer, code, auth.code_verifier, client_auth="client_secret_post")
    assert response.status_code == 200, response.text
    claims = verify_id_token(response.json()["id_token"], jwks, issuer, auth.nonce, sub="bob-sub")
    assert claims["email"] == "bob@example.org"
    assert claims["email_verified"] is False


def test_claims_follow_the_granted_scope(http: requests.Session, issuer: str, jwks: KeySet) -> None:
    auth = new_auth_request()
    response = http.get(
        f"{issuer}/authorize",
        params=auth.params(scope="openid email"),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    form = parse_form(response.text)
    params = callback_params(
        submit_login(http, urljoin(response.url, form.action), form, "alice", "alice-password")
    )
    tokens = exchange_code(issuer, params["code"], auth.code_verifier).json()
    claims = verify_id_token(tokens["id_token"], jwks, issuer, auth.nonce)
    assert claims["email"] == "alice@example.org"
    assert "name" not in claims


def test_wrong_password_gives_no_code(http: requests.Session, issuer: str) -> None:
    auth = new_auth_request()
    action, form = open_login_page(http, issuer, auth)

    response = submit_login(http, action, form, "alice", "not-alice-password")
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "code=" not in response.text
    retry = parse_form(response.text)
    assert retry.error == "Invalid username or password."
    assert retry.hidden == form.hidden

    # Unknown users are refused the same way.
    response = submit_login(http, action, form, "mallory", "alice-password")
    assert response.status_code == 200
    assert parse_form(response.text).error == "Invalid username or password."

    # The re-rendered form still carries the request: the right password now works.
    params = callback_params(submit_login(http, action, retry, "alice", "alice-password"))
    assert params["state"] == auth.state


def test_cancel_redirects_with_access_denied(http: requests.Session, issuer: str) -> None:
    auth = new_auth_request()
    action, form = open_login_page(http, issuer, auth)
    response = http.post(
        action, data={**form.hidden, "action": "deny"}, allow_redirects=False, timeout=TIMEOUT
    )
    params = callback_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == auth.state
    assert "code" not in params


def test_token_request_without_code_verifier_is_refused(
    http: requests.Session, issuer: str
) -> None:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, "alice")
    response = exchange_code(issuer, code, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "id_token" not in response.json()


def test_token_request_with_wrong_code_verifier_is_refused(
    http: requests.Session, issuer: str
) -> None:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, "alice")
    response = exchange_code(issuer, code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_can_be_used_only_once(http: requests.Session, issuer: str) -> None:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, "alice")
    assert exchange_code(issuer, code, auth.code_verifier).status_code == 200
    again = exchange_code(issuer, code, auth.code_verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_token_request_with_wrong_client_secret_is_refused(
    http: requests.Session, issuer: str
) -> None:
    auth = new_auth_request()
    code = log_in(http, issuer, auth, "alice")
    response = requests.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": auth.code_verifier,
        },
        auth=(DEFAULT_CLIENT_ID, "wrong-secret"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="no-pkce"),
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge_method": None}, id="no-method"),
    ],
)
def test_authorization_request_requires_pkce_s256(
    http: requests.Session, issuer: str, overrides: dict[str, str | None]
) -> None:
    auth = new_auth_request()
    response = http.get(
        f"{issuer}/authorize",
        params=auth.params(**overrides),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    params = callback_params(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == auth.state


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:80@evil.example/callback",
        "http://localhostevil.example/callback",
    ],
)
def test_unregistered_redirect_uri_is_not_followed(
    http: requests.Session, issuer: str, redirect_uri: str
) -> None:
    auth = new_auth_request()
    response = http.get(
        f"{issuer}/authorize",
        params=auth.params(redirect_uri=redirect_uri),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.json()["error"] == "invalid_request"


def test_userinfo_requires_a_valid_access_token(issuer: str) -> None:
    response = requests.get(
        f"{issuer}/userinfo", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT
    )
    assert response.status_code == 401


def test_knob_overrides_audience_of_next_token_only(
    http: requests.Session, issuer: str, jwks: KeySet
) -> None:
    set_next_id_token(issuer, aud="someone-else")
    tokens = obtain_tokens(http, issuer)
    with pytest.raises(InvalidClaimError):
        verify_id_token(tokens["id_token"], jwks, issuer, tokens["_nonce"])
    assert jwt.decode(tokens["id_token"], jwks).claims["aud"] == "someone-else"

    tokens = obtain_tokens(http, issuer)
    verify_id_token(tokens["id_token"], jwks, issuer, tokens["_nonce"])


def test_knob_makes_next_token_expired(http: requests.Session, issuer: str, jwks: KeySet) -> None:
    set_next_id_token(issuer, exp_offset=-60)
    tokens = obtain_tokens(http, issuer)
    with pytest.raises(ExpiredTokenError):
        verify_id_token(tokens["id_token"], jwks, issuer, tokens["_nonce"])


def test_knob_makes_next_token_badly_signed(
    http: requests.Session, issuer: str, jwks: KeySet
) -> None:
    set_next_id_token(issuer, bad_signature=True)
    tokens = obtain_tokens(http, issuer)
    with pytest.raises(BadSignatureError):
        jwt.decode(tokens["id_token"], jwks, algorithms=["RS256"])

    tokens = obtain_tokens(http, issuer)
    verify_id_token(tokens["id_token"], jwks, issuer, tokens["_nonce"])


@pytest.mark.parametrize(
    "overrides", [{"iss": "http://127.0.0.1:1"}, {"nonce": "not-the-nonce"}], ids=["iss", "nonce"]
)
def test_knob_overrides_iss_and_nonce(
    http: requests.Session, issuer: str, jwks: KeySet, overrides: dict[str, str]
) -> None:
    set_next_id_token(issuer, **overrides)
    tokens = obtain_tokens(http, issuer)
    claims = jwt.decode(tokens["id_token"], jwks, algorithms=["RS256"]).claims
    for key, value in overrides.items():
        assert claims[key] == value
    with pytest.raises(InvalidClaimError):
        verify_id_token(tokens["id_token"], jwks, issuer, tokens["_nonce"])


@pytest.mark.parametrize(
    "body",
    [{"aud": 1}, {"exp_offset": "soon"}, {"bad_signature": "yes"}, {"typo": True}, ["aud"]],
)
def test_knob_rejects_malformed_overrides(issuer: str, body: object) -> None:
    response = requests.post(f"{issuer}/testing/next-id-token", json=body, timeout=TIMEOUT)
    assert response.status_code == 400


def test_knob_does_not_exist_without_testing() -> None:
    app = create_app({"issuer": "http://127.0.0.1:9", "testing": False})
    response = app.test_client().post("/testing/next-id-token", json={"aud": "x"})
    assert response.status_code == 404


def test_cli_refuses_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main(["--host", "0.0.0.0", "--port", "0"])
    assert exc_info.value.code == 2
    assert "loopback" in capsys.readouterr().err
