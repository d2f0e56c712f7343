"""The OpenAPI document: valid, complete, from the validation definitions, and true
to what the running service answers (schemathesis over real HTTP)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

from app import app
from bench import environment
from chalicelib.http import openapi
from devtools.local_stack import (
    Store,
    chalice_local,
    fresh_prefix,
    provider_settings,
    service_env,
    tables_and_admin,
)
from devtools.oidc_provider import DEFAULT_CLIENT_ID, default_config, running_provider

ROOT = Path(__file__).resolve().parent.parent

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

SETTINGS = environment.settings()
DOCUMENT = openapi.document(app.routes, (SETTINGS.api_key_default_days, SETTINGS.api_key_max_days))


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_every_route_is_documented_and_every_documented_path_is_a_route() -> None:
    """CORS preflights (OPTIONS) are the browser's business, not operations of the API."""
    routes = {
        (path, method.lower())
        for path, methods in app.routes.items()
        for method in methods
        if method != "OPTIONS"
    }
    documented = {(path, method) for path, ops in DOCUMENT["paths"].items() for method in ops}
    assert documented == routes


def test_routes_behind_the_authorizer_and_only_those_need_a_bearer_token() -> None:
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if method == "OPTIONS":
                continue
            operation = DOCUMENT["paths"][path][method.lower()]
            assert ("security" in operation) == (entry.authorizer is not None), (path, method)


def test_service_serves_the_document(client: Client) -> None:
    response = client.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json_body == json.loads(json.dumps(DOCUMENT))


EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))
"""Generated cases per operation and phase: few in ``make test``, many in ``make fuzz``."""

CONFIG = """
# Schemathesis, every check and every phase, against the service as make run starts it.

[phases.coverage]
# chalice local serves through Python's http.server, which has no handler for TRACE or
# QUERY and answers them itself with a 501 HTML page before Chalice sees the request
# (API Gateway answers 403 for them in AWS). So the coverage phase's undeclared-method
# cases send only the methods Chalice routes; for those, Chalice answers as the
# document says.
unexpected-methods = ["get", "put", "post", "delete", "patch"]

[[operations]]
# A cursor is valid only as the next of an earlier page: the document says its form
# (base64url), which no schema can say more of, so a well-formed cursor that no page
# made gets 400 InvalidCursor.
include-operation-id = ["list_users", "get_user_log", "get_user_actions"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"
]

[[operations]]
# If-Match names the version the client last read: a well-formed version that is not
# the record's current one is refused with 412 VersionMismatch, as it should be.
include-operation-id = ["update_user", "delete_user"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", 401, 403, 404, 409, 412, 429, "5xx"
]

[[operations]]
# Deleting one's own account without If-Match is 428 IfMatchRequired (RFC 6585: the
# request must be conditional), the status the document declares for it, not a 4xx of
# malformed input; without credentials, 401 comes first.
include-operation-id = ["delete_me"]
checks.missing_required_header.expected-statuses = [401, 428]

[[operations]]
# An Idempotency-Key sent again with another body is refused with 422
# IdempotencyKeyReused: a well-formed key is valid only with the body it came with.
include-operation-id = ["create_user"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"
]
"""


@pytest.fixture(scope="module")
def service(local_store: Store) -> Iterator[tuple[str, str]]:
    """DynamoDB Local, the tables, an admin, the local OpenID Provider and chalice local,
    as ``make run`` starts them."""
    client_secret = secrets.token_urlsafe(24)
    client = {**default_config()["clients"][0], "client_secret": client_secret}
    with running_provider({"clients": [client]}) as issuer:
        env = service_env(
            local_store.endpoint,
            TABLE_PREFIX=fresh_prefix("users-openapi-"),
            OIDC_PROVIDERS=provider_settings(issuer, DEFAULT_CLIENT_ID, client_secret),
        )
        admin = tables_and_admin(env, "fuzz@example.org", "Fuzz Admin")
        with chalice_local(env) as base:
            # The document's first build reads every code point's category (a tenth of a
            # second or more on a busy machine); schemathesis waits 10 s for it.
            with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=300) as answer:
                assert answer.status == 200
            yield base, admin["key"]


def schemathesis_command(base: str, config: Path, *headers: str) -> list[str]:
    """``st run`` with every check and phase against ``base``, derandomized."""
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
        "run",
        f"{base}/api/v1/openapi.json",
        "--url",
        base,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--max-redirects",
        "0",
        "--workers",
        "1",
        "--no-color",
    ]
    for header in headers:
        command += ["--header", header]
    return command


# An ORCID's check digit is the one rule no JSON Schema keyword states: the hooks
# generate valid ones for its format. Hypothesis keeps the Unicode tables it derives
# (a second or more of CPU each) where the suite's own examples keep theirs, not in
# each run's fresh directory.
SCHEMATHESIS_ENV = {
    "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
    "PYTHONPATH": str(ROOT),
    "HYPOTHESIS_STORAGE_DIRECTORY": str(ROOT / ".hypothesis"),
}
CREDENTIALS = ["api key", "none"]


@pytest.fixture(scope="module")
def schemathesis_runs(
    service: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """Both ``st run``s, with the admin's key and without credentials, started at once
    (each spends most of its time waiting on the service): each one's process and the
    file its output goes to."""
    base, key = service
    folder = tmp_path_factory.mktemp("schemathesis")
    config = folder / "schemathesis.toml"
    config.write_text(CONFIG, "utf-8")
    headers = {"api key": [f"Authorization: Bearer {key}"], "none": []}
    runs = {}
    for credentials in CREDENTIALS:
        output = folder / f"{credentials.replace(' ', '-')}.out"
        with output.open("wb") as written:
            process = subprocess.Popen(
                schemathesis_command(base, config, *headers[credentials]),
                cwd=folder,
                env={**os.environ, **SCHEMATHESIS_ENV},
                stdout=written,
                stderr=subprocess.STDOUT,
            )
        runs[credentials] = (process, output)
    try:
        yield runs
    finally:
        for process, _ in runs.values():
            process.kill()
            process.wait()


@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_schemathesis_finds_nothing(
    schemathesis_runs: dict[str, tuple[subprocess.Popen[bytes], Path]], credentials: str
) -> None:
    process, output = schemathesis_runs[credentials]
    returncode = process.wait(timeout=1800)
    assert returncode == 0, output.read_text("utf-8", errors="replace")[-20000:]


def test_key_request_states_the_deployments_key_lifetimes(client: Client) -> None:
    days = openapi.document(app.routes, (7, 30))["components"]["schemas"]["ApiKeyRequest"]
    assert days["properties"]["expires_in_days"]["maximum"] == 30
    assert days["properties"]["expires_in_days"]["default"] == 7
    served = client.http.get("/api/v1/openapi.json").json_body
    stated = served["components"]["schemas"]["ApiKeyRequest"]["properties"]["expires_in_days"]
    assert (stated["default"], stated["maximum"]) == (90, 365)  # the test settings


def test_new_key_routes_and_fields_are_declared() -> None:
    paths = DOCUMENT["paths"]
    assert "post" in paths["/api/v1/user/{user_id}/apikeys/{key_id}/rotate"]
    revoke = paths["/api/v1/apikeys/revoke"]["post"]
    assert "security" not in revoke
    schemas = DOCUMENT["components"]["schemas"]
    assert {"permissions", "read_only", "expires_in_days", "name"} <= set(
        schemas["ApiKeyRequest"]["properties"]
    )
    assert schemas["LeakedKeys"]["properties"]["keys"]["maxItems"] == 100
    assert {"last_used_ip", "permissions", "read_only"} <= set(schemas["ApiKeyInfo"]["properties"])
    me = paths["/api/v1/user/me"]["get"]["responses"]["200"]
    assert "API-Key-Expires" in me["headers"]
