"""The prod CloudFormation template: ``chalice package`` merged with deploy/merge-template.yaml.

The template is built once per session (conftest.py's ``package_dir``: Chalice builds the
deployment zip, downloading wheels from PyPI) and checked against the code it deploys:
routes and authorizer from ``app.routes``, tables from ``chalicelib.storage.models``, the
IAM policies against the DynamoDB requests the code really sends (recorded on
moto), and ``cfn-lint``. docs/DEPLOY.md says how the template is deployed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from chalice.test import Client

from app import app
from chalicelib import config
from chalicelib.http import container
from chalicelib.identity import auth, sessions
from chalicelib.storage import models
from deploy.template import route_to_aliases

# make package runs once per worker (conftest.py's package_dir): this module
# and test_lambda_zip.py run on the same one.
pytestmark = pytest.mark.xdist_group("package")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API = "/api/v1"
STAGE = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]
PROD_ENV = STAGE["environment_variables"]
PROD_PREFIX = PROD_ENV["TABLE_PREFIX"]
SSM_PATH = "/users-service/prod/"
SSM_PARAMETERS = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + SSM_PATH + "*"
)
PLACEHOLDER_SID = "PlaceholderReplacedByDeployMergeTemplate"  # .chalice/policy-prod.json
TABLE = "AWS::DynamoDB::Table"


# -- the template ------------------------------------------------------------


@pytest.fixture(scope="module")
def template(package_dir: Path) -> dict[str, Any]:
    """The packaged SAM template (YAML, as the merge template is YAML)."""
    loaded: dict[str, Any] = yaml.safe_load((package_dir / "sam.yaml").read_text())
    return loaded


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def definition(template: dict[str, Any]) -> dict[str, Any]:
    """The Swagger document of the REST API."""
    body: dict[str, Any] = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    return body


def test_code_package_ships_byte_code_that_is_never_stale(package_dir: Path) -> None:
    """Every chalicelib module comes with its .pyc, checked against the source's
    hash (flags 0b11 in the header), so a cold start does not compile it."""
    with zipfile.ZipFile(package_dir / "deployment.zip") as package:
        names = set(package.namelist())
        sources = sorted(n for n in names if n.startswith("chalicelib/") and n.endswith(".py"))
        assert "chalicelib/identity/auth.py" in sources
        for source in sources:
            folder, name = source.rsplit("/", 1)
            compiled = f"{folder}/__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc"
            assert compiled in names, compiled
            header = package.read(compiled)[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(header[4:8], "little") == 0b11, compiled
            assert header[8:16] == importlib.util.source_hash(package.read(source)), compiled


def test_code_package_ships_the_built_web_ui(package_dir: Path) -> None:
    """``make package`` builds the web UI first; its page and every file it loads ride
    along in chalicelib/webui_dist/."""
    with zipfile.ZipFile(package_dir / "deployment.zip") as package:
        names = set(package.namelist())
        page = package.read("chalicelib/webui_dist/index.html").decode()
    loaded = re.findall(r"(?:src|href)=\"\./(assets/[^\"]+)\"", page)
    assert loaded
    for name in loaded:
        assert f"chalicelib/webui_dist/{name}" in names, name


def test_cfn_lint_passes(package_dir: Path) -> None:
    # No check is ignored: the merged template, Chalice's parts included, passes as is.
    done = subprocess.run(
        [str(BIN / "cfn-lint"), str(package_dir / "sam.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- routes and the authorizer -----------------------------------------------


def app_routes() -> dict[tuple[str, str], str | None]:
    """(method, path) of every route -> the name of its authorizer, or None."""
    return {
        (method, path): entry.authorizer.name if entry.authorizer else None
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }


def contract_auth_routes() -> set[tuple[str, str]]:
    """Every /user route needs credentials except GET /user/permissions (docs/API.md's
    routes table, "who"); CORS preflights (OPTIONS) carry no credentials, so they never
    meet the authorizer."""
    return {
        (method, path)
        for method, path in app_routes()
        if (path == f"{API}/user" or path.startswith(f"{API}/user/"))
        and (method, path) != ("GET", f"{API}/user/permissions")
        and method != "OPTIONS"
    }


def test_routes_with_authorizer_are_the_contracts_auth_routes() -> None:
    with_authorizer = {route for route, name in app_routes().items() if name}
    assert with_authorizer == contract_auth_routes()


def test_template_puts_the_authorizer_on_auth_routes_only(template: dict[str, Any]) -> None:
    paths = definition(template)["paths"]
    in_template = {
        (method.upper(), path): operation.get("security")
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    expected = {route: [{name: []}] if name else None for route, name in app_routes().items()}
    assert in_template == expected


def test_authorizer_caches_a_decision_at_most_60_seconds(template: dict[str, Any]) -> None:
    names = {name for name in app_routes().values() if name}
    assert len(names) == 1
    (name,) = names
    scheme = definition(template)["securityDefinitions"][name]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert scheme["name"] == "Authorization"
    assert 0 < authorizer["authorizerResultTtlInSeconds"] <= 60


# -- tables -------------------------------------------------------------------


def prod_name(table_name: str) -> str:
    """The prod name of a table the tests know under the test stage's prefix."""
    return PROD_PREFIX + table_name.removeprefix(container.settings().table_prefix)


def tables_by_name(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Table name -> (logical id, resource)."""
    return {
        resource["Properties"]["TableName"]: (logical, resource)
        for logical, resource in resources_of(template, TABLE).items()
    }


def key_schema(keys: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(key type, attribute), HASH first, as CloudFormation requires."""
    return sorted(((k["KeyType"], k["AttributeName"]) for k in keys), key=lambda k: k[0])


def test_template_has_exactly_the_models_tables(template: dict[str, Any]) -> None:
    expected = {prod_name(model.Meta.table_name) for model in models.MODELS}
    assert set(tables_by_name(template)) == expected


@pytest.mark.parametrize("model", models.MODELS, ids=lambda model: model.__name__)
def test_table_matches_model(template: dict[str, Any], model: type[models.Model]) -> None:
    schema = model._get_schema()
    _, table = tables_by_name(template)[prod_name(model.Meta.table_name)]
    props = table["Properties"]
    attributes = model.get_attributes()
    keys = [("HASH", attributes[model._hash_keyname].attr_name)]
    if model._range_keyname:
        keys.append(("RANGE", attributes[model._range_keyname].attr_name))
    assert key_schema(props["KeySchema"]) == keys == key_schema(schema["key_schema"])
    assert props["KeySchema"][0]["KeyType"] == "HASH"
    definitions = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    expected_definitions = {
        a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]
    }
    assert definitions == expected_definitions
    indexes = {
        index["IndexName"]: (key_schema(index["KeySchema"]), index["Projection"])
        for index in props.get("GlobalSecondaryIndexes", [])
    }
    expected_indexes = {
        index["index_name"]: (key_schema(index["key_schema"]), index["projection"])
        for index in schema["global_secondary_indexes"]
    }
    assert indexes == expected_indexes
    assert set(indexes) == set(model._indexes)
    assert not schema["local_secondary_indexes"] and "LocalSecondaryIndexes" not in props


@pytest.mark.parametrize("model", models.MODELS, ids=lambda model: model.__name__)
def test_table_is_on_demand_with_point_in_time_recovery_and_retained(
    template: dict[str, Any], model: type[models.Model]
) -> None:
    _, table = tables_by_name(template)[prod_name(model.Meta.table_name)]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("model", models.MODELS, ids=lambda model: model.__name__)
def test_table_expires_items_by_the_models_ttl_attribute(
    template: dict[str, Any], model: type[models.Model]
) -> None:
    _, table = tables_by_name(template)[prod_name(model.Meta.table_name)]
    ttl = model._ttl_attribute()
    expected = {"AttributeName": ttl.attr_name, "Enabled": True} if ttl else None
    assert table["Properties"].get("TimeToLiveSpecification") == expected


def test_sessions_expire_through_ttl(template: dict[str, Any]) -> None:
    _, table = tables_by_name(template)[prod_name(models.Session.Meta.table_name)]
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }


# -- IAM ----------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy document anywhere in the template (anything with a Statement)."""
    if isinstance(node, dict):
        if "Statement" in node:
            yield node
        for value in node.values():
            yield from policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_documents(value)


def resource_text(resource: Any) -> str:
    """A statement's resource as comparable text: ``Logical.Arn`` for a GetAtt,
    the pattern of a Sub, or the literal ARN."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return ".".join(target) if isinstance(target, list) else str(target)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        pattern = resource["Fn::Sub"]
        return str(pattern if isinstance(pattern, str) else pattern[0])
    assert isinstance(resource, str), resource
    return resource


def grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, resource text) pairs a role's policies allow."""
    allowed = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", statement
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    allowed.add((action, resource_text(resource)))
    return allowed


def role_of(template: dict[str, Any], function: str) -> str:
    role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"]
    return str(role[0])


def test_no_statement_has_a_wildcard_action_or_resource(template: dict[str, Any]) -> None:
    documents = list(policy_documents(template["Resources"]))
    assert len(documents) >= 4  # two roles, each with a trust and a permission policy
    for document in documents:
        for statement in as_list(document["Statement"]):
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement
            for action in as_list(statement["Action"]):
                assert "*" not in action, statement
            for resource in as_list(statement.get("Resource", [])):
                text = resource_text(resource)
                # The one pattern: parameters under the service's own path. (A log
                # group's GetAtt Arn ends in ":*", its own streams.)
                assert "*" not in text or text == SSM_PARAMETERS, statement


def test_chalices_placeholder_policy_is_replaced(template: dict[str, Any]) -> None:
    assert PLACEHOLDER_SID not in json.dumps(template)
    functions = resources_of(template, "AWS::Serverless::Function")
    assert {role_of(template, name) for name in functions} == set(
        resources_of(template, "AWS::IAM::Role")
    )


def iam_actions(service: str) -> set[str]:
    """The actions IAM knows for a service (lower-cased), from cfn-lint's data."""
    specs = resources.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json")
    known: list[str] = json.loads(specs.read_text())[service]["Actions"]
    return {action.lower() for action in known}


def test_dynamodb_actions_are_the_ones_the_code_uses(template: dict[str, Any]) -> None:
    used = {"BatchGetItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan", "UpdateItem"}
    known = iam_actions("dynamodb")
    for role in resources_of(template, "AWS::IAM::Role"):
        actions = {a for a, _ in grants(template, role) if a.startswith("dynamodb:")}
        names = {a.removeprefix("dynamodb:") for a in actions}
        assert names <= used, role
        assert {name.lower() for name in names} <= known, role
    handler = {a for a, _ in grants(template, role_of(template, "APIHandler"))}
    assert {a.removeprefix("dynamodb:") for a in handler if a.startswith("dynamodb:")} == used


def test_dynamodb_resources_are_the_service_tables_and_indexes(template: dict[str, Any]) -> None:
    allowed = {f"{logical}.Arn" for logical in resources_of(template, TABLE)}
    for logical, table in resources_of(template, TABLE).items():
        for index in table["Properties"].get("GlobalSecondaryIndexes", []):
            allowed.add(f"${{{logical}.Arn}}/index/{index['IndexName']}")
    for role in resources_of(template, "AWS::IAM::Role"):
        used = {r for a, r in grants(template, role) if a.startswith("dynamodb:")}
        assert used <= allowed, role


def test_ssm_access_is_get_parameter_under_the_services_path(template: dict[str, Any]) -> None:
    for role in resources_of(template, "AWS::IAM::Role"):
        ssm = {(a, r) for a, r in grants(template, role) if a.startswith("ssm:")}
        assert ssm == {("ssm:GetParameter", SSM_PARAMETERS)}, role
    references = [v for v in PROD_ENV.values() if v.startswith("ssm:")]
    assert references, "the prod stage should name its secrets in SSM"
    for value in references:
        assert value.removeprefix("ssm:").startswith(SSM_PATH), value


def test_functions_write_only_their_own_log_groups(template: dict[str, Any]) -> None:
    for function, resource in resources_of(template, "AWS::Serverless::Function").items():
        group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
        logs = {(a, r) for a, r in grants(template, role_of(template, function)) if "logs:" in a}
        assert logs == {
            ("logs:CreateLogStream", f"{group}.Arn"),
            ("logs:PutLogEvents", f"{group}.Arn"),
        }


def test_functions_get_the_prod_stage_settings_and_no_secret(template: dict[str, Any]) -> None:
    for resource in resources_of(template, "AWS::Serverless::Function").values():
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables == PROD_ENV
        assert variables["SERVICE_ENV"] == "aws"
        for name in ("SESSION_SECRET", "OIDC_PROVIDERS"):
            assert variables[name].startswith("ssm:" + SSM_PATH), name


# -- the policies cover what the code sends (recorded on moto) ---------------

ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


@pytest.fixture
def dynamodb_requests(aws: None) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The DynamoDB requests the code sends during a test: (operation, parameters)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, params))

    event = "before-parameter-build.dynamodb"
    clients = [models.connection().client]
    clients += [model._get_connection().connection.client for model in models.MODELS]
    for client in clients:
        client.meta.events.register(event, record, unique_id="test_package")
    yield sent
    for client in clients:
        client.meta.events.unregister(event, unique_id="test_package")


def needed(template: dict[str, Any], requests: list[tuple[str, dict[str, Any]]]) -> set[Any]:
    """(IAM action, resource text) pairs the requests need."""
    logical = {name: logical for name, (logical, _) in tables_by_name(template).items()}
    pairs: set[tuple[str, str, str | None]] = set()
    for operation, params in requests:
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                for kind, body in item.items():
                    pairs.add((ITEM_ACTIONS[kind], body["TableName"], None))
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            pairs.update((operation, table, None) for table in params["RequestItems"])
        else:
            pairs.add((operation, params["TableName"], params.get("IndexName")))
    result = set()
    for action, table, index in pairs:
        arn = f"{logical[prod_name(table)]}.Arn"
        result.add((f"dynamodb:{action}", f"${{{arn}}}/index/{index}" if index else arn))
    return result


def test_authorizer_role_allows_what_the_authorizer_sends(
    template: dict[str, Any], make_user: Any, dynamodb_requests: list[Any]
) -> None:
    account = make_user(permissions=["USER_SEARCH"])
    session = sessions.start_session(account.id)
    token = str(
        sessions.issue_token(
            session.cookie, container.session_secret(), container.settings().api_key_max_days
        )["token"]
    )
    dynamodb_requests.clear()

    assert (
        auth.decide(
            f"Bearer {account.key}",
            container.session_secret,
            container.settings(),
            container.rulebook(),
        ).user_id
        == account.id
    )
    assert (
        auth.decide(
            f"Bearer {token}", container.session_secret, container.settings(), container.rulebook()
        ).user_id
        == account.id
    )

    assert dynamodb_requests
    allowed = grants(template, role_of(template, "Authorizer"))
    assert needed(template, dynamodb_requests) - allowed == set()


def cookie_value(response: Any, name: str) -> str:
    raw = response.headers.get("Set-Cookie") or response.headers.get("set-cookie") or []
    for cookie in [raw] if isinstance(raw, str) else raw:
        if cookie.startswith(f"{name}="):
            return str(cookie.split(";", 1)[0].split("=", 1)[1])
    raise AssertionError(f"no {name} cookie in {raw!r}")


def test_api_handler_role_allows_what_the_routes_send(
    template: dict[str, Any], client: Client, admin: Any, dynamodb_requests: list[Any]
) -> None:
    dynamodb_requests.clear()
    http = client.http

    def call(method: str, path: str, status: int, body: Any = None, **headers: str) -> Any:
        sent = {**admin.json_headers(), **headers}
        raw = json.dumps(body) if body is not None else None
        response = getattr(http, method)(f"{API}{path}", headers=sent, body=raw)
        assert response.status_code == status, (method, path, response.body)
        return response.json_body

    new_user = {"user": {"email": "a@example.org"}}
    uid = call("post", "/user", 201, new_user, **{"Idempotency-Key": "k"})["id"]
    call("get", "/user", 200)
    call("get", "/user?email=A@example.org", 200)
    call("get", "/user/me", 200)
    call("patch", "/user/me", 200, {"user": {"name": "Admin Renamed"}})
    call("get", f"/user/{uid}", 200)
    call("patch", f"/user/{uid}", 200, {"user": {"email": "b@example.org"}})
    call("patch", f"/user/{uid}", 200, {"user": {"suspended": True}})
    call("get", "/user?suspended=true", 200)
    call("patch", f"/user/{uid}", 200, {"user": {"suspended": False}})
    call("get", f"/user/{uid}/export", 200)
    key = call("post", f"/user/{uid}/apikeys", 201, {"name": "ci"})
    call("get", f"/user/{uid}/apikeys", 200)
    rotated = call("post", f"/user/{uid}/apikeys/{key['id']}/rotate", 201, {"overlap_hours": 1})
    http.post(
        f"{API}/apikeys/revoke",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"keys": [rotated["key"]]}),
    )
    call("delete", f"/user/{uid}/apikeys/{key['id']}", 204)
    call("post", f"/user/{uid}/apikey", 201)
    call("get", f"/user/{uid}/log", 200)
    call("get", f"/user/{admin.id}/actions", 200)
    login = http.post(
        f"{API}/login/apikey",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"api-key": admin.key}),
    )
    assert login.status_code == 200, login.body
    cookies = {"Cookie": f"session={cookie_value(login, 'session')}; _csrf_token=t"}
    token = http.post(f"{API}/login/token", headers={**cookies, "X-CSRF-Token": "t"})
    assert token.status_code == 200, token.body
    call("get", "/user/me", 200, Authorization=f"Bearer {token.json_body['token']}")
    assert http.post(f"{API}/logout", headers={**cookies, "X-CSRF-Token": "t"}).status_code == 204
    call("delete", f"/user/{uid}", 204)

    allowed = grants(template, role_of(template, "APIHandler"))
    assert needed(template, dynamodb_requests) - allowed == set()


# -- API Gateway ------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("UNAUTHORIZED", "401"),
        ("ACCESS_DENIED", "403"),
        ("MISSING_AUTHENTICATION_TOKEN", "404"),
        ("THROTTLED", "429"),
        ("REQUEST_TOO_LARGE", "413"),
        ("DEFAULT_4XX", None),
        ("DEFAULT_5XX", None),
    ],
)
def test_gateway_response_carries_the_json_error_body(
    template: dict[str, Any], response_type: str, status: str | None
) -> None:
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    response = responses[response_type]
    assert response.get("StatusCode") == status
    assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/json'"
    # What API Gateway renders, with its variables filled in as it fills them.
    rendered = (
        response["ResponseTemplates"]["application/json"]
        .replace("$context.error.messageString", json.dumps("Unauthorized"))
        .replace("$context.error.responseType", response_type)
    )
    body = json.loads(rendered)
    assert set(body) == {"Code", "Message"}
    assert all(isinstance(value, str) and value for value in body.values())


def test_unauthorized_gateway_response_uses_the_routes_401_code(template: dict[str, Any]) -> None:
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    body = json.loads(responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"])
    assert body["Code"] == "InvalidCredentials"


def test_api_stage_is_throttled(template: dict[str, Any]) -> None:
    method_settings = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    everything = [s for s in method_settings if (s["ResourcePath"], s["HttpMethod"]) == ("/*", "*")]
    assert len(everything) == 1
    assert everything[0]["ThrottlingRateLimit"] > 0
    assert everything[0]["ThrottlingBurstLimit"] > 0


def test_leaked_key_revocation_has_its_own_small_method_throttle(template: dict[str, Any]) -> None:
    method_settings = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    # API Gateway's form of a resource path: a leading "/", then each "/" as "~1".
    path = "/" + f"{API}/apikeys/revoke".replace("/", "~1")
    (revoke,) = [
        s for s in method_settings if (s["ResourcePath"], s["HttpMethod"]) == (path, "POST")
    ]
    (everything,) = [s for s in method_settings if s["ResourcePath"] == "/*"]
    assert 0 < revoke["ThrottlingRateLimit"] < everything["ThrottlingRateLimit"]
    assert 0 < revoke["ThrottlingBurstLimit"] < everything["ThrottlingBurstLimit"]
    assert ("POST", f"{API}/apikeys/revoke") in app_routes()


# -- logs: gateway access logs, retention everywhere ------------------------------


def test_every_log_group_keeps_its_logs_for_a_limited_time(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        days = group["Properties"].get("RetentionInDays")
        assert isinstance(days, int) and 0 < days <= 365, name


def test_every_log_group_keeps_log_retention_days(template: dict[str, Any]) -> None:
    """The API's access log and each function's log group keep LOG_RETENTION_DAYS
    (default 180), as make package wrote it (deploy/retention.py)."""
    days = config.log_retention_days(os.environ)
    groups = resources_of(template, "AWS::Logs::LogGroup")
    assert len(groups) == len(resources_of(template, "AWS::Serverless::Function")) + 1
    kept = {name: group["Properties"]["RetentionInDays"] for name, group in groups.items()}
    assert kept == dict.fromkeys(groups, days)


def test_every_function_and_the_stage_log_to_a_log_group_declared_here(
    template: dict[str, Any],
) -> None:
    groups = set(resources_of(template, "AWS::Logs::LogGroup"))
    used = {
        resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for resource in resources_of(template, "AWS::Serverless::Function").values()
    }
    setting = template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]
    used.add(setting["DestinationArn"]["Fn::GetAtt"][0])
    assert used == groups
    assert len(used) == len(resources_of(template, "AWS::Serverless::Function")) + 1


def test_stage_writes_one_json_access_log_line_per_request(template: dict[str, Any]) -> None:
    fmt = template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]["Format"]
    assert "\n" not in fmt
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", fmt))
    variables = dict(re.findall(r'"([A-Za-z]+)":"(\$context\.[A-Za-z.]+)"', fmt))
    assert set(line) == set(variables)
    assert variables["requestId"] == "$context.requestId"
    assert variables["status"] == "$context.status"
    assert variables["route"] == "$context.resourcePath"
    assert variables["authorizerError"] == "$context.authorizer.error"
    assert variables["latency"] == "$context.responseLatency"


def test_gateway_answers_are_neither_sniffed_nor_stored(template: dict[str, Any]) -> None:
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    for response_type, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["X-Content-Type-Options"] == "'nosniff'", response_type
        assert headers["Cache-Control"] == "'no-store'", response_type


GATEWAY_RESPONSE_TYPES = [
    "UNAUTHORIZED",
    "ACCESS_DENIED",
    "MISSING_AUTHENTICATION_TOKEN",
    "THROTTLED",
    "REQUEST_TOO_LARGE",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
]


@pytest.mark.parametrize("response_type", GATEWAY_RESPONSE_TYPES)
def test_gateway_response_is_readable_by_the_requests_origin(
    template: dict[str, Any], response_type: str
) -> None:
    """An allowed origin's app can read a 401, 403, 429 or 5xx the gateway answers
    itself; the header names the request's Origin, never ``*``."""
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    headers = responses[response_type]["ResponseParameters"]["Headers"]
    assert headers["Access-Control-Allow-Origin"] == "method.request.header.Origin"
    assert headers["Access-Control-Allow-Credentials"] == "'true'"
    assert headers["Vary"] == "'Origin'"
    assert "*" not in json.dumps(headers)


def test_preflights_reach_the_function_on_every_path_without_the_authorizer(
    template: dict[str, Any],
) -> None:
    """API Gateway answers no preflight itself (it cannot know ALLOWED_ORIGINS): every
    path's OPTIONS goes to the function, which answers it (chalicelib/http/cors.py). The web
    UI's page and files (outside /api/v1) are same-origin only: never preflighted."""
    paths = definition(template)["paths"]
    assert paths
    for path, operations in paths.items():
        if not path.startswith(API):
            continue
        options = operations.get("options")
        assert options is not None, path
        assert "security" not in options, path
        integration = options["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
    for operations in paths.values():
        for operation in operations.values():
            assert operation["x-amazon-apigateway-integration"]["type"] != "mock"


def test_snapstart_is_one_setting_for_both_functions_and_off_by_default(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["SnapStart"]
    functions = resources_of(template, "AWS::Serverless::Function")

    assert parameter["Default"] == "None"
    assert set(parameter["AllowedValues"]) == {"None", "PublishedVersions"}
    assert set(functions) == {"APIHandler", "Authorizer"}
    for function in functions.values():
        assert function["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}


def test_api_gateway_calls_each_function_through_its_published_alias(
    template: dict[str, Any],
) -> None:
    text = json.dumps(template)
    functions = resources_of(template, "AWS::Serverless::Function")
    permissions = resources_of(template, "AWS::Lambda::Permission")

    assert "${APIHandler.Arn}/invocations" not in text
    assert "${Authorizer.Arn}/invocations" not in text
    assert text.count("/functions/${APIHandlerAliaslive}/invocations") == len(app_routes())
    assert text.count("/functions/${AuthorizerAliaslive}/invocations") == 1
    for name, function in functions.items():
        assert function["Properties"]["AutoPublishAlias"] == "live"
        invoke = permissions[f"{name}InvokePermission"]["Properties"]
        assert invoke["FunctionName"] == {"Ref": f"{name}Aliaslive"}


def test_route_to_aliases_refuses_a_template_without_the_uris_it_rewrites() -> None:
    with pytest.raises(ValueError, match="APIHandler"):
        route_to_aliases({"Resources": {}})
