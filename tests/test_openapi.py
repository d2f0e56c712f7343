"""The OpenAPI document: valid, complete, from the validation definitions, and true
to what the running service answers (schemathesis over real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app
from bench import environment
from chalicelib import openapi
from devtools.local_stack import Store, chalice_local, fresh_prefix, service_env, tables_and_admin

# The servers start once for the module: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group(__name__)

SETTINGS = environment.settings()
DOCUMENT = openapi.document(app.routes, (SETTINGS.api_key_default_days, SETTINGS.api_key_max_days))
EXAMPLES_PER_OPERATION = 12


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


@pytest.fixture(scope="module")
def service(local_store: Store) -> Iterator[tuple[str, str]]:
    env = service_env(local_store.endpoint, TABLE_PREFIX=fresh_prefix("users-openapi-"))
    admin = tables_and_admin(env, "fuzz@example.org")
    with chalice_local(env) as base:
        yield base, admin["key"]


SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted(op.ok().definition.raw["operationId"] for op in SCHEMA.get_all_operations())
CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_generated_requests_get_no_5xx_and_answers_that_match_the_document(
    service: tuple[str, str], operation_id: str
) -> None:
    base, key = service
    operation = SCHEMA.find_operation_by_id(operation_id)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
        response = case.call(base_url=base, headers=headers, allow_redirects=False, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


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
