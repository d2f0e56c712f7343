"""The OpenAPI 3.1 document of the API, built from the routes and what each declares
beside it (``operations.documented``), the same ``Body`` definitions that validate
request bodies (``validation.py``) and the errors of ``errors.py``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from chalicelib import config, errors
from chalicelib.http.operations import Operation, needs_of, operation_of
from chalicelib.http.request_io import IF_MATCH
from chalicelib.permissions import DESCRIPTIONS, IMPLIES, PERMISSIONS
from chalicelib.records import search
from chalicelib.records.idempotency import MAX_KEY_LENGTH
from chalicelib.records.logs import ORDERS
from chalicelib.records.record import NEW_USER, PUBLIC_FIELDS, USER
from chalicelib.records.validation import (
    API_KEY_LOGIN,
    API_KEY_REQUEST,
    API_KEY_ROTATION,
    CURSOR_PATTERN,
    LEAKED_KEYS,
    MAX_PAGE,
    Body,
)
from chalicelib.text import char_class


def meaning(error: type[Exception]) -> str:
    """An error's meaning in plain text: its docstring's first line, without markup."""
    return (error.__doc__ or "").strip().splitlines()[0].replace("``", "")


def codes(status: int) -> list[str]:
    """The ``Code`` names the service answers with ``status``, as declared in errors.py."""
    return [e.__name__ for e in errors.DOMAIN_ERRORS if status == e.STATUS_CODE]


def _describe(status: int) -> str:
    """The description of an error status in plain text: its phrase and each ``Code``."""
    return f"{HTTPStatus(status).phrase}; Code is one of: " + "; ".join(
        f"{e.__name__} ({meaning(e).rstrip('.')})"
        for e in errors.DOMAIN_ERRORS
        if status == e.STATUS_CODE
    )


ERRORS = {
    status: _describe(status) for status in sorted({e.STATUS_CODE for e in errors.DOMAIN_ERRORS})
}
"""Each error status the service answers, described from ``errors.py``."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: Mapping[str, Any], required: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        result["required"] = list(properties)
    return result


def _record(body: Body, names: tuple[str, ...]) -> dict[str, Any]:
    """A stored record's shape: types only, since stored values predate today's rules."""
    types = {
        "integer": "integer",
        "boolean": "boolean",
        "strings": "array",
        "permissions": "array",
        "objects": "array",
    }
    properties: dict[str, Any] = {}
    for name in names:
        kind = body.by_name[name].kind
        schema: dict[str, Any] = {"type": types.get(kind, "string")}
        if schema["type"] == "array":
            if kind == "permissions":
                schema["items"] = _ref("Permission")
            elif kind == "objects":
                schema["items"] = body.by_name[name].schema()["items"]
            else:
                schema["items"] = {"type": "string"}
        properties[name] = schema
    return _object(properties)


NULLABLE_TEXT = {"type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
KEY_EXPIRES = {
    "API-Key-Expires": {
        "description": "when the API key the request was made with expires (only then)",
        "schema": TIMESTAMP,
    }
}
CURSOR = {"type": ["string", "null"], "description": "the next page's cursor, null at the end"}
ENTRY = {
    "id": {"type": "string"},
    "action": {"type": "string", "enum": ["add", "edit", "delete"]},
    "comment": {"type": "string"},
    "data_type": {"type": "string", "const": "user"},
    "entry_id": {"type": "string"},
    "timestamp": {"type": "string"},
}
RULE_REASON = ("provider", "claim", "value", "asserted", "until")
# The fields' values before an edit; entries written before it was kept have none.
DATA = {"type": "object", "additionalProperties": True}
OLD = {"old": {"type": "object", "additionalProperties": True}}
SCHEMAS: dict[str, Any] = {
    "Error": _object({"Code": {"type": "string"}, "Message": {"type": "string"}}),
    "LoginError": {
        "type": "string",
        "enum": [code.value for code in errors.LoginError],
        "description": "The login_error a failed login lands with on its origin. "
        + " ".join(f"{code.value}: {text}." for code, text in errors.LOGIN_ERRORS.items()),
    },
    "UserFields": USER.schema(),
    "UserBody": {
        **_object({"user": _ref("UserFields")}),
        "additionalProperties": False,
    },
    "NewUserFields": NEW_USER.schema(),
    "NewUserBody": {
        **_object({"user": _ref("NewUserFields")}),
        "additionalProperties": False,
    },
    "GatewayMessage": {
        **_object({"message": {"type": "string"}}),
        "description": "The answer of the gateway itself, before the service runs: chalice "
        "local's and Chalice's test client's to a request without an Authorization header "
        "(API Gateway's gateway responses carry the Error body instead)",
    },
    "UserRecord": _record(USER, tuple(f.name for f in USER.fields)),
    "PublicUser": _record(USER, PUBLIC_FIELDS),
    "ApiKeyRequest": API_KEY_REQUEST.schema(),
    "ApiKeyLogin": API_KEY_LOGIN.schema(),
    "ApiKeyRotation": API_KEY_ROTATION.schema(),
    "LeakedKeys": LEAKED_KEYS.schema(),
    "NewApiKey": _object({"key": {"type": "string"}, "id": {"type": "string"}}),
    "NewApiKeyWithExpiry": _object(
        {"key": {"type": "string"}, "id": {"type": "string"}, "expires": TIMESTAMP}
    ),
    "RotatedApiKey": _object(
        {
            "key": {"type": "string"},
            "id": {"type": "string"},
            "expires": TIMESTAMP,
            "old_key_expires": {**TIMESTAMP, "description": "until when the old key works"},
        }
    ),
    "RevokedCount": _object({"revoked": {"type": "integer", "minimum": 0}}),
    "ApiKeyInfo": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "created": {"type": "string"},
            "expires": TIMESTAMP,
            "last_used": NULLABLE_TEXT,
            "last_used_ip": {**NULLABLE_TEXT, "description": "the address of the last use"},
            "permissions": {
                "type": ["array", "null"],
                "items": {"enum": list(PERMISSIONS)},
                "description": "the key's scope; null: all of its owner's",
            },
            "read_only": {"type": "boolean"},
        }
    ),
    "LogEntry": {
        **_object({**ENTRY, "user": {"type": "string"}, "data": DATA}),
        "properties": {**ENTRY, "user": {"type": "string"}, "data": DATA, **OLD},
    },
    "Action": {**_object(ENTRY), "properties": {**ENTRY, **OLD}},
    "People": {
        "type": "object",
        "description": "each user id's current name (null when none) and whether the user is gone",
        "additionalProperties": _object({"name": NULLABLE_TEXT, "deleted": {"type": "boolean"}}),
    },
    "OpenApiDocument": {"type": "object"},
    "Permission": {
        "type": "string",
        "description": "A permission; each one's description says what it lets its holder do",
        "oneOf": [{"const": name, "description": DESCRIPTIONS[name]} for name in PERMISSIONS],
    },
    "PermissionList": _object({"permissions": {"type": "array", "items": _ref("Permission")}}),
    "PermissionReason": {
        "oneOf": [
            _object({"granted": {"const": True}}),
            _object({"implied_by": _ref("Permission")}),
            _object({"rule": _object({name: {"type": "string"} for name in RULE_REASON})}),
        ]
    },
    "PermissionReasons": _object(
        {
            "permissions": {
                "type": "array",
                "items": _object(
                    {
                        "name": _ref("Permission"),
                        "because": {"type": "array", "items": _ref("PermissionReason")},
                    }
                ),
            }
        }
    ),
    "UserPage": _object(
        {
            "users": {
                "type": "array",
                "items": {"anyOf": [_ref("UserRecord"), _ref("PublicUser")]},
            },
            "next": CURSOR,
        }
    ),
    "CreatedUser": _object({"id": {"type": "string"}}),
    "UserReply": _object({"user": _ref("UserRecord")}),
    "ApiKeyList": _object({"apikeys": {"type": "array", "items": _ref("ApiKeyInfo")}}),
    "LogPage": _object(
        {
            "entry_id": {"type": "string"},
            "data_type": {"type": "string"},
            "logs": {"type": "array", "items": _ref("LogEntry")},
            "actors": _ref("People"),
            "next": CURSOR,
        }
    ),
    "ActionPage": _object(
        {
            "logs": {"type": "array", "items": _ref("Action")},
            "records": _ref("People"),
            "next": CURSOR,
        }
    ),
    "LoginTypes": _object({"types": {"type": "array", "items": {"type": "string"}}}),
    "CsrfToken": _object({"csrf_token": {"type": "string"}}),
    "ProviderPaths": {"type": "object", "additionalProperties": {"type": "string"}},
    "SessionStarted": _object({"expires": {"type": "string"}}),
    "AccessToken": _object(
        {
            "token": {
                "type": "string",
                "description": (
                    "A JWT the service signs (HS256, typ at+jwt): iss, aud, exp, iat, sub (the"
                    " user), sid (the session) and, in a session made with an API key, key (that"
                    " key's id, never its secret)"
                ),
            },
            "expires_in": {"type": "integer"},
        }
    ),
    "WebPage": {"type": "string"},
}
SCHEMAS["UserExport"] = {
    **_object(
        {
            "format": {"type": "string", "const": "users-service-export/1"},
            "exported": {"type": "string", "format": "date-time"},
            "user": {
                "allOf": [
                    _ref("UserRecord"),
                    _object(
                        {
                            "effective_permissions": {
                                "type": "array",
                                "items": {"enum": list(PERMISSIONS)},
                            },
                            "permission_reasons": {
                                "type": "array",
                                "items": _object(
                                    {
                                        "name": {"enum": list(PERMISSIONS)},
                                        "because": {"type": "array", "items": {"type": "object"}},
                                    }
                                ),
                            },
                        }
                    ),
                ]
            },
            "identities": {
                "type": "array",
                "items": _object(
                    {
                        "identity": {"type": "string"},
                        "sub": {"type": "string"},
                        "provider": {"type": "string"},
                    }
                ),
            },
            "apikeys": {"type": "array", "items": _ref("ApiKeyInfo")},
            "sessions": {
                "type": "array",
                "items": {
                    **_object(
                        {
                            "created": {"type": "string"},
                            "expires": {"type": "string"},
                            "kind": {"enum": ["oidc", "apikey"]},
                        }
                    ),
                    "properties": {
                        "created": {"type": "string"},
                        "expires": {"type": "string"},
                        "kind": {"enum": ["oidc", "apikey"]},
                        "provider": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
            },
            "log": {"type": "array", "items": _ref("LogEntry")},
            "log_next": {**CURSOR, "description": "the cursor of GET /user/{id}/log's next page"},
            "actions": {"type": "array", "items": _ref("Action")},
            "actions_next": {
                **CURSOR,
                "description": "the cursor of GET /user/{id}/actions' next page",
            },
        }
    ),
    "description": "Everything the service holds about one person (docs/API.md section 10); "
    "other people appear in it only by id",
    "additionalProperties": False,
}


QUERY = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100},
    "cursor": {
        "type": "string",
        "pattern": f"^{CURSOR_PATTERN}$",
        "description": "the next of the page before; any other value gives 400 InvalidCursor",
    },
    "email": {"type": "string", "pattern": f"^{char_class('text')}*$"},
    "q": {"type": "string", "minLength": search.MIN_QUERY, "maxLength": search.MAX_QUERY},
    "order": {"type": "string", "enum": list(ORDERS), "default": ORDERS[0]},
    "suspended": {"type": "string", "enum": ["true", "false"]},
    # The login routes take anything here: what they cannot use ends the login on its
    # origin with login_error, or falls back to "/".
    "origin": {"type": "string"},
    "code": {"type": "string"},
    "state": {"type": "string"},
    "error": {"type": "string"},
    "link": {"type": "string", "enum": ["1"]},
}
PATH_PARAMETER = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}
PATH_PARAMETERS = {
    "identity": {
        "type": "string",
        "minLength": 4,
        "maxLength": 1100,
        "description": "<sub>::<provider>, URL-encoded",
    }
}
HEADERS = {
    "Idempotency-Key": {"type": "string", "pattern": f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$"},
    "If-Match": {"type": "string", "pattern": f"^{IF_MATCH}$"},
    "X-CSRF-Token": {"type": "string"},
}


def _parameters(path_args: list[str], op: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": arg,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(arg, PATH_PARAMETER),
        }
        for arg in path_args
    ]
    parameters += [{"name": q, "in": "query", "schema": QUERY[q]} for q in op.query]
    parameters += [
        {"name": h, "in": "header", "required": h in op.required_headers, "schema": HEADERS[h]}
        for h in op.headers
    ]
    parameters += [{"name": c, "in": "cookie", "schema": {"type": "string"}} for c in op.cookies]
    return parameters


def _operation(view: Callable[..., Any], path_args: list[str], secured: bool) -> dict[str, Any]:
    op = operation_of(view)
    success: dict[str, Any] = {"description": op.summary}
    if op.reply is not None:
        success["content"] = {op.media: {"schema": _ref(op.reply)}}
    if secured or op.key_expires:
        success["headers"] = KEY_EXPIRES
    responses: dict[str, Any] = {str(op.status): success}
    for status in op.errors:
        error: dict[str, Any] = _ref("Error")
        if status == 401 and secured:
            error = {"anyOf": [_ref("Error"), _ref("GatewayMessage")]}
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": error}},
        }
    result: dict[str, Any] = {
        "operationId": view.__name__,
        "summary": op.summary,
        "responses": responses,
    }
    needs = needs_of(view)
    if needs is not None:
        result["x-permission"] = {"name": needs.permission, "or_self": needs.or_self}
        result["description"] = f"{op.summary}. Who may call it: {needs.words()}."
    parameters = _parameters(path_args, op)
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        result["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    if secured:
        result["security"] = [{"bearer": []}]
    return result


def _links(paths: Mapping[str, Any], path: str, made: str) -> dict[str, Any]:
    """Links from the create at ``path`` to every operation on what it made (``made``,
    the path of the new thing, whose last parameter is the ``id`` of the answer),
    the create's own path parameters passed on."""
    new = made.rsplit("{", 1)[1].rstrip("}")
    known = {*(p.split("}")[0] for p in path.split("{")[1:]), new}
    links: dict[str, Any] = {}
    for target, operations in sorted(paths.items()):
        if target != made and not target.startswith(f"{made}/"):
            continue
        for operation in operations.values():
            args = [p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"]
            if not set(args) <= known:
                continue
            parameters = {
                arg: "$response.body#/id" if arg == new else f"$request.path.{arg}" for arg in args
            }
            name = operation["operationId"]
            links[name] = {"operationId": name, "parameters": parameters}
    return links


def _with_key_days(schemas: dict[str, Any], default_days: int, max_days: int) -> dict[str, Any]:
    """``schemas`` with this deployment's API key lifetimes (API_KEY_DEFAULT_DAYS,
    API_KEY_MAX_DAYS) on ``expires_in_days``, where the web UI reads them."""
    request = copy.deepcopy(schemas["ApiKeyRequest"])
    days = request["properties"]["expires_in_days"]
    days["maximum"], days["default"] = max_days, default_days
    return {**schemas, "ApiKeyRequest": request}


DEFAULT_KEY_DAYS = (config.DEFAULT_KEY_DAYS, config.DEFAULT_KEY_MAX_DAYS)
"""The key lifetimes of a deployment that sets neither: the document the web UI's types
and docs/API.md are written from."""


def document(routes: Mapping[str, Mapping[str, Any]], key_days: tuple[int, int]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for Chalice's route table (path -> method -> entry);
    ``key_days``: the deployment's default and longest API key lifetime."""
    paths: dict[str, Any] = {}
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            if method == "OPTIONS":
                continue  # CORS preflights, the browser's business (chalicelib/http/cors.py)
            paths.setdefault(path, {})[method.lower()] = _operation(
                entry.view_function, list(entry.view_args), entry.authorizer is not None
            )
    for path, methods in routes.items():
        for method, entry in methods.items():
            made = operation_of(entry.view_function).creates if method != "OPTIONS" else None
            if made is not None:
                success = paths[path][method.lower()]["responses"]
                success[str(operation_of(entry.view_function).status)]["links"] = _links(
                    paths, path, made
                )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Users service",
            "version": "1",
            "description": "User profiles, permissions, login, API keys and change logs.",
        },
        "paths": paths,
        "x-permissions": {
            name: {"description": DESCRIPTIONS[name], "implies": list(IMPLIES.get(name, ()))}
            for name in PERMISSIONS
        },
        "components": {
            "schemas": _with_key_days(SCHEMAS, *key_days),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (uk_...) or an access token from /login/token",
                }
            },
        },
    }
