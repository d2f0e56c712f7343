"""The users service: Chalice routes and the one custom authorizer.

Routes are thin adapters: read the request, call one function of
``chalicelib``, return a dict. Domain errors carry their HTTP status.
"""

from __future__ import annotations

import functools
import json
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
    urls,
    users,
    validation,
    webui,
)
from chalicelib.config import settings
from chalicelib.permissions import PERMISSIONS, USER_MANAGEMENT, Caller
from chalicelib.validation import MANAGER_FIELDS, PROFILE_FIELDS

app = Chalice(app_name="users-service")

API = urls.API_PREFIX
MAX_BODY = 64 * 1024
AUTHORIZER_TTL = 60  # seconds API Gateway may cache a decision; the contract allows 60


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
def get_openapi() -> dict[str, Any]:
    return _openapi_document()


@app.route(f"{API}/user/permissions", methods=["GET"])
def list_permissions() -> dict[str, Any]:
    return {"permissions": list(PERMISSIONS)}


@app.route(f"{API}/user", methods=["GET"], authorizer=authorizer)
def list_users() -> dict[str, Any]:
    caller = _caller()
    caller.require("USER_SEARCH")
    params = _query()
    page = validation.parse_page(params, extra=("email",))
    return users.list_users(caller, page, email=params.get("email"))


@app.route(f"{API}/user", methods=["POST"], authorizer=authorizer)
def create_user() -> Response:
    caller = _caller()
    caller.require("USER_ADD")
    body = _user_body()
    create = functools.partial(users.create_user, caller.id, body, caller.has(USER_MANAGEMENT))
    key = _request().headers.get("idempotency-key")
    user_id = create().id if key is None else idempotency.create_once(caller.id, key, body, create)
    return Response(body={"id": user_id}, status_code=201)


@app.route(f"{API}/user/me", methods=["GET"], authorizer=authorizer)
def get_me() -> dict[str, Any]:
    return {"user": users.get_me(_caller())}


@app.route(f"{API}/user/me", methods=["PATCH"], authorizer=authorizer)
def update_me() -> dict[str, Any]:
    caller = _caller()
    body = _user_body()
    return {"user": users.update_user(caller.id, caller.id, body, PROFILE_FIELDS, expanded=True)}


@app.route(f"{API}/user/{{user_id}}", methods=["GET"], authorizer=authorizer)
def get_user(user_id: str) -> dict[str, Any]:
    _caller().require(USER_MANAGEMENT)
    return {"user": users.get_user(user_id)}


@app.route(f"{API}/user/{{user_id}}", methods=["PATCH"], authorizer=authorizer)
def update_user(user_id: str) -> dict[str, Any]:
    caller = _caller()
    caller.require(USER_MANAGEMENT)
    body = _user_body()
    user = users.update_user(caller.id, user_id, body, MANAGER_FIELDS, if_match=_if_match())
    return {"user": user}


@app.route(f"{API}/user/{{user_id}}", methods=["DELETE"], authorizer=authorizer)
def delete_user(user_id: str) -> Response:
    caller = _caller()
    caller.require(USER_MANAGEMENT)
    users.delete_user(caller.id, user_id, if_match=_if_match())
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/apikey", methods=["POST"], authorizer=authorizer)
def replace_api_key(user_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    key = auth.make_api_key(caller.id, user_id, replace=True)
    return Response(body=key, status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["GET"], authorizer=authorizer)
def list_api_keys(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return auth.list_api_keys(user_id)


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["POST"], authorizer=authorizer)
def add_api_key(user_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    name, days = auth.check_key_request(_json_body(optional=True))
    key = auth.make_api_key(caller.id, user_id, name=name, expires_in_days=days)
    return Response(body=key, status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys/{{key_id}}", methods=["DELETE"], authorizer=authorizer)
def revoke_api_key(user_id: str, key_id: str) -> Response:
    caller = _caller()
    caller.require_self_or_manager(user_id)
    auth.revoke_api_key(caller.id, user_id, key_id)
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/log", methods=["GET"], authorizer=authorizer)
def get_user_log(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return logs.get_log(user_id, validation.parse_page(_query()))


@app.route(f"{API}/user/{{user_id}}/actions", methods=["GET"], authorizer=authorizer)
def get_user_actions(user_id: str) -> dict[str, Any]:
    _caller().require_self_or_manager(user_id)
    return logs.get_actions(user_id, validation.parse_page(_query()))


@app.route(f"{API}/login", methods=["GET"])
def list_login_types() -> dict[str, Any]:
    return {"types": ["apikey", "oidc"]}


@app.route(f"{API}/login/csrf", methods=["GET"])
def get_csrf_token() -> Response:
    token, cookie = sessions.csrf_token(_cookies(), _base())
    response = Response(body={"csrf_token": token})
    _add_cookies(response, [cookie] if cookie else [])
    return response


@app.route(f"{API}/login/oidc", methods=["GET"])
def list_oidc_providers() -> dict[str, str]:
    from chalicelib import oidc

    return oidc.providers(_base())


@app.route(f"{API}/login/oidc/{{provider}}", methods=["GET"])
def start_oidc_login(provider: str) -> Response:
    from chalicelib import oidc

    redirect = oidc.start_login(provider, _query().get("origin"), _base())
    return _redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/oidc/{{provider}}/authorize", methods=["GET"])
def finish_oidc_login(provider: str) -> Response:
    from chalicelib import oidc

    cookie = _cookies().get(oidc.LOGIN_COOKIE)
    redirect = oidc.finish_login(provider, _query(), cookie, _base())
    return _redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/apikey", methods=["POST"])
def login_with_api_key() -> Response:
    sessions.check_csrf(_cookies(), _request().headers.get(sessions.CSRF_HEADER))
    session = auth.login_with_api_key(_json_body())
    expires = session.expires.isoformat(timespec="seconds").replace("+00:00", "Z")
    return Response(body={"expires": expires}, headers={"Set-Cookie": session.set_cookie(_base())})


@app.route(f"{API}/login/token", methods=["POST"])
def issue_access_token() -> dict[str, object]:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    return sessions.issue_token(cookies.get(sessions.SESSION_COOKIE))


@app.route(f"{API}/logout", methods=["POST"])
def logout() -> Response:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    sessions.end_session(cookies.get(sessions.SESSION_COOKIE))
    return Response(
        body="", status_code=204, headers={"Set-Cookie": sessions.clear_session_cookie(_base())}
    )


@app.route("/", methods=["GET"])
def get_web_page() -> Response:
    """The web UI's page (API.md section 9); its files load relative to it."""
    location = webui.slash_redirect(_request().context.get("path"))
    if location is not None:
        return _redirect(location, [])
    page = webui.page()
    return Response(body=page.body, headers=page.headers)


@app.route("/assets/{name}", methods=["GET"])
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
    except ValueError as exc:
        raise errors.InvalidInput("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise errors.InvalidInput("expected a JSON object as the request body")
    return body


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
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise errors.InvalidInput("If-Match must be a record version")
    return int(value)


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
