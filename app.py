"""The users service: Chalice routes and the one custom authorizer.

Routes are thin adapters: read the request, call one function of
``chalicelib``, return a dict. Domain errors carry their HTTP status.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any

from chalice.app import AuthRequest, AuthResponse, Chalice, Request, Response

from chalicelib import (
    auth,
    cors,
    errors,
    idempotency,
    logs,
    requestlog,
    sessions,
    timestamps,
    urls,
    users,
    validation,
    webui,
)
from chalicelib.config import settings
from chalicelib.operations import CSRF, IDEMPOTENT, IF_MATCH, PAGE, PAGED, READ, WRITE, documented
from chalicelib.permissions import PERMISSIONS, USER_ADD, USER_MANAGEMENT, USER_SEARCH, Caller
from chalicelib.text import whole_number
from chalicelib.validation import MANAGER_FIELDS, PROFILE_FIELDS

app = Chalice(app_name="users-service")

API = urls.API_PREFIX
MAX_BODY = 64 * 1024
AUTHORIZER_TTL = 60  # seconds API Gateway may cache a decision; the contract allows 60
MAX_DEPTH = 4  # {"user": {"permissions": [...]}} is 3 deep; nothing the API takes is deeper
IF_MATCH_RE = re.compile(r'(?:W/)?(?:"([0-9]{1,15})"|([0-9]{1,15}))')
UNCACHED = (f"{API}/openapi.json",)


@app.authorizer(ttl_seconds=AUTHORIZER_TTL)
def authorizer(auth_request: AuthRequest) -> AuthResponse:
    """Verify an API key or access token; the route answers 401 when it names nobody.

    The decision covers every route (API Gateway caches it across routes), so
    permission checks happen in the routes.
    """
    decision = auth.decide(auth_request.token)
    return AuthResponse(routes=["*"], principal_id=decision.principal, context=decision.context())


@app.middleware("http")
def allow_origins(event: Request, get_response: Any) -> Response:
    """CORS headers on every answer, errors included, for the allowed origins
    (chalicelib/cors.py). Registered first, so it sees the final answer."""
    response: Response = get_response(event)
    headers = cors.response_headers(event.headers.get("origin"), settings().allowed_origins)
    headers["Vary"] = cors.add_vary(response.headers.get("Vary"))
    response.headers.update(headers)
    return response


@app.middleware("http")
def security_headers(event: Request, get_response: Any) -> Response:
    """``nosniff`` on every answer, errors included; ``no-store`` on the API's answers,
    which carry tokens, keys and personal data, except the OpenAPI document."""
    response: Response = get_response(event)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if event.path.startswith(f"{API}/") and event.path not in UNCACHED:
        response.headers["Cache-Control"] = "no-store"
    return response


@app.middleware("http")
def issue_csrf_cookie(event: Request, get_response: Any) -> Response:
    """Hand a readable ``_csrf_token`` cookie to every caller that has none, except
    on answers that shared caches may keep (the web UI's files)."""
    response: Response = get_response(event)
    cookies = sessions.parse_cookies(event.headers.get("cookie"))
    if (
        sessions.CSRF_COOKIE not in cookies
        and not _sets_cookie(response, sessions.CSRF_COOKIE)
        and not webui.shared_cacheable(response.headers.get("Cache-Control"))
    ):
        _, cookie = sessions.csrf_token(cookies, _base(event))
        if cookie is not None:
            _add_cookies(response, [cookie])
    return response


@app.middleware("http")
def log_request(event: Request, get_response: Any) -> Response:
    """Write one structured log line per request."""
    started = time.perf_counter()
    response: Response = get_response(event)
    context = event.context or {}
    requestlog.log_request(
        request_id=str(
            context.get("requestId") or getattr(event.lambda_context, "aws_request_id", "")
        ),
        method=event.method,
        route=context.get("resourcePath", ""),
        status=response.status_code,
        latency_ms=(time.perf_counter() - started) * 1000,
        user_id=(context.get("authorizer") or {}).get("user_id"),
    )
    return response


@app.route(f"{API}/openapi.json", methods=["GET"])
@documented("This document", 200, "OpenApiDocument")
def get_openapi() -> dict[str, Any]:
    return _openapi_document()


@app.route(f"{API}/user/permissions", methods=["GET"])
@documented("All permission names", 200, "PermissionList")
def list_permissions() -> dict[str, Any]:
    return {"permissions": list(PERMISSIONS)}


@app.route(f"{API}/user", methods=["GET"], authorizer=authorizer)
@documented(
    "A page of users (USER_SEARCH); public fields only without USER_MANAGEMENT",
    200,
    "UserPage",
    PAGE,
    query=("limit", "cursor", "email"),
)
def list_users() -> dict[str, Any]:
    caller = _caller()
    caller.require(USER_SEARCH)
    params = _query()
    page = validation.parse_page(params, extra=("email",))
    return users.list_users(caller, page, email=params.get("email"))


@app.route(f"{API}/user", methods=["POST"], authorizer=authorizer)
@documented("Create a user (USER_ADD)", 201, "CreatedUser", (*WRITE, 422), "UserBody", **IDEMPOTENT)
def create_user() -> Response:
    caller = _caller()
    caller.require(USER_ADD)
    body = _user_body()
    create = functools.partial(users.create_user, caller.id, body, caller.has(USER_MANAGEMENT))
    key = _request().headers.get("idempotency-key")
    user_id = create().id if key is None else idempotency.create_once(caller.id, key, body, create)
    return Response(body={"id": user_id}, status_code=201)


@app.route(f"{API}/user/me", methods=["GET"], authorizer=authorizer)
@documented("The caller's record, permissions expanded", 200, "UserReply", READ)
def get_me() -> dict[str, Any]:
    return {"user": users.get_me(_caller())}


@app.route(f"{API}/user/me", methods=["PATCH"], authorizer=authorizer)
@documented("Edit the caller's profile", 200, "UserReply", WRITE, "UserBody")
def update_me() -> dict[str, Any]:
    caller = _caller()
    body = _user_body()
    return {"user": users.update_user(caller.id, caller.id, body, PROFILE_FIELDS, expanded=True)}


@app.route(f"{API}/user/{{user_id}}", methods=["GET"], authorizer=authorizer)
@documented("A user's record (USER_MANAGEMENT)", 200, "UserReply", (*READ, 404))
def get_user(user_id: str) -> dict[str, Any]:
    _caller().require(USER_MANAGEMENT)
    return {"user": users.get_user(user_id)}


@app.route(f"{API}/user/{{user_id}}", methods=["PATCH"], authorizer=authorizer)
@documented(
    "Edit a user (USER_MANAGEMENT)", 200, "UserReply", (*WRITE, 412), "UserBody", **IF_MATCH
)
def update_user(user_id: str) -> dict[str, Any]:
    caller = _caller()
    caller.require(USER_MANAGEMENT)
    body = _user_body()
    user = users.update_user(caller.id, user_id, body, MANAGER_FIELDS, if_match=_if_match())
    return {"user": user}


@app.route(f"{API}/user/{{user_id}}", methods=["DELETE"], authorizer=authorizer)
@documented(
    "Delete a user (USER_MANAGEMENT)", 204, None, (400, 401, 403, 404, 409, 412, 503), **IF_MATCH
)
def delete_user(user_id: str) -> Response:
    caller = _caller()
    caller.require(USER_MANAGEMENT)
    users.delete_user(caller.id, user_id, if_match=_if_match())
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/apikey", methods=["POST"], authorizer=authorizer)
@documented(
    "Make a new API key, revoking the others (self or USER_MANAGEMENT)",
    201,
    "NewApiKey",
    (401, 403, 404, 409, 503),
)
def replace_api_key(user_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    key = auth.make_api_key(caller.id, user_id, replace=True)
    return Response(body=key, status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["GET"], authorizer=authorizer)
@documented(
    "A user's API keys, never the keys (self or USER_MANAGEMENT)", 200, "ApiKeyList", (*READ, 404)
)
def list_api_keys(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return auth.list_api_keys(user_id)


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["POST"], authorizer=authorizer)
@documented(
    "Make one more API key (self or USER_MANAGEMENT)",
    201,
    "NewApiKey",
    WRITE,
    "ApiKeyRequest",
    body_required=False,
)
def add_api_key(user_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    name, days = auth.check_key_request(_json_body(optional=True))
    key = auth.make_api_key(caller.id, user_id, name=name, expires_in_days=days)
    return Response(body=key, status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys/{{key_id}}", methods=["DELETE"], authorizer=authorizer)
@documented("Revoke one API key (self or USER_MANAGEMENT)", 204, None, (401, 403, 404, 409, 503))
def revoke_api_key(user_id: str, key_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    auth.revoke_api_key(caller.id, user_id, key_id)
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/log", methods=["GET"], authorizer=authorizer)
@documented(
    "A record's change history, oldest first (self or USER_MANAGEMENT)",
    200,
    "LogPage",
    (*PAGE, 404),
    query=PAGED,
)
def get_user_log(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return logs.get_log(user_id, validation.parse_page(_query()))


@app.route(f"{API}/user/{{user_id}}/actions", methods=["GET"], authorizer=authorizer)
@documented(
    "The changes a user made, oldest first (self or USER_MANAGEMENT)",
    200,
    "ActionPage",
    PAGE,
    query=PAGED,
)
def get_user_actions(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return logs.get_actions(user_id, validation.parse_page(_query()))


@app.route(f"{API}/login", methods=["GET"])
@documented("Ways to log in", 200, "LoginTypes")
def list_login_types() -> dict[str, Any]:
    return {"types": ["apikey", "oidc"]}


@app.route(f"{API}/login/csrf", methods=["GET"])
@documented(
    "The CSRF token (the _csrf_token cookie, set now when the request had none)",
    200,
    "CsrfToken",
    cookies=("_csrf_token",),
)
def get_csrf_token() -> Response:
    token, cookie = sessions.csrf_token(_cookies(), _base())
    response = Response(body={"csrf_token": token})
    _add_cookies(response, [cookie] if cookie else [])
    return response


@app.route(f"{API}/login/oidc", methods=["GET"])
@documented("Configured OpenID Connect providers and their login paths", 200, "ProviderPaths")
def list_oidc_providers() -> dict[str, str]:
    from chalicelib import oidc

    return oidc.providers(_base())


@app.route(f"{API}/login/oidc/{{provider}}", methods=["GET"])
@documented("Go to the provider's login", 302, None, (404,), query=("origin",))
def start_oidc_login(provider: str) -> Response:
    from chalicelib import oidc

    redirect = oidc.start_login(provider, _query().get("origin"), _base())
    return _redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/oidc/{{provider}}/authorize", methods=["GET"])
@documented(
    "The OpenID Connect callback: back to the origin with a session, or with login_error",
    302,
    errors=(404,),
    query=("code", "state", "error"),
    cookies=("oidc_login",),
)
def finish_oidc_login(provider: str) -> Response:
    from chalicelib import oidc

    cookie = _cookies().get(oidc.LOGIN_COOKIE)
    redirect = oidc.finish_login(provider, _query(), cookie, _base())
    return _redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/apikey", methods=["POST"])
@documented(
    "Start a browser session with an API key",
    200,
    "SessionStarted",
    (400, 401, 403, 413, 415, 503),
    "ApiKeyLogin",
    **CSRF,
)
def login_with_api_key() -> Response:
    sessions.check_csrf(_cookies(), _request().headers.get(sessions.CSRF_HEADER))
    session = auth.login_with_api_key(_json_body())
    expires = timestamps.stamp(session.expires)
    return Response(body={"expires": expires}, headers={"Set-Cookie": session.set_cookie(_base())})


@app.route(f"{API}/login/token", methods=["POST"])
@documented(
    "An access token for the session (needs X-CSRF-Token)",
    200,
    "AccessToken",
    (401, 403, 503),
    **CSRF,
)
def issue_access_token() -> dict[str, object]:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    return sessions.issue_token(cookies.get(sessions.SESSION_COOKIE))


@app.route(f"{API}/logout", methods=["POST"])
@documented("End the session", 204, None, (403, 503), **CSRF)
def logout() -> Response:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    sessions.end_session(cookies.get(sessions.SESSION_COOKIE))
    return Response(
        body="", status_code=204, headers={"Set-Cookie": sessions.clear_session_cookie(_base())}
    )


@app.route("/", methods=["GET"])
@documented(
    "The web UI's page (no-cache); its scripts and styles load relative to it",
    200,
    "WebPage",
    media="text/html",
)
def get_web_page() -> Response:
    """The web UI's page (API.md section 9); its files load relative to it."""
    location = webui.slash_redirect(_request().context.get("path"))
    if location is not None:
        return _redirect(location, [])
    page = webui.page()
    return Response(body=page.body, headers=page.headers)


@app.route("/assets/{name}", methods=["GET"])
@documented(
    "A built, content-hashed script or style of the web UI (cached for a year)", 200, None, (404,)
)
def get_web_asset(name: str) -> Response:
    asset = webui.asset(name)
    return Response(body=asset.body, headers=asset.headers)


@functools.cache
def _openapi_document() -> dict[str, Any]:
    from chalicelib import openapi

    return openapi.document(app.routes)


def _caller() -> Caller:
    """The caller the authorizer verified; InvalidCredentials when it verified nobody,
    StorageUnavailable when it could not check.

    API Gateway keeps a decision for AUTHORIZER_TTL seconds; one that a storage
    fault kept the authorizer from making is made again here, so that a passing
    fault does not shut the caller out for that long.
    """
    request = _request()
    context = request.context.get("authorizer") or {}
    if context.get("unavailable"):
        context = auth.decide(request.headers.get("authorization")).context()
        if context["unavailable"]:
            raise errors.StorageUnavailable(context["error"])
    user_id = context.get("user_id")
    if not user_id:
        raise errors.InvalidCredentials(context.get("error") or "credentials are required")
    permissions = frozenset(p for p in context.get("permissions", "").split(",") if p)
    return Caller(id=user_id, permissions=permissions)


def _request() -> Request:
    request = app.current_request
    assert request is not None, "called outside a request"
    return request


def _cookies() -> dict[str, str]:
    return sessions.parse_cookies(_request().headers.get("cookie"))


def _add_cookies(response: Response, cookies: list[str]) -> None:
    existing = response.headers.get("Set-Cookie") or []
    existing = [existing] if isinstance(existing, str) else list(existing)
    response.headers["Set-Cookie"] = [*existing, *cookies]


def _redirect(location: str, cookies: list[str]) -> Response:
    response = Response(body="", status_code=302, headers={"Location": location})
    _add_cookies(response, cookies)
    return response


def _base(request: Request | None = None) -> urls.Base:
    """Where the browser sees the service for this request (chalicelib/urls.py):
    PUBLIC_URL, else API Gateway's domain and stage, else (local, test) the Host."""
    request = request or _request()
    return urls.request_base(settings(), request.headers, request.context or {})


def _sets_cookie(response: Response, name: str) -> bool:
    existing = response.headers.get("Set-Cookie") or []
    existing = [existing] if isinstance(existing, str) else existing
    return any(cookie.startswith(f"{name}=") for cookie in existing)


def _query() -> dict[str, str]:
    return dict(_request().query_params or {})


def _json_body(optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; InvalidInput or RequestTooLarge otherwise."""
    request = _request()
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY:
        raise errors.RequestTooLarge(f"request bodies are limited to {MAX_BODY} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise errors.InvalidInput("expected a JSON object as the request body")
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise errors.InvalidInput("the request body must be application/json")
    try:
        body = json.loads(raw)
    except RecursionError as exc:
        raise errors.InvalidInput(f"the request body is nested deeper than {MAX_DEPTH}") from exc
    except ValueError as exc:
        raise errors.InvalidInput("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise errors.InvalidInput("expected a JSON object as the request body")
    if _depth(body) > MAX_DEPTH:
        raise errors.InvalidInput(f"the request body is nested deeper than {MAX_DEPTH}")
    return body


def _depth(value: Any) -> int:
    """How deep JSON containers nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def _user_body() -> dict[str, Any]:
    """The ``user`` object of a ``{"user": {...}}`` body."""
    body = _json_body()
    if set(body) != {"user"} or not isinstance(body["user"], dict):
        raise errors.InvalidInput('expected a body of the form {"user": {...}}')
    return body["user"]


def _if_match() -> int | None:
    """The version named by an ``If-Match`` header, if any."""
    raw = _request().headers.get("if-match")
    if raw is None:
        return None
    match = IF_MATCH_RE.fullmatch(raw.strip())
    version = whole_number(match.group(1) or match.group(2)) if match else None
    if version is None:
        raise errors.InvalidInput("If-Match must be a record version: ASCII digits")
    return version


def preflight(**_path_params: str) -> Response:
    """Answer a CORS preflight (chalicelib/cors.py) with the methods of its path."""
    request = _request()
    methods = app.routes[request.path]
    headers = cors.preflight_headers(
        request.headers.get("origin"),
        request.headers.get("access-control-request-method"),
        [method for method in methods if method != cors.PREFLIGHT],
        settings().allowed_origins,
    )
    return Response(body="", status_code=204, headers=headers)


def _add_preflight_routes() -> None:
    """An ``OPTIONS`` route, without the authorizer, on every path of the API.

    Without it API Gateway and ``chalice local`` would answer preflights
    themselves, knowing nothing of ALLOWED_ORIGINS. Runs last: it covers the
    routes defined above it.
    """
    for path, methods in list(app.routes.items()):
        if path.startswith(API) and cors.PREFLIGHT not in methods:
            app.route(path, methods=[cors.PREFLIGHT])(preflight)


_add_preflight_routes()
