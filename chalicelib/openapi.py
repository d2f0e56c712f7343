"""The OpenAPI 3.1 document of the API, built from the routes and from the same
``Body`` definitions that validate request bodies (``validation.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.permissions import PERMISSIONS
from chalicelib.validation import API_KEY_LOGIN, API_KEY_REQUEST, MAX_PAGE, USER, Body

ERRORS = {
    400: "Bad input (InvalidInput, UnknownField, InvalidCursor)",
    401: "Missing or bad credentials (InvalidCredentials)",
    403: "Not allowed (PermissionDenied, FieldNotWritable, CsrfTokenMismatch)",
    404: "Not found (UserNotFound, ApiKeyNotFound, ProviderNotFound, WebFileNotFound)",
    409: "Conflict (EmailTaken, UserExists, AuthIdTaken, LastUserManager, TooManyApiKeys, "
    "EditConflict)",
    412: "If-Match names another version (VersionMismatch)",
    413: "Body over 64 KiB (RequestTooLarge)",
    415: "Body is not application/json (UnsupportedMediaType)",
    422: "Idempotency-Key used with another body (IdempotencyKeyReused)",
    503: "Storage unavailable, nothing written (StorageUnavailable)",
}
READ = (401, 403, 503)
WRITE = (400, 401, 403, 404, 409, 413, 415, 503)
PAGE = (400, 401, 403, 503)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: Mapping[str, Any], required: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        result["required"] = list(properties)
    return result


def _record(body: Body, names: tuple[str, ...]) -> dict[str, Any]:
    """A stored record's shape: types only, since stored values predate today's rules."""
    types = {"integer": "integer", "strings": "array", "permissions": "array"}
    properties: dict[str, Any] = {}
    for name in names:
        kind = body.by_name[name].kind
        schema: dict[str, Any] = {"type": types.get(kind, "string")}
        if schema["type"] == "array":
            schema["items"] = {"type": "string"}
        properties[name] = schema
    return _object(properties)


PUBLIC = ("id", "name", "email", "affiliation", "contact", "orcid", "url")
NULLABLE_TEXT = {"type": ["string", "null"]}
ENTRY = {
    "id": {"type": "string"},
    "action": {"type": "string", "enum": ["add", "edit", "delete"]},
    "comment": {"type": "string"},
    "data_type": {"type": "string", "const": "user"},
    "entry_id": {"type": "string"},
    "timestamp": {"type": "string"},
}
SCHEMAS: dict[str, Any] = {
    "Error": _object({"Code": {"type": "string"}, "Message": {"type": "string"}}),
    "UserFields": USER.schema(),
    "UserBody": {
        **_object({"user": _ref("UserFields")}),
        "additionalProperties": False,
    },
    "UserRecord": _record(USER, tuple(f.name for f in USER.fields)),
    "PublicUser": _record(USER, PUBLIC),
    "ApiKeyRequest": API_KEY_REQUEST.schema(),
    "ApiKeyLogin": API_KEY_LOGIN.schema(),
    "NewApiKey": _object({"key": {"type": "string"}, "id": {"type": "string"}}),
    "ApiKeyInfo": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "created": {"type": "string"},
            "expires": NULLABLE_TEXT,
            "last_used": NULLABLE_TEXT,
        }
    ),
    "LogEntry": _object({**ENTRY, "user": {"type": "string"}, "data": {"type": "object"}}),
    "Action": _object(ENTRY),
}
CURSOR = {"type": ["string", "null"], "description": "the next page's cursor, null at the end"}
USER_REPLY = _object({"user": _ref("UserRecord")})


@dataclass(frozen=True)
class Operation:
    """What the document says of one route besides its path and method."""

    summary: str
    status: int
    reply: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()
    body: str | None = None
    body_required: bool = True
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    media: str = "application/json"


OPERATIONS: dict[str, Operation] = {
    "get_openapi": Operation("This document", 200, {"type": "object"}),
    "get_web_page": Operation(
        "The web UI's page (no-cache); its scripts and styles load relative to it",
        200,
        {"type": "string"},
        media="text/html",
    ),
    "get_web_asset": Operation(
        "A built, content-hashed script or style of the web UI (cached for a year)",
        200,
        errors=(404,),
    ),
    "list_permissions": Operation(
        "All permission names",
        200,
        _object({"permissions": {"type": "array", "items": {"enum": list(PERMISSIONS)}}}),
    ),
    "list_users": Operation(
        "A page of users (USER_SEARCH); public fields only without USER_MANAGEMENT",
        200,
        _object(
            {
                "users": {
                    "type": "array",
                    "items": {"anyOf": [_ref("UserRecord"), _ref("PublicUser")]},
                },
                "next": CURSOR,
            }
        ),
        PAGE,
        query=("limit", "cursor", "email"),
    ),
    "create_user": Operation(
        "Create a user (USER_ADD)",
        201,
        _object({"id": {"type": "string"}}),
        (*WRITE, 422),
        "UserBody",
        headers=("Idempotency-Key",),
    ),
    "get_me": Operation("The caller's record, permissions expanded", 200, USER_REPLY, READ),
    "update_me": Operation("Edit the caller's profile", 200, USER_REPLY, WRITE, "UserBody"),
    "get_user": Operation("A user's record (USER_MANAGEMENT)", 200, USER_REPLY, (*READ, 404)),
    "update_user": Operation(
        "Edit a user (USER_MANAGEMENT)",
        200,
        USER_REPLY,
        (*WRITE, 412),
        "UserBody",
        headers=("If-Match",),
    ),
    "delete_user": Operation(
        "Delete a user (USER_MANAGEMENT)",
        204,
        errors=(400, 401, 403, 404, 409, 412, 503),
        headers=("If-Match",),
    ),
    "replace_api_key": Operation(
        "Make a new API key, revoking the others (self or USER_MANAGEMENT)",
        201,
        _ref("NewApiKey"),
        (401, 403, 404, 409, 503),
    ),
    "list_api_keys": Operation(
        "A user's API keys, never the keys (self or USER_MANAGEMENT)",
        200,
        _object({"apikeys": {"type": "array", "items": _ref("ApiKeyInfo")}}),
        (*READ, 404),
    ),
    "add_api_key": Operation(
        "Make one more API key (self or USER_MANAGEMENT)",
        201,
        _ref("NewApiKey"),
        WRITE,
        "ApiKeyRequest",
        body_required=False,
    ),
    "revoke_api_key": Operation(
        "Revoke one API key (self or USER_MANAGEMENT)", 204, errors=(401, 403, 404, 409, 503)
    ),
    "get_user_log": Operation(
        "A record's change history, oldest first (self or USER_MANAGEMENT)",
        200,
        _object(
            {
                "entry_id": {"type": "string"},
                "data_type": {"type": "string"},
                "logs": {"type": "array", "items": _ref("LogEntry")},
                "next": CURSOR,
            }
        ),
        (*PAGE, 404),
        query=("limit", "cursor"),
    ),
    "get_user_actions": Operation(
        "The changes a user made, oldest first (self or USER_MANAGEMENT)",
        200,
        _object({"logs": {"type": "array", "items": _ref("Action")}, "next": CURSOR}),
        PAGE,
        query=("limit", "cursor"),
    ),
    "list_login_types": Operation(
        "Ways to log in",
        200,
        _object({"types": {"type": "array", "items": {"type": "string"}}}),
    ),
    "get_csrf_token": Operation(
        "The CSRF token (the _csrf_token cookie, set now when the request had none)",
        200,
        _object({"csrf_token": {"type": "string"}}),
        cookies=("_csrf_token",),
    ),
    "list_oidc_providers": Operation(
        "Configured OpenID Connect providers and their login paths",
        200,
        {"type": "object", "additionalProperties": {"type": "string"}},
    ),
    "start_oidc_login": Operation(
        "Go to the provider's login", 302, errors=(404,), query=("origin",)
    ),
    "finish_oidc_login": Operation(
        "The OpenID Connect callback: back to the origin with a session, or with login_error",
        302,
        errors=(404,),
        query=("code", "state", "error"),
        cookies=("oidc_login",),
    ),
    "login_with_api_key": Operation(
        "Start a browser session with an API key",
        200,
        _object({"expires": {"type": "string"}}),
        (400, 401, 403, 413, 415, 503),
        "ApiKeyLogin",
        headers=("X-CSRF-Token",),
        cookies=("session", "_csrf_token"),
    ),
    "issue_access_token": Operation(
        "An access token for the session (needs X-CSRF-Token)",
        200,
        _object({"token": {"type": "string"}, "expires_in": {"type": "integer"}}),
        (401, 403, 503),
        headers=("X-CSRF-Token",),
        cookies=("session", "_csrf_token"),
    ),
    "logout": Operation(
        "End the session",
        204,
        errors=(403, 503),
        headers=("X-CSRF-Token",),
        cookies=("session", "_csrf_token"),
    ),
}

QUERY = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100},
    "cursor": {"type": "string"},
    "email": {"type": "string"},
    "origin": {"type": "string"},
    "code": {"type": "string"},
    "state": {"type": "string"},
    "error": {"type": "string"},
}
PATH_PARAMETER = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}
HEADERS = {
    "Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 200},
    "If-Match": {"type": "string", "pattern": r"^(W/)?\"?[0-9]+\"?$"},
    "X-CSRF-Token": {"type": "string"},
}


def _parameters(path_args: list[str], op: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": arg, "in": "path", "required": True, "schema": PATH_PARAMETER} for arg in path_args
    ]
    parameters += [{"name": q, "in": "query", "schema": QUERY[q]} for q in op.query]
    parameters += [{"name": h, "in": "header", "schema": HEADERS[h]} for h in op.headers]
    parameters += [{"name": c, "in": "cookie", "schema": {"type": "string"}} for c in op.cookies]
    return parameters


def _operation(view: str, path_args: list[str], secured: bool) -> dict[str, Any]:
    op = OPERATIONS[view]
    success: dict[str, Any] = {"description": op.summary}
    if op.reply is not None:
        success["content"] = {op.media: {"schema": op.reply}}
    responses: dict[str, Any] = {str(op.status): success}
    for status in op.errors:
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    result: dict[str, Any] = {"operationId": view, "summary": op.summary, "responses": responses}
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


def document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for Chalice's route table (path -> method -> entry)."""
    paths: dict[str, Any] = {}
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            if method == "OPTIONS":
                continue  # CORS preflights, the browser's business (chalicelib/cors.py)
            paths.setdefault(path, {})[method.lower()] = _operation(
                entry.view_name, list(entry.view_args), entry.authorizer is not None
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Users service",
            "version": "1",
            "description": "User profiles, permissions, login, API keys and change logs.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (uk_...) or an access token from /login/token",
                }
            },
        },
    }
