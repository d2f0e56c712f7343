"""The service's checks of an ID token (OpenID Connect Core 1.0 section 3.1.3.7),
with keys made by joserfc and the provider's JWKS served on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from chalicelib.errors import LoginFailed
from chalicelib.identity import id_tokens
from chalicelib.identity.id_tokens import validate_id_token
from tests.servers import hanging_server

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

ISSUER = "https://provider.example"
CLIENT_ID = "users-service"
NONCE = "the-nonce-we-sent"
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key"})


@pytest.fixture(scope="module")
def document() -> Iterator[dict[str, str]]:
    """The provider's discovery document, its JWKS served by a server on 127.0.0.1."""
    body = json.dumps(KeySet([SIGNING_KEY]).as_dict(private=False)).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"issuer": ISSUER, "jwks_uri": f"http://127.0.0.1:{server.server_port}/jwks"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def id_token(key: RSAKey = SIGNING_KEY, alg: str = "RS256", **changes: Any) -> str:
    """An ID token as the provider would sign it; ``changes`` replace claims (None drops one)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "alice-sub",
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        "email": "alice@example.org",
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def test_untampered_id_token_gives_its_claims(document: dict[str, str]) -> None:
    claims = validate_id_token(id_token(), document, CLIENT_ID, NONCE)
    assert claims["sub"] == "alice-sub"
    assert claims["email"] == "alice@example.org"


def test_id_token_for_this_client_among_others_named_as_authorized_party_is_accepted(
    document: dict[str, str],
) -> None:
    token = id_token(aud=[CLIENT_ID, "another-client"], azp=CLIENT_ID)
    assert validate_id_token(token, document, CLIENT_ID, NONCE)["sub"] == "alice-sub"


TAMPERED = [
    pytest.param({"nonce": "not-the-nonce-we-sent"}, id="wrong-nonce"),
    pytest.param({"nonce": None}, id="no-nonce"),
    pytest.param({"aud": "someone-elses-client"}, id="wrong-audience"),
    pytest.param({"aud": [CLIENT_ID, "another-client"]}, id="shared-audience-without-azp"),
    pytest.param({"iss": "https://evil.example"}, id="wrong-issuer"),
    pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
    pytest.param({"iat": None}, id="no-issued-at"),
    pytest.param({"sub": ""}, id="empty-subject"),
    pytest.param({"key": OTHER_KEY}, id="bad-signature"),
    pytest.param({"azp": "another-client"}, id="authorized-party-another-client"),
    pytest.param(
        {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"},
        id="shared-audience-for-another-client",
    ),
]


@pytest.mark.parametrize("changes", TAMPERED)
def test_tampered_id_token_is_refused_as_invalid_id_token(
    document: dict[str, str], changes: dict[str, Any]
) -> None:
    with pytest.raises(LoginFailed) as refused:
        validate_id_token(id_token(**changes), document, CLIENT_ID, NONCE)
    assert refused.value.code == "invalid_id_token"


def test_id_token_signed_with_a_shared_secret_is_refused(document: dict[str, str]) -> None:
    """An HMAC token keyed with something public must not pass for the provider's."""
    key = OctKey.import_key(json.dumps(SIGNING_KEY.as_dict(private=False)))
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "nonce": NONCE}
    now = int(time.time())
    token = jwt.encode({"alg": "HS256"}, {**claims, "iat": now, "exp": now + 300}, key)
    with pytest.raises(LoginFailed) as refused:
        validate_id_token(token, document, CLIENT_ID, NONCE)
    assert refused.value.code == "invalid_id_token"


def test_garbage_instead_of_an_id_token_is_refused(document: dict[str, str]) -> None:
    with pytest.raises(LoginFailed) as refused:
        validate_id_token("not.a.token", document, CLIENT_ID, NONCE)
    assert refused.value.code == "invalid_id_token"


def test_id_token_naming_this_client_as_authorized_party_is_accepted(
    document: dict[str, str],
) -> None:
    assert validate_id_token(id_token(azp=CLIENT_ID), document, CLIENT_ID, NONCE)["sub"]


@pytest.mark.parametrize("sub", ["s" * 1001, "\u00e9" * 501])
def test_subject_longer_than_storage_holds_is_refused_as_invalid_profile(
    document: dict[str, str], sub: str
) -> None:
    with pytest.raises(LoginFailed) as refused:
        validate_id_token(id_token(sub=sub), document, CLIENT_ID, NONCE)
    assert refused.value.code == "invalid_profile"


def test_subject_of_1000_characters_is_accepted(document: dict[str, str]) -> None:
    assert validate_id_token(id_token(sub="s" * 1000), document, CLIENT_ID, NONCE)["sub"]


@pytest.mark.usefixtures("short_provider_wait")
def test_keys_that_do_not_come_are_given_up_on_and_not_asked_for_again_soon() -> None:
    """A JWKS endpoint that takes the connection and never answers: the fetch ends
    after the read timeout, and the next login within 30 s does not try again."""
    with hanging_server() as server:
        document = {"issuer": ISSUER, "jwks_uri": f"{server.url}/jwks"}
        for _ in range(3):
            with pytest.raises(LoginFailed) as refused:
                validate_id_token(id_token(), document, CLIENT_ID, NONCE)
            assert refused.value.code == "provider_unavailable"
        assert server.connections == 1
    assert id_tokens.FAILURE_TTL >= 30
